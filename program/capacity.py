"""How many nodes each pool runs: the pods a stack declares, packed onto its pools as the
scheduler and the cluster autoscaler would, from the same {type, name, inputs} records.

Each node offers its machine's GKE allocatable (GKE's documented reservations, see
`node_allocatable`) less the system DaemonSets every node runs (and those of the add-ons the
cluster turns on); the cluster's own system Deployments (kube-dns and friends) need a home too,
and tolerate none of the pools' taints. All come from `gke.system_pods` in prices.yaml, each
figure with its source. Pods are the Deployments' replicas times their containers' requests (a
namespace's LimitRange default where a container sets none), placed highest priority first
(GKE's system-cluster-critical, then the PriorityClasses of program/names.py), then largest
first, on the eligible node with the most free CPU (the scheduler's default "least allocated"
scoring), honouring node selectors, taints, one-per-node anti-affinity and a spread across
capacity types; a pod that fits nowhere adds a node to the cheapest pool that can take it, up to
its maximum — as the autoscaler scales up only for a pod that cannot be scheduled. What does not
fit at all is the lowest priority's: it waits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from program import catalog
from program.names import CLUSTER, DEPLOYMENT, GPU_RESOURCE, NODE_POOL, PRIORITY_VALUES, SYSTEM_CLUSTER_CRITICAL, WHOLE_NODE_LABEL
from program.records import ResourceRecord

LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
DEPLOYMENT_PATCH = "kubernetes:apps/v1:DeploymentPatch"
SHARED_CORE = {"e2-micro", "e2-small", "e2-medium"}


@dataclass(frozen=True)
class Pool:
    name: str
    machine: catalog.Machine
    spot: bool
    min_nodes: int
    max_nodes: int
    labels: dict[str, str]
    taints: frozenset[str]
    """Keys of its NoSchedule taints."""
    gpus: int
    addons: frozenset[str] = frozenset()
    """The cluster's add-ons that run a DaemonSet on every node (``secret_manager``)."""

    @property
    def allocatable(self) -> tuple[float, float]:
        """vCPU and GiB a node leaves to pods, after GKE's reservations and the system DaemonSets."""
        cpu, memory = node_allocatable(self.machine)
        daemons_cpu, daemons_memory = system_pods(self.addons)[0]
        return cpu - daemons_cpu, memory - daemons_memory

    @property
    def on_demand_cpu(self) -> bool:
        """An on-demand CPU pool: where the system pods and the apps' last replicas live."""
        return not self.spot and not self.gpus


@dataclass(frozen=True)
class Pod:
    owner: str
    """``namespace/app`` for a stack's pods, ``kube-system/<name>`` for GKE's."""
    cpu: float
    memory: float
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: frozenset[str] = frozenset()
    spread_key: str | None = None
    """Node label its replicas spread across, at a skew of at most one."""
    whole_node: bool = False
    gpus: int = 0
    priority: int = 0
    """The pod's PriorityClass value: higher is placed first, and waits last."""


@dataclass
class Node:
    pool: Pool
    free_cpu: float
    free_memory: float
    pods: list[Pod] = field(default_factory=list)


@dataclass
class Placement:
    nodes: list[Node]
    unschedulable: list[Pod]

    def nodes_of(self, pool: str) -> int:
        return sum(1 for node in self.nodes if node.pool.name == pool)

    def on(self, owner: str) -> list[Node]:
        return [node for node in self.nodes if any(pod.owner == owner for pod in node.pods)]


def cluster_addons(records: Sequence[ResourceRecord]) -> frozenset[str]:
    """The add-ons of the stack's cluster that put a DaemonSet on every node."""
    addons = set()
    for record in records:
        if record.type == CLUSTER and record.inputs.get("secretManagerConfig", {}).get("enabled"):
            addons.add("secret_manager")
    return frozenset(addons)


def scaled_to_zero(records: Sequence[ResourceRecord]) -> frozenset[str]:
    """GKE's own kube-system Deployments the stack patches to zero replicas (kube-dns and its
    autoscaler under Cloud DNS, program/components/cluster_dns.py): none of their pods runs."""
    return frozenset(
        r.inputs.get("metadata", {}).get("name", "")
        for r in records
        if r.type == DEPLOYMENT_PATCH and r.inputs.get("metadata", {}).get("namespace") == "kube-system" and r.inputs.get("spec", {}).get("replicas") == 0
    )


