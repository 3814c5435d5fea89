"""The first `pulumi up` on a new GCP project succeeds: names as the provider validates them, the
APIs and secrets the stack needs declared by the stack, each Kubernetes object declared once, and
input that Google would refuse, or that would hang the plan, refused offline."""

from __future__ import annotations

import copy
import dataclasses
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import copy_of_repository, replaced

from program import apis, names
from shoestring import api_rules
from shoestring import name_rules, offline, security
from program.records import Record

ROOT = Path(__file__).resolve().parent.parent
SERVICE_ACCOUNT_PATTERN = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")  # the provider's ValidateRFC1035Name(6, 30)
TUNNEL = {"shoestring:publicEntry": "tunnel", "shoestring:tunnelId": "2f1e7d0c-6b5a-4c3d-9e8f-7a6b5c4d3e2f", "shoestring:tunnelCredentials": '{"AccountTag": "x"}'}


def record(plans, stack: str, type_: str, name: str) -> Record:
    return next(r for r in plans[stack].records if r.type == type_ and r.name == name)


def changed(rec: Record, change) -> Record:
    inputs = copy.deepcopy(rec.inputs)
    change(inputs)
    return dataclasses.replace(rec, inputs=inputs)


class TestNamesGoogleAccepts:
    def test_every_service_account_id_in_every_stack_matches_the_providers_pattern(self, plans):
        ids = {stack: [r.inputs["accountId"] for r in plan.of_type("gcp:serviceaccount/account:Account")] for stack, plan in plans.items()}
        assert all(ids.values())
        for stack, found in ids.items():
            assert all(SERVICE_ACCOUNT_PATTERN.match(i) for i in found), (stack, found)

    @pytest.mark.parametrize("stack", ["prod", "dev"])
    def test_the_ml_projects_account_is_long_enough_for_the_iam_api(self, plans, stack):
        assert record(plans, stack, "gcp:serviceaccount/account:Account", "ml-workload").inputs["accountId"] == "workload-ml"

    def test_every_declared_name_passes_the_naming_rules_in_every_stack(self, plans):
        for stack, plan in plans.items():
            assert name_rules.violations(plan.records) == [], stack

    def test_two_long_project_names_that_share_a_beginning_get_two_ids_each_valid(self):
        first, second = "analytics-pipeline-ingest-a", "analytics-pipeline-ingest-b"
        ids = {names.workload_account_id(first), names.workload_account_id(second)}
        assert len(ids) == 2
        assert all(SERVICE_ACCOUNT_PATTERN.match(i) for i in ids), ids

    def test_a_cut_name_never_ends_in_a_dash(self):
        # Cut at 23 characters, this base ends in a dash before the hash is added.
        cut = names.fit("workload-abcdefghijklm-nopqrstuvwxyz", names.SERVICE_ACCOUNT_ID)
        assert names.SERVICE_ACCOUNT_ID.problem(cut) is None and "--" not in cut

    @pytest.mark.parametrize(
        ("rule", "stack", "type_", "name", "change", "message"),
        [
            ("gcp-names-accepted", "prod", "gcp:serviceaccount/account:Account", "ml-workload", lambda i: i.update(accountId="wl-ml"),
             "accountId: service account id 'wl-ml' is 5 characters; 6 to 30 are allowed"),
            ("gcp-names-accepted", "prod", "gcp:compute/globalAddress:GlobalAddress", "public-entry-ip", lambda i: i.update(name="Shoestring-entry"),
             "name: Compute Engine resource name 'Shoestring-entry' does not match"),
            ("gcp-labels-accepted", "prod", "gcp:container/cluster:Cluster", "shoestring-prod", lambda i: i["resourceLabels"].update({"Stack": "prod"}),
             "resourceLabels: GCP label key 'Stack' does not match"),
            ("kubernetes-names-accepted", "prod", "kubernetes:core/v1:Namespace", "blog", lambda i: i["metadata"].update(name="Blog"),
             "metadata.name: Kubernetes object name 'Blog' does not match"),
            ("kubernetes-label-values-accepted", "prod", "kubernetes:core/v1:Namespace", "blog", lambda i: i["metadata"]["labels"].update({"team": "x" * 64}),
             "metadata.labels[team]: Kubernetes label value"),
        ],
        ids=["account-id", "compute-name", "gcp-label", "kubernetes-name", "kubernetes-label"],
    )
    def test_each_naming_rule_passes_the_shipped_resource_and_fails_it_with_one_field_changed(self, plans, rule, stack, type_, name, change, message):
        shipped = record(plans, stack, type_, name)
        assert name_rules.violations([shipped]) == []
        [violation] = name_rules.violations([changed(shipped, change)])
        assert violation.rule == rule and message in violation.message

    def test_every_naming_rule_has_a_case(self):
        tested = {"gcp-names-accepted", "gcp-labels-accepted", "kubernetes-names-accepted", "kubernetes-label-values-accepted"}
        assert {rule.name for rule in name_rules.RULES} == tested

    def test_no_two_stacks_of_a_gcp_project_declare_one_name(self, plans):
        assert name_rules.shared_gcp_names({stack: plan.records for stack, plan in plans.items()}) == []

    def test_a_name_two_stacks_would_create_in_one_gcp_project_is_refused_naming_both(self, plans):
        account = record(plans, "prod", "gcp:serviceaccount/account:Account", "blog-workload")
        staging = [*plans["staging"].records, dataclasses.replace(account, name="blog-staging-workload")]
        [violation] = name_rules.shared_gcp_names({"prod": plans["prod"].records, "staging": staging})
        assert violation.rule == "unique-gcp-names-per-project"
        assert "declared by prod (blog-workload) and by staging (blog-staging-workload)" in violation.message

    def test_two_clusters_in_one_gcp_project_may_not_both_own_its_one_binary_authorization_policy(self, plans):
        [prod_policy] = plans["prod"].of_type("gcp:binaryauthorization/policy:Policy")
        [dev_policy] = plans["dev"].of_type("gcp:binaryauthorization/policy:Policy")
        same_project = dataclasses.replace(dev_policy, inputs={**dev_policy.inputs, "project": prod_policy.inputs["project"]})
        [violation] = name_rules.shared_gcp_names({"prod": plans["prod"].records, "dev": [*plans["dev"].records, same_project]})
        assert violation.resource == "gcp:binaryauthorization/policy:Policy the project's policy"
        assert violation.message.endswith(f"declared by prod ({prod_policy.name}) and by dev ({dev_policy.name}); give the stacks separate GCP projects: a project has one")


