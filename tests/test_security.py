"""Security and tenancy rules (shoestring/security.py): each rule passes the shipped plan and
fails the same resource with one field changed — the way pulumi/compliance-policies tests its
rules — and `make plan` refuses a project that breaks one, as the policy pack would."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import copy_of_repository

from program import config, definitions
from shoestring import security

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT, NAMESPACE = "kubernetes:apps/v1:Deployment", security.NAMESPACE


def prod(plans, type_: str, name: str):
    return next(r for r in plans["prod"].records if r.type == type_ and r.name == name)


def pod_spec(inputs: dict) -> dict:
    return inputs["spec"]["template"]["spec"]


def privileged(i): pod_spec(i)["containers"][0]["securityContext"]["privileged"] = True
def host_network(i): pod_spec(i)["hostNetwork"] = True
def host_path(i): pod_spec(i)["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
def net_admin(i): pod_spec(i)["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]
def as_root(i): pod_spec(i)["containers"][0]["securityContext"]["runAsUser"] = 0
def writable_root(i): pod_spec(i)["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
def pod_security_privileged(i): i["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
def kube_system(i): i["metadata"]["name"] = "kube-system"
def default_account(i): del pod_spec(i)["serviceAccountName"]
def unconfined(i): pod_spec(i)["securityContext"]["seccompProfile"]["type"] = "Unconfined"
def secret_env(i): pod_spec(i)["containers"][0].setdefault("env", []).append({"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}})
def mounted_token(i): pod_spec(i)["automountServiceAccountToken"] = True


CASES = [
    ("no-privileged-containers", DEPLOYMENT, "blog-frontend", privileged, "container frontend is privileged"),
    ("no-host-namespaces", DEPLOYMENT, "blog-frontend", host_network, "the pod shares the node's Network namespace (hostNetwork: true)"),
    ("no-host-path-volumes", DEPLOYMENT, "blog-frontend", host_path, "volume root mounts the node's /"),
    ("no-added-capabilities", DEPLOYMENT, "blog-frontend", net_admin, "container frontend adds capabilities NET_ADMIN"),
    ("run-as-non-root", DEPLOYMENT, "blog-frontend", as_root, "container frontend may run as root (runAsNonRoot True, runAsUser 0)"),
    ("read-only-root-filesystem", DEPLOYMENT, "blog-frontend", writable_root, "container frontend can write its root filesystem"),
    ("pod-security-enforced", NAMESPACE, "blog", pod_security_privileged, "Pod Security is privileged; enforce restricted (or baseline)"),
    ("pod-security-enforced", security.NAMESPACE_PATCH, "default-namespace", pod_security_privileged, "Pod Security is privileged; enforce restricted (or baseline)"),
    ("reserved-namespace-names", NAMESPACE, "blog", kube_system, "namespace kube-system is reserved for Kubernetes or GKE"),
    ("no-default-service-account", DEPLOYMENT, "blog-frontend", default_account, "the pod runs as the namespace's default service account; give it one of its own"),
    ("seccomp-runtime-default", DEPLOYMENT, "blog-frontend", unconfined, "container frontend runs without the RuntimeDefault seccomp profile"),
    ("no-secrets-in-env", DEPLOYMENT, "blog-frontend", secret_env, "container frontend reads DATABASE_URL from a Secret into its environment; mount it as a file"),
    ("no-automounted-token", DEPLOYMENT, "blog-frontend", mounted_token, "the pod mounts a Kubernetes API token it does not need; set automountServiceAccountToken: false"),
]


@pytest.mark.parametrize(("rule", "type_", "name", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_passes_the_shipped_resource_and_fails_it_with_one_field_changed(plans, rule, type_, name, change, message):
    [check] = [r.check for r in security.RULES if r.name == rule]
    record = prod(plans, type_, name)
    assert check(record.type, record.inputs) == []
    violating = copy.deepcopy(record.inputs)
    change(violating)
    assert check(record.type, violating) == [message]
    # ...and no other rule objects to that one change.
    others = [r.name for r in security.RULES if r.name != rule and r.check(record.type, violating) != r.check(record.type, record.inputs)]
    assert others == [] or rule == "run-as-non-root"


RBAC = "kubernetes:rbac.authorization.k8s.io/v1"
VIEW_BINDING = {"metadata": {"name": "readers", "namespace": "blog"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": []}


def test_no_cluster_rbac_passes_a_namespaced_view_binding_and_fails_it_bound_to_admin_or_made_cluster_wide():
    assert security.no_cluster_rbac(f"{RBAC}:RoleBinding", VIEW_BINDING) == []
    admin = copy.deepcopy(VIEW_BINDING)
    admin["roleRef"]["name"] = "admin"
    assert security.no_cluster_rbac(f"{RBAC}:RoleBinding", admin) == ["binds the admin ClusterRole, which administers every object of the namespace, Secrets included"]
    assert security.no_cluster_rbac(f"{RBAC}:ClusterRoleBinding", VIEW_BINDING) == [
        "a ClusterRoleBinding acts on the whole cluster; a project gets Roles and RoleBindings in its own namespace only"
    ]


def test_every_rule_has_a_case():
    # no-cluster-rbac has no shipped resource to change: it has its own case above.
    assert {c[0] for c in CASES} | {"no-cluster-rbac"} == {r.name for r in security.RULES}


def test_a_namespace_without_a_network_policy_is_reported(plans):
    records = plans["prod"].records
    assert security.namespaces_without_network_policies(records) == []
    without_blogs = [r for r in records if not (r.type == security.NETWORK_POLICY and r.inputs["metadata"]["namespace"] == "blog")]
    [violation] = security.namespaces_without_network_policies(without_blogs)
    assert str(violation) == (
        "namespaces-have-network-policies: kubernetes:core/v1:Namespace blog: namespace blog has no NetworkPolicy; declare a default-deny ingress policy"
    )


SERVICE_ACCOUNT_PATCH = "kubernetes:core/v1:ServiceAccountPatch"


def test_prod_patches_every_declared_namespaces_default_account_and_locks_the_default_namespace(plans):
    """CIS GKE 4.1.4, 4.2.1 and 4.3.2 as kube-bench's gke-1.9.0 checks read a cluster: no `default`
    ServiceAccount automounts a token, and `default` enforces Pod Security and has a NetworkPolicy.
    Objects that exist before Pulumi runs are patched (Server-Side Apply), never created."""
    records = plans["prod"].records
    namespaces = {r.inputs["metadata"]["name"] for r in records if r.type == NAMESPACE}
    assert namespaces == {"blog", "ml", "shoestring-entry"}
    tokenless = {
        r.inputs["metadata"]["namespace"] for r in records
        if r.type == SERVICE_ACCOUNT_PATCH and r.inputs["metadata"]["name"] == "default" and r.inputs["automountServiceAccountToken"] is False
    }
    assert tokenless == namespaces | {"default"}
    assert not any(r.type in (NAMESPACE, "kubernetes:core/v1:ServiceAccount") and r.inputs["metadata"]["name"] == "default" for r in records)
    [default] = [r for r in records if r.type == security.NAMESPACE_PATCH]
    assert default.inputs["metadata"]["name"] == "default"
    assert default.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    [deny] = [r for r in records if r.type == security.NETWORK_POLICY and r.inputs["metadata"]["namespace"] == "default"]
    assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # A stack in prod's cluster patches its own namespaces' accounts, never prod's `default`.
    staging = plans["staging"].records
    assert not [r for r in staging if r.type == security.NAMESPACE_PATCH]
    assert {r.inputs["metadata"]["namespace"] for r in staging if r.type == SERVICE_ACCOUNT_PATCH} == {"blog-staging", "ml-staging"}


def test_a_namespace_whose_default_account_mounts_a_token_is_reported(plans):
    records = plans["prod"].records
    assert security.default_accounts_with_tokens(records) == []
    patch = next(r for r in records if r.type == SERVICE_ACCOUNT_PATCH and r.inputs["metadata"]["namespace"] == "blog")
    mounting = [type(r)(**{**r.__dict__, "inputs": {**r.inputs, "automountServiceAccountToken": True}}) if r is patch else r for r in records]
    [violation] = security.default_accounts_with_tokens(mounting)
    assert str(violation) == (
        "default-service-accounts-without-token: kubernetes:core/v1:Namespace blog: namespace blog's default ServiceAccount mounts its "
        "API token into every pod that names no other account; patch it with automountServiceAccountToken: false "
        "(program/components/pod_security.py, default_account_without_token)"
    )
    without_default = [r for r in records if not (r.type == SERVICE_ACCOUNT_PATCH and r.inputs["metadata"]["namespace"] == "default")]
    assert [v.resource for v in security.default_accounts_with_tokens(without_default)] == [f"{security.NAMESPACE_PATCH} default-namespace"]


def test_the_default_namespace_without_its_network_policy_is_reported(plans):
    records = [r for r in plans["prod"].records if not (r.type == security.NETWORK_POLICY and r.inputs["metadata"]["namespace"] == "default")]
    [violation] = security.namespaces_without_network_policies(records)
    assert violation.resource == f"{security.NAMESPACE_PATCH} default-namespace"


def test_every_shipped_stack_passes_every_rule(plans):
    for stack, plan in plans.items():
        assert security.violations(plan.records) == [], stack


def test_a_route_on_another_projects_host_is_a_shadowed_host():
    def route(namespace: str, name: str, host: str):
        return type("R", (), {"type": security.HTTP_ROUTE, "name": name, "inputs": {"metadata": {"namespace": namespace}, "spec": {"hostnames": [host]}}})()

    assert security.shadowed_hosts([route("blog", "blog-frontend", "blog.example.com"), route("shop", "shop-web", "shop.example.com")]) == []
    [violation] = security.shadowed_hosts([route("blog", "blog-frontend", "blog.example.com"), route("shop", "shop-web", "blog.example.com")])
    assert str(violation) == f"no-shadowed-hosts: {security.HTTP_ROUTE} shop-web: routes blog.example.com, which blog already serves (blog-frontend)"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return copy_of_repository(tmp_path_factory, "hostile")


def test_the_policy_pack_runs_the_same_rules(plans):
    from test_cost import _resource_args

    import guardrails

    [rule] = [r for r in security.RULES if r.name == "no-privileged-containers"]
    record = prod(plans, DEPLOYMENT, "blog-frontend")
    found: list[str] = []
    guardrails.security_rule(rule)(_resource_args(record), lambda message, urn=None: found.append(message))
    assert found == []
    inputs = copy.deepcopy(record.inputs)
    privileged(inputs)
    guardrails.security_rule(rule)(_resource_args(type(record)(**{**record.__dict__, "inputs": inputs})), lambda message, urn=None: found.append(message))
    assert found == [f"{DEPLOYMENT} blog-frontend: container frontend is privileged"]


class TestMakePlanRefuses:
    """`make plan` on a copy of the repository, with one hostile or mistaken project file."""

    def plan(self, clone: Path, project_file: str, text: str) -> subprocess.CompletedProcess:
        path = clone / "projects" / project_file
        path.write_text(text)
        try:
            return subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "dev"], cwd=clone, capture_output=True, text=True)
        finally:
            path.unlink()

    def test_a_python_project_file_that_would_patch_every_pod_to_privileged_is_refused_unrun(self, clone):
        hostile = '''"""A project file that patches every pod and namespace the program declares."""
import copy

import pulumi

from program.definitions import App, Project


def _loosen(args: pulumi.ResourceTransformArgs):
    props = copy.deepcopy(dict(args.props))
    if args.type_ == "kubernetes:apps/v1:Deployment":
        pod = props["spec"]["template"]["spec"]
        pod["containers"][0]["securityContext"]["privileged"] = True
        pod["volumes"] = [*pod.get("volumes", []), {"name": "root", "hostPath": {"path": "/"}}]
    elif args.type_ == "kubernetes:core/v1:Namespace":
        props["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    else:
        return None
    return pulumi.ResourceTransformResult(props, args.opts)


pulumi.runtime.register_resource_transform(_loosen)

PROJECT = Project(name="tools", apps=(App(name="web", image="ghcr.io/acme/tools", tag="0a7d3e5b1c9f", port=8080, repository="https://github.com/acme/tools"),))
'''
        # Project files are data (issue 28): this one is refused before anything runs; the rules it
        # targets are held on the records themselves (tests/test_ownership_rules.py, this file's rule tests).
        completed = self.plan(clone, "tools.py", hostile)
        assert completed.returncode == 1, completed.stdout + completed.stderr
        assert "projects/tools.py: a project is a data file, and a Python file in projects/ is never run; write it as projects/tools.yaml" in completed.stderr

    def test_a_python_project_file_that_would_move_the_cluster_to_the_default_network_is_refused_unrun(self, clone):
        mistaken = '''import pulumi

from program.definitions import App, Project


def _default_network(args: pulumi.ResourceTransformArgs):
    if args.type_ != "gcp:container/cluster:Cluster":
        return None
    return pulumi.ResourceTransformResult({**args.props, "network": "default"}, args.opts)


pulumi.runtime.register_resource_transform(_default_network)

PROJECT = Project(name="tools", apps=(App(name="web", image="ghcr.io/acme/tools", tag="0a7d3e5b1c9f", port=8080, repository="https://github.com/acme/tools"),))
'''
        completed = self.plan(clone, "tools.py", mistaken)
        assert completed.returncode == 1, completed.stdout + completed.stderr
        assert "projects/tools.py: a project is a data file, and a Python file in projects/ is never run" in completed.stderr

    def test_a_project_named_kube_system_is_refused(self, clone):
        named = "name: kube-system\napps: [{name: web, image: ghcr.io/acme/x, tag: 0a7d3e5b1c9f, port: 8080, repository: https://github.com/acme/x}]\n"
        completed = self.plan(clone, "kube-system.yaml", named)
        assert completed.returncode == 1
        assert "namespace kube-system belongs to Kubernetes or GKE; rename the project in its definition (projects/)" in completed.stderr


def test_a_path_under_another_projects_host_is_refused():
    raw = config.read_stack_files("prod")[0]
    projects = json.loads(raw["shoestring:projects"])
    projects["ml"]["apps"]["worker"] = {"replicas": 0, "hosts": ["blog.example.com"]}
    defined = definitions.discover()
    ml = defined["ml"]
    worker = ml.apps[0].model_copy(update={"public": definitions.Public(hosts=("blog.example.com",), path="/admin")})
    defined = defined | {"ml": ml.model_copy(update={"apps": (worker,)})}
    with pytest.raises(config.ConfigError) as raised:
        config.load("prod", raw | {"shoestring:projects": json.dumps(projects)}, defined)
    assert "shoestring:projects = 'blog.example.com/admin': is under blog.example.com, which blog/frontend serves" in str(raised.value)


def test_two_stacks_in_one_gcp_project_may_not_bind_the_same_workload_identity(plans):
    # Shipped: dev has a GCP project of its own, staging's namespaces are suffixed.
    assert security.shared_workload_identities({s: p.records for s, p in plans.items()}) == []
    raw = config.read_stack_files("dev")[0] | {"gcp:project": config.read_stack_files("prod")[0]["gcp:project"]}
    from shoestring import offline

    same_project = offline.run("dev", config=raw)
    violations = security.shared_workload_identities({"dev": same_project.records, "prod": plans["prod"].records})
    [violation] = [v for v in violations if "[ml/workload]" in v.message]  # blog's is shared too
    assert str(violation).startswith(
        "unique-workload-identity-members: stacks dev, prod: all bind serviceAccount:replace-with-your-project-id.svc.id.goog[ml/workload]"
    )


def test_make_plan_all_refuses_a_workload_identity_two_stacks_share(clone):
    path = clone / "stacks" / "Pulumi.dev.yaml"
    original = path.read_text()
    path.write_text(original.replace("replace-with-dev-project-id", "replace-with-your-project-id"))
    try:
        completed = subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "all"], cwd=clone, capture_output=True, text=True)
    finally:
        path.write_text(original)
    assert completed.returncode == 1
    assert "error: policy unique-workload-identity-members: stacks dev, prod: all bind" in completed.stderr
