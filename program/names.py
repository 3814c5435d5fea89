"""Names Google and Kubernetes accept: each constraint the provider or the API enforces, once,
with where it is written, and :func:`fit`, which builds a name to one; and the names and labels
the program and the tooling share. Only the standard library is imported, so the components, the
tooling and the policy pack (which has no provider SDK) can all import it.

The components build every GCP and Kubernetes name with these; shoestring/name_rules.py checks the
declared records against the same constraints (in `make plan`, the tests and the policy pack),
so a name the cloud would refuse is an error offline, not at the first `pulumi up`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NameConstraint:
    what: str
    """What is named, as the message says it (``service account id``)."""
    pattern: re.Pattern[str]
    min_length: int
    max_length: int
    source: str
    """Where the constraint is written: the provider's validation or Google's / Kubernetes' docs."""

    def problem(self, name: str) -> str | None:
        """Why ``name`` is refused, or None."""
        if not self.min_length <= len(name) <= self.max_length:
            return f"{self.what} {name!r} is {len(name)} characters; {self.min_length} to {self.max_length} are allowed ({self.source})"
        if not self.pattern.fullmatch(name):
            return f"{self.what} {name!r} does not match {self.pattern.pattern} ({self.source})"
        return None


RFC1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")

SERVICE_ACCOUNT_ID = NameConstraint(
    "service account id",
    RFC1035,
    6,
    30,
    # terraform-provider-google serviceaccount/resource_google_service_account.go: ValidateFunc
    # verify.ValidateRFC1035Name(6, 30); pulumi_gcp/serviceaccount/account.py: "must be 6-30
    # characters long, and match the regular expression `a-z`"; IAM API serviceAccounts.create.
    "the provider's ValidateRFC1035Name(6, 30), pulumi_gcp serviceaccount.Account account_id",
)
COMPUTE_NAME = NameConstraint(
    "Compute Engine resource name",
    RFC1035,
    1,
    63,
    # cloud.google.com/compute/docs/naming-resources: "1-63 characters long, and comply with RFC 1035";
    # the provider validates network, subnetwork and router names so (verify.ValidateGCEName), and a
    # Cloud NAT's with a minimum of 2. Addresses are checked by the API only.
    "cloud.google.com/compute/docs/naming-resources",
)
GKE_NAME = NameConstraint(
    "GKE cluster or node pool name",
    RFC1035,
    1,
    40,
    # The provider's cluster name validation (container/resource_container_cluster.go): "must be
    # lowercase letters, numbers and hyphens; start with a letter; end with a letter or number; at
    # most 40 characters". Node pool names: the API's limit of 40, unchecked by the provider.
    "cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#Cluster.FIELDS.name",
)
CERTIFICATE_MANAGER_NAME = NameConstraint(
    "Certificate Manager resource name",
    RFC1035,
    1,
    63,
    # The provider checks none of these names; the API takes certificate ids of 1-64 characters
    # `[a-zA-Z][a-zA-Z0-9_-]*` and documents no rule for map and map-entry ids, so every one is
    # held to the subset both documented rules admit: RFC 1035, at most 63.
    "cloud.google.com/certificate-manager/docs/reference/certificate-manager/rest/v1/projects.locations.certificates/create",
)
BUCKET_NAME = NameConstraint(
    "Cloud Storage bucket name",
    # Names without dots: lowercase letters, digits, '-' and '_', starting and ending with a
    # letter or digit, 3-63 characters, never "goog" first nor "google" inside
    # (cloud.google.com/storage/docs/buckets#naming). Bucket names are global, across all of Google Cloud.
    re.compile(r"(?!goog)(?!.*google)[a-z0-9][-a-z0-9_]*[a-z0-9]"),
    3,
    63,
    "cloud.google.com/storage/docs/buckets#naming",
)
BUDGET_DISPLAY_NAME = NameConstraint(
    "Cloud Billing budget display name",
    re.compile(r".+"),
    1,
    60,
    "cloud.google.com/billing/docs/reference/budget/rest/v1/billingAccounts.budgets#Budget.FIELDS.display_name",
)
SECRET_ID = NameConstraint(
    "Secret Manager secret id",
    re.compile(r"[A-Za-z0-9_-]+"),
    1,
    255,
    # pulumi_gcp/secretmanager/secret.py: "secret_id ... [a-zA-Z0-9_-]"; Secret Manager API secrets.create:
    # "at most 255 characters ... letters, numerals, and the hyphen (-) and underscore (_) characters".
    "cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/create",
)
GCP_LABEL_KEY = NameConstraint(
    "GCP label key",
    re.compile(r"[a-z][a-z0-9_-]*"),
    1,
    63,
    "cloud.google.com/resource-manager/docs/labels-overview#requirements",
)
GCP_LABEL_VALUE = NameConstraint(
    "GCP label value",
    re.compile(r"[a-z0-9_-]*"),
    0,
    63,
    "cloud.google.com/resource-manager/docs/labels-overview#requirements",
)
KUBERNETES_LABEL_NAME = NameConstraint(
    "Kubernetes object name",
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
    1,
    63,
    # Namespaces: RFC 1123 labels (kubernetes.io/docs/concepts/overview/working-with-objects/names).
    "kubernetes.io/docs/concepts/overview/working-with-objects/names#dns-label-names",
)
KUBERNETES_SERVICE_NAME = NameConstraint(
    "Kubernetes Service name",
    RFC1035,
    1,
    63,
    "kubernetes.io/docs/concepts/overview/working-with-objects/names#rfc-1035-label-names",
)
KUBERNETES_SUBDOMAIN = NameConstraint(
    "Kubernetes object name",
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"),
    1,
    253,
    "kubernetes.io/docs/concepts/overview/working-with-objects/names#dns-subdomain-names",
)
KUBERNETES_LABEL_VALUE = NameConstraint(
    "Kubernetes label value",
    re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"),
    0,
    63,
    "kubernetes.io/docs/concepts/overview/working-with-objects/labels#syntax-and-character-set",
)

