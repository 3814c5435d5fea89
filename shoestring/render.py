"""Human-readable views of a plan: a tree of components and resources with the settings a
reviewer checks (zone, machine types, node counts, taints, accelerators)."""

from __future__ import annotations

import re

from collections.abc import Callable

from rich.table import Table
from rich.tree import Tree

from program import cost
from program.names import CLUSTER, DEPLOYMENT, NODE_POOL
from program.records import Record
from shoestring.offline import Plan


def plan_tree(plan: Plan) -> Tree:
    tree = Tree(f"[bold]stack {plan.stack}[/bold]  [dim](offline plan: Pulumi mocks, no cloud calls)[/dim]")
    children: dict[str | None, list[Record]] = {}
    for record in plan.records:
        children.setdefault(record.parent, []).append(record)

    def add(branch: Tree, parent: str | None) -> None:
        for record in sorted(children.get(parent, []), key=_reading_order):
            add(branch.add(_label(record)), record.urn)

    add(tree, None)
    return tree


# The cluster before what runs on it; otherwise by type and name.
_FIRST = (
    "shoestring:gke:ZonalCluster",
    CLUSTER,
    "shoestring:gke:DefaultPool",
    "shoestring:gke:GpuPool",
    "pulumi:pulumi:StackReference",
    "kubernetes:core/v1:Namespace",
)


def _reading_order(record: Record) -> tuple[int, str, str]:
    rank = _FIRST.index(record.type) if record.type in _FIRST else len(_FIRST)
    return rank, record.type, record.name


def _label(record: Record) -> str:
    kind = record.type.rsplit(":", 1)[-1]
    label = f"[cyan]{kind}[/cyan] {record.name}"
    detail = summary(record)
    if detail:
        label += f"  [dim]{detail}[/dim]"
    if record.protect and record.type.startswith("shoestring:"):
        label += "  [yellow]protected[/yellow]"
    return label


def summary(record: Record) -> str:
    """One line of the settings that matter for this kind of resource ('' if none)."""
    describe = _SUMMARIES.get(record.type)
    return " · ".join(part for part in describe(record.inputs) if part) if describe else ""


def _cluster(inputs: dict) -> list[str]:
    return [
        f"zone {inputs.get('location')}",
        f"release {inputs.get('releaseChannel', {}).get('channel')}",
        "Workload Identity" if inputs.get("workloadIdentityConfig") else "no Workload Identity",
        "Dataplane V2" if inputs.get("datapathProvider") == "ADVANCED_DATAPATH" else "",
        "default pool removed" if inputs.get("removeDefaultNodePool") else "default pool kept",
        f"deletion protection {'on' if inputs.get('deletionProtection') else 'off'}",
    ]


def _node_pool(inputs: dict) -> list[str]:
    node = inputs.get("nodeConfig", {})
    scaling = inputs.get("autoscaling", {})
    accelerators = [
        f"{a.get('count')}× {a.get('type')} (driver {a.get('gpuDriverInstallationConfig', {}).get('gpuDriverVersion', 'none')})"
        for a in node.get("guestAccelerators", [])
    ]
    taints = [f"taint {t['key']}={t.get('value', '')}:{t['effect']}" for t in node.get("taints", [])]
    return [
        node.get("machineType"),
        *accelerators,
        f"{scaling.get('minNodeCount')}–{scaling.get('maxNodeCount')} nodes" if "totalMaxNodeCount" not in scaling
        else f"{scaling.get('totalMinNodeCount', 0)}–{scaling['totalMaxNodeCount']} nodes",
        _zones(inputs.get("nodeLocations") or [], scaling),
        "spot" if node.get("spot") else "",
        f"{node.get('diskType')} {node.get('diskSizeGb')} GB",
        *taints,
    ]


def _zones(zones: list[str], scaling: dict) -> str:
    if len(zones) > 1 and "totalMaxNodeCount" in scaling:
        return f"across zones {','.join(zones)} (location policy {scaling.get('locationPolicy', 'BALANCED')})"
    return f"zones {','.join(zones)}" if zones else ""


def _iam_member(inputs: dict) -> list[str]:
    return [inputs.get("role")]


def _namespace(inputs: dict) -> list[str]:
    labels = inputs.get("metadata", {}).get("labels", {})
    return [f"pod security {labels.get('pod-security.kubernetes.io/enforce', 'not enforced')}"]


def _quota(inputs: dict) -> list[str]:
    return [f"{k} {v}" for k, v in sorted(inputs.get("spec", {}).get("hard", {}).items())]


