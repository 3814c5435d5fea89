"""CIS GKE Benchmark 1.9 (section 5, managed services) over {type, name, inputs} records.

`RULES` are the controls a cluster, node pool, network or firewall declaration can be checked
for; each is a plain function of one resource's type and inputs, like shoestring/security.py's,
so the same functions run in `make plan` and in the policy pack (policies/). `CONTROLS` lists
every control of the benchmark as kube-bench's `cfg/gke-1.9.0/policies.yaml` (section 4) and
`managedservices.yaml` (section 5) encode it, with the rules that enforce it — written to fail
where kube-bench's audit of the declared objects would — or the reason none does, and its
monthly cost: docs/security.md "Security" is generated from it (:func:`markdown`). The module imports only
shoestring/security.py, so another project can take the two as they stand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from program.names import CLUSTER, NODE_POOL
from program.settings import authorized_networks_too_wide
from shoestring import security
from shoestring.security import ResourceRecord, Rule, Violation

FIREWALL = "gcp:compute/firewall:Firewall"
IMAGE_POLICY = "gcp:binaryauthorization/policy:Policy"
PUBLIC_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")


def _get(inputs: Mapping[str, Any], *path: str) -> Any:
    node: Any = inputs
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _cluster_check(check: Callable[[Mapping[str, Any]], str | None]) -> Callable[[str, Mapping[str, Any]], list[str]]:
    def run(type_: str, inputs: Mapping[str, Any]) -> list[str]:
        problem = check(inputs) if type_ == CLUSTER else None
        return [problem] if problem else []

    return run


def _pool_check(check: Callable[[Mapping[str, Any]], str | None]) -> Callable[[str, Mapping[str, Any]], list[str]]:
    """A node-pool check, applied to node pools and to a cluster's own (default) node config."""

    def run(type_: str, inputs: Mapping[str, Any]) -> list[str]:
        if type_ == NODE_POOL:
            problem = check(inputs)
        elif type_ == CLUSTER and inputs.get("nodeConfig"):
            problem = check({"nodeConfig": inputs["nodeConfig"]})
        else:
            problem = None
        return [problem] if problem else []

    return run


def dedicated_network(inputs: Mapping[str, Any]) -> str | None:
    network = inputs.get("network")
    if not network or str(network).rsplit("/", 1)[-1] == "default":
        return "the cluster is on the project's default network, whose auto-created rules admit SSH and RDP from 0.0.0.0/0; give it a VPC of its own"
    return None


