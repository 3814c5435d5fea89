"""`python -m shoestring advise`: the cheapest shapes of a stack's CPU pools and DNS provider that
keep every guarantee, ranked by what they cost a month.

A shape is a DNS provider, N on-demand nodes of one machine type (the default pool) and M Spot
nodes of another (the Spot pool). The DNS providers: GKE's kube-dns as it ships (two replicas
and their autoscaler on the on-demand pool); kube-dns with its autoscaler tuned to one replica
(the kube-dns-autoscaler ConfigMap's ``linear`` parameters, cloud.google.com/kubernetes-engine/
docs/how-to/kube-dns "Scaling up kube-dns" — a change to a GKE-managed object the program does
not declare, so listed, never shipped); and Cloud DNS for GKE, which needs neither pod and bills
its private zone and the pods' queries at the rate the stack declares
(program/components/cluster_dns.py). A shape qualifies when it keeps every guarantee:

- GKE's own pods never on Spot: they tolerate no taint of the Spot pool, so the on-demand nodes
  alone hold every system pod and the DaemonSets;
- one replica of every user-facing app on on-demand capacity: what is left if every Spot node is
  preempted at once (the on-demand nodes hold one of each beside the system pods);
- everything fits with every request raised by ``HEADROOM``, and the on-demand pool keeps the
  headroom floor ``make plan`` enforces (capacity.HEADROOM_FLOOR) free at rest;
- the seed's capacity as a floor: at least 3 billed vCPUs and 11.25 GB (``SEED``).

Prices are the catalog's: on-demand after any sustained-use discount, Spot, and the 1-year
commitment for the on-demand part (beside, never assumed); each node with the cheapest boot disk
its family offers and its external address.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from program import capacity, catalog, cost
from program.components.cluster_dns import KUBE_DNS, KUBE_DNS_AUTOSCALER
from program.names import CLUSTER, SPOT_TAINT_KEY

FAMILIES = ("e2", "n1", "n2", "n2d", "t2d", "n4")
HEADROOM = 0.20
"""Requests are raised by this share before fitting, so a shape is never sized to the last millicore."""
DISK_GB = 30
MAX_NODES = 4
PER_ON_DEMAND = 8
"""Spot companions kept per DNS provider and on-demand choice, cheapest first: no table lists
more rows than this, so the cheapest shapes overall are all found, in a fraction of the time."""
SEED = (3.0, 11.25)
"""The seed's three n1-standard-1 nodes: billed vCPUs and GB no shape may go below."""
QUERIES_PER_MONTH = 3600 * catalog.HOURS_PER_MONTH
"""A query a second, every second of the catalog's 730-hour month."""


@dataclass(frozen=True)
class Dns:
    name: str
    system: tuple[capacity.Pod, ...]
    """GKE's cluster pods it leaves running."""
    monthly: float
    shipped: bool
    """Whether the program can declare it (``shoestring:dns``)."""


@dataclass(frozen=True)
class Shape:
    dns: Dns
    on_demand: catalog.Machine
    on_demand_nodes: int
    spot: catalog.Machine | None
    spot_nodes: int
    disk_type: str
    nodes_monthly: float
    nodes_monthly_1y: float | None
    """With the on-demand nodes under a 1-year commitment (Spot has none)."""

    @property
    def monthly(self) -> float:
        return self.nodes_monthly + self.dns.monthly

    @property
    def monthly_1y(self) -> float | None:
        return None if self.nodes_monthly_1y is None else self.nodes_monthly_1y + self.dns.monthly

    @property
    def vcpus(self) -> float:
        return self.on_demand_nodes * self.on_demand.billed_vcpus + (self.spot_nodes * self.spot.billed_vcpus if self.spot else 0)

    @property
    def memory_gb(self) -> float:
        return self.on_demand_nodes * self.on_demand.memory_gb + (self.spot_nodes * self.spot.memory_gb if self.spot else 0)

    def describe(self) -> tuple[str, str]:
        spot = f"{self.spot_nodes} × {self.spot.name}" if self.spot and self.spot_nodes else "none"
        return f"{self.on_demand_nodes} × {self.on_demand.name}", spot


def dns_options(addons: frozenset[str], queries_per_second: float) -> list[Dns]:
    """The DNS providers a Standard cluster can have, with the system pods each leaves and what it bills."""
    kube_dns = capacity.system_pods(addons)[1]
    one_replica = list(kube_dns)
    one_replica.remove(next(p for p in kube_dns if p.owner == f"kube-system/{KUBE_DNS}"))
    rates = catalog.cloud_dns()
    return [
        Dns("kube-dns", tuple(kube_dns), 0.0, True),
        Dns("kube-dns, 1 replica", tuple(one_replica), 0.0, False),
        Dns(
            "Cloud DNS",
            tuple(capacity.system_pods(addons, {KUBE_DNS, KUBE_DNS_AUTOSCALER})[1]),
            rates["zone_monthly"] + queries_per_second * QUERIES_PER_MONTH / 1e6 * rates["per_million_queries"],
            True,
        ),
    ]


