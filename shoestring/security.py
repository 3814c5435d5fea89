"""Security and tenancy rules for GKE workloads, over {type, name, inputs} records.

Each rule is a plain function of one resource's type and inputs (or, for `shadowed_hosts`, of
all of a stack's records) returning the violations it finds, so the same functions run in
`make plan` (shoestring/__main__.py, before anything is deployed) and in the CrossGuard policy
pack (policies/guardrails.py). The module imports nothing else of Shoestring's, so another
project can use it as it stands.

The workload rules are the Pod Security Standards' `baseline` and `restricted` controls
(kubernetes.io/docs/concepts/security/pod-security-standards) that GKE's hardening guide asks
for, checked on the pod templates the program declares rather than at admission time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from program.names import DEPLOYMENT, is_reserved
from program.records import ResourceRecord

POD_TEMPLATE_TYPES = {
    DEPLOYMENT: ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
NAMESPACE = "kubernetes:core/v1:Namespace"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
"""A namespace that exists before the program runs (``default``), patched rather than created."""
NAMESPACES = (NAMESPACE, NAMESPACE_PATCH)
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str
    """``<type> <name>``."""
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.resource}: {self.message}"


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[str, Mapping[str, Any]], list[str]]
    cis: str | None = None
    """The CIS GKE Benchmark 1.9 control(s) the rule enforces, e.g. ``4.2.1``."""


def pod_spec_of(type_: str, inputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = POD_TEMPLATE_TYPES.get(type_)
    if path is None:
        return None
    node: Any = inputs
    for key in path:
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
    return node


def containers_of(pod: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    yield from pod.get("initContainers", []) or []
    yield from pod.get("containers", []) or []


def no_privileged_containers(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    return [] if pod is None else [
        f"container {c.get('name')} is privileged" for c in containers_of(pod) if (c.get("securityContext") or {}).get("privileged")
    ]


def no_host_namespaces(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    return [] if pod is None else [f"the pod shares the node's {key.removeprefix('host')} namespace ({key}: true)" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]


def no_host_path_volumes(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    return [] if pod is None else [
        f"volume {v.get('name')} mounts the node's {v['hostPath'].get('path')}" for v in pod.get("volumes", []) or [] if v.get("hostPath")
    ]


def no_added_capabilities(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    return [] if pod is None else [
        f"container {c.get('name')} adds capabilities {', '.join(added)}"
        for c in containers_of(pod)
        if (added := ((c.get("securityContext") or {}).get("capabilities") or {}).get("add"))
    ]


def runs_as_non_root(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    if pod is None:
        return []
    pod_level = (pod.get("securityContext") or {})
    found = []
    for c in containers_of(pod):
        context = c.get("securityContext") or {}
        non_root = context.get("runAsNonRoot", pod_level.get("runAsNonRoot"))
        user = context.get("runAsUser", pod_level.get("runAsUser"))
        if not non_root or user == 0:
            found.append(f"container {c.get('name')} may run as root (runAsNonRoot {non_root}, runAsUser {user})")
    return found


def read_only_root_filesystem(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    return [] if pod is None else [
        f"container {c.get('name')} can write its root filesystem" for c in containers_of(pod) if not (c.get("securityContext") or {}).get("readOnlyRootFilesystem")
    ]


def no_default_service_account(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    account = None if pod is None else pod.get("serviceAccountName") or "default"
    return [f"the pod runs as the namespace's {account} service account; give it one of its own"] if account == "default" else []


def no_automounted_token(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    return [] if pod is None or pod.get("automountServiceAccountToken") is False else [
        "the pod mounts a Kubernetes API token it does not need; set automountServiceAccountToken: false"
    ]


def no_secrets_in_env(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    if pod is None:
        return []
    found = []
    for c in containers_of(pod):
        names = [e.get("name") for e in c.get("env") or [] if ((e.get("valueFrom") or {}).get("secretKeyRef"))]
        names += [f"every key of Secret {f['secretRef'].get('name')}" for f in c.get("envFrom") or [] if f.get("secretRef")]
        found += [f"container {c.get('name')} reads {name} from a Secret into its environment; mount it as a file" for name in names]
    return found


def seccomp_runtime_default(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    pod = pod_spec_of(type_, inputs)
    if pod is None:
        return []
    pod_level = ((pod.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    return [
        f"container {c.get('name')} runs without the RuntimeDefault seccomp profile"
        for c in containers_of(pod)
        if (((c.get("securityContext") or {}).get("seccompProfile") or {}).get("type") or pod_level) not in ("RuntimeDefault", "Localhost")
    ]


def pod_security_enforced(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ not in NAMESPACES:
        return []
    level = ((inputs.get("metadata") or {}).get("labels") or {}).get(ENFORCE_LABEL)
    return [] if level in ("restricted", "baseline") else [f"Pod Security is {level or 'not enforced'}; enforce restricted (or baseline)"]


def reserved_namespace_names(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ != NAMESPACE:
        return []
    name = (inputs.get("metadata") or {}).get("name", "")
    return [f"namespace {name} is reserved for Kubernetes or GKE"] if is_reserved(name) else []


ADMIN_ROLES = ("cluster-admin", "admin", "edit")
"""ClusterRoles that administer or write a namespace's (or the cluster's) objects, Secrets included."""


def no_cluster_rbac(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """No ClusterRole, ClusterRoleBinding, or binding to cluster-admin/admin/edit: Shoestring
    declares none, so one appearing came from a project file, and reaches beyond its namespace."""
    kind = type_.rsplit(":", 1)[-1]
    if not type_.startswith("kubernetes:rbac.authorization.k8s.io/"):
        return []
    if kind in ("ClusterRole", "ClusterRoleBinding"):
        return [f"a {kind} acts on the whole cluster; a project gets Roles and RoleBindings in its own namespace only"]
    role = (inputs.get("roleRef") or {}).get("name")
    return [f"binds the {role} ClusterRole, which administers every object of the namespace, Secrets included"] if kind == "RoleBinding" and role in ADMIN_ROLES else []


RULES = (
    Rule("no-privileged-containers", "No container runs privileged.", no_privileged_containers, "4.2.1"),
    Rule("no-host-namespaces", "No pod shares the node's network, PID or IPC namespace.", no_host_namespaces, "4.2.1"),
    Rule("no-host-path-volumes", "No pod mounts a path of the node.", no_host_path_volumes, "4.2.1"),
    Rule("no-added-capabilities", "No container adds Linux capabilities.", no_added_capabilities, "4.2.1"),
    Rule("run-as-non-root", "Every container runs as a non-root user.", runs_as_non_root, "4.2.1"),
    Rule("read-only-root-filesystem", "Every container's root filesystem is read-only.", read_only_root_filesystem, "4.6.3"),
    Rule("no-default-service-account", "No pod runs as its namespace's default service account.", no_default_service_account, "4.1.4"),
    Rule("no-automounted-token", "No pod mounts a Kubernetes API token.", no_automounted_token, "4.1.5"),
    Rule("no-secrets-in-env", "No container takes a Secret into its environment (files instead).", no_secrets_in_env, "4.4.1"),
    Rule("seccomp-runtime-default", "Every container runs under the RuntimeDefault seccomp profile.", seccomp_runtime_default, "4.6.2"),
    Rule("pod-security-enforced", "Every namespace enforces Pod Security restricted or baseline.", pod_security_enforced, "4.2.1"),
    Rule("reserved-namespace-names", "No namespace takes a name Kubernetes or GKE reserves.", reserved_namespace_names, "4.6.4"),
    Rule("no-cluster-rbac", "No ClusterRole, ClusterRoleBinding or binding to cluster-admin, admin or edit.", no_cluster_rbac, "5.1.1"),
)


def shadowed_hosts(records: Iterable[ResourceRecord]) -> list[Violation]:
    """Routes of different namespaces (projects) on the same host: the later one takes paths of
    the other's host — e.g. one project's blog.example.com/admin under another's blog.example.com."""
    owners: dict[str, tuple[str, str]] = {}
    found = []
    for route in sorted((r for r in records if r.type == HTTP_ROUTE), key=lambda r: r.name):
        metadata = route.inputs.get("metadata") or {}
        namespace = metadata.get("namespace", "")
        for host in (route.inputs.get("spec") or {}).get("hostnames", []) or []:
            owner = owners.setdefault(host, (namespace, route.name))
            if owner[0] != namespace:
                found.append(Violation("no-shadowed-hosts", f"{route.type} {route.name}", f"routes {host}, which {owner[0]} already serves ({owner[1]})"))
    return found


