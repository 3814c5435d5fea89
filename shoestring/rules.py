"""Every rule `make plan` holds a stack to, in one place: the per-resource rules (security and
tenancy, CIS GKE, naming) and the checks over a whole stack; and the checks across stacks. The
policy pack registers these same lists (policies/__main__.py), so the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from shoestring import api_rules, cis_gke, name_rules, ownership_rules, security
from shoestring.security import ResourceRecord, Violation


@dataclass(frozen=True)
class StackCheck:
    """A rule over all of a stack's records at once."""

    name: str
    description: str
    check: Callable[[list[ResourceRecord]], list[Violation]]


OWNERSHIP_RULES = (
    security.Rule("gpu-tolerations-need-gpu-requests", "A pod tolerates the GPU taint only when it asks for a GPU.", ownership_rules.gpu_tolerations_need_gpu_requests),
    security.Rule("shoestring-priority-classes-only", "Pods name Shoestring's PriorityClasses or none, and no other PriorityClass is declared.", ownership_rules.shoestring_priority_classes_only),
    security.Rule("containers-request-and-limit", "Every container requests and limits CPU and memory above zero.", ownership_rules.containers_request_and_limit),
    security.Rule("limit-ranges-set-minimums", "Every LimitRange sets a minimum CPU and memory per container.", ownership_rules.limit_ranges_set_minimums),
)
RESOURCE_RULES = security.RULES + cis_gke.RULES + name_rules.RULES + OWNERSHIP_RULES
STACK_CHECKS = (
    StackCheck("no-shadowed-hosts", "No project routes a host another project serves (a path under another's host included).", security.shadowed_hosts),
    StackCheck("namespaces-have-network-policies", "Every namespace the stack declares has a NetworkPolicy (CIS GKE 4.3.2).", security.namespaces_without_network_policies),
    StackCheck(
        "default-service-accounts-without-token",
        "Every namespace the stack declares has its default ServiceAccount set not to mount a token (CIS GKE 4.1.4).",
        security.default_accounts_with_tokens,
    ),
    StackCheck(
        "projects-stay-in-their-namespaces",
        "Every resource comes from a Shoestring component; a project's objects stay in its namespace.",
        lambda records: security.declared_by_components(records) + security.project_objects_in_own_namespace(records),
    ),
    StackCheck(
        "binary-authorization-policy",
        "The Binary Authorization policy the cluster enforces is declared, denies by default and admits every image the stack runs (CIS GKE 4.5.1, 5.1.4).",
        cis_gke.image_policy,
    ),
    StackCheck(
        "project-roles-from-allow-list",
        "A project's identity holds GCP project roles from PROJECT_ROLES, or reviewed ones its stack file lists.",
        ownership_rules.project_roles_from_allow_list,
    ),
    StackCheck(
        "grants-only-its-own",
        "A project grants only its own GCP account, on its own secrets and buckets, to its own namespace's ServiceAccount.",
        ownership_rules.grants_only_its_own,
    ),
    StackCheck("apis-enabled-before-use", "Every GCP resource has the Google API it is created through enabled by the stack, and waits for it.", api_rules.violations),
    StackCheck("one-declaration-per-kubernetes-object", "No Kubernetes object (kind, namespace, name) is declared twice in a stack.", security.duplicate_kubernetes_objects),
)


def stack_check(name: str) -> StackCheck:
    [found] = [check for check in STACK_CHECKS if check.name == name]
    return found


def stack_violations(records: Iterable[ResourceRecord]) -> list[Violation]:
    records = list(records)
    return security.rule_violations(RESOURCE_RULES, records) + [v for check in STACK_CHECKS for v in check.check(records)]


def cross_stack_violations(records_by_stack: Mapping[str, Iterable[ResourceRecord]]) -> list[Violation]:
    records_by_stack = {stack: list(records) for stack, records in records_by_stack.items()}
    return (
        security.shared_workload_identities(records_by_stack)
        + security.shared_secrets(records_by_stack)
        + security.shared_buckets(records_by_stack)
        + security.shared_namespaces(records_by_stack)
        + name_rules.shared_gcp_names(records_by_stack)
    )
