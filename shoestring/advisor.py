"""`python -m shoestring advise`: the cheapest CPU pool shapes that run a stack's pods.

A shape is N on-demand nodes of one machine type (the default pool) and M Spot nodes of another
(the Spot pool). It qualifies when, with every request raised by the headroom, the capacity
placement (program/capacity.py) fits GKE's system pods and every CPU pod of the stack and of
the stacks whose namespaces live in its cluster; and when the on-demand nodes alone hold the
system DaemonSets, every system pod (they do not tolerate the Spot pool's taint) and one replica
of every app — what is left if every Spot node is preempted at once. Prices are the catalog's: on-demand after any sustained-use discount, Spot,
and the 1-year commitment for the on-demand part; each node with the cheapest boot disk its
family offers and its external address.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from program import capacity, catalog, cost
from program.names import CLUSTER, SPOT_TAINT_KEY

FAMILIES = ("e2", "n2d", "t2d", "n1", "n4")
HEADROOM = 0.20
"""Requests are raised by this share before fitting, so a shape is never sized to the last millicore."""
DISK_GB = 30
MAX_NODES = 3


@dataclass(frozen=True)
class Shape:
    on_demand: catalog.Machine
    on_demand_nodes: int
    spot: catalog.Machine | None
    spot_nodes: int
    disk_type: str
    monthly: float
    monthly_1y: float | None
    """With the on-demand nodes under a 1-year commitment (Spot has none)."""

    @property
    def vcpus(self) -> float:
        return self.on_demand_nodes * self.on_demand.billed_vcpus + (self.spot_nodes * self.spot.billed_vcpus if self.spot else 0)

    @property
    def memory_gb(self) -> float:
        return self.on_demand_nodes * self.on_demand.memory_gb + (self.spot_nodes * self.spot.memory_gb if self.spot else 0)

    def describe(self) -> tuple[str, str]:
        spot = f"{self.spot_nodes} × {self.spot.name}" if self.spot and self.spot_nodes else "none"
        return f"{self.on_demand_nodes} × {self.on_demand.name}", spot


def shapes(
    region: str,
    pods: Sequence[capacity.Pod],
    guest_pods: Sequence[capacity.Pod] = (),
    min_vcpus: float = 0.0,
    min_memory_gb: float = 0.0,
    private_nodes: bool = False,
    addons: frozenset[str] = frozenset(),
) -> list[Shape]:
    """Every qualifying shape, cheapest first. ``guest_pods`` (another stack's namespaces in this
    cluster) need room, but no replica kept on on-demand nodes. ``addons``: the cluster's add-ons
    with a DaemonSet on every node (``capacity.cluster_addons``)."""
    cpu_pods = [p for p in [*pods, *guest_pods] if not p.gpus]
    padded = [dataclasses.replace(p, cpu=p.cpu * (1 + HEADROOM), memory=p.memory * (1 + HEADROOM)) for p in cpu_pods]
    one_each = list({p.owner: p for p in pods if not p.gpus}.values())
    system = capacity.system_pods(addons)[1]
    machines = [catalog.machine(region, name) for name in catalog.machine_types(region) if name.split("-", 1)[0] in FAMILIES]
    found = []
    for on_demand, on_demand_nodes in itertools.product(machines, range(1, MAX_NODES + 1)):
        disk = _disk(on_demand.name)
        if disk is None:
            continue
        standby = [_pool("default-pool", on_demand, on_demand_nodes, spot=False, addons=addons)]
        if capacity.place(standby, [*one_each, *system]).unschedulable:
            continue
        for spot, spot_nodes in [(None, 0), *itertools.product(machines, range(1, MAX_NODES + 1))]:
            if spot is not None and _disk(spot.name) is None:
                continue
            pools = standby + ([_pool("spot-pool", spot, spot_nodes, spot=True, addons=addons)] if spot else [])
            shape = _priced(region, on_demand, on_demand_nodes, spot, spot_nodes, private_nodes)
            if shape.vcpus < min_vcpus or shape.memory_gb < min_memory_gb:
                continue
            if not capacity.place(pools, [*system, *padded]).unschedulable:
                found.append(shape)
    return sorted(found, key=lambda s: (s.monthly, s.on_demand_nodes + s.spot_nodes))


def current_monthly(records: Sequence[cost.ResourceRecord], region: str, placement: capacity.Placement) -> float:
    """What the stack's CPU pools cost at rest today."""
    private = any(cost.private_nodes(c) for c in records if c.type == CLUSTER)
    return sum(
        placement.nodes_of(pool.name) * cost.node_monthly(pool, region, private)
        for pool in records
        if pool.type == capacity.NODE_POOL and not pool.inputs.get("nodeConfig", {}).get("guestAccelerators")
    )


def _priced(region: str, on_demand: catalog.Machine, n: int, spot: catalog.Machine | None, m: int, private_nodes: bool) -> Shape:
    hours = catalog.HOURS_PER_MONTH
    ip = 0.0 if private_nodes else catalog.node_external_ip_hourly(region, spot=False)
    spot_ip = 0.0 if private_nodes else catalog.node_external_ip_hourly(region, spot=True)
    disk = DISK_GB * catalog.disk_monthly_per_gb(region, _disk(on_demand.name))
    on_demand_month = on_demand.hourly * (1 - catalog.sustained_use_discount(on_demand.name)) * hours
    base = n * (disk + ip * hours)
    spot_part = m * ((spot.spot_hourly + spot_ip) * hours + DISK_GB * catalog.disk_monthly_per_gb(region, _disk(spot.name))) if spot else 0.0
    committed = None if on_demand.commit_1y_hourly is None else base + n * on_demand.commit_1y_hourly * hours + spot_part
    return Shape(on_demand, n, spot, m, _disk(on_demand.name), base + n * on_demand_month + spot_part, committed)


def _pool(name: str, machine: catalog.Machine, nodes: int, spot: bool, addons: frozenset[str] = frozenset()) -> capacity.Pool:
    """A pool as the program declares it: the Spot one tainted (program/components/spot_pool.py)."""
    labels = {"shoestring.dev/capacity": "spot" if spot else "on-demand"}
    return capacity.Pool(name, machine, spot, nodes, nodes, labels, frozenset({SPOT_TAINT_KEY}) if spot else frozenset(), 0, addons)


def _disk(machine_type: str) -> str | None:
    """The cheapest boot disk the family offers that the catalog prices (N4 takes only Hyperdisk)."""
    priced = {"pd-standard", "pd-balanced", "pd-ssd"}
    return next((d for d in catalog.boot_disk_types(machine_type) if d in priced), None)


def markdown(stack: str, found: Sequence[Shape], current: float, top: int = 8) -> str:
    """README's right-sizing table: the cheapest shapes, with the saving against today's."""
    rows = [
        "| On-demand (default pool) | Spot (Spot pool) | Boot disk | vCPU / GB | $/month | with 1-year commitment | Saving vs. today |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for shape in found[:top]:
        on_demand, spot = shape.describe()
        committed = "—" if shape.monthly_1y is None else f"{shape.monthly_1y:,.2f}"
        rows.append(
            f"| {on_demand} | {spot} | {DISK_GB} GB {shape.disk_type} | {shape.vcpus:g} / {shape.memory_gb:g} | "
            f"{shape.monthly:,.2f} | {committed} | {current - shape.monthly:,.2f} |"
        )
    return f"`{stack}`'s CPU pools cost ${current:,.2f}/month at rest today.\n\n" + "\n".join(rows) + "\n"