def pools_of(records: Sequence[ResourceRecord], region: str) -> list[Pool]:
    addons = cluster_addons(records)
    pools = []
    for record in records:
        if record.type != NODE_POOL:
            continue
        node = record.inputs.get("nodeConfig", {})
        pools.append(
            Pool(
                name=record.name,
                machine=catalog.machine(region, node.get("machineType", "e2-medium")),
                spot=bool(node.get("spot")),
                min_nodes=pool_bounds(record.inputs)[0],
                max_nodes=pool_bounds(record.inputs)[1],
                labels=dict(node.get("labels", {})),
                taints=frozenset(t["key"] for t in node.get("taints", []) if t.get("effect") == "NO_SCHEDULE"),
                gpus=int(sum(a.get("count", 1) for a in node.get("guestAccelerators", []))),
                addons=addons,
            )
        )
    return pools


def pool_bounds(inputs: dict[str, Any]) -> tuple[int, int]:
    """A node pool's autoscaling floor and ceiling over all its zones: the total bounds when the
    pool declares them (``totalMinNodeCount``/``totalMaxNodeCount``, which GKE applies across every
    zone of ``nodeLocations``), else the per-zone bounds times its zones. Counts arrive as floats
    from a policy pack (protobuf Struct numbers)."""
    scaling = inputs.get("autoscaling") or {}
    if "totalMaxNodeCount" in scaling or "totalMinNodeCount" in scaling:
        return int(scaling.get("totalMinNodeCount", 0)), int(scaling.get("totalMaxNodeCount", 0))
    zones = len(inputs.get("nodeLocations") or []) or (1 if catalog.ZONE_PATTERN.match(inputs.get("location", "") or "us-central1-a") else 3)
    count = inputs.get("nodeCount", 0)
    return int(scaling.get("minNodeCount", count)) * zones, int(scaling.get("maxNodeCount", count)) * zones


def pods_of(records: Sequence[ResourceRecord]) -> list[Pod]:
    """Every pod the stack's Deployments run at their declared replicas."""
    defaults = _limit_range_defaults(records)
    pods = []
    for record in records:
        if record.type != DEPLOYMENT:
            continue
        metadata, spec = record.inputs.get("metadata", {}), record.inputs.get("spec", {})
        template = spec.get("template", {})
        pod = template.get("spec", {})
        namespace = metadata.get("namespace", "default")
        default = defaults.get(namespace, {})
        cpu = memory = 0.0
        gpus = 0
        for container in pod.get("containers", []):
            requests = container.get("resources", {}).get("requests", {})
            cpu += parse_cpu(requests.get("cpu", default.get("cpu", "0")))
            memory += parse_gib(requests.get("memory", default.get("memory", "0")))
            gpus += int(float(requests.get(GPU_RESOURCE, 0)))
        spread = [c["topologyKey"] for c in pod.get("topologySpreadConstraints", []) if c.get("whenUnsatisfiable") == "DoNotSchedule"]
        shape = Pod(
            owner=f"{namespace}/{metadata.get('name', record.name)}",
            cpu=cpu,
            memory=memory,
            node_selector=dict(pod.get("nodeSelector", {})),
            tolerations=frozenset(t.get("key") for t in pod.get("tolerations", [])),
            spread_key=spread[0] if spread else None,
            whole_node=template.get("metadata", {}).get("labels", {}).get(WHOLE_NODE_LABEL) == "true",
            gpus=gpus,
            priority=PRIORITY_VALUES.get(pod.get("priorityClassName"), 0),
        )
        pods.extend([shape] * deployment_replicas(spec))
    return pods


def deployment_replicas(spec: Mapping[str, Any]) -> int:
    """A Deployment's pods: its ``spec.replicas``, which Kubernetes reads as 1 when omitted
    (kubernetes.io/docs/concepts/workloads/controllers/deployment/#replicas) — the API's default,
    not an app's (program/definitions.py App.replicas)."""
    return int(spec.get("replicas", 1))