PROJECT_COMPONENT = "shoestring:k8s:Project"
STACK_LEVEL_TYPES = ("pulumi:providers:", "pulumi:pulumi:StackReference")
"""What the program declares outside its components: a stack in another's cluster reaches it
through a Kubernetes provider and a reference to the host stack."""


def declared_by_components(records: Iterable[ResourceRecord]) -> list[Violation]:
    """Every resource is declared inside one of Shoestring's components: one declared at the
    program's top level (a change to the program, not to a project's data) sits outside them,
    where no project's namespace, quota or review reaches it."""
    return [
        Violation("declared-by-shoestring-components", f"{r.type} {r.name}", "is declared outside Shoestring's components; declare it in one (a project's apps go in projects/<name>.yaml)")
        for r in records
        if getattr(r, "parent", "") is None and not r.type.startswith("shoestring:") and not r.type.startswith(STACK_LEVEL_TYPES)
    ]


def project_objects_in_own_namespace(records: Iterable[ResourceRecord]) -> list[Violation]:
    """What a project's component declares stays in the project's namespace, and its pods run as
    a service account of that namespace (another project's would carry that project's identity)."""
    records = list(records)
    by_urn = {getattr(r, "urn", None): r for r in records}

    def project_of(record: ResourceRecord) -> str | None:
        parent = getattr(record, "parent", None)
        while parent:
            owner = by_urn.get(parent)
            if owner is None:
                return None
            if owner.type == PROJECT_COMPONENT:
                return owner.urn
            parent = owner.parent
        return None

    namespaces = {project_of(r): (r.inputs.get("metadata") or {}).get("name") for r in records if r.type == NAMESPACE}
    accounts = {((r.inputs.get("metadata") or {}).get("namespace"), (r.inputs.get("metadata") or {}).get("name")) for r in records if r.type == "kubernetes:core/v1:ServiceAccount"}
    found = []
    for record in records:
        project = project_of(record)
        if project is None or not record.type.startswith("kubernetes:") or record.type == NAMESPACE:
            continue
        own = namespaces.get(project)
        namespace = (record.inputs.get("metadata") or {}).get("namespace")
        if namespace != own:
            found.append(Violation("project-objects-in-own-namespace", f"{record.type} {record.name}", f"is in namespace {namespace or '(none: cluster-wide)'}, not its project's {own}"))
            continue
        pod = pod_spec_of(record.type, record.inputs)
        account = (pod or {}).get("serviceAccountName")
        if account and (own, account) not in accounts:
            found.append(Violation("project-objects-in-own-namespace", f"{record.type} {record.name}", f"runs as service account {account}, which namespace {own} does not declare"))
    return found


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def namespaces_without_network_policies(records: Iterable[ResourceRecord]) -> list[Violation]:
    """Namespaces the stack declares with no NetworkPolicy in them (CIS GKE 4.3.2): without one,
    every pod of the cluster can reach every pod of the namespace."""
    records = list(records)
    covered = {(r.inputs.get("metadata") or {}).get("namespace") for r in records if r.type == NETWORK_POLICY}
    return [
        Violation("namespaces-have-network-policies", f"{r.type} {r.name}", f"namespace {name} has no NetworkPolicy; declare a default-deny ingress policy")
        for r in records
        if r.type in NAMESPACES and (name := (r.inputs.get("metadata") or {}).get("name")) not in covered
    ]


