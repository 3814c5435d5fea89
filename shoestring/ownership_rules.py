"""What a project may reach, as rules over the records the program declares: its GCP roles from
the allow-list, grants on its own secrets, buckets and identity only, GPU tolerations only with a
GPU request, Shoestring's PriorityClasses only, and requests and limits on every container.

"Its own" is read from the records' structure — which Project component declared a resource
(its parent chain) and what it depends on (the Account, Secret, Bucket whose outputs it uses,
as the SDK records in RegisterResource) — never from names, which a definition chooses. The
same functions run in `make plan` (shoestring/rules.py) and in the policy pack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from program.capacity import parse_cpu, parse_gib
from program.definitions import PROJECT_ROLES
from program.names import GPU_RESOURCE, PRIORITY_VALUES
from program.records import ResourceRecord
from shoestring.security import PROJECT_COMPONENT, Violation, containers_of, pod_spec_of

PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_ACCESS = "gcp:secretmanager/secretIamMember:SecretIamMember"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_ACCESS = "gcp:storage/bucketIAMMember:BucketIAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"
WORKLOAD_IDENTITY = "gcp:serviceaccount/iAMMember:IAMMember"
KSA = "kubernetes:core/v1:ServiceAccount"
NAMESPACE = "kubernetes:core/v1:Namespace"
PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
GPU_TAINT = GPU_RESOURCE
"""GKE taints GPU nodes nvidia.com/gpu=present:NoSchedule (program/components/gpu_pool.py GPU_TAINT_KEY)."""
# Priorities Kubernetes reserves for its own critical pods (kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption,
# "system-cluster-critical and system-node-critical"): a project's pod naming one would evict other projects' pods.
GRANTS = (PROJECT_IAM_MEMBER, SECRET_ACCESS, BUCKET_ACCESS, WORKLOAD_IDENTITY)


class _Ownership:
    """Which Project component each record belongs to (through its parents), and what it uses."""

    def __init__(self, records: Iterable[ResourceRecord]):
        self.records = list(records)
        self.by_urn = {getattr(r, "urn", None): r for r in self.records}

    def project_of(self, record: ResourceRecord) -> ResourceRecord | None:
        parent = getattr(record, "parent", None)
        while parent:
            owner = self.by_urn.get(parent)
            if owner is None:
                return None
            if owner.type == PROJECT_COMPONENT:
                return owner
            parent = getattr(owner, "parent", None)
        return None

    def used(self, record: ResourceRecord, type_: str) -> list[ResourceRecord]:
        """The records of ``type_`` that ``record`` depends on."""
        return [d for urn in getattr(record, "dependencies", ()) or () if (d := self.by_urn.get(urn)) is not None and d.type == type_]

    def namespace_of(self, project: ResourceRecord) -> str | None:
        return next((_metadata(r).get("name") for r in self.records if r.type == NAMESPACE and self.project_of(r) is project), None)


def project_roles_from_allow_list(records: Iterable[ResourceRecord]) -> list[Violation]:
    """A project's identity holds roles on the GCP project from PROJECT_ROLES only (program/definitions.py),
    or ones its stack file lists after review (the Project component records them, reviewedGcpRoles)."""
    owned = _Ownership(records)
    found = []
    for record in owned.records:
        project = owned.project_of(record) if record.type == PROJECT_IAM_MEMBER else None
        if project is None:
            continue
        role = record.inputs.get("role")
        reviewed = project.inputs.get("reviewedGcpRoles") or []
        if role not in PROJECT_ROLES and role not in reviewed:
            found.append(
                Violation(
                    "project-roles-from-allow-list", f"{record.type} {record.name}",
                    f"grants {role} on the GCP project to project {project.name}'s identity; a project holds roles from "
                    "PROJECT_ROLES (program/definitions.py) or, after review, its stack file's reviewedGcpRoles",
                )
            )
    return found


def grants_only_its_own(records: Iterable[ResourceRecord]) -> list[Violation]:
    """What a project grants, it grants to its own GCP account, on its own secrets and buckets, and
    its Workload Identity binding names its own namespace's ServiceAccount: by the records'
    structure, so a name that reads as the project's proves nothing."""
    owned = _Ownership(records)
    found = []

    def refuse(record: ResourceRecord, message: str) -> None:
        found.append(Violation("grants-only-its-own", f"{record.type} {record.name}", message))

    for record in owned.records:
        if record.type not in GRANTS:
            continue
        project = owned.project_of(record)
        if project is None:
            continue
        accounts = owned.used(record, ACCOUNT)
        if not accounts or any(owned.project_of(a) is not project for a in accounts):
            refuse(record, f"is not granted to (or on) project {project.name}'s own GCP service account; a project grants only its own identity")
        if record.type == SECRET_ACCESS:
            secrets = owned.used(record, SECRET)
            if not secrets or any(owned.project_of(s) is not project for s in secrets):
                refuse(record, f"reads secret {record.inputs.get('secretId')}, which project {project.name} does not declare; a project reads its own secrets only")
        if record.type == BUCKET_ACCESS:
            bucket = record.inputs.get("bucket")
            declared = [b for b in owned.records if b.type == BUCKET and b.inputs.get("name") == bucket]
            others = [r for r in owned.records if r.type == BUCKET_ACCESS and r.inputs.get("bucket") == bucket and owned.project_of(r) not in (None, project)]
            if any(owned.project_of(b) is not project for b in declared) or others:
                refuse(record, f"grants bucket {bucket}, which is another project's in this stack; a project uses its own buckets only")
            elif not declared and bucket not in (project.inputs.get("externalBuckets") or []):
                # Any existing bucket (another team's data, the Pulumi state) is reachable only when
                # the platform-owned stack file names it: buckets.<name>.external there.
                refuse(record, f"grants bucket {bucket}, which project {project.name} does not declare and its stack file does not name as external "
                       f"(shoestring:projects.{project.name}.buckets.<bucket>.external); a project uses its own buckets only")
        if record.type == WORKLOAD_IDENTITY:
            member = record.inputs.get("member", "")
            namespace = owned.namespace_of(project)
            bound = member.rsplit("[", 1)[-1].rstrip("]") if member.endswith("]") else ""
            own = {f"{namespace}/{_metadata(r).get('name')}" for r in owned.records if r.type == KSA and owned.project_of(r) is project}
            if bound not in own:
                refuse(record, f"lets {bound or member!r} act as project {project.name}'s identity; only a ServiceAccount of namespace {namespace} may")
    return found