def system_pods(addons: Collection[str] = (), stopped: Collection[str] = ()) -> tuple[tuple[float, float], list[Pod]]:
    """GKE's own pods: (vCPU, GiB) the DaemonSets take on every node (the ``addons``' too), and
    the cluster's system Deployments' pods, system-cluster-critical, which go wherever they fit
    but tolerate no taint of ours: never onto the Spot or the GPU pool. ``stopped``: system
    Deployments scaled to zero (``scaled_to_zero``)."""
    figures = catalog.gke_system_pods()
    per_node = [*figures["per_node"].values(), *(p for addon in sorted(addons) for p in figures["per_node_with"][addon].values())]
    daemons = (sum(parse_cpu(p["cpu"]) for p in per_node), sum(parse_gib(p["memory"]) for p in per_node))
    cluster = [
        Pod(owner=f"kube-system/{name}", cpu=parse_cpu(p["cpu"]), memory=parse_gib(p["memory"]), priority=SYSTEM_CLUSTER_CRITICAL)
        for name, p in figures["per_cluster"].items()
        if name not in stopped
        for _ in range(p.get("replicas", 1))
    ]
    return daemons, cluster


def place(pools: Sequence[Pool], pods: Sequence[Pod]) -> Placement:
    """Pack ``pods`` onto every pool at its minimum, adding nodes as the autoscaler would."""
    nodes = [Node(pool, *pool.allocatable) for pool in pools for _ in range(pool.min_nodes)]
    unschedulable = []
    for pod in sorted(pods, key=lambda p: (-p.priority, -p.gpus, -p.cpu, -p.memory, p.owner)):
        fitting = [n for n in nodes if _fits(pod, n) and _spread_allows(pod, n, nodes)]
        if fitting:
            node = max(fitting, key=lambda n: n.free_cpu)
        else:
            node = _scale_up(pod, pools, nodes)
            if node is None:
                unschedulable.append(pod)
                continue
            nodes.append(node)
        node.pods.append(pod)
        node.free_cpu -= pod.cpu
        node.free_memory -= pod.memory
    return Placement(nodes, unschedulable)


def at_rest(records: Sequence[ResourceRecord], region: str, guests: Sequence[ResourceRecord] = ()) -> Placement:
    """The cluster at rest: the system pods and the pods of ``records`` (and of the stacks whose
    namespaces live in this cluster, ``guests``) at their declared replicas."""
    pools = pools_of(records, region)
    return place(pools, system_pods(cluster_addons(records), scaled_to_zero(records))[1] + pods_of(records) + pods_of(guests))


def without_spot(records: Sequence[ResourceRecord], region: str, guests: Sequence[ResourceRecord] = (), grow: bool = True) -> Placement:
    """The cluster with no Spot capacity. ``grow=False`` is the moment every Spot node is
    preempted: the other nodes keep their pods, and the Spot nodes' pods are rescheduled onto
    whatever room those nodes have, before the autoscaler adds a node. ``grow=True`` is a zone
    with no Spot capacity for as long as it lasts: every pod placed again on the pools that are
    not Spot, grown to their maximum. Lower priorities wait first."""
    resting = at_rest(records, region, guests)
    if grow:
        pools = [pool for pool in pools_of(records, region) if not pool.spot]
        return place(pools, system_pods(cluster_addons(records), scaled_to_zero(records))[1] + pods_of(records) + pods_of(guests))
    kept = [node for node in resting.nodes if not node.pool.spot]
    evicted = [pod for node in resting.nodes if node.pool.spot for pod in node.pods]
    unschedulable = list(resting.unschedulable)
    for pod in sorted(evicted, key=lambda p: (-p.priority, -p.gpus, -p.cpu, -p.memory, p.owner)):
        fitting = [n for n in kept if _fits(pod, n) and _spread_allows(pod, n, kept)]
        if not fitting:
            unschedulable.append(pod)
            continue
        node = max(fitting, key=lambda n: n.free_cpu)
        node.pods.append(pod)
        node.free_cpu -= pod.cpu
        node.free_memory -= pod.memory
    return Placement(kept, unschedulable)


HEADROOM_FLOOR = 0.10
"""Share of an on-demand pool's allocatable CPU and memory (after the DaemonSets) that must stay
free at rest: GKE's own requests move between versions (kube-dns 260m in one listing, 265m in
another; metrics-server's nanny resizes it with the cluster) and two DaemonSets are not counted
for want of a figure (prices.yaml), and a rollout's surge pod should start without a new node."""


