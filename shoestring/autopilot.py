"""The comparison a user would make: the same declared pods on GKE Autopilot, the seed's capacity
on Autopilot, and one VM — priced from the catalog beside Shoestring's own estimate.

Autopilot bills each Pod's requests (rounded up to its minimums and steps) and nothing for system
Pods or unallocated room; the same free-tier credit covers its cluster fee (prices.yaml
`autopilot`, with its sources). Everything the plan declares besides nodes — the public entry,
certificates, secrets — costs the same in both modes and is carried over; GPU work is priced as
on Standard (Autopilot's GPU Pod rates are not in the catalog), and said so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from program import capacity, catalog, cost
from program.definitions import Resources
from program.names import CLUSTER, DEPLOYMENT, FREE_TIER_LABEL, PRIORITY_VALUES, SPOT_TAINT_KEY, USER_FACING_PRIORITY

HOURS = catalog.HOURS_PER_MONTH
NODE_LINES = (" nodes", " boot disks", " node IPs")
"""Standard's node lines: what Autopilot bills per Pod instead."""
NOT_ON_AUTOPILOT = ("GKE management fee", "Cloud DNS", "Cloud NAT", "shared cluster")
"""Lines Autopilot bills otherwise: its own fee, Cloud DNS included, nodes Google runs."""


@dataclass(frozen=True)
class Priced:
    label: str
    pods_monthly: float
    """What the Pods' requests (or the capacity) cost a month."""
    carried_monthly: float
    """The lines that cost the same in both modes, GPU work included."""
    fee_monthly: float

    @property
    def expected_monthly(self) -> float:
        return round(self.pods_monthly + self.carried_monthly + self.fee_monthly, 2)


def rounded(cpu: float, memory_gib: float, rates: dict) -> tuple[float, float]:
    """A Pod's requests as Autopilot bills them: vCPU and GiB after its minimums and steps."""
    mcpu = max(rates["min_mcpu"], math.ceil(cpu * 1000 / rates["mcpu_step"]) * rates["mcpu_step"])
    mib = max(rates["min_memory_mib"], memory_gib * 1024, mcpu * 1024 / 1000)  # at least 1 GiB per vCPU
    return mcpu / 1000, mib / 1024


def pod_hourly(cpu: float, memory_gib: float, spot: bool, rates: dict) -> float:
    vcpus, gib = rounded(cpu, memory_gib, rates)
    prefix = "spot_" if spot else ""
    return vcpus * rates[f"{prefix}vcpu_hourly"] + gib * rates[f"{prefix}memory_gb_hourly"]


def same_pods(stack: str, records: Sequence[cost.ResourceRecord], extra: Sequence[capacity.Pod] = ()) -> Priced:
    """The stack's CPU pods at their declared replicas on Autopilot: an app that tolerates Spot
    keeps one replica on regular Pods and runs the rest as Spot Pods (two Deployments there, one
    with the Spot node selector), as Shoestring keeps one replica on on-demand nodes."""
    estimate = cost.estimate(stack, records)
    rates = catalog.autopilot(estimate.region)
    pods = [p for p in [*capacity.pods_of(records), *extra] if not p.gpus]
    seen: set[str] = set()
    monthly = 0.0
    for pod in pods:
        spot = SPOT_TAINT_KEY in pod.tolerations and pod.owner in seen
        seen.add(pod.owner)
        monthly += pod_hourly(pod.cpu, pod.memory, spot, rates) * HOURS
    return Priced("GKE Autopilot, the same pods", monthly * estimate.part_time, carried(estimate), fee(records, estimate))


def same_capacity(stack: str, records: Sequence[cost.ResourceRecord], vcpus: float = 3.0, memory_gb: float = 11.25) -> Priced:
    """The seed's capacity bought as regular Autopilot Pod requests."""
    estimate = cost.estimate(stack, records)
    rates = catalog.autopilot(estimate.region)
    monthly = (vcpus * rates["vcpu_hourly"] + memory_gb * rates["memory_gb_hourly"]) * HOURS
    return Priced(f"GKE Autopilot, the seed's {vcpus:g} vCPU / {memory_gb:g} GB", monthly * estimate.part_time, carried(estimate), fee(records, estimate))


def one_vm(stack: str, records: Sequence[cost.ResourceRecord], vcpus: float = 3.0, memory_gb: float = 11.25) -> Priced:
    """The cheapest single on-demand VM with the seed's capacity, its 30 GB pd-balanced disk and
    address: no Kubernetes, no Spot, no GPU to burst to, no Gateway (its own address serves)."""
    estimate = cost.estimate(stack, records)
    region = estimate.region
    machines = [catalog.machine(region, name) for name in catalog.machine_types(region)]
    fitting = [m for m in machines if m.billed_vcpus >= vcpus and m.memory_gb >= memory_gb and not m.bundled_gpus]
    best = min(fitting, key=lambda m: m.hourly * (1 - catalog.sustained_use_discount(m.name)))
    hourly = best.hourly * (1 - catalog.sustained_use_discount(best.name)) + catalog.node_external_ip_hourly(region, spot=False)
    return Priced(f"one {best.name} VM, no Kubernetes", hourly * HOURS + 30 * catalog.disk_monthly_per_gb(region, "pd-balanced"), 0.0, 0.0)


def carried(estimate: cost.Estimate) -> float:
    """What the stack's plan costs besides nodes and the cluster: the same on Autopilot."""
    fixed = sum(
        line.idle_monthly or 0.0 for line in estimate.lines if not line.item.endswith(NODE_LINES) and line.item not in NOT_ON_AUTOPILOT
    ) * estimate.part_time
    gpu = estimate.expected_gpu_hours * estimate.burst_hourly_usd + estimate.scheduled_monthly_usd * estimate.part_time
    return fixed + gpu


