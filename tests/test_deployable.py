"""Deployable as written: the program runs where `pulumi up` runs it — a virtualenv built from
requirements.txt alone, config from the SDK's store — starts no process, prices itself in the
same process, and asks Google only for what Google accepts (each rule cites its source)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import runpy
from concurrent import futures

import grpc
import pytest
from google.protobuf import empty_pb2
import yaml
from helpers import CLUSTER, NODE_POOL, copy_of_repository, only
from pulumi.automation._server import LanguageServer
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, language_pb2, resource_pb2_grpc
from runtime import venv_for

from program.components import MonthlyBudget
from program.components.cluster import _kubeconfig
from program.components.public_entry import TunnelEntry
from program import catalog, config, cost, definitions
from shoestring import offline

ROOT = Path(__file__).resolve().parent.parent
STACKS = offline.stacks()
WORKLOAD_IDENTITY_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HEALTH_CHECK_POLICY = "kubernetes:networking.gke.io/v1:HealthCheckPolicy"


def without_pulumi_config() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG")}


@pytest.fixture(scope="module")
def in_runtime() -> dict[str, dict]:
    """Every stack's plan, run in a virtualenv built from requirements.txt alone, with config
    through the SDK's store only and through PULUMI_CONFIG only."""
    python = venv_for(ROOT / "requirements.txt")
    results = {}
    for via in ("store", "environment"):
        completed = subprocess.run(
            [str(python), str(ROOT / "tests" / "program_in_runtime.py"), via, *STACKS],
            cwd=ROOT, env=without_pulumi_config(), capture_output=True, text=True,
        )
        assert completed.returncode == 0, completed.stderr
        results[via] = json.loads(completed.stdout)
    return results


class TestOneRuntime:
    def test_every_stack_runs_in_a_virtualenv_built_from_requirements_txt_alone(self, in_runtime):
        for result in in_runtime.values():
            assert sorted(result["plans"]) == STACKS
            assert not {"click", "rich", "kmock"} & set(result["modules"]), "the program imported the tooling"
            for stack, plan in result["plans"].items():
                assert plan["outputs"]["cost"] is None  # the mocks run no transform (program/records.py)
                assert result["costs"][stack]["expected_monthly_usd"] >= 0

    def test_config_from_the_sdk_store_and_from_pulumi_config_declare_the_same_resources(self, in_runtime):
        store, environment = in_runtime["store"]["plans"], in_runtime["environment"]["plans"]
        for stack in STACKS:
            assert store[stack]["resources"] == environment[stack]["resources"]
            assert store[stack]["outputs"] == environment[stack]["outputs"]

    def test_the_runtime_declares_what_the_development_environment_declares(self, in_runtime, plans):
        for stack in STACKS:
            assert in_runtime["store"]["plans"][stack]["resources"] == [r.to_json() for r in plans[stack].records]

    def test_the_program_starts_no_process(self, monkeypatch):
        def refuse(*args, **kwargs):
            raise AssertionError("the Pulumi program started a process")

        monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
        for name in ("system", "execv", "execve", "execvp", "posix_spawn", "posix_spawnp", "fork", "spawnv", "spawnve"):
            monkeypatch.setattr(os, name, refuse)
        for stack in STACKS:
            assert cost.stack_output(stack, offline.run(stack).records, print)["budget_usd"] is not None

    def test_the_policy_pack_loads_from_its_own_requirements_and_answers_the_engine(self, plans):
        """Started as the CLI starts it, the pack prints its port and serves pulumi's Analyzer API."""
        python = venv_for(ROOT / "policies" / "requirements.txt")
        pack = subprocess.Popen([str(python), "__main__.py"], cwd=ROOT / "policies", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            port = int(pack.stdout.readline())
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)
                names = {policy.name for policy in analyzer.GetAnalyzerInfo(analyzer_pb2.google_dot_protobuf_dot_empty__pb2.Empty(), timeout=30).policies}
                assert {"monthly-budget", "zonal-cluster-only", "gpu-pools-scale-to-zero"} <= names
                shipped_pool = next(r for r in plans["prod"].records if r.type == NODE_POOL and r.name == "gpu-pool")
                warm_gpu_pool = analyzer_pb2.AnalyzeRequest(type=NODE_POOL, name="gpu-pool", urn="urn:pulumi:prod::shoestring::gcp:container/nodePool:NodePool::gpu-pool")
                warm_gpu_pool.properties.update(shipped_pool.inputs | {"autoscaling": {"minNodeCount": 1, "maxNodeCount": 2}})
                diagnostics = analyzer.Analyze(warm_gpu_pool, timeout=30).diagnostics
                assert [d.policyName for d in diagnostics] == ["gpu-pools-scale-to-zero"]
                # A cluster on the project's default network breaks one CIS GKE rule, and only it.
                shipped_cluster = next(r for r in plans["prod"].records if r.type == CLUSTER)
                on_default = analyzer_pb2.AnalyzeRequest(type=CLUSTER, name="shoestring-prod", urn="urn:pulumi:prod::shoestring::gcp:container/cluster:Cluster::shoestring-prod")
                on_default.properties.update(shipped_cluster.inputs | {"network": "default"})
                diagnostics = analyzer.Analyze(on_default, timeout=30).diagnostics
                assert [d.policyName for d in diagnostics] == ["cluster-dedicated-network"]
                # A service account id the IAM API refuses breaks the naming rule, and only it.
                shipped_account = next(r for r in plans["prod"].records if r.type == "gcp:serviceaccount/account:Account" and r.name == "ml-workload")
                short_id = analyzer_pb2.AnalyzeRequest(type=shipped_account.type, name="ml-workload", urn=shipped_account.urn)
                short_id.properties.update(shipped_account.inputs | {"accountId": "wl-ml"})
                diagnostics = analyzer.Analyze(short_id, timeout=30).diagnostics
                assert [d.policyName for d in diagnostics] == ["gcp-names-accepted"]
                assert {"apis-enabled-before-use", "one-declaration-per-kubernetes-object"} <= names
        finally:
            pack.kill()
            pack.wait()


