"""Adding a project is adding one file: README's "Add a project", followed literally on a copy of
the repository (a public host included), changes every stack's plan by additions only, passes
`make plan STACK=all` and the manifest scan, and its host works in every stack."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shoestring import offline

ROOT = Path(__file__).resolve().parent.parent


def readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- add-a-project:start -->", 1)[1].split("<!-- add-a-project:end -->", 1)[0]
    return re.search(r"```yaml\n(.*?)```", block, re.S).group(1)


def plan_json(root: Path, stack: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "shoestring", "plan", "--stack", stack, "--json"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def copy_with_notes(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """A copy of the repository, and every stack's plan before README's project file is added to it."""
    copy = tmp_path_factory.mktemp("clone") / "shoestring"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".tools", ".git", "__pycache__", ".pytest_cache", "node_modules"))
    before = {stack: plan_json(copy, stack) for stack in offline.stacks()}
    (copy / "projects" / "notes.yaml").write_text(readme_snippet())
    return copy, before


@pytest.fixture(scope="module")
def before_and_after(copy_with_notes) -> dict[str, tuple[dict, dict]]:
    copy, before = copy_with_notes
    return {stack: (before[stack], plan_json(copy, stack)) for stack in offline.stacks()}


def test_make_plan_all_passes_with_the_new_project(copy_with_notes):
    copy, _ = copy_with_notes
    completed = subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "all"], cwd=copy, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_the_new_projects_manifests_pass_every_checkov_check(before_and_after, tmp_path):
    from test_manifests import CHECKOV, CHECKOV_FLAGS

    from shoestring import manifests
    from program.records import Record

    _, after = before_and_after["prod"]
    plan = offline.Plan("prod", [Record.from_json(r) for r in after["resources"]], after["outputs"])
    manifests.write(plan, tmp_path)
    assert any("notes-api" in path.read_text() for path in tmp_path.glob("*.yaml"))
    scanned = subprocess.run([str(CHECKOV), *CHECKOV_FLAGS, "--directory", str(tmp_path)], capture_output=True, text=True)
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr


def test_the_public_host_works_in_every_stack_as_written(before_and_after):
    def hosts(stack: str) -> list[str]:
        _, after = before_and_after[stack]
        return [h for r in after["resources"] if r["type"].endswith(":HTTPRoute") for h in r["inputs"]["spec"].get("hostnames", []) if "notes" in h]

    assert hosts("prod") == ["notes.example.com"]
    assert hosts("staging") == ["staging.notes.example.com"]
    assert hosts("dev") == []
    assert any("notes/api: public in its definition, internal in this stack" in note for note in before_and_after["dev"][1]["notes"])


@pytest.mark.parametrize("stack", offline.stacks())
def test_adding_a_project_only_adds_resources(before_and_after, stack):
    before, after = before_and_after[stack]
    old = {r["urn"]: r for r in before["resources"]}
    new = {r["urn"]: r for r in after["resources"]}
    assert old.keys() <= new.keys(), f"removed: {old.keys() - new.keys()}"
    changed = [urn for urn in old if old[urn] != new[urn]]
    # ...but the cluster's Binary Authorization policy, which now admits the new repository (a
    # stack in another's cluster declares none).
    owns = any(r["type"] == "gcp:binaryauthorization/policy:Policy" for r in before["resources"])
    assert [old[urn]["type"] for urn in changed] == (["gcp:binaryauthorization/policy:Policy"] if owns else []), f"changed: {changed}"
    if not owns:
        return
    [policy] = [new[urn] for urn in changed]
    assert {p["namePattern"] for p in policy["inputs"]["admissionWhitelistPatterns"]} - {
        p["namePattern"] for p in old[policy["urn"]]["inputs"]["admissionWhitelistPatterns"]
    } == {f"{image}{s}*" for image in {r["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"].split(":")[0] for r in after_notes(new)} for s in (":", "@")}
    added = {new[urn]["type"] for urn in new.keys() - old.keys()}
    assert {"shoestring:k8s:Project", "kubernetes:core/v1:Namespace", "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"} <= added


def after_notes(resources: dict) -> list[dict]:
    """The new project's Deployments."""
    return [r for r in resources.values() if r["type"] == "kubernetes:apps/v1:Deployment" and r["inputs"]["metadata"].get("namespace") == "notes"]


def test_the_new_namespace_and_its_isolation_appear_in_the_plan(before_and_after):
    _, after = before_and_after["dev"]
    notes = [r for r in after["resources"] if r["inputs"].get("metadata", {}).get("namespace") == "notes"]
    kinds = sorted({r["inputs"]["kind"] for r in notes})
    assert kinds == ["Deployment", "LimitRange", "NetworkPolicy", "ResourceQuota", "Service", "ServiceAccount"]
    _, staging = before_and_after["staging"]
    assert any(r["inputs"].get("metadata", {}).get("name") == "notes-staging" for r in staging["resources"])
