"""Projects: each a namespace, isolated by default, with ClusterIP services and GPU work that alone
wakes the GPU pool; staging shares prod's cluster as suffixed namespaces."""

from __future__ import annotations

import json

import pytest
from helpers import CLUSTER, NODE_POOL, only, run_rejected

from program.components import InternalService, Project
from program import config, definitions
from shoestring import offline
from program.config import ConfigError
from program.definitions import App
from program.definitions import Project as ProjectDefinition

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"

RESOURCES = {"cpu": "100m", "memory": "128Mi", "cpu_limit": "500m", "memory_limit": "256Mi"}
# An app as the program passes it (program/program_args.py app_spec), with definitions.App's defaults.
WEB = {"name": "web", "image": "ghcr.io/acme/web:abc123", "port": 8080, "resources": RESOURCES, "replicas": 1, "health_path": "/healthz",
       "whole_node": False, "spot": False, "service_type": "ClusterIP"}
GPU_JOB = WEB | {"name": "trainer", "gpus": 1, "gpu_node_selector": {"cloud.google.com/compute-class": "shoestring-gpu"}, "whole_node": True}
QUOTA_ARGS = {"cpu": "2", "memory": "4Gi", "pods": 20}


def declare_project(**overrides) -> offline.Plan:
    args = {"project": "shop", "environment": "prod", "namespace": "shop", "pod_security": "restricted", "quota": QUOTA_ARGS, "apps": [WEB]} | overrides
    return offline.declare(lambda: Project("shop", args), stack="test")


def pod_spec(deployment: offline.Record) -> dict:
    return deployment.inputs["spec"]["template"]["spec"]


