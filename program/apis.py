"""Which Google API each declared GCP resource is created through, and the transform that makes
each wait for its API.

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

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi

from program.names import CLUSTER, PROJECT_APIS_TYPE, api_service_name
from program.records import urn_of

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


def needed_by(type_: str, inputs: Mapping[str, Any]) -> set[str]:
    """The APIs a resource needs on in its project; a GCP type missing here raises, so a new type
    is mapped before it can be declared."""
    if not type_.startswith(("gcp:", "pulumi:providers:gcp")) or type_ in NEEDS_NO_API:
        return set()
    found = {api for prefix, api in API_OF_MODULE.items() if type_.startswith(prefix)}
    if not found:
        raise KeyError(f"{type_}: which Google API creates it? Add its module to program/apis.py API_OF_MODULE")
    if type_ == CLUSTER:
        # A cluster that enforces a Binary Authorization policy, or runs the Secret Manager add-on,
        # needs those APIs too (cloud.google.com/kubernetes-engine/docs/how-to/secret-manager#before-you-begin).
        if (inputs.get("binaryAuthorization") or {}).get("evaluationMode", "DISABLED") != "DISABLED":
            found.add("binaryauthorization.googleapis.com")
        if (inputs.get("secretManagerConfig") or {}).get("enabled"):
            found.add("secretmanager.googleapis.com")
    return found


def wait_for_apis(component: str, enabled: Iterable[str]):
    """A stack transform: every GCP resource depends on the resources of ProjectApis ``component``
    that enable the APIs it needs. They are named by URN, which the engine composes from names
    and types alone, so no transform waits on another registration."""
    stack, project = pulumi.get_stack(), pulumi.get_project()
    parent = urn_of(stack, project, None, PROJECT_APIS_TYPE, component)
    urns = {api: urn_of(stack, project, parent, SERVICE, api_service_name(component, api)) for api in enabled}

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        needed = [pulumi.resource.DependencyResource(urns[api]) for api in sorted(needed_by(args.type_, args.props)) if api in urns]
        if not needed:
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=needed))
        return pulumi.ResourceTransformResult(props=args.props, opts=opts)

    return transform