def _cron_job(inputs: dict) -> list[str]:
    spec = inputs.get("spec", {})
    job = spec.get("jobTemplate", {}).get("spec", {})
    [container] = job.get("template", {}).get("spec", {}).get("containers", [{}])
    placement = inputs.get("metadata", {}).get("annotations", {}).get("shoestring.dev/placement")
    image = re.sub(r"@sha256:([0-9a-f]{8})[0-9a-f]{56}", r"@sha256:\1…", container.get("image") or "")
    when = "on demand (suspended)" if spec.get("suspend") else f"schedule {spec.get('schedule')} UTC"
    return [
        image,
        when,
        f"{job.get('parallelism')} pod{'s' if job.get('parallelism') != 1 else ''} at once, {job.get('completions')} shard{'s' if job.get('completions') != 1 else ''}",
        f"ends within {job.get('activeDeadlineSeconds', 0) / 3600:g} h",
        f"on {placement}" if placement else "",
    ]


def _deployment(inputs: dict) -> list[str]:
    spec = inputs.get("spec", {})
    [container] = spec.get("template", {}).get("spec", {}).get("containers", [{}])
    placement = inputs.get("metadata", {}).get("annotations", {}).get("shoestring.dev/placement")
    image = re.sub(r"@sha256:([0-9a-f]{8})[0-9a-f]{56}", r"@sha256:\1…", container.get("image") or "")  # the digest's head names it
    return [image, f"{spec.get('replicas')} replicas", f"on {placement}" if placement else ""]


def _service(inputs: dict) -> list[str]:
    spec = inputs.get("spec", {})
    ports = ",".join(str(p.get("port")) for p in spec.get("ports", []))
    return [spec.get("type", "ClusterIP"), f"port {ports}"]


def _gateway(inputs: dict) -> list[str]:
    spec = inputs.get("spec", {})
    listeners = ", ".join(f"{l['protocol']}:{l['port']}" for l in spec.get("listeners", []))
    return [spec.get("gatewayClassName"), listeners]


def _http_route(inputs: dict) -> list[str]:
    spec = inputs.get("spec", {})
    hosts = ", ".join(spec.get("hostnames", [])) or "any host"
    backends = [b["name"] for rule in spec.get("rules", []) for b in rule.get("backendRefs", [])]
    return [hosts, f"→ {', '.join(backends)}" if backends else "redirect to HTTPS"]


def _certificate(inputs: dict) -> list[str]:
    return [", ".join(inputs.get("managed", {}).get("domains", [])), "Google-managed"]


def _network_policy(inputs: dict) -> list[str]:
    spec = inputs.get("spec", {})
    ingress = spec.get("ingress")
    denied = "ingress and egress" if "Egress" in spec.get("policyTypes", []) and not spec.get("egress") else "ingress"
    return [f"denies all {denied}" if not ingress else f"admits {len(ingress)} ingress rule(s)"]


def _service_account(inputs: dict) -> list[str]:
    return ["no token mounted" if inputs.get("automountServiceAccountToken") is False else ""]


def _gpu_pool(inputs: dict) -> list[str]:
    """The quota a full burst needs besides its GPUs, and what the stack declares of each."""
    needs = inputs.get("burstQuota") or []
    return [
        "a full burst needs " + " · ".join(f"{n['metric']} {n['needed']} ({n['declared'] + ' declared' if n.get('declared') else 'not declared'})" for n in needs)
    ] if needs else []


_SUMMARIES: dict[str, Callable[[dict], list[str]]] = {
    "shoestring:gke:GpuPool": _gpu_pool,
    CLUSTER: _cluster,
    NODE_POOL: _node_pool,
    "gcp:projects/iAMMember:IAMMember": _iam_member,
    "kubernetes:core/v1:Namespace": _namespace,
    "kubernetes:core/v1:NamespacePatch": _namespace,
    "kubernetes:core/v1:ServiceAccountPatch": _service_account,
    "kubernetes:core/v1:ResourceQuota": _quota,
    DEPLOYMENT: _deployment,
    "kubernetes:batch/v1:CronJob": _cron_job,
    "kubernetes:core/v1:Service": _service,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _network_policy,
    "kubernetes:gateway.networking.k8s.io/v1:Gateway": _gateway,
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": _http_route,
    "gcp:certificatemanager/certificate:Certificate": _certificate,
}


