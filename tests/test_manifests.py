"""Every Kubernetes object any stack declares is a valid manifest for its cluster's Kubernetes
version (kubernetes-validate --strict) and passes checkov's Kubernetes policies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from program import config, definitions
from shoestring import manifests, offline

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
KUBERNETES_VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
GATEWAY_API_VALIDATOR = ROOT / "tools" / "gateway-api" / "validate.mjs"

# Every checkov Kubernetes check runs: images are pinned `commit@sha256:digest`, which keeps the
# commit `on-call check-health` compares and passes CKV_K8S_43.
CHECKOV_FLAGS = ["--framework", "kubernetes", "--compact", "--quiet", "--skip-download"]  # no network: the bundled policies only


def kubernetes_version(stack: str) -> str:
    owner = config.load(stack, config.read_stack_files(stack)[0], definitions.discover()).cluster_owner
    return f"{owner.kubernetes_version}.0"


@pytest.fixture(scope="module")
def rendered(plans, tmp_path_factory) -> dict[str, Path]:
    directories = {}
    for stack, plan in plans.items():
        directory = tmp_path_factory.mktemp(stack)
        assert manifests.write(plan, directory), f"{stack} declares no Kubernetes objects"
        directories[stack] = directory
    return directories


@pytest.mark.parametrize("stack", offline.stacks())
def test_every_manifest_passes_strict_schema_validation_for_the_clusters_version(rendered, stack):
    files = sorted(rendered[stack].glob("*.yaml"))
    result = subprocess.run(
        [str(KUBERNETES_VALIDATE), "--strict", "--quiet", "-k", kubernetes_version(stack), *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stack", offline.stacks())
def test_every_manifest_passes_the_checkov_kubernetes_scan(rendered, stack):
    assert CHECKOV.exists(), "checkov is installed by `make test` into .tools/checkov"
    result = subprocess.run(
        [str(CHECKOV), *CHECKOV_FLAGS, "--directory", str(rendered[stack])],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed checks:" in result.stdout


def validate_gateway_api(files: list[Path]) -> subprocess.CompletedProcess:
    assert (GATEWAY_API_VALIDATOR.parent / "node_modules").exists(), "`make test` installs the Gateway API validator (npm ci)"
    return subprocess.run(["node", str(GATEWAY_API_VALIDATOR), *map(str, files)], capture_output=True, text=True)


@pytest.mark.parametrize("stack", offline.stacks())
def test_every_gateway_api_and_gke_policy_object_passes_its_crd_schema(plans, stack, tmp_path):
    files = manifests.write(plans[stack], tmp_path, custom_resources=True)
    if stack == "dev":
        assert [path.name for path in files] == ["computeclass-cluster-shoestring-gpu.json"]  # no public entry in dev
    result = validate_gateway_api(files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": valid ") == len(files)


def test_the_gateway_api_validator_rejects_an_invalid_route(tmp_path):
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "broken", "namespace": "blog"},
        "spec": {"hostnames": ["Not_A_Host"], "rules": [{"backendRefs": [{"name": "frontend", "port": 70000}]}]},
    }
    path = tmp_path / "route.json"
    path.write_text(json.dumps(route))
    result = validate_gateway_api([path])
    assert result.returncode == 1
    assert "hostnames/0 must match pattern" in result.stdout and "port must be <= 65535" in result.stdout


def test_the_validator_holds_the_gpu_compute_class_to_gkes_schema(plans, tmp_path):
    [compute_class] = [m for m in manifests.of(plans["prod"]) if m["kind"] == "ComputeClass"]
    broken = compute_class | {"spec": {k: v for k, v in compute_class["spec"].items() if k != "whenUnsatisfiable"} | {"activeMigration": {}}}
    path = tmp_path / "computeclass.json"
    path.write_text(json.dumps(broken))
    result = validate_gateway_api([path])
    assert result.returncode == 1
    assert "spec must have required property whenUnsatisfiable" in result.stdout
    assert "activeMigration must have required property optimizeRulePriority" in result.stdout


def test_the_bootstrap_job_on_call_creates_is_a_valid_manifest_that_passes_checkov(plans, tmp_path):
    import types

    import yaml

    from shoestring.oncall.runbooks.bootstrap_database import _job
    from shoestring.oncall.session import find_target

    job = _job(types.SimpleNamespace(target=find_target("backend", "blog", "prod")), "backend-bootstrap")
    manifests.write(plans["prod"], tmp_path)  # the namespace's policies, which the Job's pod falls under
    path = tmp_path / "job-blog-backend-bootstrap.yaml"
    path.write_text(yaml.safe_dump(job))
    validated = subprocess.run([str(KUBERNETES_VALIDATE), "--strict", "--quiet", "-k", kubernetes_version("prod"), str(path)], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    scanned = subprocess.run(
        [str(CHECKOV), *CHECKOV_FLAGS, "--directory", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr


def test_the_tunnel_entrys_manifests_pass_strict_validation_and_every_checkov_check(tmp_path):
    from test_public_entry import TUNNEL, run

    plan = run("prod", TUNNEL, secret_keys=["shoestring:tunnelCredentials"])
    files = manifests.write(plan, tmp_path)
    assert any("cloudflared" in path.read_text() for path in files)
    validated = subprocess.run([str(KUBERNETES_VALIDATE), "--strict", "--quiet", "-k", kubernetes_version("prod"), *map(str, files)], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    scanned = subprocess.run([str(CHECKOV), *CHECKOV_FLAGS, "--directory", str(tmp_path)], capture_output=True, text=True)
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr


def test_the_batches_cronjobs_are_among_the_manifests_checked(rendered):
    # One suspended (on demand) and one scheduled, both validated and scanned above.
    assert {"cronjob-ml-embed.yaml", "cronjob-ml-eval.yaml"} <= {path.name for path in rendered["prod"].glob("cronjob-*.yaml")}


def test_checkov_scans_a_cronjobs_pod_template_and_refuses_a_privileged_one(plans, tmp_path):
    import yaml

    import copy

    # A deep copy: the manifests share their nested objects with the session's shipped plans.
    [eval_job] = [copy.deepcopy(m) for m in manifests.of(plans["prod"]) if m["kind"] == "CronJob" and m["metadata"]["name"] == "eval"]
    container = eval_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"] = container["securityContext"] | {"privileged": True, "allowPrivilegeEscalation": True}
    (tmp_path / "cronjob-ml-eval.yaml").write_text(yaml.safe_dump(eval_job))
    scanned = subprocess.run([str(CHECKOV), *CHECKOV_FLAGS, "--directory", str(tmp_path)], capture_output=True, text=True)
    assert scanned.returncode == 1
    assert "CKV_K8S_16" in scanned.stdout  # "Container should not be privileged", on the CronJob