@dataclass(frozen=True)
class Headroom:
    pool: Pool
    nodes: int
    free_cpu: float
    allocatable_cpu: float
    free_memory: float
    allocatable_memory: float

    @property
    def short(self) -> bool:
        return self.free_cpu < HEADROOM_FLOOR * self.allocatable_cpu - 1e-9 or self.free_memory < HEADROOM_FLOOR * self.allocatable_memory - 1e-9


def headroom(placement: Placement) -> list[Headroom]:
    """What each on-demand CPU pool has free at rest, over the nodes it runs."""
    pools: dict[str, Pool] = {}
    for node in placement.nodes:
        if node.pool.on_demand_cpu:
            pools.setdefault(node.pool.name, node.pool)
    found = []
    for pool in pools.values():
        nodes = [node for node in placement.nodes if node.pool.name == pool.name]
        cpu, memory = pool.allocatable
        found.append(
            Headroom(pool, len(nodes), sum(n.free_cpu for n in nodes), cpu * len(nodes), sum(n.free_memory for n in nodes), memory * len(nodes))
        )
    return found


def room_for(records: Sequence[ResourceRecord], region: str, app: Pod, guests: Sequence[ResourceRecord] = (), most: int = 100) -> int:
    """How many more single-replica apps of ``app``'s requests the cluster's nodes at rest hold
    before the autoscaler adds a node or an on-demand pool falls below the headroom floor: each
    placed as the scheduler would, on the nodes at rest and no more (a single replica never goes to
    Spot: it tolerates no taint)."""
    resting = at_rest(records, region, guests)
    fixed = [dataclasses.replace(pool, min_nodes=resting.nodes_of(pool.name), max_nodes=resting.nodes_of(pool.name)) for pool in pools_of(records, region)]
    existing = system_pods(cluster_addons(records), scaled_to_zero(records))[1] + pods_of(records) + pods_of(guests)
    for extra in range(most + 1):
        placed = place(fixed, existing + [dataclasses.replace(app, owner=f"{app.owner}-{i}") for i in range(extra + 1)])
        if placed.unschedulable or any(room.short for room in headroom(placed)):
            return extra
    return most


def _eligible(pod: Pod, pool: Pool) -> bool:
    selected = all(pool.labels.get(k) == v for k, v in pod.node_selector.items())
    return selected and pool.taints <= pod.tolerations and (pod.spread_key is None or pod.spread_key in pool.labels)


def _fits(pod: Pod, node: Node) -> bool:
    if not _eligible(pod, node.pool) or pod.gpus > node.pool.gpus - sum(p.gpus for p in node.pods):
        return False
    if pod.whole_node and any(p.whole_node for p in node.pods):
        return False
    return pod.cpu <= node.free_cpu + 1e-9 and pod.memory <= node.free_memory + 1e-9


def _spread_allows(pod: Pod, node: Node, nodes: Sequence[Node]) -> bool:
    """kube-scheduler's PodTopologySpread filter at maxSkew 1, over the domains (label values) of
    the nodes the pod may run on."""
    if pod.spread_key is None:
        return True
    counts: dict[str, int] = {}
    for other in nodes:
        if _eligible(pod, other.pool):
            domain = other.pool.labels[pod.spread_key]
            counts[domain] = counts.get(domain, 0) + sum(1 for p in other.pods if p.owner == pod.owner)
    domain = node.pool.labels[pod.spread_key]
    return counts[domain] + 1 - min(counts.values()) <= 1


def _scale_up(pod: Pod, pools: Sequence[Pool], nodes: Sequence[Node]) -> Node | None:
    """A new node of the cheapest pool that could run the pod, or None when none can."""
    candidates = []
    for pool in pools:
        if sum(1 for n in nodes if n.pool is pool) >= pool.max_nodes:
            continue
        fresh = Node(pool, *pool.allocatable)
        if _fits(pod, fresh) and _spread_allows(pod, fresh, [*nodes, fresh]):
            candidates.append((pool.machine.spot_hourly if pool.spot else pool.machine.hourly, fresh))
    return min(candidates, key=lambda c: c[0])[1] if candidates else None