def fee(records: Sequence[cost.ResourceRecord], estimate: cost.Estimate) -> float:
    """Autopilot's cluster fee: $0.10/h, all of it within the free tier for the stack that claims it."""
    free = any(r.inputs.get("resourceLabels", {}).get(FREE_TIER_LABEL) == "true" for r in records if r.type == CLUSTER)
    monthly = catalog.gke_management_fee_hourly() * HOURS * estimate.part_time
    return max(0.0, monthly - catalog.gke_free_tier_monthly_credit()) if free else monthly


def default_app() -> capacity.Pod:
    default = Resources()
    return capacity.Pod("new/app", capacity.parse_cpu(default.cpu), capacity.parse_gib(default.memory), priority=PRIORITY_VALUES[USER_FACING_PRIORITY])


def with_default_apps(records: Sequence[cost.ResourceRecord], count: int) -> list[cost.ResourceRecord]:
    """The records with ``count`` more single-replica apps at the definitions' default requests."""
    default = Resources()
    template = next(r for r in records if r.type == DEPLOYMENT)
    extra = [
        type(template)(DEPLOYMENT, f"load-app-{i}", None, f"urn:load-app-{i}", {
            "metadata": {"namespace": "load", "name": f"app-{i}"},
            "spec": {"replicas": 1, "template": {"spec": {"priorityClassName": USER_FACING_PRIORITY, "containers": [{"name": "app", "resources": {"requests": {"cpu": default.cpu, "memory": default.memory}}}]}}},
        })
        for i in range(count)
    ]
    return [*records, *extra]


def crossover(stack: str, records: Sequence[cost.ResourceRecord], most: int = 40) -> tuple[int, float, float] | None:
    """The fewest more default-sized apps at which Shoestring's expected cost — with the node
    `make plan`'s headroom floor asks for when the nodes at rest are too full — is no more than
    the same pods on Autopilot, with both figures; None when none up to ``most``, or once a pod
    fits none of the stack's pools at their maximum."""
    pools = {r.name: r for r in records if r.type == capacity.NODE_POOL}
    private = any(cost.private_nodes(r) for r in records if r.type == CLUSTER)
    for count in range(most + 1):
        loaded = with_default_apps(records, count)
        standard = cost.estimate(stack, loaded)
        if any(note.startswith("a pod of load/") for note in standard.notes):
            return None
        short = cost.headroom_problems(stack, loaded)
        floor = sum(cost.node_monthly(pools[name], standard.region, private) for name in pools if any(f" {name} (on-demand" in p for p in short))
        autopilot = same_pods(stack, records, [default_app()] * count)
        if standard.expected_monthly_usd + floor <= autopilot.expected_monthly:
            return count, round(standard.expected_monthly_usd + floor, 2), autopilot.expected_monthly
    return None


def markdown(stack: str, records: Sequence[cost.ResourceRecord]) -> list[str]:
    """The rows of docs/costs.md's comparison, and what it means, plainly."""
    estimate = cost.estimate(stack, records)
    options = [same_pods(stack, records), same_capacity(stack, records), one_vm(stack, records)]
    rows = [
        "",
        f"The comparison a user would make: the same `{stack}` pods elsewhere (expected $/month; GPU work as on Standard):",
        "",
        "| Run on | Pods or machines $/month | Same in both (entry, secrets, GPU work) $/month | Cluster fee $/month | Expected $/month | Against Shoestring |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| Shoestring (`{stack}` as shipped) | — | — | — | {estimate.expected_monthly_usd:,.2f} | — |",
    ]
    for option in options:
        rows.append(
            f"| {option.label} | {option.pods_monthly:,.2f} | {option.carried_monthly:,.2f} | {option.fee_monthly:,.2f} | "
            f"{option.expected_monthly:,.2f} | {option.expected_monthly - estimate.expected_monthly_usd:+,.2f} |"
        )
    rows += ["", *verdict(stack, records)]
    return rows


def verdict(stack: str, records: Sequence[cost.ResourceRecord]) -> list[str]:
    """Where Autopilot is cheaper, said plainly, and the load at which Standard overtakes it."""
    estimate, autopilot = cost.estimate(stack, records), same_pods(stack, records)
    default = Resources()
    per_app = pod_hourly(capacity.parse_cpu(default.cpu), capacity.parse_gib(default.memory), False, catalog.autopilot(estimate.region)) * HOURS
    lines = [
        f"On Autopilot each more app at the default requests ({default.cpu}, {default.memory}, rounded up to Autopilot's minimums) "
        f"costs ${per_app:,.2f}/month; on Shoestring it costs nothing until the nodes at rest are full (`make plan`'s room line)."
    ]
    if autopilot.expected_monthly < estimate.expected_monthly_usd:
        found = crossover(stack, records)
        lines.insert(0, f"**Autopilot is cheaper for `{stack}` as declared**: ${autopilot.expected_monthly:,.2f} against ${estimate.expected_monthly_usd:,.2f}/month.")
        if found:
            count, standard, other = found
            lines.append(f"Shoestring overtakes it at {count} more default-sized apps: ${standard:,.2f} against ${other:,.2f}/month.")
        else:
            lines.append(f"Shoestring does not overtake it before `{stack}`'s pools reach their maximum.")
    else:
        lines.insert(0, f"Shoestring is cheaper for `{stack}` as declared: ${estimate.expected_monthly_usd:,.2f} against Autopilot's ${autopilot.expected_monthly:,.2f}/month.")
    return lines