def cost_table(estimate: cost.Estimate) -> Table:
    """Line items, then idle, GPU burst, expected and budget, for `make cost`."""
    table = Table(title=f"stack {estimate.stack} — estimated monthly cost ({estimate.region or 'no cluster of its own'})", title_justify="left")
    table.add_column("Item")
    table.add_column("Detail")
    table.add_column("Idle $/month", justify="right")
    table.add_column("GPU burst $/h", justify="right")
    for line in estimate.lines:
        idle = "not priced" if line.idle_monthly is None else f"{line.idle_monthly:,.2f}"
        burst = f"{line.burst_hourly:,.4f}" if line.burst_hourly else ""
        table.add_row(line.item, line.detail, idle, burst)
    table.add_section()
    if estimate.hours_per_month is not None:
        table.add_row(
            "Always on",
            f"as if it ran all {cost.HOURS} h: idle ${estimate.always_on_idle_monthly_usd:,.2f}, expected ${estimate.always_on_expected_monthly_usd:,.2f}",
            f"{estimate.always_on_idle_monthly_usd:,.2f}",
            "",
        )
    when = f"for the {estimate.hours_per_month:g} h a month it exists (hoursPerMonth)" if estimate.hours_per_month is not None else "all month"
    table.add_row("[bold]Idle total[/bold]", f"every pool at rest (its minimum, or what the pods' requests need), {when}", f"[bold]{estimate.idle_monthly_usd:,.2f}[/bold]", "")
    table.add_row("GPU node at burst", f"one GPU node running; all GPU nodes at their maximum: ${estimate.burst_max_hourly_usd:,.4f}/h{_ceiling(estimate)}", "", f"{estimate.burst_hourly_usd:,.4f}")
    for always_on in estimate.always_on_gpu:
        table.add_row("Always-on GPU", f"{always_on} (in the idle total)", "", "")
    scheduled = f" + scheduled batches {estimate.scheduled_gpu_hours:g} GPU node-hours ${estimate.scheduled_monthly_usd:,.2f}" if estimate.scheduled_monthly_usd else ""
    table.add_row(
        "[bold]Expected[/bold]",
        f"idle + {estimate.expected_gpu_hours:g} GPU node-hours × ${estimate.burst_hourly_usd:,.4f}{scheduled}",
        f"[bold]{estimate.expected_monthly_usd:,.2f}[/bold]",
        "",
    )
    spot = spot_range(estimate)
    if spot:
        table.add_row("Spot price range", spot, "", "")
    table.add_row("Budget", _budget_status(estimate), "" if estimate.budget_usd is None else f"{estimate.budget_usd:,.2f}", "")
    if estimate.rates:
        table.add_section()
        for rate in estimate.rates:
            per_gib = "not priced" if rate.per_gib is None else f"+ ${rate.per_gib:g}/GiB"
            table.add_row(rate.item, f"{rate.note}; usage the plan cannot know, not in the totals", per_gib, "")
    table.caption = "; ".join(estimate.notes)
    return table


def cost_summary(estimate: cost.Estimate) -> str:
    """The cost lines of `make plan`: the figures, then each always-on GPU Deployment."""
    scheduled = f" + {estimate.scheduled_gpu_hours:g} scheduled" if estimate.scheduled_gpu_hours else ""
    part_time = (
        f" for {estimate.hours_per_month:g} h (always on: ${estimate.always_on_expected_monthly_usd:,.2f})" if estimate.hours_per_month is not None else ""
    )
    lines = [
        f"cost: ${estimate.idle_monthly_usd:,.2f}/month idle · ${estimate.burst_hourly_usd:,.4f}/h per GPU node at burst · "
        f"${estimate.expected_monthly_usd:,.2f}/month expected{part_time} ({estimate.expected_gpu_hours:g}{scheduled} GPU node-hours) · "
        f"{_budget_status(estimate)}"
    ]
    lines += [f"always-on GPU: {always_on}" for always_on in estimate.always_on_gpu]
    lines += [
        f"GPU fallback: {line.item} ${line.fallback_hourly:,.4f}/h per node when Spot is out in every zone; a burst entirely on it "
        f"${line.fallback_max_hourly:,.4f}/h (not in the expected figure)"
        for line in estimate.lines if line.fallback_hourly
    ]
    return "\n".join(lines)


def _ceiling(estimate: cost.Estimate) -> str:
    ceiling = estimate.gpu_ceiling
    if ceiling is None:
        return ""
    quota = f"; quota {ceiling.quota_metric} {ceiling.quota_limit}" if ceiling.quota_metric else "; no GPU quota declared (gpuPool.quota)"
    return f" ({ceiling.nodes} nodes × {ceiling.gpus_per_node} GPU{quota})"


def spot_range(estimate: cost.Estimate) -> str:
    """Where Spot is most of the stack's machine bill: the expected figure at the last year's
    lowest and highest Spot prices (prices.yaml `spot_range`); '' otherwise."""
    found = estimate.expected_range_usd
    if found is None or estimate.spot_share <= 0.5:
        return ""
    low, high = found
    return (
        f"Spot is {estimate.spot_share:.0%} of its machine bill, and Spot prices move: expected ${low:,.2f}–${high:,.2f}/month at the "
        f"lowest and highest Spot prices of the year to {cost.catalog.data_date()} (today's: ${estimate.expected_monthly_usd:,.2f})"
    )


def _budget_status(estimate: cost.Estimate) -> str:
    if estimate.budget_usd is None:
        return "no budget set"
    if cost.over_budget(estimate):
        return f"[red]OVER budget of ${estimate.budget_usd:,.2f}[/red]"
    return f"within budget of ${estimate.budget_usd:,.2f} ({estimate.expected_monthly_usd / estimate.budget_usd:.0%})" if estimate.budget_usd else "budget $0"
