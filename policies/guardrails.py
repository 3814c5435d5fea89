"""Validation functions of the policy pack: the same estimator and rules as `make cost`, applied
by the Pulumi engine to the resources of a real `pulumi preview` or `pulumi up`.

Each function takes the arguments pulumi_policy passes and a `report_violation` callback, and
reads the resources as records of ``{type, name, inputs}`` — CrossGuard's property maps use the
same camelCase names the offline plan records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Installed into the pack's virtualenv by policies/requirements.txt (`-e ..`).
from program import capacity, catalog, cost
from program.names import CLUSTER, NODE_POOL
from shoestring import rules, security

ReportViolation = Callable[..., None]


@dataclass(frozen=True)
class PolicyRecord:
    """A CrossGuard resource as the estimator reads records."""

    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    urn: str = ""
    dependencies: tuple[str, ...] = ()
    parent: str | None = None


def monthly_budget(args: Any, report_violation: ReportViolation) -> None:
    """Stack policy: the expected monthly estimate must not exceed the stack's declared budget."""
    records = _stack_records(args)
    budgets = [r for r in records if r.type == "shoestring:cost:MonthlyBudget"]
    stack = budgets[0].name.removesuffix("-budget") if budgets else "this stack"
    problem = cost.over_budget(cost.estimate(stack, records))
    if problem:
        report_violation(problem)


def zonal_cluster_only(args: Any, report_violation: ReportViolation) -> None:
    """Resource policy: a GKE cluster is located in a zone, the only kind the free tier covers."""
    if args.resource_type != CLUSTER:
        return
    location = args.props.get("location", "")
    if not catalog.ZONE_PATTERN.fullmatch(location):
        fee = catalog.gke_management_fee_hourly() * catalog.HOURS_PER_MONTH
        report_violation(
            f"cluster {args.name} is located in {location!r}, not a zone: a regional cluster pays the "
            f"${fee:,.2f}/month management fee and runs its node pools in three zones. Use a zone such as {location}-a."
        )


def gpu_pools_scale_to_zero(args: Any, report_violation: ReportViolation) -> None:
    """Resource policy: a node pool with GPUs has an autoscaling minimum of 0."""
    if args.resource_type != NODE_POOL:
        return
    if not args.props.get("nodeConfig", {}).get("guestAccelerators"):
        return
    minimum = capacity.pool_bounds(dict(args.props))[0]
    if minimum > 0:
        line = cost.estimate("pool", [PolicyRecord(args.resource_type, args.name, dict(args.props))]).lines[0]
        idle = "an unpriced amount" if line.idle_monthly is None else f"${line.idle_monthly:,.2f}/month"
        report_violation(f"GPU node pool {args.name} keeps {minimum} node(s) warm: {idle} while idle. Set its minimum to 0.")


def no_load_balancer_services(args: Any, report_violation: ReportViolation) -> None:
    """Resource policy (advisory): a Service of type LoadBalancer is a forwarding rule of its own."""
    if args.resource_type != "kubernetes:core/v1:Service":
        return
    if args.props.get("spec", {}).get("type") == "LoadBalancer":
        first_five = max(catalog.forwarding_rules_hourly(region, 1) for region in catalog.regions()) * catalog.HOURS_PER_MONTH
        beyond = max(catalog.forwarding_rules_hourly(region, 6) - catalog.forwarding_rules_hourly(region, 5) for region in catalog.regions())
        report_violation(
            f"Service {args.name} is a LoadBalancer: a regional forwarding rule of its own, up to ${first_five:,.2f}/month "
            f"for the project's first five together and ${beyond * catalog.HOURS_PER_MONTH:,.2f} for each beyond. "
            "Use a ClusterIP Service behind the shared public entry."
        )


def security_rule(rule: security.Rule) -> Callable[[Any, ReportViolation], None]:
    """A resource policy running one of shoestring/security.py's rules, as `make plan` does."""

    def validate(args: Any, report_violation: ReportViolation) -> None:
        for message in rule.check(args.resource_type, dict(args.props)):
            report_violation(f"{args.resource_type} {args.name}: {message}")

    return validate


def _stack_records(args: Any) -> list[PolicyRecord]:
    return [
        PolicyRecord(
            r.resource_type, r.name, dict(r.props), r.urn, tuple(d.urn for d in r.dependencies),
            # The stack is no component: what it parents directly sits outside every component.
            r.parent.urn if r.parent is not None and r.parent.resource_type != "pulumi:pulumi:Stack" else None,
        )
        for r in args.resources
    ]


def stack_policy(check: rules.StackCheck) -> Callable[[Any, ReportViolation], None]:
    """A stack policy running one of shoestring/rules.py's stack checks, as `make plan` does."""

    def validate(args: Any, report_violation: ReportViolation) -> None:
        for violation in check.check(_stack_records(args)):
            report_violation(f"{violation.resource}: {violation.message}")

    return validate