class TestProjectComponent:
    def test_the_namespace_enforces_restricted_pod_security_and_carries_common_labels(self):
        labels = only(declare_project(), NAMESPACE).inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert labels["shoestring.dev/project"] == "shop"
        assert labels["shoestring.dev/environment"] == "prod"

    def test_baseline_is_the_named_alternative(self):
        labels = only(declare_project(pod_security="baseline"), NAMESPACE).inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"

    def test_ingress_is_denied_except_from_the_same_namespace(self):
        policies = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in declare_project().of_type(NETWORK_POLICY)}
        assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
        assert policies["allow-same-namespace"]["ingress"] == [{"from": [{"podSelector": {}}]}]

    def test_the_quota_forbids_load_balancers_node_ports_and_gpus_by_default(self):
        hard = only(declare_project(), QUOTA).inputs["spec"]["hard"]
        assert hard == {
            "requests.cpu": "2",
            "requests.memory": "4Gi",
            "pods": "20",
            "services.loadbalancers": "0",
            "services.nodeports": "0",
            "requests.nvidia.com/gpu": "0",
        }

    def test_every_container_gets_default_requests_and_limits_and_may_ask_for_no_less_than_a_minimum(self):
        [limit] = only(declare_project(), LIMIT_RANGE).inputs["spec"]["limits"]
        assert limit == {
            "type": "Container",
            "min": {"cpu": "10m", "memory": "16Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "default": {"cpu": "500m", "memory": "256Mi"},
        }

    def test_pods_run_as_the_projects_own_service_account_without_an_api_token(self):
        plan = declare_project()
        account = only(plan, SERVICE_ACCOUNT).inputs
        assert account["automountServiceAccountToken"] is False
        assert pod_spec(only(plan, DEPLOYMENT))["serviceAccountName"] == account["metadata"]["name"]
        assert not plan.of_type("gcp:serviceaccount/account:Account")

    def test_gcp_roles_create_a_workload_identity_account_with_only_those_roles(self):
        plan = declare_project(gcp_project="acme", gcp_roles=["roles/storage.objectViewer"], workload_identity_pool="acme.svc.id.goog")
        assert [m.inputs["role"] for m in plan.of_type("gcp:projects/iAMMember:IAMMember")] == ["roles/storage.objectViewer"]
        binding = only(plan, "gcp:serviceaccount/iAMMember:IAMMember").inputs
        assert binding["role"] == "roles/iam.workloadIdentityUser"
        assert binding["member"] == "serviceAccount:acme.svc.id.goog[shop/workload]"
        annotations = only(plan, SERVICE_ACCOUNT).inputs["metadata"]["annotations"]
        assert annotations["iam.gke.io/gcp-service-account"] == "offline-plan@example.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def service_plan() -> offline.Plan:
    args = WEB | {"namespace": "shop", "labels": {"shoestring.dev/project": "shop"}, "env": {"MODE": "prod"}}
    return offline.declare(lambda: InternalService("shop-web", args), stack="test")


class TestInternalServiceComponent:
    def test_the_service_is_cluster_ip_on_the_apps_port(self, service_plan):
        spec = only(service_plan, SERVICE).inputs["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [{"name": "http", "port": 8080, "targetPort": "http"}]
        assert spec["selector"] == {"app.kubernetes.io/name": "web"}

    def test_pods_pass_restricted_pod_security(self, service_plan):
        spec = pod_spec(only(service_plan, DEPLOYMENT))
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        [container] = spec["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "capabilities": {"drop": ["ALL"]},
        }

    def test_pods_are_bounded_probed_and_configured(self, service_plan):
        [container] = pod_spec(only(service_plan, DEPLOYMENT))["containers"]
        assert container["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
        assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["env"] == [{"name": "MODE", "value": "prod"}]

    def test_a_cpu_app_neither_tolerates_nor_requests_gpus(self, service_plan):
        spec = pod_spec(only(service_plan, DEPLOYMENT))
        assert "tolerations" not in spec and "nodeSelector" not in spec
        assert "nvidia.com/gpu" not in spec["containers"][0]["resources"]["limits"]

    def test_gpu_work_tolerates_the_taint_selects_the_pool_and_requests_gpus(self):
        args = GPU_JOB | {"namespace": "shop", "labels": {}}
        spec = pod_spec(only(offline.declare(lambda: InternalService("shop-trainer", args), stack="test"), DEPLOYMENT))
        assert spec["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "cloud.google.com/compute-class", "operator": "Equal", "value": "shoestring-gpu", "effect": "NoSchedule"},
        ]
        assert spec["nodeSelector"] == {"cloud.google.com/compute-class": "shoestring-gpu"}
        assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        term = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["topologyKey"] == "kubernetes.io/hostname"  # one whole-node pod per node


class TestProjectsInEveryStack:
    @pytest.mark.parametrize("stack", offline.stacks())
    def test_each_project_namespace_has_its_network_policies_quota_and_limit_range(self, plans, stack):
        plan = plans[stack]
        namespaces = {r.inputs["metadata"]["name"] for r in plan.of_type(NAMESPACE) if "shoestring.dev/project" in r.inputs["metadata"]["labels"]}
        assert namespaces
        for namespace in namespaces:
            policies = {r.inputs["metadata"]["name"] for r in plan.of_type(NETWORK_POLICY) if r.inputs["metadata"]["namespace"] == namespace}
            assert {"default-deny-ingress", "allow-same-namespace"} <= policies, f"{stack}: {namespace}"
            for kind in (QUOTA, LIMIT_RANGE):
                found = [r for r in plan.of_type(kind) if r.inputs["metadata"]["namespace"] == namespace]
                assert len(found) == 1, f"{stack}: {namespace} has {len(found)} {kind}"

    @pytest.mark.parametrize("stack", offline.stacks())
    def test_no_service_is_a_load_balancer_or_node_port(self, plans, stack):
        assert {r.inputs["spec"]["type"] for r in plans[stack].of_type(SERVICE)} == {"ClusterIP"}

    @pytest.mark.parametrize("stack", offline.stacks())
    def test_only_gpu_marked_workloads_tolerate_the_gpu_taint_and_request_gpus(self, plans, stack):
        for deployment in plans[stack].of_type(DEPLOYMENT):
            spec = pod_spec(deployment)
            tolerates = any(t["key"] == "nvidia.com/gpu" for t in spec.get("tolerations", []))
            requests_gpus = "nvidia.com/gpu" in spec["containers"][0]["resources"]["limits"]
            marked = deployment.inputs["metadata"]["name"] == "worker"  # ml's worker is the one GPU app
            assert tolerates == requests_gpus == marked, deployment.name

    def test_only_the_gpu_project_may_request_gpus(self, plans):
        quotas = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"] for r in plans["prod"].of_type(QUOTA)}
        assert quotas["blog"]["requests.nvidia.com/gpu"] == "0"
        assert quotas["ml"]["requests.nvidia.com/gpu"] == "20"  # prod's GPU pool: up to 20 nodes x 1 L4

    def test_the_plan_shows_which_pool_and_machine_gpu_work_lands_on(self, plans):
        worker = next(d for d in plans["prod"].of_type(DEPLOYMENT) if d.name == "ml-worker")
        assert worker.inputs["metadata"]["annotations"]["shoestring.dev/placement"] == "GPU pool (g2-standard-4, 1× nvidia-l4, whole node)"

    def test_prod_runs_three_replicas_of_the_blog_and_the_gpu_worker_at_zero(self, plans):
        replicas = {d.name: d.inputs["spec"]["replicas"] for d in plans["prod"].of_type(DEPLOYMENT)}
        assert replicas == {"blog-frontend": 3, "blog-backend": 3, "ml-worker": 0}

    def test_service_dns_names_are_exported(self, plans):
        assert plans["prod"].outputs["services"]["blog/frontend"] == "frontend.blog.svc.cluster.local"
        assert plans["staging"].outputs["services"]["blog-staging/backend"] == "backend.blog-staging.svc.cluster.local"


class TestSharedCluster:
    def test_staging_declares_no_cluster_and_no_node_pool(self, plans):
        assert not plans["staging"].of_type(CLUSTER) and not plans["staging"].of_type(NODE_POOL)

    def test_staging_reaches_prods_cluster_through_a_stack_reference_stood_in_offline(self, plans):
        reference = only(plans["staging"], "pulumi:pulumi:StackReference")
        assert reference.inputs["name"] == "organization/shoestring/prod"
        provider = only(plans["staging"], "pulumi:providers:kubernetes")
        assert provider.inputs["kubeconfig"] == offline.SECRET
        assert any("stood in for offline" in note for note in plans["staging"].notes)

    def test_staging_namespaces_carry_the_environment_suffix(self, plans):
        namespaces = sorted(r.inputs["metadata"]["name"] for r in plans["staging"].of_type(NAMESPACE))
        assert namespaces == ["blog-staging", "ml-staging"]
        for record in plans["staging"].records:
            if record.type.startswith("kubernetes:") and "namespace" in record.inputs.get("metadata", {}):
                assert record.inputs["metadata"]["namespace"].endswith("-staging")

    def test_staging_quotas_are_its_own(self, plans):
        assert {r.inputs["metadata"]["namespace"] for r in plans["staging"].of_type(QUOTA)} == {"blog-staging", "ml-staging"}


class TestBadProjectConfig:
    def raw(self, stack: str = "prod", **projects) -> dict[str, str]:
        raw = config.read_stack_files(stack)[0]
        raw["shoestring:projects"] = json.dumps(projects)
        return raw

    def problems(self, raw: dict[str, str], stack: str = "prod") -> str:
        with pytest.raises(ConfigError) as raised:
            config.load(stack, raw, definitions.discover())
        return str(raised.value)

    def test_an_unknown_project_or_app_names_the_one_meant(self):
        assert "no project 'blg' is defined in projects/; did you mean blog?" in self.problems(self.raw(blg={}))
        message = self.problems(self.raw(blog={"apps": {"fronted": {"replicas": 2}}}))
        assert "project blog has no app 'fronted'; did you mean frontend?" in message

    def test_an_unknown_setting_is_a_typo(self):
        message = self.problems(self.raw(blog={"apps": {"frontend": {"replica": 2}}}))
        assert "shoestring:projects.blog.apps.frontend.replica is not a known setting; did you mean replicas?" in message

    def test_negative_replicas_are_refused(self):
        message = self.problems(self.raw(blog={"apps": {"frontend": {"replicas": -1}}}))
        assert "shoestring:projects.blog.apps.frontend.replicas = -1" in message
        assert "greater than or equal to 0" in message

    def test_gpu_work_in_a_stack_without_a_gpu_pool_is_refused_before_anything_is_declared(self):
        raw = config.read_stack_files("dev")[0]
        del raw["shoestring:gpuPool"]
        plan, errors = run_rejected("dev", raw)
        assert plan.records == []
        [error] = errors
        assert "shoestring:projects.ml.apps.worker = 'gpus=1': asks for GPUs, but dev's cluster has no GPU pool" in str(error)
        assert "set projects.ml.enabled: false" in str(error)

    def test_a_disabled_project_is_not_deployed(self):
        cfg = config.load("dev", self.raw("dev", blog={"apps": {"frontend": {"hosts": []}}}, ml={"enabled": False}), definitions.discover())
        assert [p.name for p in cfg.deployed] == ["blog"]

    def test_a_stack_in_another_stacks_cluster_declares_no_cluster_settings(self):
        raw = self.raw("staging") | {"shoestring:zone": "us-central1-a"}
        assert "shoestring:zone is set, but this stack runs in prod's cluster" in self.problems(raw, "staging")


class TestDefinitions:
    def test_a_load_balancer_without_the_opt_in_is_refused(self):
        with pytest.raises(ValueError, match="external_services_opt_in=True"):
            ProjectDefinition(name="shop", apps=(App(name="web", image="i", tag="0a7d3e5b1c9f", port=80, repository="https://github.com/acme/r", service_type="LoadBalancer"),))

    def test_an_opted_in_load_balancer_states_its_monthly_cost(self):
        shop = ProjectDefinition(
            name="shop",
            apps=(App(name="web", image="i", tag="0a7d3e5b1c9f", port=80, repository="https://github.com/acme/r", service_type="LoadBalancer"),),
            external_services_opt_in=True,
        )
        raw = config.read_stack_files("dev")[0]
        cfg = config.load("dev", raw, definitions.discover() | {"shop": shop})
        # One forwarding rule at $0.025/h x 730 h (program/prices.yaml).
        assert "shop/web is a LoadBalancer Service (opted in): a regional forwarding rule, $18.25/month for the project's first five together and $7.30 for each beyond, before traffic" in cfg.notices


class TestSecrets:
    """App secrets come from Secret Manager as files, read by the project's own identity only."""

    def test_a_named_secret_is_mounted_as_a_file_through_the_add_on_never_a_kubernetes_secret(self, plans):
        prod = plans["prod"]
        deployment = next(r for r in prod.of_type("kubernetes:apps/v1:Deployment") if r.name == "blog-backend").inputs
        pod = deployment["spec"]["template"]["spec"]
        [volume] = [v for v in pod["volumes"] if v["name"] == "secrets"]
        assert volume["csi"] == {"driver": "secrets-store-gke.csi.k8s.io", "readOnly": True, "volumeAttributes": {"secretProviderClass": "backend-secrets"}}
        [container] = pod["containers"]
        assert {"name": "secrets", "mountPath": "/var/run/secrets/shoestring", "readOnly": True} in container["volumeMounts"]
        assert {"name": "DATABASE_URL_FILE", "value": "/var/run/secrets/shoestring/DATABASE_URL"} in container["env"]
        [provider_class] = [r for r in prod.records if r.type == "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass"]
        assert provider_class.inputs["spec"] == {
            "provider": "gke",
            "parameters": {"secrets": '[{"resourceName": "projects/replace-with-your-project-id/secrets/blog-db-url/versions/latest", "path": "DATABASE_URL"}]'},
        }
        assert not prod.of_type("kubernetes:core/v1:Secret")
        assert only(prod, "gcp:container/cluster:Cluster").inputs["secretManagerConfig"] == {"enabled": True}

    def test_the_projects_identity_may_read_exactly_its_secrets(self, plans):
        [grant] = plans["prod"].of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
        assert grant.inputs["secretId"] == "blog-db-url" and grant.inputs["role"] == "roles/secretmanager.secretAccessor"
        assert grant.inputs["member"] == "serviceAccount:offline-plan@example.iam.gserviceaccount.com"  # blog's workload account
        [account] = [r for r in plans["prod"].of_type("kubernetes:core/v1:ServiceAccount") if r.inputs["metadata"]["namespace"] == "blog"]
        assert "iam.gke.io/gcp-service-account" in account.inputs["metadata"]["annotations"]

    def test_staging_in_prods_gcp_project_reads_its_own_secret(self, plans):
        from shoestring import security

        [grant] = plans["staging"].of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
        assert grant.inputs["secretId"] == "blog-staging-db-url"
        assert security.shared_secrets({s: p.records for s, p in plans.items()}) == []
        raw = config.read_stack_files("staging")[0]
        projects = json.loads(raw["shoestring:projects"])
        del projects["blog"]["apps"]["backend"]["secrets"]
        same = offline.run("staging", config=raw | {"shoestring:projects": json.dumps(projects)})
        [violation] = security.shared_secrets({"prod": plans["prod"].records, "staging": same.records})
        assert str(violation) == (
            "unique-secrets-per-stack: stacks prod, staging: all read secret blog-db-url of project replace-with-your-project-id; "
            "give each stack its own (shoestring:projects.<project>.apps.<app>.secrets)"
        )