SERVICE_ACCOUNT_TYPES = ("kubernetes:core/v1:ServiceAccount", "kubernetes:core/v1:ServiceAccountPatch")


def default_accounts_with_tokens(records: Iterable[ResourceRecord]) -> list[Violation]:
    """Namespaces the stack declares (or patches) whose ``default`` ServiceAccount it does not set
    to automountServiceAccountToken: false (CIS GKE 4.1.4). Kubernetes creates that account in
    every namespace, mounting its token into any pod that names no other account; kube-bench's
    gke-1.9.0 check 4.1.4 fails on any default account whose field is not false."""
    records = list(records)
    tokenless = {
        (metadata.get("namespace"), metadata.get("name"))
        for r in records
        if r.type in SERVICE_ACCOUNT_TYPES and r.inputs.get("automountServiceAccountToken") is False
        and (metadata := r.inputs.get("metadata") or {})
    }
    return [
        Violation(
            "default-service-accounts-without-token",
            f"{r.type} {r.name}",
            f"namespace {name}'s default ServiceAccount mounts its API token into every pod that names no other account; "
            "patch it with automountServiceAccountToken: false (program/components/pod_security.py, default_account_without_token)",
        )
        for r in records
        if r.type in NAMESPACES and (name := (r.inputs.get("metadata") or {}).get("name")) and (name, "default") not in tokenless
    ]