def gpu_tolerations_need_gpu_requests(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """A pod that tolerates the GPU taint asks for a GPU: one that does not would sit on (and keep
    billed) a GPU node while the GPU work it was for waits."""
    pod = pod_spec_of(type_, inputs)
    if pod is None:
        return []
    tolerates = any(
        t.get("key") == GPU_TAINT or (not t.get("key") and t.get("operator") == "Exists")
        for t in pod.get("tolerations") or []
    )
    asks = any(_quantity(((c.get("resources") or {}).get("limits") or {}).get(GPU_RESOURCE)) for c in containers_of(pod))
    return ["the pod tolerates the GPU taint but asks for no nvidia.com/gpu; only GPU work may land on GPU nodes"] if tolerates and not asks else []


def shoestring_priority_classes_only(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """A pod names one of Shoestring's PriorityClasses or none; a PriorityClass is one of Shoestring's.
    Another (system-node-critical, or one a project declares) would preempt other projects' pods."""
    if type_ == PRIORITY_CLASS:
        name = _metadata(inputs).get("name")
        return [] if name in PRIORITY_VALUES else [f"declares PriorityClass {name}; the cluster's are Shoestring's only ({', '.join(PRIORITY_VALUES)})"]
    pod = pod_spec_of(type_, inputs)
    name = None if pod is None else pod.get("priorityClassName")
    return [] if name is None or name in PRIORITY_VALUES else [f"the pod names PriorityClass {name}; use one of Shoestring's ({', '.join(PRIORITY_VALUES)})"]


def containers_request_and_limit(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """Every container requests and limits CPU and memory above zero: one without is BestEffort (or
    Burstable without a ceiling), outside what the namespace's ResourceQuota and the capacity plan count."""
    pod = pod_spec_of(type_, inputs)
    if pod is None:
        return []
    found = []
    for c in containers_of(pod):
        resources = c.get("resources") or {}
        missing = [f"{kind}.{resource}" for kind in ("requests", "limits") for resource in ("cpu", "memory") if not _quantity((resources.get(kind) or {}).get(resource))]
        if missing:
            found.append(f"container {c.get('name')} has no (or a zero) {', '.join(missing)}; give each a figure above zero")
    return found


def limit_ranges_set_minimums(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """A namespace's LimitRange sets a minimum CPU and memory per container, so the API server
    refuses a container asking for less (kubernetes.io/docs/concepts/policy/limit-range: a pod
    whose request is below `min` is rejected at admission)."""
    if type_ != LIMIT_RANGE:
        return []
    items = [i for i in (inputs.get("spec") or {}).get("limits") or [] if i.get("type") == "Container"]
    missing = [resource for resource in ("cpu", "memory") if not any(_quantity((i.get("min") or {}).get(resource)) for i in items)]
    return [f"sets no minimum {' or '.join(missing)} per container; add min: {{cpu: ..., memory: ...}} above zero"] if missing else []


def _quantity(value: Any) -> float:
    """A Kubernetes quantity's size (CPU cores or GiB, either way above zero when set), 0 when unset or unreadable."""
    if value is None:
        return 0.0
    text = str(value)
    try:
        return parse_cpu(text) if text.endswith("m") or text.replace(".", "", 1).isdigit() else parse_gib(text)
    except ValueError:
        return 0.0


def _metadata(inputs_or_record: Any) -> Mapping[str, Any]:
    inputs = inputs_or_record if isinstance(inputs_or_record, Mapping) else inputs_or_record.inputs
    return inputs.get("metadata") or {}