def no_firewall_open_to_internet(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    if type_ != FIREWALL or inputs.get("direction", "INGRESS") != "INGRESS" or inputs.get("denies"):
        return []
    open_ = [r for r in inputs.get("sourceRanges") or [] if r in ("0.0.0.0/0", "::/0")]
    return [f"admits ingress from {', '.join(open_)}; admit only the ranges that need it"] if open_ else []


def vpc_native(inputs: Mapping[str, Any]) -> str | None:
    if inputs.get("networkingMode") != "VPC_NATIVE" or not inputs.get("ipAllocationPolicy"):
        return "the cluster is routes-based; set networkingMode VPC_NATIVE with an ipAllocationPolicy (alias IPs)"
    return None


def control_plane_not_public(inputs: Mapping[str, Any]) -> str | None:
    if _get(inputs, "controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is False:
        return None
    blocks = _get(inputs, "masterAuthorizedNetworksConfig", "cidrBlocks") or []
    cidrs = [b.get("cidrBlock") for b in blocks]
    if not cidrs:
        return "the control plane's IP endpoints admit every address; turn them off (use the DNS-based endpoint) or list authorized networks"
    if too_wide := authorized_networks_too_wide(cidrs):
        return f"authorized networks {too_wide}"
    if _get(inputs, "masterAuthorizedNetworksConfig", "gcpPublicCidrsAccessEnabled") is not False:
        return "authorized networks still admit every Google Cloud public IP (gcpPublicCidrsAccessEnabled); set it false"
    return None


def intranode_visibility(inputs: Mapping[str, Any]) -> str | None:
    return None if inputs.get("enableIntranodeVisibility") is True else "intranode visibility is off; set enableIntranodeVisibility"


def no_client_certificate(inputs: Mapping[str, Any]) -> str | None:
    issued = _get(inputs, "masterAuth", "clientCertificateConfig", "issueClientCertificate")
    return None if issued is False else "a client certificate may be issued (a credential that cannot be revoked); set issueClientCertificate false"


def no_legacy_abac(inputs: Mapping[str, Any]) -> str | None:
    return "legacy ABAC authorization is on; turn it off" if inputs.get("enableLegacyAbac") else None


def security_posture(inputs: Mapping[str, Any]) -> str | None:
    mode = _get(inputs, "securityPostureConfig", "mode")
    return None if mode in ("BASIC", "ENTERPRISE") else f"security posture is {mode or 'unset'}; set mode BASIC (free)"


def binary_authorization(inputs: Mapping[str, Any]) -> str | None:
    mode = _get(inputs, "binaryAuthorization", "evaluationMode")
    return None if mode == "PROJECT_SINGLETON_POLICY_ENFORCE" else f"Binary Authorization is {mode or 'off'}; set evaluationMode PROJECT_SINGLETON_POLICY_ENFORCE"


def shielded_nodes(inputs: Mapping[str, Any]) -> str | None:
    return None if inputs.get("enableShieldedNodes") is True else "shielded nodes are off; set enableShieldedNodes"


def workload_identity(inputs: Mapping[str, Any]) -> str | None:
    return None if _get(inputs, "workloadIdentityConfig", "workloadPool") else "Workload Identity is off; set workloadIdentityConfig.workloadPool to PROJECT.svc.id.goog"


def release_channel(inputs: Mapping[str, Any]) -> str | None:
    channel = _get(inputs, "releaseChannel", "channel")
    return None if channel in PUBLIC_CHANNELS else f"release channel is {channel or 'unset'}; follow RAPID, REGULAR or STABLE"


def system_logging_and_monitoring(inputs: Mapping[str, Any]) -> str | None:
    logged = "SYSTEM_COMPONENTS" in (_get(inputs, "loggingConfig", "enableComponents") or [])
    monitored = "SYSTEM_COMPONENTS" in (_get(inputs, "monitoringConfig", "enableComponents") or [])
    return None if logged and monitored else "system components are not logged and monitored; enable SYSTEM_COMPONENTS in loggingConfig and monitoringConfig"


def no_kubernetes_alpha(inputs: Mapping[str, Any]) -> str | None:
    return "Kubernetes alpha features are on (an alpha cluster expires after 30 days); turn them off" if inputs.get("enableKubernetesAlpha") else None


def no_default_compute_service_account(inputs: Mapping[str, Any]) -> str | None:
    account = _get(inputs, "nodeConfig", "serviceAccount")
    if not account or account == "default" or str(account).endswith("-compute@developer.gserviceaccount.com"):
        return "nodes run as the Compute Engine default service account (Editor on the project); give them a dedicated one"
    return None


def gke_metadata_server(inputs: Mapping[str, Any]) -> str | None:
    mode = _get(inputs, "nodeConfig", "workloadMetadataConfig", "mode")
    return None if mode == "GKE_METADATA" else f"workload metadata mode is {mode or 'unset'}; set GKE_METADATA so pods cannot read the node's credentials"


def cos_containerd(inputs: Mapping[str, Any]) -> str | None:
    image = _get(inputs, "nodeConfig", "imageType")
    return None if image in (None, "COS_CONTAINERD") else f"node image is {image}; use COS_CONTAINERD (GKE's default)"


def auto_repair(inputs: Mapping[str, Any]) -> str | None:
    return None if _get(inputs, "management", "autoRepair") is not False else "node auto-repair is off; turn it on"


def auto_upgrade(inputs: Mapping[str, Any]) -> str | None:
    return None if _get(inputs, "management", "autoUpgrade") is not False else "node auto-upgrade is off; turn it on"


def integrity_monitoring(inputs: Mapping[str, Any]) -> str | None:
    enabled = _get(inputs, "nodeConfig", "shieldedInstanceConfig", "enableIntegrityMonitoring")
    return None if enabled is not False else "integrity monitoring is off on shielded nodes; turn it on"


def secure_boot(inputs: Mapping[str, Any]) -> str | None:
    enabled = _get(inputs, "nodeConfig", "shieldedInstanceConfig", "enableSecureBoot")
    return None if enabled is True else "secure boot is off on shielded nodes; set enableSecureBoot"


RULES = (
    Rule("cluster-dedicated-network", "The cluster has a VPC of its own, not the project's default network.", _cluster_check(dedicated_network), "5.6.6"),
    Rule("no-firewall-open-to-internet", "No firewall rule admits ingress from 0.0.0.0/0.", no_firewall_open_to_internet, "5.6.6"),
    Rule("vpc-native-cluster", "The cluster is VPC-native (alias IPs).", _cluster_check(vpc_native), "5.6.2"),
    Rule("control-plane-not-public", "The control plane's IP endpoints are off or limited to authorized networks.", _cluster_check(control_plane_not_public), "5.6.3, 5.6.4"),
    Rule("intranode-visibility", "Intranode visibility is on.", _cluster_check(intranode_visibility), "5.6.1"),
    Rule("no-client-certificate", "The cluster issues no client certificate.", _cluster_check(no_client_certificate), "5.8.1"),
    Rule("no-legacy-abac", "Legacy ABAC authorization is off.", _cluster_check(no_legacy_abac), "5.8.3"),
    Rule("security-posture", "Security posture is BASIC or ENTERPRISE.", _cluster_check(security_posture), "5.10.4"),
    Rule("binary-authorization", "Binary Authorization enforces the project's policy.", _cluster_check(binary_authorization), "5.1.4"),
    Rule("shielded-nodes", "Shielded GKE nodes are on.", _cluster_check(shielded_nodes), "5.5.5"),
    Rule("workload-identity", "Workload Identity is on.", _cluster_check(workload_identity), "5.2.2"),
    Rule("release-channel", "The cluster follows a release channel.", _cluster_check(release_channel), "5.5.4"),
    Rule("system-logging-and-monitoring", "System components are logged and monitored.", _cluster_check(system_logging_and_monitoring), "5.7.1"),
    Rule("no-kubernetes-alpha", "Kubernetes alpha features are off.", _cluster_check(no_kubernetes_alpha), "5.10.2"),
    Rule("no-default-compute-service-account", "Nodes run as a dedicated service account.", _pool_check(no_default_compute_service_account), "5.2.1"),
    Rule("gke-metadata-server", "Nodes serve the GKE metadata server.", _pool_check(gke_metadata_server), "5.4.1"),
    Rule("cos-containerd-nodes", "Nodes run Container-Optimized OS with containerd.", _pool_check(cos_containerd), "5.5.1"),
    Rule("node-auto-repair", "Node auto-repair is on.", _pool_check(auto_repair), "5.5.2"),
    Rule("node-auto-upgrade", "Node auto-upgrade is on.", _pool_check(auto_upgrade), "5.5.3"),
    Rule("node-integrity-monitoring", "Shielded nodes monitor their integrity.", _pool_check(integrity_monitoring), "5.5.6"),
    Rule("node-secure-boot", "Shielded nodes boot securely.", _pool_check(secure_boot), "5.5.7"),
)


def admits(pattern: str, image: str) -> bool:
    """Whether a Binary Authorization allow-list pattern matches an image reference: a trailing
    ``**`` matches anything below, a trailing ``*`` anything without a ``/`` (any tag or digest of
    the one repository), otherwise the reference itself (admissionWhitelistPatterns in
    cloud.google.com/binary-authorization/docs/policy-yaml-reference: "gcr.io/my-project/nginx*
    matches gcr.io/my-project/nginx:latest" but not gcr.io/my-project/nginx-images/nginx)."""
    if pattern.endswith("**"):
        return image.startswith(pattern[:-2])
    if pattern.endswith("*"):
        return image.startswith(pattern[:-1]) and "/" not in image[len(pattern) - 1:]
    return image == pattern


def _pod_images(record: ResourceRecord) -> list[str]:
    spec = _get(record.inputs, "spec", "jobTemplate", "spec", "template", "spec") if record.type.endswith(":CronJob") else security.pod_spec_of(record.type, record.inputs)
    return [c.get("image", "") for c in security.containers_of(spec or {})]


def image_policy(records: Iterable[ResourceRecord]) -> list[Violation]:
    """CIS GKE 4.5.1 and 5.1.4, which kube-bench's gke-1.9.0 leaves manual (its 5.1.4 audit reads the
    cluster's binaryAuthorization; the remediation is a policy): a cluster that enforces the
    project's Binary Authorization policy has one declared; it denies by default, admits GKE's
    system images through Google's system policy, allows single repositories, never a whole
    registry, and admits every image the stack's workloads run."""
    records = list(records)
    policies = [r for r in records if r.type == IMAGE_POLICY]
    found = [
        Violation("binary-authorization-policy", f"{r.type} {r.name}",
                  "enforces the project's Binary Authorization policy, which the stack does not declare, and a project's default "
                  "policy admits every image; declare a gcp.binaryauthorization.Policy (program/components/cluster.py)")
        for r in records
        if r.type == CLUSTER and binary_authorization(r.inputs) is None and not any(p.inputs.get("project") == r.inputs.get("project") for p in policies)
    ]
    for policy in policies:
        where = f"{policy.type} {policy.name}"
        mode = _get(policy.inputs, "defaultAdmissionRule", "evaluationMode")
        if mode != "ALWAYS_DENY":
            found.append(Violation("binary-authorization-policy", where, f"the default rule is {mode or 'unset'}, which admits images off the allow-list; set evaluationMode ALWAYS_DENY"))
        if policy.inputs.get("globalPolicyEvaluationMode") != "ENABLE":
            found.append(Violation("binary-authorization-policy", where, "GKE's system images are not admitted by Google's system policy; set globalPolicyEvaluationMode ENABLE"))
        patterns = [p.get("namePattern", "") for p in policy.inputs.get("admissionWhitelistPatterns") or []]
        for pattern in patterns:
            if pattern.endswith("**") or "/" not in pattern.rstrip("*"):
                found.append(Violation("binary-authorization-policy", where, f"allows {pattern}, a whole registry or tree; allow single repositories (<registry>/<path>:* and @*)"))
            elif pattern.endswith("*") and not pattern.endswith((":*", "@*")):
                # `*` stops only at `/`: ghcr.io/acme/blog* admits ghcr.io/acme/blog-anything too.
                found.append(Violation("binary-authorization-policy", where, f"allows {pattern}, which admits every sibling repository sharing its beginning; allow {pattern[:-1]}:* and {pattern[:-1]}@*"))
        found += [
            Violation("binary-authorization-policy", f"{r.type} {r.name}",
                      f"runs {image}, which the Binary Authorization policy does not admit; name its repository in a definition "
                      "(projects/), from which the allow-list is derived")
            for r in records
            for image in _pod_images(r)
            if not any(admits(pattern, image) for pattern in patterns)
        ]
    return found


def violations(records: Iterable[ResourceRecord]) -> list[Violation]:
    records = list(records)
    return security.rule_violations(RULES, records) + image_policy(records)


# Every control of CIS GKE 1.9's sections 4 (Kubernetes policies) and 5 (managed services).
# Sections 1-3 (control plane, etcd, node configuration files) are Google's to configure on GKE;
# kube-bench checks them on a running node.

RBAC_TYPES = (
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
)
PASS, FAIL = "pass", "**fail**"
DRY_RUN = "dry run: denials logged, not blocked (`binaryAuthorization: dryRun`)"
HostedStatus = Callable[[list[ResourceRecord]], str]


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    enforced_by: tuple[str, ...] = ()
    """Rules (this module's, shoestring/security.py's or the policy pack's) whose findings decide the status."""
    cost: str = "$0"
    status: str | HostedStatus | None = None
    """Status where no rule decides it: a fixed text, or a function of the stack's records."""
    cluster: bool = True
    """A control of the cluster: a stack in another stack's cluster inherits that cluster's status."""


def _namespaces(records: list[ResourceRecord]) -> str:
    """Whose namespaces a namespace control's pass covers: kube-bench's gke-1.9.0 4.1.4 and 4.3.2
    read every namespace of the cluster, GKE's own too (kube-system, gke-*, gmp-*), which GKE
    manages and no stack declares."""
    default = any(r.type == security.NAMESPACE_PATCH and _get(r.inputs, "metadata", "name") == "default" for r in records)
    return PASS + (": its namespaces and `default`" if default else ": its namespaces")


def _image_policy_mode(records: list[ResourceRecord]) -> str:
    modes = {_get(r.inputs, "defaultAdmissionRule", "enforcementMode") for r in records if r.type == IMAGE_POLICY}
    if "DRYRUN_AUDIT_LOG_ONLY" in modes:
        return DRY_RUN
    return PASS + ": the definitions' repositories admitted, the rest denied"


def _no_rbac_objects(records: list[ResourceRecord]) -> str:
    return "pass: the program declares no RBAC object" if not any(r.type in RBAC_TYPES for r in records) else "review: RBAC objects declared"


def _datapath(records: list[ResourceRecord]) -> str:
    clusters = [r for r in records if r.type == CLUSTER]
    return PASS + ": Dataplane V2" if clusters and all(r.inputs.get("datapathProvider") == "ADVANCED_DATAPATH" for r in clusters) else FAIL


def _private_nodes(records: list[ResourceRecord]) -> str:
    private = any(_get(r.inputs, "privateClusterConfig", "enablePrivateNodes") for r in records if r.type == CLUSTER)
    return "on, with Cloud NAT" if private else 'off: public IPs cost less at rest (docs/security.md "Private nodes")'


def _groups(records: list[ResourceRecord]) -> str:
    configured = any(_get(r.inputs, "authenticatorGroupsConfig", "securityGroup") for r in records if r.type == CLUSTER)
    return PASS if configured else "opt-in: `controlPlane.rbacSecurityGroup`"


def _no_load_balancer_services(records: list[ResourceRecord]) -> str:
    services = [r for r in records if r.type == "kubernetes:core/v1:Service" and _get(r.inputs, "spec", "type") == "LoadBalancer"]
    if services:
        return FAIL
    gateway = any(r.type == "kubernetes:gateway.networking.k8s.io/v1:Gateway" for r in records)
    return PASS + (": Certificate Manager certificates on the Gateway" if gateway else ": no LoadBalancer Service")


CONTROLS = (
    Control("4.1.1", "cluster-admin role only where required", status=_no_rbac_objects, cluster=False),
    Control("4.1.2", "Minimize access to secrets", status=_no_rbac_objects, cluster=False),
    Control("4.1.3", "Minimize wildcard use in Roles and ClusterRoles", status=_no_rbac_objects, cluster=False),
    # kube-bench cfg/gke-1.9.0/policies.yaml 4.1.4 (automated): fails on any `default` ServiceAccount
    # whose automountServiceAccountToken is not false, and on any pod whose serviceAccountName is default.
    Control("4.1.4", "Default service accounts are not actively used", ("no-default-service-account", "default-service-accounts-without-token"), status=_namespaces, cluster=False),
    Control("4.1.5", "Service account tokens mounted only where necessary", ("no-automounted-token",), cluster=False),
    Control("4.1.6", "Avoid use of the system:masters group", ("no-client-certificate",)),
    Control("4.1.7", "Limit Bind, Impersonate and Escalate", status=_no_rbac_objects, cluster=False),
    Control("4.1.8", "Avoid bindings to system:anonymous", status=_no_rbac_objects, cluster=False),
    Control("4.1.9", "Avoid non-default bindings to system:unauthenticated", status=_no_rbac_objects, cluster=False),
    Control("4.1.10", "Avoid non-default bindings to system:authenticated", status=_no_rbac_objects, cluster=False),
    # kube-bench 4.2.1 (manual): lists the namespaces without a `pod-security.kubernetes.io/enforce`
    # label; the benchmark asks for baseline or stricter, and every namespace here enforces restricted.
    Control(
        "4.2.1", "Pod Security Standard baseline or stricter in every namespace",
        ("pod-security-enforced", "no-privileged-containers", "no-host-namespaces", "no-host-path-volumes", "no-added-capabilities", "run-as-non-root"),
        status=_namespaces, cluster=False,
    ),
    Control("4.3.1", "The CNI supports Network Policies", status=_datapath),
    # kube-bench 4.3.2 (automated): fails on any namespace but kube-system, kube-public and
    # kube-node-lease with no NetworkPolicy, `default` included.
    Control("4.3.2", "Every namespace has Network Policies", ("namespaces-have-network-policies",), status=_namespaces, cluster=False),
    Control("4.4.1", "Secrets as files, not environment variables", ("no-secrets-in-env",), cluster=False),
    Control("4.4.2", "External secret storage", status="pass: Secret Manager (an app's `secrets`)", cluster=False),
    # kube-bench 4.5.1 and 5.1.4 (manual): 5.1.4 audits the cluster's binaryAuthorization and has
    # the remediation import a policy (cloud.google.com/binary-authorization/docs/policy-yaml-reference).
    Control("4.5.1", "Image provenance (ImagePolicyWebhook)", ("binary-authorization", "binary-authorization-policy"), status=_image_policy_mode),
    Control("4.6.1", "Namespaces as administrative boundaries", status="pass: a namespace per project", cluster=False),
    Control("4.6.2", "seccomp profile RuntimeDefault", ("seccomp-runtime-default",), cluster=False),
    Control("4.6.3", "Security context on pods and containers", ("read-only-root-filesystem", "run-as-non-root"), cluster=False),
    Control("4.6.4", "The default namespace is not used", ("reserved-namespace-names",), cluster=False),
    Control("5.1.1", "Image vulnerability scanning", cost="Artifact Analysis, per image scanned", status="off (priced)"),
    Control("5.1.2", "Minimize user access to image repositories", cost="n/a", status="outside the program: no registry is declared"),
    Control("5.1.3", "Cluster access to image repositories read-only", ("no-default-compute-service-account",)),
    Control("5.1.4", "Only trusted container images", ("binary-authorization", "binary-authorization-policy"), status=_image_policy_mode),
    Control("5.2.1", "Not the Compute Engine default service account", ("no-default-compute-service-account",)),
    Control("5.2.2", "Dedicated GCP service accounts and Workload Identity", ("workload-identity",)),
    Control("5.3.1", "Secrets encrypted with Cloud KMS keys", cost="Cloud KMS, per key version and per 10,000 operations", status="off (priced)"),
    Control("5.4.1", "GKE metadata server", ("gke-metadata-server",)),
    Control("5.5.1", "Container-Optimized OS with containerd", ("cos-containerd-nodes",)),
    Control("5.5.2", "Node auto-repair", ("node-auto-repair",)),
    Control("5.5.3", "Node auto-upgrade", ("node-auto-upgrade",)),
    Control("5.5.4", "Release channels", ("release-channel",)),
    Control("5.5.5", "Shielded GKE nodes", ("shielded-nodes",)),
    Control("5.5.6", "Integrity monitoring", ("node-integrity-monitoring",)),
    Control("5.5.7", "Secure boot", ("node-secure-boot",)),
    Control("5.6.1", "VPC flow logs and intranode visibility", ("intranode-visibility",), cost="$0 intranode visibility; flow logs billed as log volume", status="intranode on; flow logs off (priced)"),
    Control("5.6.2", "VPC-native clusters", ("vpc-native-cluster",)),
    Control("5.6.3", "Control plane authorized networks", ("control-plane-not-public",)),
    Control("5.6.4", "No public control-plane access (DNS-based endpoint only)", ("control-plane-not-public",)),
    Control("5.6.5", "Private nodes", cost="Cloud NAT: $0.0014/node-h + $0.005/h a NAT IP + $0.045/GiB, for $0.005/node-h of public IPs", status=_private_nodes),
    Control("5.6.6", "Firewall the worker nodes", ("cluster-dedicated-network", "no-firewall-open-to-internet")),
    Control("5.6.7", "Google-managed SSL certificates", status=_no_load_balancer_services, cluster=False),
    Control("5.7.1", "Logging and Cloud Monitoring", ("system-logging-and-monitoring",)),
    Control("5.7.2", "Linux auditd logging", cost="a DaemonSet and its log volume", status="off (priced)"),
    Control("5.8.1", "Client certificate authentication disabled", ("no-client-certificate",)),
    Control("5.8.2", "Google Groups for RBAC", cost="$0 with a Google Workspace or Cloud Identity domain", status=_groups),
    Control("5.8.3", "Legacy ABAC disabled", ("no-legacy-abac",)),
    Control("5.9.1", "CMEK for persistent disks", cost="Cloud KMS key", status="off (priced): no persistent disk is declared"),
    Control("5.9.2", "CMEK for boot disks", cost="Cloud KMS key", status="off (priced)"),
    Control("5.10.1", "Kubernetes web UI disabled", status="pass: no dashboard add-on"),
    Control("5.10.2", "No alpha clusters in production", ("no-kubernetes-alpha",)),
    Control("5.10.3", "GKE Sandbox for untrusted workloads", cost="a node pool of its own", status="not used: every workload is the team's own"),
    Control("5.10.4", "Security posture", ("security-posture",)),
)


def status(control: Control, records: list[ResourceRecord], owns_cluster: bool, host: str | None, found: Mapping[str, list[Violation]]) -> str:
    """The control's status in one stack; ``found`` is every rule's violations in it, by rule name."""
    if control.cluster and not owns_cluster:
        return f"{host}'s cluster"
    if control.enforced_by:
        broken = [name for name in control.enforced_by if found.get(name)]
        decided = FAIL if broken else PASS
        if broken or control.status is None:
            return decided
        return control.status(records) if callable(control.status) else control.status
    return control.status(records) if callable(control.status) else str(control.status)


def markdown(stacks: Mapping[str, tuple[list[ResourceRecord], str | None]]) -> str:
    """docs/security.md "Security": every control, its status per stack, the rules that enforce it, its cost.

    ``stacks`` maps a stack to its records and its host stack (None: it owns its cluster)."""
    names = list(stacks)
    found: dict[str, dict[str, list[Violation]]] = {}
    for stack, (records, _) in stacks.items():
        for violation in security.violations(records) + violations(records):
            found.setdefault(stack, {}).setdefault(violation.rule, []).append(violation)
    rows = [
        f"| CIS GKE 1.9 | Control | {' | '.join(names)} | Enforced by | Monthly cost |",
        f"| --- | --- | {' | '.join('---' for _ in names)} | --- | --- |",
    ]
    for control in CONTROLS:
        cells = [status(control, records, host is None, host, found.get(stack, {})) for stack, (records, host) in stacks.items()]
        rules = ", ".join(f"`{name}`" for name in control.enforced_by) or "—"
        rows.append(f"| {control.id} | {control.title} | {' | '.join(cells)} | {rules} | {control.cost} |")
    return "\n".join(rows) + "\n"
