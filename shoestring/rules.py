"""Every rule `make plan` holds a stack to, in one list: the security and tenancy rules, CIS GKE,
the naming rules and what the program must declare for a first `pulumi up` to work; and the
checks across stacks. The policy pack registers the same functions (policies/__main__.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shoestring import apis, cis_gke, name_rules, security
from shoestring.security import ResourceRecord, Violation


def stack_violations(records: Iterable[ResourceRecord]) -> list[Violation]:
    records = list(records)
    return security.violations(records) + cis_gke.violations(records) + name_rules.violations(records) + apis.violations(records) + security.duplicate_kubernetes_objects(records)


def cross_stack_violations(records_by_stack: Mapping[str, Iterable[ResourceRecord]]) -> list[Violation]:
    records_by_stack = {stack: list(records) for stack, records in records_by_stack.items()}
    return (
        security.shared_workload_identities(records_by_stack)
        + security.shared_secrets(records_by_stack)
        + security.shared_buckets(records_by_stack)
        + security.shared_namespaces(records_by_stack)
        + name_rules.shared_gcp_names(records_by_stack)
    )
