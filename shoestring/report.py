"""README's "What it costs": every shipped stack's estimate, and what prod's capacity would cost
built the usual expensive ways — all computed by the estimator from the plans' records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from program import capacity, catalog, cost
from program.names import CLUSTER, NODE_POOL
from program.records import Record
from shoestring import autopilot
from shoestring.offline import Plan

Variant = Callable[[Sequence[Record]], list[Record]]


def regional_cluster(records: Sequence[Record]) -> list[Record]:
    """The cluster in its region instead of its zone: no free tier, every pool in three zones."""

    def relocate(record: Record) -> Record:
        location = record.inputs.get("location")
        if record.type not in (CLUSTER, NODE_POOL) or not location:
            return record
        inputs = {k: v for k, v in record.inputs.items() if k != "nodeLocations"}
        return dataclasses.replace(record, inputs=inputs | {"location": location.rsplit("-", 1)[0]})

    return [relocate(r) for r in records]


def load_balancer_per_service(records: Sequence[Record]) -> list[Record]:
    """Every internal service behind a load balancer of its own (a forwarding rule each)."""

    def expose(record: Record) -> Record:
        if record.type != "kubernetes:core/v1:Service":
            return record
        spec = record.inputs.get("spec", {}) | {"type": "LoadBalancer"}
        return dataclasses.replace(record, inputs=record.inputs | {"spec": spec})

    return [expose(r) for r in records]


def always_on_gpu_node(records: Sequence[Record]) -> list[Record]:
    """The GPU pool keeping one node up all month instead of scaling to zero (its first rung: a
    fallback rung holds nodes only while the first is out)."""
    fallbacks = cost.fallback_rungs(records)

    def warm(record: Record) -> Record:
        if record.type != NODE_POOL or not record.inputs.get("nodeConfig", {}).get("guestAccelerators") or record.inputs.get("name") in fallbacks:
            return record
        scaling = record.inputs.get("autoscaling", {})
        scaling = scaling | ({"totalMinNodeCount": 1} if "totalMaxNodeCount" in scaling else {"minNodeCount": 1})
        return dataclasses.replace(record, inputs=record.inputs | {"autoscaling": scaling})

    return [warm(r) for r in records]


VARIANTS: tuple[tuple[str, Variant], ...] = (
    ("a regional cluster instead of a zonal one", regional_cluster),
    ("an internal load balancer per service instead of ClusterIP", load_balancer_per_service),
    ("an always-on GPU node instead of scale-to-zero", always_on_gpu_node),
)


def stacks_table(plans: dict[str, Plan]) -> str:
    """Every stack's figures, one row each: README's `cost-summary` block, and the head of `what-it-costs`."""
    rows = [
        "| Stack | Idle $/month | GPU node $/h at burst | Expected GPU node-hours | Expected $/month | Budget $/month |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stack, plan in plans.items():
        estimate = cost.estimate(stack, plan.records, plans[plan.host_stack].records if plan.host_stack in plans else None)
        budget = "—" if estimate.budget_usd is None else f"{estimate.budget_usd:,.2f}"
        hours = f" (for {estimate.hours_per_month:g} h)" if estimate.hours_per_month is not None else ""
        rows.append(
            f"| `{stack}` | {estimate.idle_monthly_usd:,.2f}{hours} | {estimate.burst_hourly_usd:,.4f} | "
            f"{estimate.expected_gpu_hours:g} | {estimate.expected_monthly_usd:,.2f} | {budget} |"
        )
    return "\n".join(rows) + "\n"


def markdown(plans: dict[str, Plan], baseline: str = "prod") -> str:
    """The section docs/costs.md embeds between its `what-it-costs` markers."""
    rows = stacks_table(plans).rstrip("\n").split("\n")
    records = plans[baseline].records
    base = cost.estimate(baseline, records)
    rows += [
        "",
        f"The same `{baseline}` capacity, built the usual ways (expected $/month, {base.expected_gpu_hours:g} GPU node-hours):",
        "",
        "| Built with | Expected $/month | More than Shoestring |",
        "| --- | ---: | ---: |",
        f"| Shoestring (`{baseline}` as shipped) | {base.expected_monthly_usd:,.2f} | — |",
    ]
    for label, variant in VARIANTS:
        other = cost.estimate(baseline, variant(records))
        rows.append(f"| {label} | {other.expected_monthly_usd:,.2f} | +{other.expected_monthly_usd - base.expected_monthly_usd:,.2f} |")
    rows += autopilot.markdown(baseline, records)
    rows += ["", "The public entry against a load balancer per public app:", "", "| Stack | Public apps | Shared entry $/month | A LoadBalancer Service each $/month |", "| --- | ---: | ---: | ---: |"]
    for stack, plan in plans.items():
        host = plans[plan.host_stack].records if plan.host_stack in plans else None
        estimate = cost.estimate(stack, plan.records, host)
        apps = cost.public_routes(plan.records)
        entry = sum(line.idle_monthly or 0 for line in estimate.lines if line.item.startswith(("public entry", "static IP", "TLS certificates")))
        per_service = (
            cost.estimate(stack, load_balancer_per_public_app(plan.records), host).idle_monthly_usd
            - cost.estimate(stack, without_entry(plan.records), host).idle_monthly_usd
        )
        if host is not None and apps:
            label = f"{entry:,.2f} (rides on its host's Gateway)"
        else:
            label = "none" if not apps and not entry else f"{entry:,.2f}"
        rows.append(f"| `{stack}` | {len(apps)} | {label} | {per_service:,.2f} |")
    region = base.region
    gateway = catalog.forwarding_rules_hourly(region, 2) * catalog.HOURS_PER_MONTH
    rows += [
        "",
        f"Forwarding rules as Google bills them ({region}: the project's first five in a scope together, then each one beyond):",
        "",
        "| Public apps | Shared Gateway (2 global rules) $/month | A LoadBalancer Service each $/month |",
        "| ---: | ---: | ---: |",
    ]
    for apps in (1, 5, 20):
        rows.append(f"| {apps} | {gateway:,.2f} | {catalog.forwarding_rules_hourly(region, apps) * catalog.HOURS_PER_MONTH:,.2f} |")
    return "\n".join(rows) + "\n"


def without_entry(records: Sequence[Record]) -> list[Record]:
    """The stack without its Gateway, address and certificates."""
    entry_types = {cost.GATEWAY, "gcp:compute/globalAddress:GlobalAddress", *cost.CERTIFICATE_TYPES}
    return [r for r in records if r.type not in entry_types]


def load_balancer_per_public_app(records: Sequence[Record]) -> list[Record]:
    """No shared entry: each app with a public route gets a LoadBalancer Service of its own."""
    public = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in cost.public_routes(records)}

    def expose(record: Record) -> Record:
        metadata = record.inputs.get("metadata", {})
        if record.type != "kubernetes:core/v1:Service" or (metadata.get("namespace"), metadata.get("name")) not in public:
            return record
        return dataclasses.replace(record, inputs=record.inputs | {"spec": record.inputs["spec"] | {"type": "LoadBalancer"}})

    return [expose(r) for r in without_entry(records)]


def gpu_burst_markdown(stack: str, records: Sequence[Record], nodes: int = 20, hours: float = 2.0) -> str:
    """What a burst of ``nodes`` GPU nodes for ``hours`` costs on the stack's GPU pool, on Spot and on
    demand, and the quota it needs: README's "GPU bursts" block, from the plan and the catalog."""
    estimate = cost.estimate(stack, records)
    [pool] = [p for p in records if p.type == capacity.NODE_POOL and p.inputs.get("nodeConfig", {}).get("guestAccelerators")][:1] or [None]
    if pool is None:
        raise ValueError(f"stack {stack} has no GPU pool")
    node = pool.inputs["nodeConfig"]
    [accelerator] = node["guestAccelerators"]
    gpus = nodes * accelerator.get("count", 1)
    clusters = [r for r in records if r.type == CLUSTER]
    rows = [
        f"A burst of {nodes} `{node['machineType']}` nodes ({accelerator.get('count', 1)}× {accelerator['type']} each, "
        f"{node.get('diskSizeGb')} GB {node.get('diskType')} boot disk, external IP) for {hours:g} hours in {estimate.region}, "
        f"as `{stack}`'s GPU pool is declared:",
        "",
        "| Provisioning | Per node $/h | " f"{nodes} nodes × {hours:g} h $ | billed, with boot and scale-down $ | Quota it needs ({estimate.region}) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for label, spot in (("Spot", True), ("On demand", False)):
        variant = dataclasses.replace(pool, inputs=pool.inputs | {"nodeConfig": node | {"spot": spot}})
        [line] = cost._node_pool(variant, cost._location_of(variant, clusters), estimate.region, any(cost.private_nodes(c) for c in clusters), None)
        metric = catalog.gpu_quota_metric(accelerator["type"], spot)
        billed = nodes * cost.burst_billed_hours(hours) * line.burst_hourly
        rows.append(f"| {label} | {line.burst_hourly:,.4f} | {nodes * hours * line.burst_hourly:,.2f} | {billed:,.2f} | {gpus} `{metric}` and {gpus} `GPUS_ALL_REGIONS` |")
    ceiling = estimate.gpu_ceiling
    declared = (
        f"`{stack}` declares {ceiling.quota_limit} `{ceiling.quota_metric}`" if ceiling and ceiling.quota_metric else f"`{stack}` declares no GPU quota"
    )
    left = estimate.budget_gpu_hours()
    budget = (
        f" Its budget of ${estimate.budget_usd:,.2f}/month leaves {left:,.1f} GPU node-hours a month beyond the expected "
        f"{estimate.expected_gpu_hours:g} (and {estimate.scheduled_gpu_hours:g} scheduled): {left / nodes:,.1f} h of all {nodes} nodes."
        if left is not None else ""
    )
    rows += [
        "",
        f"Each node is billed from its VM's start to its removal: {cost.NODE_BOOT_MINUTES} min of boot before its pod starts (assumed) and the "
        f"autoscaler's {cost.SCALE_DOWN_UNNEEDED_MINUTES} min scale-down-unneeded-time after it ends (program/cost.py).",
        "",
        f"Its pool's ceiling is {ceiling.nodes if ceiling else 0} nodes; {declared}.{budget}",
    ]
    return "\n".join(rows) + "\n"