def duplicate_kubernetes_objects(records: Iterable[ResourceRecord]) -> list[Violation]:
    """Two declarations of one Kubernetes object (kind, namespace, name) in a stack: pulumi-kubernetes
    creates the first and the second fails, the object "already exists" (the tunnel entry's
    namespace once declared default-deny-ingress twice)."""
    declared: dict[tuple[str, str, str], str] = {}
    found = []
    for record in records:
        if not record.type.startswith("kubernetes:") or record.type.endswith(("Patch", ":Provider")):
            continue
        metadata = record.inputs.get("metadata") or {}
        key = (record.type, metadata.get("namespace", ""), metadata.get("name", ""))
        if not key[2] or key[2].startswith("["):
            continue
        first = declared.setdefault(key, record.name)
        if first != record.name:
            where = f"{key[1]}/{key[2]}" if key[1] else key[2]
            found.append(Violation("one-declaration-per-kubernetes-object", f"{record.type} {record.name}", f"declares {where}, which {first} declares already; declare it once"))
    return found


def rule_violations(rules: Iterable[Rule], records: Iterable[ResourceRecord]) -> list[Violation]:
    """What per-resource rules find in a stack's records."""
    rules = list(rules)
    return [
        Violation(rule.name, f"{record.type} {record.name}", message)
        for record in records
        for rule in rules
        for message in rule.check(record.type, record.inputs)
    ]


def violations(records: Iterable[ResourceRecord]) -> list[Violation]:
    """Every rule over a stack's records."""
    records = list(records)
    return (
        rule_violations(RULES, records)
        + shadowed_hosts(records)
        + namespaces_without_network_policies(records)
        + default_accounts_with_tokens(records)
        + declared_by_components(records)
        + project_objects_in_own_namespace(records)
    )


WORKLOAD_IDENTITY_BINDING = "gcp:serviceaccount/iAMMember:IAMMember"


def shared_workload_identities(records_by_stack: Mapping[str, Iterable[ResourceRecord]]) -> list[Violation]:
    """Workload Identity members that more than one stack binds. Every cluster of a GCP project
    shares the project's workload pool, so `PROJECT.svc.id.goog[ns/ksa]` is the same identity in
    all of them (GKE's identity sameness): a dev pod in namespace ml would get prod's roles.
    cloud.google.com/kubernetes-engine/docs/concepts/workload-identity#identity_sameness"""
    def member(record: ResourceRecord) -> str | None:
        bound = record.inputs.get("member", "") if record.type == WORKLOAD_IDENTITY_BINDING else ""
        return bound if ".svc.id.goog[" in bound else None

    return [
        Violation(
            "unique-workload-identity-members",
            f"stacks {', '.join(stacks)}",
            f"all bind {member}: in one GCP project the same namespace and service account is one identity across clusters; "
            f"give the stacks separate GCP projects, or one of them suffixed namespaces",
        )
        for member, stacks in _shared(records_by_stack, member).items()
    ]


