"""Naming rules: every name the program declares is one the provider and the API accept.

One rule per kind of name, each reading one record's type and inputs, as shoestring/security.py's
rules do, so `make plan`, the tests and the policy pack run the same functions. The constraints
themselves, with where each is written, are program/names.py's: the components build names
with them, and these rules hold the declared records to them — a transform in a project file, or
a component that forgets to use them, is caught offline instead of by the first `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from program import names
from program.names import CLUSTER, NODE_POOL, NameConstraint
from shoestring.security import ResourceRecord, Rule, Violation, rule_violations

_NAMED_FIELD: dict[str, tuple[str, NameConstraint]] = {
    "gcp:serviceaccount/account:Account": ("accountId", names.SERVICE_ACCOUNT_ID),
    "gcp:compute/network:Network": ("name", names.COMPUTE_NAME),
    "gcp:compute/subnetwork:Subnetwork": ("name", names.COMPUTE_NAME),
    "gcp:compute/router:Router": ("name", names.COMPUTE_NAME),
    "gcp:compute/routerNat:RouterNat": ("name", names.COMPUTE_NAME),
    "gcp:compute/address:Address": ("name", names.COMPUTE_NAME),
    "gcp:compute/globalAddress:GlobalAddress": ("name", names.COMPUTE_NAME),
    "gcp:compute/firewall:Firewall": ("name", names.COMPUTE_NAME),
    CLUSTER: ("name", names.GKE_NAME),
    NODE_POOL: ("name", names.GKE_NAME),
    "gcp:certificatemanager/certificate:Certificate": ("name", names.CERTIFICATE_MANAGER_NAME),
    "gcp:certificatemanager/certificateMap:CertificateMap": ("name", names.CERTIFICATE_MANAGER_NAME),
    "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry": ("name", names.CERTIFICATE_MANAGER_NAME),
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": ("name", names.CERTIFICATE_MANAGER_NAME),
    "gcp:secretmanager/secret:Secret": ("secretId", names.SECRET_ID),
    "gcp:billing/budget:Budget": ("displayName", names.BUDGET_DISPLAY_NAME),
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("secretId", names.SECRET_ID),
}
"""GCP resource types and the input that names them, with its constraint."""


def gcp_names(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """The GCP name of a resource breaks its constraint. (A resource given no name is named by
    Pulumi, its logical name and 7 random characters; the node pools' are short and fixed.)"""
    named = _NAMED_FIELD.get(type_)
    if named is None:
        return []
    field, constraint = named
    name = inputs.get(field)
    if not isinstance(name, str) or name.startswith("["):  # absent, computed or secret: not known offline
        return []
    problem = constraint.problem(name)
    return [f"{field}: {problem}"] if problem else []


def gcp_labels(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """Label keys and values of a GCP resource that the API would refuse."""
    if not type_.startswith("gcp:"):
        return []
    found = []
    for field in ("labels", "resourceLabels", "userLabels"):
        for key, value in (inputs.get(field) or {}).items():
            found += [f"{field}: {p}" for p in (names.GCP_LABEL_KEY.problem(key), names.GCP_LABEL_VALUE.problem(str(value))) if p]
    return found


def kubernetes_names(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """A Kubernetes object's name and namespace, as the API server validates them."""
    if not type_.startswith("kubernetes:"):
        return []
    metadata = inputs.get("metadata") or {}
    kind = type_.rsplit(":", 1)[-1]
    constraint = {"Namespace": names.KUBERNETES_LABEL_NAME, "Service": names.KUBERNETES_SERVICE_NAME}.get(kind, names.KUBERNETES_SUBDOMAIN)
    found = []
    for field, value, rule in (("metadata.name", metadata.get("name"), constraint), ("metadata.namespace", metadata.get("namespace"), names.KUBERNETES_LABEL_NAME)):
        if isinstance(value, str) and not value.startswith("[") and (problem := rule.problem(value)):
            found.append(f"{field}: {problem}")
    return found


def kubernetes_label_values(type_: str, inputs: Mapping[str, Any]) -> list[str]:
    """Label values of a Kubernetes object and of its pod template."""
    if not type_.startswith("kubernetes:"):
        return []
    template = ((inputs.get("spec") or {}).get("template") or {}).get("metadata") or {}
    found = []
    for where, labels in (("metadata.labels", (inputs.get("metadata") or {}).get("labels")), ("spec.template.metadata.labels", template.get("labels"))):
        for key, value in (labels or {}).items():
            if isinstance(value, str) and (problem := names.KUBERNETES_LABEL_VALUE.problem(value)):
                found.append(f"{where}[{key}]: {problem}")
    return found


RULES = (
    Rule("gcp-names-accepted", "Every GCP resource name and service account id fits the constraint the provider and API enforce.", gcp_names),
    Rule("gcp-labels-accepted", "Every GCP label key and value is one the API accepts.", gcp_labels),
    Rule("kubernetes-names-accepted", "Every Kubernetes name and namespace is a name the API server accepts.", kubernetes_names),
    Rule("kubernetes-label-values-accepted", "Every Kubernetes label value is one the API server accepts.", kubernetes_label_values),
)


def violations(records: Iterable[ResourceRecord]) -> list[Violation]:
    """Every naming rule over a stack's records."""
    return rule_violations(RULES, records)


ONE_PER_PROJECT = {"gcp:binaryauthorization/policy:Policy": "the project's policy"}
"""Resources a GCP project has exactly one of: "Each Google Cloud project can have one policy"
(cloud.google.com/binary-authorization/docs/key-concepts#policies). Two stacks declaring it in one
project would each overwrite the other's on every `pulumi up`."""


def shared_gcp_names(records_by_stack: Mapping[str, Iterable[ResourceRecord]]) -> list[Violation]:
    """GCP names two stacks would both create in one GCP project: the second `pulumi up` fails
    with "already exists", or worse, two stacks manage one resource (prod's and staging's
    `workload-blog-staging` account, or the project's one Binary Authorization policy). IAM
    bindings on a secret name it, and are not creations."""
    owners: dict[tuple[str, str, str], list[str]] = {}
    for stack, records in records_by_stack.items():
        for record in records:
            named = _NAMED_FIELD.get(record.type)
            if record.type in ONE_PER_PROJECT:
                owners.setdefault((record.inputs.get("project", ""), record.type, ONE_PER_PROJECT[record.type]), []).append(f"{stack} ({record.name})")
                continue
            if named is None or record.type == "gcp:secretmanager/secretIamMember:SecretIamMember":
                continue
            name = record.inputs.get(named[0])
            if isinstance(name, str):
                owners.setdefault((record.inputs.get("project", ""), record.type, name), []).append(f"{stack} ({record.name})")
    return [
        Violation("unique-gcp-names-per-project", f"{type_} {name}", f"in GCP project {project}, declared by {' and by '.join(by)}; "
                  + ("give the stacks separate GCP projects: a project has one" if type_ in ONE_PER_PROJECT else
                     "give the stacks separate GCP projects, or rename one (a project or a stack)"))
        for (project, type_, name), by in sorted(owners.items())
        if len({owner.split(' ')[0] for owner in by}) > 1
    ]