def _limit_range_defaults(records: Sequence[ResourceRecord]) -> dict[str, dict[str, str]]:
    defaults: dict[str, dict[str, str]] = {}
    for record in records:
        if record.type != LIMIT_RANGE:
            continue
        namespace = record.inputs.get("metadata", {}).get("namespace", "default")
        for limit in record.inputs.get("spec", {}).get("limits", []):
            if limit.get("type") == "Container" and limit.get("defaultRequest"):
                defaults[namespace] = dict(limit["defaultRequest"])
    return defaults


def node_allocatable(machine: catalog.Machine) -> tuple[float, float]:
    """vCPU and GiB a GKE node leaves to pods, per GKE's documented reservations
    (cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes): CPU 6% of the first
    core, 1% of the second, 0.5% of the next two, 0.25% above four (shared-core E2: 1060m
    reserved); memory 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the
    next 112, 2% above 128, and 100 MiB for eviction."""
    if machine.name in SHARED_CORE:
        cpu = machine.vcpus - 1.06
    else:
        tiers = ((1, 0.06), (1, 0.01), (2, 0.005), (float("inf"), 0.0025))
        cpu = machine.vcpus - _tiered(machine.vcpus, tiers)
    memory_tiers = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02))
    memory = machine.memory_gb - _tiered(machine.memory_gb, memory_tiers) - 100 / 1024
    return cpu, memory


def _tiered(amount: float, tiers: Sequence[tuple[float, float]]) -> float:
    reserved = 0.0
    for size, rate in tiers:
        portion = min(amount, size)
        reserved += portion * rate
        amount -= portion
        if amount <= 0:
            break
    return reserved


def parse_cpu(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def parse_gib(quantity: str) -> float:
    units = {"Ki": 1 / 1024**2, "Mi": 1 / 1024, "Gi": 1.0, "Ti": 1024.0, "M": 1e6 / 1024**3, "G": 1e9 / 1024**3}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / 1024**3


# Schedules: how often a CronJob runs, for the GPU hours a scheduled batch adds to the estimate.

CRON_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
"""The macros a Kubernetes CronJob accepts (kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax)."""
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_NAMES = {
    3: {name: number for number, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)},
    4: {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}


def cron_fields(schedule: str) -> list[set[int]]:
    """The values each of a cron schedule's five fields matches; ValueError naming the bad field."""
    expression = CRON_MACROS.get(schedule.strip().lower(), schedule)
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"{schedule!r} is not a cron schedule: five fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * 1', or a macro such as @daily")
    fields = []
    for index, (part, (what, low, high)) in enumerate(zip(parts, _CRON_FIELDS, strict=True)):
        values: set[int] = set()
        for item in part.lower().split(","):
            body, _, step_text = item.partition("/")
            try:
                step = int(step_text) if step_text else 1
                if body in ("*", "?"):
                    start, end = low, high
                else:
                    first, _, last = body.partition("-")
                    start = _cron_value(first, index)
                    end = _cron_value(last, index) if last else (high if step_text else start)
                if step < 1 or not low <= start <= end <= high:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{schedule!r}: the {what} field {part!r} is not valid ({low}-{high}, '*', lists, ranges and /steps)") from None
            values.update(range(start, end + 1, step))
        fields.append(values)
    if 7 in fields[4]:
        fields[4] = (fields[4] - {7}) | {0}  # 7 is Sunday too
    return fields


def _cron_value(text: str, index: int) -> int:
    names = _CRON_NAMES.get(index, {})
    return names[text] if text in names else int(text)


def cron_runs_per_month(schedule: str) -> float:
    """How many times a month (a year's runs / 12, the 730 hours of the price catalog's month) the
    schedule starts a run. Cron's rule for the day fields: when both are restricted, a day matching
    either runs."""
    import datetime

    minutes, hours, days, months, weekdays = cron_fields(schedule)
    parts = CRON_MACROS.get(schedule.strip().lower(), schedule).split()
    either = not parts[2].startswith("*") and not parts[4].startswith("*")
    matching = 0
    day = datetime.date(2025, 1, 1)  # a year that is not a leap year: 365 days, as the 730-hour month assumes
    while day.year == 2025:
        weekday = day.isoweekday() % 7
        in_month = day.month in months
        by_date, by_weekday = day.day in days, weekday in weekdays
        if in_month and ((by_date or by_weekday) if either else (by_date and by_weekday)):
            matching += 1
        day += datetime.timedelta(days=1)
    return len(minutes) * len(hours) * matching / 12