STACK_LABEL = "shoestring-stack"
"""GCP label on every resource that takes labels: which stack declared it (billing exports, the console)."""
FREE_TIER_LABEL = "shoestring-free-tier"
"""GCP label on the cluster: whether it claims the billing account's free zonal cluster (read by the estimate)."""
PROJECT_LABEL = "shoestring-project"
"""GCP label on a project's own resources (its secrets): which Shoestring project they belong to."""

SUFFIX_LENGTH = 6
"""Hex characters of the hash that keeps a cut name unique."""


def fit(base: str, constraint: NameConstraint) -> str:
    """``base`` within ``constraint``'s length: as it is when it fits; otherwise cut, with a dash
    and a short hash of the whole of ``base``, so two long names that share a beginning (two
    projects, or one project in prod and staging) stay two names. A name that ends cut at a dash
    loses the dash, which none of these constraints admit at the end."""
    if len(base) <= constraint.max_length:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:SUFFIX_LENGTH]
    return f"{base[: constraint.max_length - SUFFIX_LENGTH - 1].rstrip('-')}-{digest}"


def workload_account_id(namespace: str) -> str:
    """The GCP service account a namespace's pods act as: ``workload-<namespace>``, which is always
    at least the 6 characters the IAM API asks for (``wl-ml`` was 5)."""
    return fit(f"workload-{namespace}", SERVICE_ACCOUNT_ID)


def bucket_name(gcp_project: str, namespace: str, bucket: str) -> str:
    """The global name of a bucket a stack declares for a project: the GCP project id (unique in
    all of Google Cloud, so no other team can hold it) and the namespace (unique among the stacks
    of one GCP project: ``ml``, ``ml-staging``) before the definition's name, ``acme-prod-ml-data``."""
    return fit(f"{gcp_project}-{namespace}-{bucket}", BUCKET_NAME)


def node_account_id(cluster: str) -> str:
    """The GCP service account a cluster's nodes run as."""
    return fit(f"{cluster}-nodes", SERVICE_ACCOUNT_ID)


PROJECT_APIS_TYPE = "shoestring:gcp:ProjectApis"
"""Type token of the component enabling the stack's Google APIs (program/components/project_apis.py)."""


def api_service_name(component: str, api: str) -> str:
    """The Pulumi name of the resource enabling ``api`` in the ProjectApis named ``component``."""
    return f"{component}-{api.split('.')[0]}"


USER_FACING_PRIORITY = "shoestring-user-facing"
"""PriorityClass of the apps people wait on: above batch, so when capacity is short batch waits."""
BATCH_PRIORITY = "shoestring-batch"
"""PriorityClass of work that retries (GPU batch): never preempts, waits for room instead."""
ENTRY_PRIORITY = "shoestring-public-entry"
"""PriorityClass of the cluster's only public entry (the tunnel's cloudflared): above every app's."""
ONE_OFF_PRIORITY = "shoestring-one-off"
"""PriorityClass of one-off Jobs (an app's bootstrap): above user-facing, never preempting."""
PRIORITY_VALUES = {ENTRY_PRIORITY: 10_000, ONE_OFF_PRIORITY: 2000, USER_FACING_PRIORITY: 1000, BATCH_PRIORITY: 100}
"""Their values: both far below GKE's system-cluster-critical (2,000,000,000), which kube-dns and
its peers carry, and above the cluster autoscaler's expendable cut-off (-10), so pending pods of
either class still add nodes."""
SYSTEM_CLUSTER_CRITICAL = 2_000_000_000
"""Priority of GKE's own cluster pods (kube-dns, metrics-server...)."""
SPOT_TAINT_KEY = "cloud.google.com/gke-spot"
"""Key of the taint on the Spot pool's nodes (program/components/spot_pool.py), which the capacity model honours."""


RESERVED_NAMESPACES = ("default", "kube-*", "gke-*", "gmp-*")
"""Namespaces Kubernetes and GKE own (kube-system, gke-managed-*, gmp-system...)."""


def is_reserved(namespace: str) -> bool:
    return any(namespace == pattern or (pattern.endswith("*") and namespace.startswith(pattern[:-1])) for pattern in RESERVED_NAMESPACES)


# The resource types both rooms name: the program declares them, the estimator, the rules, the
# reports and the policy pack read them (Pulumi type tokens, as records and CrossGuard carry them).
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRON_JOB = "kubernetes:batch/v1:CronJob"

GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource a pod requests GPUs by (NVIDIA's device plugin, as GKE installs it)."""
WHOLE_NODE_LABEL = "shoestring.dev/whole-node"
"""Pod label of a whole-node app: at most one such pod per node (program/components/internal_service.py),
and the capacity model gives each its own node."""
