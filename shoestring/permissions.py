"""The IAM roles an identity needs to run `pulumi up` for what the program declares.

One entry per resource type the program can declare: the predefined roles whose permissions
create, change and delete it, and why. docs/going-live.md "Going live" shows :func:`markdown` of the roles
the shipped stacks need; a test checks that every type any stack declares has an entry, so a new
kind of resource cannot reach a deploy whose identity lacks the role for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from program.names import CLUSTER, NODE_POOL


@dataclass(frozen=True)
class Grant:
    roles: tuple[str, ...]
    why: str
    on: str = "project"
    """Where the roles are granted: the GCP ``project``, or the ``billing account``."""


NONE = Grant((), "no Google API call of its own")

# cloud.google.com/kubernetes-engine/docs/how-to/iam (predefined GKE roles),
# cloud.google.com/iam/docs/service-accounts-actas (iam.serviceAccounts.actAs),
# cloud.google.com/billing/docs/how-to/budgets#budget-permissions (billing.budgets.*).
GRANTS: dict[str, Grant] = {
    CLUSTER: Grant(
        ("roles/container.admin", "roles/iam.serviceAccountUser"),
        "create and update the cluster; its nodes run as the node service account, which needs "
        "iam.serviceAccounts.actAs on that account (Service Account User)",
    ),
    NODE_POOL: Grant(
        ("roles/container.admin", "roles/iam.serviceAccountUser"), "node pools, whose nodes run as the node service account"
    ),
    "gcp:serviceaccount/account:Account": Grant(("roles/iam.serviceAccountAdmin",), "the node and workload service accounts"),
    "gcp:serviceaccount/iAMMember:IAMMember": Grant(
        ("roles/iam.serviceAccountAdmin",), "Workload Identity bindings on the workload service accounts (setIamPolicy)"
    ),
    "gcp:projects/iAMMember:IAMMember": Grant(
        ("roles/resourcemanager.projectIamAdmin",), "the node and workload accounts' project roles"
    ),
    # cloud.google.com/compute/docs/access/iam#compute.networkAdmin: networks, subnets, routers
    # and Cloud NAT, but not firewall rules or SSL certificates.
    "gcp:compute/network:Network": Grant(("roles/compute.networkAdmin",), "the cluster's VPC"),
    "gcp:compute/subnetwork:Subnetwork": Grant(("roles/compute.networkAdmin",), "the cluster's subnet and its Pod and Service ranges"),
    "gcp:compute/router:Router": Grant(("roles/compute.networkAdmin",), "the Cloud Router of Cloud NAT, with privateNodes"),
    "gcp:compute/routerNat:RouterNat": Grant(("roles/compute.networkAdmin",), "Cloud NAT, with privateNodes"),
    # cloud.google.com/storage/docs/access-control/iam-roles: storage.buckets.setIamPolicy.
    "gcp:storage/bucketIAMMember:BucketIAMMember": Grant(("roles/storage.admin",), "grant each project's identity its role on exactly its buckets"),
    # storage.buckets.create (roles/storage.admin holds it, with setIamPolicy above).
    "gcp:storage/bucket:Bucket": Grant(("roles/storage.admin",), "the projects' buckets, declared by each stack"),
    # cloud.google.com/service-usage/docs/access-control: serviceusage.services.enable.
    "gcp:projects/service:Service": Grant(("roles/serviceusage.serviceUsageAdmin",), "enable the Google APIs the stack's resources are created through"),
    "gcp:secretmanager/secret:Secret": Grant(("roles/secretmanager.admin",), "the secrets the apps read"),
    "gcp:secretmanager/secretVersion:SecretVersion": Grant(("roles/secretmanager.admin",), "a secret's value, where the stack's secretValues gives one"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": Grant(
        ("roles/secretmanager.admin",), "grant each project's identity read access to exactly its secrets (setIamPolicy on a secret)"
    ),
    "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass": Grant(("roles/container.admin",), "the Secret Manager add-on's SecretProviderClasses"),
    "gcp:compute/globalAddress:GlobalAddress": Grant(("roles/compute.publicIpAdmin",), "the Gateway's reserved IP address"),
    "gcp:certificatemanager/certificateMap:CertificateMap": Grant(("roles/certificatemanager.editor",), "the Gateway's certificate map"),
    "gcp:certificatemanager/certificate:Certificate": Grant(("roles/certificatemanager.editor",), "Google-managed certificates"),
    "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry": Grant(("roles/certificatemanager.editor",), "certificate map entries"),
    # cloud.google.com/binary-authorization/docs/access-control: binaryauthorization.policy.update.
    "gcp:binaryauthorization/policy:Policy": Grant(
        ("roles/binaryauthorization.policyEditor",), "the project's Binary Authorization policy: the images the cluster admits"
    ),
    "gcp:billing/budget:Budget": Grant(
        ("roles/billing.costsManager",), "the Cloud Billing budget, with `shoestring:billingAccount`", on="billing account"
    ),
    "pulumi:providers:gcp": Grant(
        ("roles/serviceusage.serviceUsageConsumer",), "the budget's provider bills Budget API calls to the project (quota project)"
    ),
    # Every Kubernetes object goes through the cluster's API, where Container Admin is cluster-admin.
    "kubernetes:*": Grant(("roles/container.admin",), "Kubernetes objects, through the cluster's API (IAM-authorized)"),
    "pulumi:providers:kubernetes": NONE,
    "pulumi:pulumi:StackReference": NONE,
    "shoestring:*": NONE,
}


def grant_for(resource_type: str) -> Grant | None:
    """The grant a resource type needs (None: not listed, a gap to fill)."""
    if resource_type in GRANTS:
        return GRANTS[resource_type]
    package = resource_type.split(":", 1)[0]
    return GRANTS.get(f"{package}:*")


def roles_for(resource_types: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """Roles by where they are granted, each with the resource types that need it."""
    needed: dict[str, dict[str, list[str]]] = {}
    for resource_type in sorted(set(resource_types)):
        grant = grant_for(resource_type)
        if grant is None:
            raise KeyError(f"no IAM roles are listed for {resource_type}; add it to shoestring/permissions.py")
        for role in grant.roles:
            needed.setdefault(grant.on, {}).setdefault(role, []).append(resource_type)
    return needed


def markdown(resource_types: Iterable[str]) -> str:
    """README's table of the deployer's roles, and the commands that grant them."""
    needed = roles_for(resource_types)
    rows = ["| Role | Granted on | Needed for |", "| --- | --- | --- |"]
    for on, roles in sorted(needed.items(), key=lambda item: item[0] != "project"):
        for role, types in sorted(roles.items()):
            whys = sorted({grant_for(t).why for t in types})
            rows.append(f"| `{role}` | {on} | {'; '.join(whys)} |")
    commands = ["", "```console"]
    for role in sorted(needed.get("project", {})):
        commands.append(f'$ gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:$DEPLOYER" --role {role}')
    for role in sorted(needed.get("billing account", {})):
        commands.append(f'$ gcloud billing accounts add-iam-policy-binding "$BILLING_ACCOUNT" --member "serviceAccount:$DEPLOYER" --role {role}')
    commands.append("```")
    return "\n".join(rows + commands) + "\n"


BUDGET_TYPES = ("gcp:billing/budget:Budget", "pulumi:providers:gcp")
"""What a stack with ``shoestring:billingAccount`` declares besides; the shipped stacks set none."""


def deployer_types(records_by_stack: dict[str, Iterable]) -> set[str]:
    """Every resource type the stacks declare, and those a billing budget adds."""
    return {record.type for records in records_by_stack.values() for record in records} | set(BUDGET_TYPES)


PREVIEW_ROLES: dict[str, str] = {
    "roles/viewer": "read every Google Cloud resource the stacks declare, to diff them",
    "roles/container.viewer": "read the cluster and its Kubernetes objects (not Secrets' contents)",
    "roles/iam.securityReviewer": "read IAM policies: the Workload Identity bindings and project roles",
}
"""The pull-request preview identity's roles: read only. A pull request's code runs with this
identity, so it must not be able to change anything (cloud.google.com/iam/docs/understanding-roles)."""

READ_ONLY_ROLE = ("roles/viewer", "roles/browser", "roles/iam.securityReviewer")
"""Roles that grant no write permission beyond the ``*.viewer`` family."""


def is_read_only(role: str) -> bool:
    return role in READ_ONLY_ROLE or role.endswith((".viewer", "Viewer"))


def preview_markdown() -> str:
    """README's table of the preview identity's roles, and the commands that grant them."""
    rows = ["| Role | Why |", "| --- | --- |", *(f"| `{role}` | {why} |" for role, why in PREVIEW_ROLES.items())]
    commands = [
        "",
        "```console",
        *(f'$ gcloud projects add-iam-policy-binding "$PROJECT" --member "serviceAccount:$PREVIEWER" --role {role}' for role in PREVIEW_ROLES),
        "```",
    ]
    return "\n".join(rows + commands) + "\n"