SECRET_ACCESS = "gcp:secretmanager/secretIamMember:SecretIamMember"


def shared_secrets(records_by_stack: Mapping[str, Iterable[ResourceRecord]]) -> list[Violation]:
    """Secret Manager secrets that more than one stack's apps read: staging reading prod's
    database URL is prod's data in staging's hands. A stack overrides an app's secrets per stack."""
    def secret(record: ResourceRecord) -> tuple[str, str] | None:
        return (record.inputs.get("project", ""), record.inputs.get("secretId", "")) if record.type == SECRET_ACCESS else None

    return [
        Violation(
            "unique-secrets-per-stack",
            f"stacks {', '.join(stacks)}",
            f"all read secret {secret} of project {project}; give each stack its own "
            f"(shoestring:projects.<project>.apps.<app>.secrets)",
        )
        for (project, secret), stacks in _shared(records_by_stack, secret).items()
    ]


BUDGET = "shoestring:cost:MonthlyBudget"


def shared_namespaces(records_by_stack: Mapping[str, Iterable[ResourceRecord]]) -> list[Violation]:
    """Namespaces two stacks declare in one cluster (a stack and the stacks in its cluster): the
    pods of one run as the other's identity, and destroying either deletes the other's namespace."""
    records_by_stack = {stack: list(records) for stack, records in records_by_stack.items()}

    def cluster_of(stack: str) -> str:
        budgets = [r for r in records_by_stack[stack] if r.type == BUDGET]
        host = budgets[0].inputs.get("hostStack") if budgets else None
        return host.rsplit("/", 1)[-1] if host else stack

    declared: dict[tuple[str, str], list[str]] = {}
    for stack, records in records_by_stack.items():
        for record in records:
            if record.type == NAMESPACE and (name := (record.inputs.get("metadata") or {}).get("name")):
                declared.setdefault((cluster_of(stack), name), []).append(stack)
    return [
        Violation("one-stack-per-namespace", f"{NAMESPACE} {name}", f"is declared by stacks {' and '.join(stacks)} in {cluster}'s cluster; rename one project")
        for (cluster, name), stacks in sorted(declared.items())
        if len(stacks) > 1
    ]


BUCKET_ACCESS = "gcp:storage/bucketIAMMember:BucketIAMMember"


def shared_buckets(records_by_stack: Mapping[str, Iterable[ResourceRecord]]) -> list[Violation]:
    """Cloud Storage buckets more than one stack's identities are granted: staging reading prod's
    data. A stack declares its own (program/names.py bucket_name); only an ``external`` bucket can be shared."""
    def bucket(record: ResourceRecord) -> str | None:
        return record.inputs.get("bucket") if record.type == BUCKET_ACCESS else None

    return [
        Violation(
            "unique-buckets-per-stack",
            f"stacks {', '.join(stacks)}",
            f"are all granted bucket {name}; give each stack its own: drop `external` (each stack then declares one) "
            "or name another under shoestring:projects.<project>.buckets.<bucket>.external",
        )
        for name, stacks in _shared(records_by_stack, bucket).items()
    ]


def _shared(records_by_stack: Mapping[str, Iterable[ResourceRecord]], key: Callable[[ResourceRecord], Any]) -> dict[Any, list[str]]:
    """The keys (a record's key, None for none) that more than one stack's records have, each with those stacks."""
    stacks_of: dict[Any, list[str]] = {}
    for stack, records in records_by_stack.items():
        for record in records:
            found = key(record)
            if found is not None and stack not in stacks_of.setdefault(found, []):
                stacks_of[found].append(stack)
    return {found: stacks for found, stacks in stacks_of.items() if len(stacks) > 1}
