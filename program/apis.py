"""Which Google API each declared GCP resource is created through, and the stack transformation
that makes each wait, in the SDK, for the resource enabling it.

A new GCP project has few APIs on; a resource created through one that is off fails with
"SERVICE_DISABLED … has not been used in project … or it is disabled". The program enables each
API it uses (program/components/project_apis.py) and makes every GCP resource depend on the API it needs
(:func:`wait_for_apis`), so the first `pulumi up` works in one run. The program's list of APIs
comes from the config (program/program_args.py); shoestring/api_rules.py holds it to the types
the stack actually declares, both ways, in `make plan`, the tests and the policy pack.

Sources: each API's "Before you begin" in Google's docs — GKE (container, and compute for its
network), IAM service accounts (iam), project IAM policy (cloudresourcemanager), Secret Manager,
Certificate Manager, Cloud Billing budgets (billingbudgets), and Binary Authorization, which GKE
lists as a prerequisite of enforcing a policy
(cloud.google.com/binary-authorization/docs/setting-up#enable_apis).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from program.names import CLUSTER

SERVICE = "gcp:projects/service:Service"
API_OF_MODULE = {
    "gcp:container/": "container.googleapis.com",
    "gcp:compute/": "compute.googleapis.com",
    "gcp:serviceaccount/": "iam.googleapis.com",
    "gcp:projects/iAMMember:": "cloudresourcemanager.googleapis.com",
    "gcp:secretmanager/": "secretmanager.googleapis.com",
    "gcp:certificatemanager/": "certificatemanager.googleapis.com",
    "gcp:billing/budget:": "billingbudgets.googleapis.com",
    "gcp:binaryauthorization/": "binaryauthorization.googleapis.com",
    "gcp:storage/": "storage.googleapis.com",
}
"""A GCP type token's prefix, and the API its resources are created through."""
NEEDS_NO_API = ("pulumi:providers:gcp", SERVICE)


IAM_CREDENTIALS = "iamcredentials.googleapis.com"
"""The IAM Service Account Credentials API, through which the GKE metadata server mints a
Workload Identity pod's tokens for its GCP service account: off, the pod's secret mounts and
bucket reads fail, the metadata server answering "Unable to generate access token; IAM returned
403 Forbidden: IAM Service Account Credentials API has not been used in project … before or it is
disabled" (google/kctf#194). A Workload Identity cluster waits for it."""


CLOUD_DNS = "dns.googleapis.com"
"""The Cloud DNS API, which a cluster whose DNS provider is Cloud DNS for GKE is created through."""


def needed_by(type_: str, inputs: Mapping[str, Any]) -> set[str]:
    """The APIs a resource needs on in its project; a GCP type missing here raises, so a new type
    is mapped before it can be declared."""
    if not type_.startswith(("gcp:", "pulumi:providers:gcp")) or type_ in NEEDS_NO_API:
        return set()
    found = {api for prefix, api in API_OF_MODULE.items() if type_.startswith(prefix)}
    if not found:
        raise KeyError(f"{type_}: which Google API creates it? Add its module to program/apis.py API_OF_MODULE")
    if type_ == CLUSTER:
        # Its nodes are Compute Engine VMs on a VPC network (GKE's "Before you begin" enables both).
        found.add("compute.googleapis.com")
        # A cluster that enforces a Binary Authorization policy, or runs the Secret Manager add-on,
        # needs those APIs too (cloud.google.com/kubernetes-engine/docs/how-to/secret-manager#before-you-begin).
        if (inputs.get("binaryAuthorization") or {}).get("evaluationMode", "DISABLED") != "DISABLED":
            found.add("binaryauthorization.googleapis.com")
        if (inputs.get("secretManagerConfig") or {}).get("enabled"):
            found.add("secretmanager.googleapis.com")
        if (inputs.get("workloadIdentityConfig") or {}).get("workloadPool"):
            found.add(IAM_CREDENTIALS)
        # Cloud DNS for GKE keeps the cluster's records in a Cloud DNS zone it manages: "the Cloud
        # DNS API must be enabled in your project" (cloud.google.com/kubernetes-engine/docs/how-to/cloud-dns,
        # "Requirements"); off, the cluster cannot be created with it.
        if (inputs.get("dnsConfig") or {}).get("clusterDns") == "CLOUD_DNS":
            found.add(CLOUD_DNS)
    return found


def used_by(type_: str, inputs: Mapping[str, Any]) -> set[str]:
    """The APIs a resource's users call once it exists, though it is not created through them: a
    Workload Identity binding is used through iamcredentials, in the project of the account."""
    if type_ == "gcp:serviceaccount/iAMMember:IAMMember" and inputs.get("role") == "roles/iam.workloadIdentityUser":
        return {IAM_CREDENTIALS}
    return set()


WAITED_FOR_BY_TYPE = {
    CLUSTER: ("binaryauthorization.googleapis.com", "secretmanager.googleapis.com", IAM_CREDENTIALS, CLOUD_DNS),
}
"""APIs a resource of the type may use beyond its module's, which it waits for whenever the stack
enables them (a transformation sees the Python arguments, not the inputs :func:`needed_by` reads)."""


def wait_for_apis(services: Mapping[str, pulumi.Resource]) -> pulumi.ResourceTransformation:
    """A stack transformation: each GCP resource declared after it is registered depends on the
    ``services`` (API name to the ``gcp.projects.Service`` enabling it) it is created through.

    It runs in the SDK, in the Resource constructor, before the registration is prepared
    (pulumi 3.272.0, the version requirements.txt pins: pulumi/resource.py:1053, "if there are
    transformations registered, give them a chance to run"); the SDK then sends RegisterResource
    only once every ``depends_on`` has resolved its URN (pulumi/runtime/resource.py:212 "Before
    we can proceed, all our dependencies must be finished"; runtime/rpc.py:336 ``await
    res.urn.future()``), and the engine answers a registration only when its step is done
    (pulumi/pulumi@1b59498 pkg/resource/deploy/source_eval.go:3040 "Now block waiting for the
    operation to finish"). The engine orders nothing itself (step_executor.go:94: "language
    hosts can only invoke the resource monitor once all of their dependencies have resolved"),
    and a new-style resource transform runs in the engine, after the SDK sent the registration,
    keeping a ``depends_on`` it adds only for a resource with its own ``transforms`` option
    (source_eval.go:2631, "Reparse the dependency information"): too late to make it wait."""

    def transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not args.type_.startswith("gcp:") or args.type_ == SERVICE:
            return None
        apis = needed_by(args.type_, {}) | set(WAITED_FOR_BY_TYPE.get(args.type_, ()))
        waits = [services[api] for api in sorted(apis) if api in services]
        if not waits:
            return None
        return pulumi.ResourceTransformationResult(args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=waits)))

    return transformation