def readme_inline_program() -> str:
    from helpers import documentation

    readme = documentation()
    return readme.split("**From Python instead of the CLI's program runner**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


class TestAutomationApi:
    def test_the_readme_inline_program_runs_through_the_sdks_language_server_with_the_stacks_config(self, plans):
        """What `stack.up()` does short of the CLI: the SDK's LanguageServer.Run receives the stack's
        config in its RunRequest (set_all_config, never PULUMI_CONFIG) and runs the inline program
        against a resource monitor — here Shoestring's recording mock monitor, served over gRPC on
        loopback where the engine would serve its own."""
        assert 'program=lambda: runpy.run_path("__main__.py", run_name="__main__")' in readme_inline_program()
        recorder = offline._Recorder()
        monitor = offline._RecordingMonitor(recorder, "dev", "shoestring")
        outputs: dict = {}

        class Servicer(resource_pb2_grpc.ResourceMonitorServicer):
            def RegisterResourceOutputs(self, request, context):  # noqa: N802 (gRPC's name)
                if "::pulumi:pulumi:Stack::" in request.urn:
                    outputs.update(rpc.deserialize_properties(request.outputs))
                return monitor.RegisterResourceOutputs(request)

            def SignalAndWaitForShutdown(self, request, context):  # noqa: N802 — nothing to wait for here
                return empty_pb2.Empty()

        for method in ("RegisterResource", "ReadResource", "Invoke", "SupportsFeature", "GetDeploymentInfo", "RegisterStackTransform"):
            setattr(Servicer, method, lambda self, request, context, method=method: getattr(monitor, method)(request))
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        resource_pb2_grpc.add_ResourceMonitorServicer_to_server(Servicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        raw, secret_keys, _ = config.read_stack_files("dev")
        request = language_pb2.RunRequest(
            project="shoestring", stack="dev", organization="organization", monitor_address=f"127.0.0.1:{port}",
            dryRun=True, parallel=4, config=raw, configSecretKeys=secret_keys,
        )
        program = lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")  # noqa: E731 — README's form
        try:
            with pytest.MonkeyPatch.context() as patch:
                for name in [k for k in os.environ if k.startswith("PULUMI_CONFIG")]:
                    patch.delenv(name)
                response = LanguageServer(program).Run(request, None)
        finally:
            server.stop(0)
        assert response.error == ""
        assert sorted(r.urn for r in recorder.records) == sorted(r.urn for r in plans["dev"].records)
        assert outputs.get("cost") is None and plans["dev"].outputs["cost"] is None


class TestTheCostOutput:
    """The program prices the records the engine hands its resource transform; Pulumi's mocks run
    no transform (pulumi/runtime/mocks.py: the mock monitor "does not run them"), so offline the
    output is None and these check the pricing it runs over the SDK's own records."""

    @pytest.mark.parametrize("stack", STACKS)
    def test_the_cost_output_is_the_estimate_make_cost_prints(self, plans, stack):
        estimate = cost.estimate(stack, plans[stack].records).to_json()
        assert plans[stack].outputs["cost"] is None
        assert cost.stack_output(stack, plans[stack].records, print) == {key: estimate[key] for key in cost.OUTPUT_FIGURES}

    def test_a_pricing_failure_is_a_warning_in_the_preview_never_a_failed_deployment(self, monkeypatch, plans):
        def broken() -> float:
            raise RuntimeError("catalog unreadable")

        monkeypatch.setattr(catalog, "gke_management_fee_hourly", broken)
        warnings: list[str] = []
        assert cost.stack_output("dev", plans["dev"].records, warnings.append) is None
        assert warnings == ["could not price stack dev: RuntimeError: catalog unreadable"]


class TestDependencies:
    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_the_workload_identity_member_waits_for_the_cluster_that_creates_its_pool(self, plans, stack):
        cluster = only(plans[stack], CLUSTER)
        member = only(plans[stack], WORKLOAD_IDENTITY_MEMBER, "ml-workload-identity")
        assert cluster.urn in member.dependencies
        assert member.inputs["member"].endswith(".svc.id.goog[ml/workload]")

    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_node_pools_wait_for_the_cluster(self, plans, stack):
        cluster = only(plans[stack], CLUSTER)
        for pool in plans[stack].of_type(NODE_POOL):
            assert cluster.urn in pool.dependencies

    @pytest.mark.parametrize("stack", STACKS)
    def test_every_kubernetes_object_is_applied_through_the_clusters_provider(self, plans, stack):
        [provider] = [r for r in plans[stack].records if r.type == "pulumi:providers:kubernetes"]
        objects = [r for r in plans[stack].records if r.type.startswith("kubernetes:")]
        assert objects and {r.provider for r in objects} == {provider.urn}

    def test_the_json_plan_carries_each_records_dependencies(self):
        completed = subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "prod", "--json"], cwd=ROOT, capture_output=True, text=True, check=True)
        records = json.loads(completed.stdout)["resources"]
        [cluster] = [r for r in records if r["type"] == CLUSTER]
        [member] = [r for r in records if r["type"] == WORKLOAD_IDENTITY_MEMBER and r["name"] == "ml-workload-identity"]
        assert cluster["urn"] in member["dependencies"]