def shapes(
    region: str,
    pods: Sequence[capacity.Pod],
    guest_pods: Sequence[capacity.Pod] = (),
    min_vcpus: float = SEED[0],
    min_memory_gb: float = SEED[1],
    private_nodes: bool = False,
    addons: frozenset[str] = frozenset(),
    queries_per_second: float = 0.0,
) -> list[Shape]:
    """Every qualifying shape, cheapest first. ``guest_pods`` (another stack's namespaces in this
    cluster) need room, but no replica kept on on-demand nodes. ``addons``: the cluster's add-ons
    with a DaemonSet on every node (``capacity.cluster_addons``)."""
    cpu_pods = [p for p in [*pods, *guest_pods] if not p.gpus]
    padded = [dataclasses.replace(p, cpu=p.cpu * (1 + HEADROOM), memory=p.memory * (1 + HEADROOM)) for p in cpu_pods]
    one_each = list({p.owner: p for p in pods if not p.gpus}.values())
    machines = [catalog.machine(region, name) for name in catalog.machine_types(region) if name.split("-", 1)[0] in FAMILIES]
    spot_options = [(None, 0), *((m, n) for m, n in itertools.product(machines, range(1, MAX_NODES + 1)) if _disk(m.name))]
    spot_options.sort(key=lambda option: _spot_monthly(region, *option, private_nodes))
    found = []
    for dns in dns_options(addons, queries_per_second):
        for on_demand, on_demand_nodes in itertools.product(machines, range(1, MAX_NODES + 1)):
            if _disk(on_demand.name) is None:
                continue
            standby = [_pool("default-pool", on_demand, on_demand_nodes, spot=False, addons=addons)]
            if capacity.place(standby, [*one_each, *dns.system]).unschedulable:
                continue
            kept = 0
            for spot, spot_nodes in spot_options:
                if kept == PER_ON_DEMAND:
                    break
                shape = _priced(region, dns, on_demand, on_demand_nodes, spot, spot_nodes, private_nodes)
                if shape.vcpus < min_vcpus or shape.memory_gb < min_memory_gb:
                    continue
                pools = standby + ([_pool("spot-pool", spot, spot_nodes, spot=True, addons=addons)] if spot else [])
                if capacity.place(pools, [*dns.system, *padded]).unschedulable:
                    continue
                at_rest = capacity.place(pools, [*dns.system, *cpu_pods])
                if not any(room.short for room in capacity.headroom(at_rest)):
                    found.append(shape)
                    kept += 1
    return sorted(found, key=lambda s: (round(s.monthly, 2), s.on_demand_nodes + s.spot_nodes, not s.dns.shipped))


def current_monthly(records: Sequence[cost.ResourceRecord], region: str, placement: capacity.Placement) -> float:
    """What the stack's CPU pools (and its Cloud DNS, if it has it) cost at rest today."""
    private = any(cost.private_nodes(c) for c in records if c.type == CLUSTER)
    nodes = sum(
        placement.nodes_of(pool.name) * cost.node_monthly(pool, region, private)
        for pool in records
        if pool.type == capacity.NODE_POOL and not pool.inputs.get("nodeConfig", {}).get("guestAccelerators")
    )
    return nodes + sum(cost.cloud_dns(r).idle_monthly or 0.0 for r in records if r.type == cost.CLUSTER_DNS)


def declared_queries_per_second(records: Sequence[cost.ResourceRecord]) -> float | None:
    """The pods' DNS queries a second the stack declares (with Cloud DNS); None when it declares none."""
    return next((float(r.inputs.get("queriesPerSecond", 0)) for r in records if r.type == cost.CLUSTER_DNS), None)


def _spot_monthly(region: str, spot: catalog.Machine | None, m: int, private_nodes: bool) -> float:
    """``m`` Spot nodes for a month: machine, address and the cheapest boot disk."""
    if spot is None:
        return 0.0
    spot_ip = 0.0 if private_nodes else catalog.node_external_ip_hourly(region, spot=True)
    return m * ((spot.spot_hourly + spot_ip) * catalog.HOURS_PER_MONTH + DISK_GB * catalog.disk_monthly_per_gb(region, _disk(spot.name)))