class TestTheStackEnablesTheApisItUses:
    def test_prod_enables_every_api_its_resources_are_created_through_and_leaves_them_on_when_destroyed(self, plans):
        services = {r.inputs["service"]: r for r in plans["prod"].of_type(apis.SERVICE)}
        assert {"container.googleapis.com", "compute.googleapis.com", "secretmanager.googleapis.com", "binaryauthorization.googleapis.com",
                "certificatemanager.googleapis.com", "iam.googleapis.com", "cloudresourcemanager.googleapis.com"} <= services.keys()
        assert all(r.inputs["disableOnDestroy"] is False for r in services.values())

    def test_the_cluster_and_the_secret_access_wait_for_their_apis(self, plans):
        services = {r.inputs["service"]: r.urn for r in plans["prod"].of_type(apis.SERVICE)}
        cluster = record(plans, "prod", "gcp:container/cluster:Cluster", "shoestring-prod")
        assert {services[api] for api in ("container.googleapis.com", "compute.googleapis.com", "binaryauthorization.googleapis.com", apis.IAM_CREDENTIALS)} <= set(cluster.dependencies)
        access = record(plans, "prod", "gcp:secretmanager/secretIamMember:SecretIamMember", "blog-reads-blog-db-url")
        assert services["secretmanager.googleapis.com"] in access.dependencies

    def test_every_shipped_stack_enables_exactly_what_it_uses(self, plans):
        for stack, plan in plans.items():
            assert api_rules.violations(plan.records) == [], stack

    def test_a_resource_that_does_not_wait_for_its_api_is_refused(self, plans):
        records = [dataclasses.replace(r, dependencies=()) if r.type == "gcp:container/cluster:Cluster" else r for r in plans["prod"].records]
        found = [str(v) for v in api_rules.violations(records)]
        assert any("gcp:container/cluster:Cluster shoestring-prod: does not wait for container.googleapis.com" in v for v in found), found

    def test_an_api_the_stack_needs_and_does_not_enable_is_refused(self, plans):
        records = [r for r in plans["prod"].records if r.inputs.get("service") != "certificatemanager.googleapis.com"]
        assert any("needs certificatemanager.googleapis.com on" in v.message for v in api_rules.violations(records))

    @pytest.mark.parametrize("stack", ["dev", "prod", "staging"])
    def test_every_gcp_registration_carries_its_apis_service_among_the_dependencies_the_sdk_sent_and_was_sent_after_it_completed(self, plans, stack):
        plan = plans[stack]
        services = {r.inputs["service"]: r.urn for r in plan.of_type(apis.SERVICE)}
        events = {event: i for i, event in enumerate(plan.order)}
        gcp = [r for r in plan.records if r.type.startswith("gcp:") and r.type != apis.SERVICE]
        assert gcp
        for record in gcp:
            for api in apis.needed_by(record.type, record.inputs):
                assert services[api] in record.dependencies, (record.name, api)
                assert events[("completed", services[api])] < events[("sent", record.urn)], (record.name, api)

    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_every_workload_carries_the_priority_class_it_names_among_its_dependencies(self, plans, stack):
        classes = {r.inputs["metadata"]["name"]: r.urn for r in plans[stack].of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
        events = {event: i for i, event in enumerate(plans[stack].order)}
        workloads = [r for r in plans[stack].records if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob")]
        assert workloads
        for record in workloads:
            spec = record.inputs["spec"]
            pod = spec["jobTemplate"]["spec"]["template"]["spec"] if "jobTemplate" in spec else spec["template"]["spec"]
            assert classes[pod["priorityClassName"]] in record.dependencies, record.name
            assert events[("completed", classes[pod["priorityClassName"]])] < events[("sent", record.urn)], record.name

    @pytest.mark.parametrize("stack", ["dev", "prod"])
    def test_every_workload_waits_for_the_node_pools_its_pods_land_on(self, plans, stack):
        pools = {r.name: r.urn for r in plans[stack].of_type("gcp:container/nodePool:NodePool")}
        # A GPU pod selects the GPU ComputeClass, whose rungs are every GPU pool (Spot first, then
        # the on-demand fallback where a stack opts in): it may land on any of them.
        gpu_pools = {r.name for r in plans[stack].of_type("gcp:container/nodePool:NodePool") if r.inputs["nodeConfig"].get("guestAccelerators")}
        assert "gpu-pool" in gpu_pools
        for record in [r for r in plans[stack].records if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob")]:
            spec = record.inputs["spec"]
            pod = spec["jobTemplate"]["spec"]["template"]["spec"] if "jobTemplate" in spec else spec["template"]["spec"]
            on_gpu = "nvidia.com/gpu" in str(pod["containers"][0]["resources"])
            on_spot = any(t.get("key") == "cloud.google.com/gke-spot" for t in pod.get("tolerations") or [])
            expected = gpu_pools if on_gpu else {"default-pool", *({"spot-pool"} if on_spot else set())}
            assert {name for name, urn in pools.items() if urn in record.dependencies} == expected, record.name

    def test_the_policy_packs_rule_passes_prods_records_as_the_sdk_sent_them_and_refuses_one_dependency_removed(self, plans):
        """Through pulumi-policy's own analyzer, which turns the engine's AnalyzeStack request (each
        resource's dependencies as URNs, pkg/resource/deploy/step_generator.go) into PolicyResources."""
        import sys

        from google.protobuf import struct_pb2
        from pulumi.runtime.proto import analyzer_pb2
        from pulumi_policy import EnforcementLevel, StackValidationPolicy
        from pulumi_policy.policy import _PolicyAnalyzerServicer

        sys.path.insert(0, str(ROOT / "policies"))
        import guardrails

        from shoestring import rules

        check = rules.stack_check("apis-enabled-before-use")
        pack = _PolicyAnalyzerServicer("shoestring-cost", "0.0.1", [StackValidationPolicy(name=check.name, description=check.description, validate=guardrails.stack_policy(check))], EnforcementLevel.MANDATORY)

        def analyzed(records) -> list[str]:
            request = analyzer_pb2.AnalyzeStackRequest()
            for r in records:
                properties = struct_pb2.Struct()
                properties.update(r.inputs)
                request.resources.append(analyzer_pb2.AnalyzerResource(type=r.type, name=r.name, urn=r.urn, properties=properties, parent=r.parent or "", dependencies=list(r.dependencies)))
            return [d.message for d in pack.AnalyzeStack(request, None).diagnostics]

        records = plans["prod"].records
        assert analyzed(records) == []
        container = next(r.urn for r in plans["prod"].of_type(apis.SERVICE) if r.inputs["service"] == "container.googleapis.com")
        without = [dataclasses.replace(r, dependencies=tuple(d for d in r.dependencies if d != container)) if r.name == "gpu-pool" and r.type == "gcp:container/nodePool:NodePool" else r for r in records]
        [message] = analyzed(without)
        assert "gcp:container/nodePool:NodePool gpu-pool: does not wait for container.googleapis.com to be enabled (depends_on apis-container)" in message

    def test_a_gcp_type_no_api_is_mapped_for_fails_the_suite_naming_where_to_map_it(self, plans):
        topic = dataclasses.replace(plans["prod"].of_type(apis.SERVICE)[0], type="gcp:pubsub/topic:Topic", name="events", urn="urn:topic", inputs={"project": "p"})
        [violation] = api_rules.violations([*plans["prod"].records, topic])
        assert str(violation) == "apis-enabled-before-use: gcp:pubsub/topic:Topic events: gcp:pubsub/topic:Topic: which Google API creates it? Add its module to program/apis.py API_OF_MODULE"

    @pytest.mark.parametrize("stack", ["dev", "prod", "staging"])
    def test_iamcredentials_is_enabled_wherever_workload_identity_is_used(self, plans, stack):
        bindings = [r for r in plans[stack].of_type("gcp:serviceaccount/iAMMember:IAMMember") if r.inputs["role"] == "roles/iam.workloadIdentityUser"]
        assert bindings
        assert apis.IAM_CREDENTIALS in {r.inputs["service"] for r in plans[stack].of_type(apis.SERVICE)}
        without = [r for r in plans[stack].records if r.inputs.get("service") != apis.IAM_CREDENTIALS]
        assert any(f"{bindings[0].name}: needs iamcredentials.googleapis.com on" in str(v) for v in api_rules.violations(without))

    def test_an_api_nothing_uses_is_refused(self, plans):
        extra = dataclasses.replace(plans["dev"].of_type(apis.SERVICE)[0], name="apis-bigquery", urn="urn:x", inputs={"project": "p", "service": "bigquery.googleapis.com"})
        [violation] = api_rules.violations([*plans["dev"].records, extra])
        assert "enables bigquery.googleapis.com, which nothing the stack declares needs" in violation.message


class TestSecretsTheAppsRead:
    @pytest.mark.parametrize(("stack", "secret"), [("prod", "blog-db-url"), ("dev", "blog-db-url"), ("staging", "blog-staging-db-url")])
    def test_each_secret_an_app_reads_is_declared_without_a_value_and_kept_when_the_stack_is_destroyed(self, plans, stack, secret):
        [declared] = [r for r in plans[stack].of_type("gcp:secretmanager/secret:Secret") if r.inputs["secretId"] == secret]
        assert declared.retain_on_delete and declared.inputs["replication"] == {"auto": {}}
        assert not plans[stack].of_type("gcp:secretmanager/secretVersion:SecretVersion")
        assert any(f"gcloud secrets versions add {secret} --data-file=-" in note for note in plans[stack].notes)

    def test_access_to_a_secret_waits_for_the_secret(self, plans):
        secret = next(r for r in plans["prod"].of_type("gcp:secretmanager/secret:Secret") if r.inputs["secretId"] == "blog-db-url")
        access = record(plans, "prod", "gcp:secretmanager/secretIamMember:SecretIamMember", "blog-reads-blog-db-url")
        assert secret.urn in access.dependencies


class TestTheEntryAndOneOffJobsCannotBePreemptedByApps:
    """The scheduler preempts only pods of lower priority than the one pending
    (kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/#preemption)."""

    def test_the_tunnels_cloudflared_runs_above_every_apps_class_and_waits_for_it(self, plans):
        plan = offline.run("prod", config={**offline.read_stack_files("prod")[0], **TUNNEL}, secret_keys=["shoestring:tunnelCredentials"])
        classes = {r.inputs["metadata"]["name"]: r for r in plan.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
        cloudflared = next(r for r in plan.of_type("kubernetes:apps/v1:Deployment") if r.inputs["metadata"]["name"] == "cloudflared")
        named = cloudflared.inputs["spec"]["template"]["spec"]["priorityClassName"]
        assert named == names.ENTRY_PRIORITY and classes[named].urn in cloudflared.dependencies
        apps = {r.inputs["spec"]["template"]["spec"]["priorityClassName"] for r in plan.of_type("kubernetes:apps/v1:Deployment") if r is not cloudflared}
        assert all(classes[named].inputs["value"] > classes[app].inputs["value"] for app in apps), apps

    def test_a_bootstrap_job_runs_above_user_facing_apps_and_preempts_nothing(self, plans):
        import types

        from shoestring.oncall.runbooks.bootstrap_database import _job
        from shoestring.oncall.session import find_target

        job = _job(types.SimpleNamespace(target=find_target("backend", "blog", "prod")), "backend-bootstrap")
        classes = {r.inputs["metadata"]["name"]: r.inputs for r in plans["prod"].of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
        one_off = classes[job["spec"]["template"]["spec"]["priorityClassName"]]
        assert one_off["value"] > classes[names.USER_FACING_PRIORITY]["value"] and one_off["preemptionPolicy"] == "Never"


class TestEachKubernetesObjectIsDeclaredOnce:
    def test_a_tunnel_stack_declares_no_object_twice(self):
        plan = offline.run("prod", config={**offline.read_stack_files("prod")[0], **TUNNEL}, secret_keys=["shoestring:tunnelCredentials"])
        assert security.duplicate_kubernetes_objects(plan.records) == []
        policies = [r for r in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.inputs["metadata"]["namespace"] == "shoestring-entry"]
        assert [p.inputs["metadata"]["name"] for p in policies] == ["default-deny-ingress"]

    def test_two_declarations_of_one_object_are_refused_naming_the_first(self, plans):
        namespace = record(plans, "prod", "kubernetes:core/v1:Namespace", "blog")
        [violation] = security.duplicate_kubernetes_objects([namespace, dataclasses.replace(namespace, name="blog-again")])
        assert violation.rule == "one-declaration-per-kubernetes-object" and "declares blog, which blog declares already" in violation.message


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return copy_of_repository(tmp_path_factory, "first-up")


BAD_INPUT = [
    ("a zone that does not exist", "stacks/Pulumi.dev.yaml", "shoestring:zone: us-central1-a", "shoestring:zone: us-central1-z",
     "shoestring:zone = 'us-central1-z': us-central1 has no zone us-central1-z; its zones are us-central1-a, us-central1-b, us-central1-c, us-central1-f"),
    ("L4 in a zone that does not offer it", "stacks/Pulumi.dev.yaml", "    spot: true\n    quota:", "    spot: true\n    zone: us-central1-f\n    quota:",
     "shoestring:gpuPool.zone = 'us-central1-f': does not offer nvidia-l4; the zones of us-central1 that do are us-central1-a, us-central1-b, us-central1-c"),
    ("an accelerator the catalog does not price", "stacks/Pulumi.dev.yaml", "accelerator: nvidia-l4", "accelerator: nvidia-h100-80gb",
     "shoestring:gpuPool.accelerator = 'nvidia-h100-80gb': not in the price catalog for us-central1"),
    ("a tag inside the image", "projects/blog.yaml", "image: ghcr.io/acme/blog-frontend", "image: ghcr.io/acme/x:latest",
     "projects/blog.yaml:6: apps.0.image = 'ghcr.io/acme/x:latest': 'ghcr.io/acme/x:latest' carries a tag or digest; give the repository alone (e.g. ghcr.io/acme/x)"),
    ("an image with capitals and a space", "projects/blog.yaml", "image: ghcr.io/acme/blog-frontend", "image: ghcr.io/acme/Blog Frontend",
     "is not an image repository"),
    ("a million replicas", "stacks/Pulumi.dev.yaml", "frontend: {replicas: 1,", "frontend: {replicas: 1000000,",
     "shoestring:projects.blog.apps.frontend.replicas = 1000000: Input should be less than or equal to 100"),
    ("a million GPU nodes", "stacks/Pulumi.dev.yaml", "    maxNodes: 1\n", "    maxNodes: 1000000\n",
     "shoestring:gpuPool.maxNodes = 1000000: Input should be less than or equal to 100"),
    ("a YAML alias", "stacks/Pulumi.dev.yaml", "shoestring:zone: us-central1-a", "shoestring:zone: &zone us-central1-a\n  shoestring:region: *zone",
     "stacks/Pulumi.dev.yaml:11: YAML alias *zone is not allowed in a stack file; write the value out"),
    ("replicas beyond the project's quota", "stacks/Pulumi.dev.yaml", "frontend: {replicas: 1,", "frontend: {replicas: 30,",
     "its apps ask for more than its ResourceQuota admits in this stack (replicas plus a rollout's surge pods), so pods beyond it would never "
     'start; set quota_cpu: "4.2", quota_memory: "5.3Gi", quota_pods: 40 or more in projects/blog.yaml'),
    ("a missing gcp:project", "stacks/Pulumi.dev.yaml", "  gcp:project: replace-with-dev-project-id\n", "",
     "gcp:project is missing: add `gcp:project: <your-project-id>` under `config:` in stacks/Pulumi.dev.yaml"),
    ("a missing tag", "projects/blog.yaml", "    tag: 9c4e1f2a7b3d@sha256:03add99eadf5b71fa26a01a230a9674cd5c8d2048ac4123b66cd1aeadc3353c0\n", "",
     "projects/blog.yaml:5: apps.0.tag is required; add `tag: ...`"),
]


@pytest.mark.parametrize(("case", "path", "old", "new", "message"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_ends_make_plan_with_one_message_naming_the_file_the_key_and_the_fix_within_ten_seconds(clone, case, path, old, new, message):
    target = clone / path
    original = target.read_text()
    target.write_text(replaced(target, old, new))
    try:
        started = time.monotonic()
        completed = subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "dev"], cwd=clone, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        target.write_text(original)
    assert completed.returncode == 1, completed.stdout[-2000:]
    assert "Traceback" not in completed.stderr
    assert message in completed.stderr, completed.stderr
    assert path in completed.stderr, completed.stderr  # the file to open
    assert completed.stderr.count("\n  - ") <= 1, completed.stderr  # one problem, one message
    assert elapsed < 10, f"{case}: {elapsed:.1f} s"