def gpu_pool_config(**settings) -> dict[str, str]:
    raw = config.read_stack_files("dev")[0]
    gpu = json.loads(raw["shoestring:gpuPool"]) | settings
    return raw | {"shoestring:gpuPool": json.dumps(gpu)}


class TestWhatGoogleAccepts:
    def test_a_g2_pool_on_pd_standard_is_refused_naming_the_key_the_value_and_the_fix(self):
        # G2 offers pd-balanced and pd-ssd only (compute/docs/accelerator-optimized-machines#g2-disks).
        with pytest.raises(config.ConfigError) as raised:
            config.load("dev", gpu_pool_config(machineType="g2-standard-4", diskType="pd-standard"), definitions.discover())
        [problem] = raised.value.problems
        assert problem.startswith("shoestring:gpuPool.diskType = 'pd-standard': g2-standard-4 cannot boot from pd-standard")
        assert problem.endswith("Set gpuPool.diskType: pd-balanced")

    def test_an_e2_pool_on_pd_standard_is_accepted(self):
        raw = config.read_stack_files("dev")[0] | {"shoestring:defaultPool": json.dumps({"machineType": "e2-medium", "diskType": "pd-standard"})}
        assert config.load("dev", raw, definitions.discover()).default_pool.disk_type == "pd-standard"

    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_every_shipped_pool_boots_from_a_disk_its_machine_family_offers(self, plans, stack):
        for pool in plans[stack].of_type(NODE_POOL):
            node = pool.inputs["nodeConfig"]
            assert node["diskType"] in catalog.boot_disk_types(node["machineType"]), pool.name

    def test_every_public_app_in_prod_is_health_checked_on_its_readiness_path(self, plans):
        policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plans["prod"].of_type(HEALTH_CHECK_POLICY)}
        public = [r for r in plans["prod"].of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute") if r.inputs["spec"].get("hostnames")]
        assert public
        for route in public:
            app = route.inputs["metadata"]["name"]
            deployment = next(d for d in plans["prod"].of_type(DEPLOYMENT) if d.inputs["metadata"]["name"] == app and d.inputs["metadata"]["namespace"] == route.inputs["metadata"]["namespace"])
            [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
            spec = policies[app]
            assert spec["targetRef"] == {"group": "", "kind": "Service", "name": app}
            assert spec["default"]["config"]["httpHealthCheck"]["requestPath"] == container["readinessProbe"]["httpGet"]["path"]

    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_gpu_deployments_roll_without_surging_onto_a_second_gpu_node(self, plans, stack):
        gpu, cpu = [], []
        for deployment in plans[stack].of_type(DEPLOYMENT):
            [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
            (gpu if "nvidia.com/gpu" in container["resources"]["limits"] else cpu).append(deployment.inputs["spec"])
        assert gpu and cpu
        for spec in gpu:
            assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
        assert all("strategy" not in spec for spec in cpu)  # the default surge keeps CPU apps serving

    def test_a_change_to_the_tunnels_routes_or_credentials_changes_the_connectors_pod_template(self):
        def template(routes, credentials) -> dict:
            args = {"namespace": "shoestring-entry", "tunnel_id": "t", "credentials": credentials, "routes": routes, "priority_class": "shoestring-public-entry"}
            plan = offline.declare(lambda: TunnelEntry("entry", args), stack="test")
            return only(plan, DEPLOYMENT).inputs["spec"]["template"]

        blog = [{"hostname": "blog.example.com", "service": "http://frontend.blog.svc.cluster.local:8080"}]
        shop = blog + [{"hostname": "shop.example.com", "service": "http://web.shop.svc.cluster.local:8080"}]
        assert template(blog, "{}") == template(blog, "{}")
        assert template(shop, "{}") != template(blog, "{}")
        assert template(blog, '{"TunnelSecret": "new"}') != template(blog, "{}")

    def test_the_kubernetes_provider_authenticates_with_application_default_credentials_like_the_gcp_provider(self):
        kubeconfig = yaml.safe_load(_kubeconfig("c", "gke-0ff11e.us-central1-a.gke.goog"))
        [user] = kubeconfig["users"]
        assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
        assert user["user"]["exec"]["args"] == ["--use_application_default_credentials"]

    def test_the_cloud_billing_budget_names_its_quota_project(self):
        args = {"monthly_usd": 100, "expected_gpu_hours": 0, "billing_account": "012345-6789AB-CDEF01", "quota_project": "acme", "project_number": "1"}
        plan = offline.declare(lambda: MonthlyBudget("prod-budget", args), stack="test")
        budget = only(plan, "gcp:billing/budget:Budget")
        [provider] = [r for r in plan.records if r.urn == budget.provider]
        assert provider.inputs["billingProject"] == "acme" and provider.inputs["userProjectOverride"] in (True, "true")

    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_the_release_channel_alone_picks_the_clusters_version(self, plans, stack):
        cluster = only(plans[stack], CLUSTER).inputs
        assert cluster["releaseChannel"]["channel"] in {"RAPID", "REGULAR", "STABLE"}
        assert "minMasterVersion" not in cluster


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return copy_of_repository(tmp_path_factory, "broken")


def plan_with(clone: Path, path: str, text: str | None, append: bool = False) -> subprocess.CompletedProcess:
    target = clone / path
    original = target.read_text()
    target.write_text(original + text if append else text)
    try:
        return subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "dev"], cwd=clone, capture_output=True, text=True)
    finally:
        target.write_text(original)


ML_LINES = len((ROOT / "projects" / "ml.yaml").read_text().splitlines())
ML_QUOTA_LINE = 1 + (ROOT / "projects" / "ml.yaml").read_text().splitlines().index('quota_cpu: "4"')
DEV_PROJECTS_LINE = 1 + (ROOT / "stacks" / "Pulumi.dev.yaml").read_text().splitlines().index("  shoestring:projects:")


class TestBrokenFilesEndInOneMessage:
    @pytest.mark.parametrize(
        ("path", "text", "append", "where"),
        [
            ("stacks/Pulumi.dev.yaml", "config:\n  gcp:project: [unclosed\n", False, "stacks/Pulumi.dev.yaml:3:"),
            ("stacks/Pulumi.dev.yaml", "", False, "stacks/Pulumi.dev.yaml:1: the stack file is empty"),
            ("stacks/Pulumi.dev.yaml", "  shoestring:projects:\n    blog:\n      apps:\n        frontend: {replicas: 2}\n", True, f"'shoestring:projects' is given twice (first on line {DEV_PROJECTS_LINE})"),
            ("projects/ml.yaml", 'quota_cpu: "8"\n', True, f"projects/ml.yaml:{ML_LINES + 1}: 'quota_cpu' is given twice (first on line {ML_QUOTA_LINE}); keep one"),
        ],
        ids=["invalid-yaml", "empty-file", "duplicate-key", "project-duplicate-key"],
    )
    def test_make_plan_exits_1_naming_the_file_and_line_without_a_traceback(self, clone, path, text, append, where):
        started = time.monotonic()
        completed = plan_with(clone, path, text, append)
        assert completed.returncode == 1, completed.stdout + completed.stderr
        assert "Traceback" not in completed.stderr
        assert where in completed.stderr
        assert completed.stderr.count("error:") == 1
        assert time.monotonic() - started < 60