def _priced(region: str, dns: Dns, on_demand: catalog.Machine, n: int, spot: catalog.Machine | None, m: int, private_nodes: bool) -> Shape:
    hours = catalog.HOURS_PER_MONTH
    ip = 0.0 if private_nodes else catalog.node_external_ip_hourly(region, spot=False)
    disk = DISK_GB * catalog.disk_monthly_per_gb(region, _disk(on_demand.name))
    on_demand_month = on_demand.hourly * (1 - catalog.sustained_use_discount(on_demand.name)) * hours
    base = n * (disk + ip * hours)
    spot_part = _spot_monthly(region, spot, m, private_nodes)
    committed = None if on_demand.commit_1y_hourly is None else base + n * on_demand.commit_1y_hourly * hours + spot_part
    return Shape(dns, on_demand, n, spot, m, _disk(on_demand.name), base + n * on_demand_month + spot_part, committed)


def _pool(name: str, machine: catalog.Machine, nodes: int, spot: bool, addons: frozenset[str] = frozenset()) -> capacity.Pool:
    """A pool as the program declares it: the Spot one tainted (program/components/spot_pool.py)."""
    labels = {"shoestring.dev/capacity": "spot" if spot else "on-demand"}
    return capacity.Pool(name, machine, spot, nodes, nodes, labels, frozenset({SPOT_TAINT_KEY}) if spot else frozenset(), 0, addons)


def _disk(machine_type: str) -> str | None:
    """The cheapest boot disk the family offers that the catalog prices (N4 takes only Hyperdisk)."""
    priced = {"pd-standard", "pd-balanced", "pd-ssd"}
    return next((d for d in catalog.boot_disk_types(machine_type) if d in priced), None)


def chosen(found: Sequence[Shape]) -> Shape | None:
    """The cheapest shape the program can declare."""
    return next((s for s in found if s.dns.shipped), None)


def why(found: Sequence[Shape], queries_per_second: float) -> list[str]:
    """Why the chosen shape: what it beats, per DNS provider, and where Cloud DNS stops paying."""
    best = chosen(found)
    if best is None:
        return ["No shape keeps every guarantee: raise MAX_NODES or lower the floor."]
    lines = [f"Chosen: {best.dns.name}, {best.describe()[0]} on demand, {best.describe()[1]} Spot — ${best.monthly:,.2f}/month, the cheapest row that keeps every guarantee and that the program declares."]
    for dns in dict.fromkeys(s.dns.name for s in found):
        cheapest = next(s for s in found if s.dns.name == dns)
        if cheapest is not best:
            note = "" if cheapest.dns.shipped else " (not declared by the program: a GKE-managed ConfigMap edited by hand, one kube-dns pod for the whole cluster)"
            lines.append(f"Cheapest with {dns}: {cheapest.describe()[0]} + {cheapest.describe()[1]} Spot, ${cheapest.monthly:,.2f} (+${cheapest.monthly - best.monthly:,.2f}){note}.")
    kube = next((s for s in found if s.dns.name == "kube-dns"), None)
    cloud = next((s for s in found if s.dns.name == "Cloud DNS"), None)
    if kube and cloud:
        rate = catalog.cloud_dns()["per_million_queries"] * QUERIES_PER_MONTH / 1e6
        saving = kube.nodes_monthly - cloud.nodes_monthly - catalog.cloud_dns()["zone_monthly"]
        lines.append(
            f"Cloud DNS's nodes cost ${saving:,.2f}/month less than kube-dns's (after its zone); its queries cost ${rate:.2f}/month per query a second: "
            f"it stops paying above {max(saving, 0) / rate:,.1f} queries/s ({max(saving, 0) / rate * QUERIES_PER_MONTH / 1e6:,.1f} million a month); "
            f"priced here at {queries_per_second:g}/s."
        )
    return lines


def markdown(stack: str, found: Sequence[Shape], current: float, queries_per_second: float, top: int = 8) -> str:
    """The right-sizing table: the cheapest shapes, with the saving against today's, and why the first."""
    rows = [
        "| DNS | On-demand (default pool) | Spot (Spot pool) | Boot disk | vCPU / GB | Nodes $/month | DNS $/month | $/month | with 1-year commitment | Saving vs. today |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    listed = list(found[:top])
    listed += [s for s in (next((s for s in found if s.dns.name == dns), None) for dns in dict.fromkeys(s.dns.name for s in found)) if s is not None and s not in listed]
    for shape in listed:
        on_demand, spot = shape.describe()
        committed = "—" if shape.monthly_1y is None else f"{shape.monthly_1y:,.2f}"
        rows.append(
            f"| {shape.dns.name} | {on_demand} | {spot} | {DISK_GB} GB {shape.disk_type} | {shape.vcpus:g} / {shape.memory_gb:g} | "
            f"{shape.nodes_monthly:,.2f} | {shape.dns.monthly:,.2f} | {shape.monthly:,.2f} | {committed} | {current - shape.monthly:,.2f} |"
        )
    head = f"`{stack}`'s CPU pools and DNS cost ${current:,.2f}/month at rest today."
    return head + "\n\n" + "\n".join(rows) + "\n\n" + "\n".join(f"- {line}" for line in why(found, queries_per_second)) + "\n"
