"""Monthly cost estimates from the declared resources, priced with the dated catalog.

The estimator reads only ``{type, name, inputs}`` records — what the offline plan records, and
what a CrossGuard policy sees — so the plan, the PR diff and the policy pack agree to the cent.
Three figures per stack:

- **idle**: every pool at its autoscaling minimum for the whole month (GPU pools at 0);
- **burst**: what one GPU node costs per hour while it runs, and all GPU nodes at their maximum;
- **expected**: idle plus the stack's expected GPU node-hours at the burst rate.

A resource type the estimator does not know is reported as not priced, never counted as $0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from program import capacity, catalog
from program.definitions import Resources
from program.names import CLUSTER, DEPLOYMENT, FREE_TIER_LABEL, GPU_RESOURCE, NODE_POOL, PRIORITY_VALUES, USER_FACING_PRIORITY

HOURS = catalog.HOURS_PER_MONTH

# A burst as billed: each GPU node is paid from its VM's start, not from its pod's.
NODE_BOOT_MINUTES = 5
"""A GPU node's VM runs, and is billed (cloud.google.com/compute/docs/instances/instance-life-cycle:
an instance is billed while RUNNING), before its pod starts: boot, joining the cluster, the GPU
driver. 5 min is the upper end of issue 27's 3–5 min — an assumption, not measured here (the
autoscaler allows up to 15 min for a GPU to become allocatable: kubernetes/autoscaler
cluster-autoscaler/utils/gpu/gpu.go)."""
SCALE_DOWN_UNNEEDED_MINUTES = 10
"""After its pod ends a node stays until the autoscaler has seen it unneeded this long
(``--scale-down-unneeded-time`` 10m0s: kubernetes/autoscaler cluster-autoscaler/FAQ.md, "What are
the parameters to CA?"; GKE: cloud.google.com/kubernetes-engine/docs/troubleshooting/cluster-autoscaler-scale-down)."""


def burst_billed_hours(hours: float) -> float:
    """The hours one GPU node of a burst is billed for ``hours`` of work: its boot before and the
    scale-down delay after (its disk and external IP live as long: the node's burst rate has them)."""
    return hours + (NODE_BOOT_MINUTES + SCALE_DOWN_UNNEEDED_MINUTES) / 60

# Resources that cost nothing of their own: what they run on (nodes) or route through (load
# balancers) is priced where it is declared.
ROUTER_NAT = "gcp:compute/routerNat:RouterNat"
SECRET_ACCESS = "gcp:secretmanager/secretIamMember:SecretIamMember"
NO_CHARGE = {
    # "The ComputeClass custom resource is provided at no extra cost" (cloud.google.com/kubernetes-engine/docs/how-to/node-attributes-compute-classes, Pricing).
    "kubernetes:cloud.google.com/v1:ComputeClass",
    "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass",
    "gcp:compute/network:Network",
    "gcp:compute/subnetwork:Subnetwork",
    "gcp:compute/router:Router",
    "pulumi:pulumi:StackReference",
    "gcp:serviceaccount/account:Account",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:projects/iAMMember:IAMMember",
    "gcp:billing/budget:Budget",
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:ResourceQuota",
    "kubernetes:core/v1:LimitRange",
    "kubernetes:core/v1:ServiceAccount",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    DEPLOYMENT,
    capacity.DEPLOYMENT_PATCH,
    "kubernetes:policy/v1:PodDisruptionBudget",
    "kubernetes:core/v1:ConfigMap",
    "kubernetes:scheduling.k8s.io/v1:PriorityClass",
    "kubernetes:core/v1:Secret",
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    "kubernetes:networking.gke.io/v1:HealthCheckPolicy",
    "gcp:certificatemanager/certificateMap:CertificateMap",
    # Priced through their ProjectBucket component, at its declared size.
    "gcp:storage/bucket:Bucket",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
}
PROJECT_BUCKET = "shoestring:storage:ProjectBucket"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
CERTIFICATE_TYPES = ("gcp:certificatemanager/certificate:Certificate", "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry")


ResourceRecord = capacity.ResourceRecord
"""{type, name, inputs}: what the offline plan records and a CrossGuard policy sees."""


@dataclass(frozen=True)
class Line:
    item: str
    detail: str
    idle_monthly: float | None
    """Monthly cost at rest; None when the catalog cannot price it."""
    burst_hourly: float = 0.0
    """Extra cost per hour of one GPU node running."""
    burst_max_hourly: float = 0.0
    """Extra cost per hour with every GPU node of the pool running."""
    ceiling_monthly: float | None = None
    """Monthly cost with the pool at its maximum all month (the autoscaler's worst case); None: as idle."""
    scheduled_monthly: float = 0.0
    """Monthly cost of scheduled runs (a CronJob's GPU node-hours), counted in the expected figure."""
    scheduled_gpu_hours: float = 0.0
    """GPU node-hours a month those runs take at most."""
    spot_monthly: float = 0.0
    """The part of ``idle_monthly`` that is Spot machine time, which moves with Spot prices."""
    spot_hourly: float = 0.0
    """The part of ``burst_hourly`` that is Spot machine time."""
    spot_range: tuple[float, float] | None = None
    """The machine's Spot price over the last year as shares of today's: (lowest, highest)."""
    fallback_hourly: float = 0.0
    """A fallback rung's cost per hour of one of its GPU nodes (0 for any other line)."""
    fallback_max_hourly: float = 0.0
    """A fallback rung's cost per hour with a burst entirely on it."""


@dataclass(frozen=True)
class AlwaysOnGpu:
    """A GPU Deployment with replicas: the GPU nodes it keeps up all month."""

    owner: str
    """``namespace/app``."""
    replicas: int
    nodes: int
    machine_type: str
    monthly: float

    def __str__(self) -> str:
        return (
            f"{self.owner} at {self.replicas} replica{'s' if self.replicas != 1 else ''} keeps {self.nodes} × {self.machine_type} "
            f"GPU node{'s' if self.nodes != 1 else ''} up all month: ${self.monthly:,.2f}/month"
        )


@dataclass(frozen=True)
class GpuCeiling:
    """The GPU pool's burst ceiling, and the quota the stack declares for it."""

    nodes: int
    gpus_per_node: int
    quota_metric: str | None = None
    quota_limit: int | None = None
    """None: the stack declares no quota."""


@dataclass(frozen=True)
class Rate:
    item: str
    per_gib: float | None
    """USD per GiB; None when the catalog has no figure for the region."""
    note: str


@dataclass
class Estimate:
    stack: str
    region: str | None
    lines: list[Line]
    budget_usd: float | None = None
    expected_gpu_hours: float = 0.0
    notes: list[str] = field(default_factory=list)
    rates: list[Rate] = field(default_factory=list)
    """Usage-priced items whose quantity the plan cannot know: shown, never counted as $0."""
    always_on_gpu: list[AlwaysOnGpu] = field(default_factory=list)
    """GPU Deployments with replicas: their nodes are in the idle figure; named here."""
    gpu_ceiling: GpuCeiling | None = None

    @property
    def scheduled_monthly_usd(self) -> float:
        return round(sum(line.scheduled_monthly for line in self.lines), 2)

    @property
    def scheduled_gpu_hours(self) -> float:
        return round(sum(line.scheduled_gpu_hours for line in self.lines), 1)
    hours_per_month: float | None = None
    """Hours a month a part-time stack exists (``shoestring:hoursPerMonth``); None: always on."""

    @property
    def part_time(self) -> float:
        """The share of the month the stack exists: every line lives and dies with it."""
        return 1.0 if self.hours_per_month is None else self.hours_per_month / HOURS

    @property
    def always_on_idle_monthly_usd(self) -> float:
        """The idle cost had the stack run all 730 hours."""
        return round(sum(line.idle_monthly or 0.0 for line in self.lines), 2)

    @property
    def always_on_expected_monthly_usd(self) -> float:
        return round(self.always_on_idle_monthly_usd + self.expected_gpu_hours * self.burst_hourly_usd + self.scheduled_monthly_usd, 2)

    @property
    def idle_monthly_usd(self) -> float:
        """Idle for the hours the stack exists (all month unless it is part-time)."""
        return round(sum(line.idle_monthly or 0.0 for line in self.lines) * self.part_time, 2)

    @property
    def burst_hourly_usd(self) -> float:
        return round(sum(line.burst_hourly for line in self.lines), 4)

    @property
    def burst_max_hourly_usd(self) -> float:
        return round(sum(line.burst_max_hourly for line in self.lines), 4)

    @property
    def expected_monthly_usd(self) -> float:
        # A part-time stack's schedules fire only while it exists.
        return round(self.idle_monthly_usd + self.expected_gpu_hours * self.burst_hourly_usd + self.scheduled_monthly_usd * self.part_time, 2)

    def budget_gpu_hours(self) -> float | None:
        """GPU node-hours a month the budget leaves beyond the expected estimate; None without a budget or a GPU price."""
        if self.budget_usd is None or not self.burst_hourly_usd:
            return None
        return max(0.0, (self.budget_usd - self.expected_monthly_usd) / self.burst_hourly_usd)

    @property
    def ceiling_monthly_usd(self) -> float:
        """Every pool at its maximum, all month: what the autoscalers could spend at worst."""
        return round(sum((line.idle_monthly or 0.0) if line.ceiling_monthly is None else line.ceiling_monthly for line in self.lines) * self.part_time, 2)

    @property
    def spot_share(self) -> float:
        """Spot machine time's share of the stack's machine bill (CPU nodes at rest and the
        expected GPU node-hours): above one half, Spot dominates the stack."""
        spot = sum(line.spot_monthly for line in self.lines) * self.part_time + self.expected_gpu_hours * sum(line.spot_hourly for line in self.lines)
        machines = sum((line.idle_monthly or 0.0) for line in self.lines if line.item.endswith(" nodes")) * self.part_time
        machines += self.expected_gpu_hours * sum(line.burst_hourly for line in self.lines if line.item.endswith("GPU nodes") or line.item == "GPU burst on the host's pool")
        return spot / machines if machines else 0.0

    @property
    def expected_range_usd(self) -> tuple[float, float] | None:
        """The expected figure at the lowest and the highest Spot prices of the last year (the
        catalog's ``spot_range``), other lines as they are; None when no line is Spot."""
        ranged = [line for line in self.lines if line.spot_range and (line.spot_monthly or line.spot_hourly)]
        if not ranged:
            return None

        def at(which: int) -> float:
            delta = sum((line.spot_range[which] - 1) * line.spot_monthly for line in ranged) * self.part_time
            delta += self.expected_gpu_hours * sum((line.spot_range[which] - 1) * line.spot_hourly for line in ranged)
            return round(self.expected_monthly_usd + delta, 2)

        return at(0), at(1)

    @property
    def not_priced(self) -> list[str]:
        return [line.item for line in self.lines if line.idle_monthly is None]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.region,
            "idle_monthly_usd": self.idle_monthly_usd,
            "burst_hourly_usd": self.burst_hourly_usd,
            "burst_max_hourly_usd": self.burst_max_hourly_usd,
            "expected_gpu_hours": self.expected_gpu_hours,
            "expected_monthly_usd": self.expected_monthly_usd,
            "scheduled_gpu_hours": self.scheduled_gpu_hours,
            "scheduled_monthly_usd": self.scheduled_monthly_usd,
            "always_on_gpu": [asdict(item) for item in self.always_on_gpu],
            "gpu_ceiling": None if self.gpu_ceiling is None else asdict(self.gpu_ceiling),
            "ceiling_monthly_usd": self.ceiling_monthly_usd,
            "budget_usd": self.budget_usd,
            "hours_per_month": self.hours_per_month,
            "always_on_idle_monthly_usd": self.always_on_idle_monthly_usd,
            "always_on_expected_monthly_usd": self.always_on_expected_monthly_usd,
            "spot_share": round(self.spot_share, 2),
            "expected_range_usd": self.expected_range_usd,
            "over_budget": over_budget(self),
            "not_priced": self.not_priced,
            "notes": self.notes,
            "rates": [asdict(rate) for rate in self.rates],
            "lines": [asdict(line) for line in self.lines],
        }


def estimate(stack: str, records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord] | None = None) -> Estimate:
    """Price a stack from its declared resources. ``host_records`` are the resources of the stack
    whose cluster this one uses (if any), to say how much of that cluster its quotas reserve."""
    clusters = _of(records, CLUSTER)
    region = region_of(records)
    if region is None and host_records is not None:  # a stack in another's cluster prices at that cluster's region
        region = region_of(host_records)
    result = Estimate(stack=stack, region=region, lines=[])
    nodes_private = any(private_nodes(c) for c in clusters)
    placement = _at_rest(records, region, result.notes)
    no_charge = 0
    fallbacks = fallback_rungs(records)
    for record in records:
        if record.type == CLUSTER:
            result.lines.append(_cluster_fee(record))
        elif record.type == NODE_POOL:
            needed = placement.nodes_of(record.name) if placement else None
            lines = _node_pool(record, _location_of(record, clusters), region, nodes_private or private_nodes(record), needed)
            result.lines.extend([_fallback_rung(line) for line in lines] if record.inputs.get("name") in fallbacks else lines)
        elif record.type == CRON_JOB:
            result.lines.append(_scheduled_batch(record, records, host_records, region))
        elif record.type == "kubernetes:core/v1:Service" and not _is_load_balancer(record):
            no_charge += 1
        elif record.type in (GATEWAY, "kubernetes:core/v1:Service", ROUTER_NAT, SECRET_ACCESS, SECRET_VERSION, *CERTIFICATE_TYPES):
            continue  # priced together below: Google bills them per project, not per resource
        elif record.type == "gcp:compute/globalAddress:GlobalAddress":
            result.lines.append(_static_ip(record, region))
        elif record.type == CLUSTER_DNS:
            result.lines.append(cloud_dns(record))
        elif record.type == "shoestring:cost:MonthlyBudget":
            result.budget_usd = record.inputs.get("monthlyUsd")
            result.expected_gpu_hours = record.inputs.get("expectedGpuHours", 0.0)
            result.hours_per_month = record.inputs.get("hoursPerMonth")
            if record.inputs.get("hostStack"):
                result.lines.append(_shared_cluster(record.inputs["hostStack"], records, host_records, region))
                burst = _gpu_burst_on_host(record.inputs["hostStack"], records, host_records, region)
                if burst is not None:
                    result.lines.append(burst)
        elif record.type == PROJECT_BUCKET and not record.inputs.get("external"):
            result.lines.append(_bucket(record))
        elif record.type.startswith(("shoestring:", "pulumi:providers:")) or record.type in NO_CHARGE:
            no_charge += 1
        else:
            result.lines.append(Line(f"{record.type} {record.name}", "not priced: the catalog has no figure for this type", None))
    secrets = sorted({(r.inputs.get("project"), r.inputs.get("secretId")) for r in _of(records, SECRET_ACCESS)})
    if secrets:
        rates = catalog.secret_manager()
        result.lines.append(
            Line(
                "Secret Manager",
                f"{len(secrets)} secret(s) the apps read ({', '.join(s for _, s in secrets)}), one active version each at "
                f"${rates['version_monthly']}/month (the billing account's first {rates['free_versions']} are free; not assumed); "
                f"reads ${rates['access_per_10k']} per 10,000 beyond {rates['free_accesses']:,} a month, once per pod start, not counted",
                len(secrets) * rates["version_monthly"],
            )
        )
    if _of(records, ROUTER_NAT) and region is not None:
        result.lines.append(_cloud_nat(records, region, placement))
    result.lines.extend(_forwarding_rules(records, host_records or (), region))
    certificates = _certificates(records, host_records or (), region)
    if certificates:
        result.lines.append(certificates)
    if region is not None:
        result.rates = _rates(records, host_records or (), region)
    if region is not None:
        result.always_on_gpu = always_on_gpu(records, host_records, region)
    result.gpu_ceiling = gpu_ceiling(records)
    result.lines.sort(key=lambda line: line.item != "GKE management fee")  # the fee first, then as declared
    result.notes.append(f"{no_charge} resources have no charge of their own (namespaces, policies, identities, ClusterIP services)")
    return result


OUTPUT_FIGURES = ("idle_monthly_usd", "burst_hourly_usd", "expected_monthly_usd", "budget_usd")


def stack_output(stack: str, records: Sequence[ResourceRecord], warn: Callable[[str], None]) -> dict[str, Any] | None:
    """The program's ``cost`` output: the estimate's headline figures. Over budget, or unable to
    price, it warns instead of failing: a deployment is never stopped by its own estimate (the
    policy pack and `make cost` are where a budget is enforced)."""
    try:
        result = estimate(stack, records)
    except Exception as e:  # noqa: BLE001 — any pricing failure is reported, never fatal
        warn(f"could not price stack {stack}: {type(e).__name__}: {e}")
        return None
    problem = over_budget(result)
    if problem:
        warn(problem)
    return {key: result.to_json()[key] for key in OUTPUT_FIGURES}


def over_budget(result: Estimate) -> str | None:
    """Why the stack's expected monthly cost exceeds its budget, or None when it does not."""
    if result.budget_usd is None or result.expected_monthly_usd <= result.budget_usd:
        return None
    largest = sorted((line for line in result.lines if line.idle_monthly), key=lambda line: -line.idle_monthly)[:3]
    items = "; ".join(f"{line.item} ${line.idle_monthly:,.2f}" for line in largest)
    gpu = ""
    if result.expected_gpu_hours and result.burst_hourly_usd:
        gpu = f"; GPU burst {result.expected_gpu_hours:g} h × ${result.burst_hourly_usd:,.4f}/h = ${result.expected_gpu_hours * result.burst_hourly_usd:,.2f}"
    return (
        f"stack {result.stack}: expected ${result.expected_monthly_usd:,.2f}/month exceeds its budget of "
        f"${result.budget_usd:,.2f}/month by ${result.expected_monthly_usd - result.budget_usd:,.2f}. "
        f"Largest line items: {items}{gpu}. Lower them, or raise shoestring:budget."
    )


def free_tier_claims(estimates: Iterable[tuple[Estimate, str | None]]) -> list[str]:
    """Warnings for billing accounts where more than one stack claims the free zonal cluster.

    ``estimates`` pairs each stack's estimate with its billing account (None: not configured)."""
    claims: dict[str | None, list[str]] = {}
    for result, account in estimates:
        if any(line.item == "GKE management fee" and line.idle_monthly == 0 for line in result.lines):
            claims.setdefault(account, []).append(result.stack)
    return [
        f"stacks {', '.join(stacks)} all claim the free zonal cluster of billing account {account or '(not configured)'}; "
        f"only one is free, the others pay ${catalog.gke_management_fee_hourly() * HOURS:,.2f}/month each"
        for account, stacks in claims.items()
        if len(stacks) > 1
    ]


# Per resource type.


def _bucket(record: ResourceRecord) -> Line:
    """A bucket the stack declares, at the size its project declared for it."""
    size, location = record.inputs["sizeGib"], record.inputs["location"]
    rate = catalog.bucket_gib_monthly(location)
    what = f"Standard storage in {location}, {size:,} GiB declared"
    if rate is None:
        return Line(f"Bucket {record.inputs['bucket']}", f"{what}: not priced, the catalog has no figure for {location}", None)
    return Line(f"Bucket {record.inputs['bucket']}", f"{what} at ${rate}/GiB-month (operations not counted)", size * rate)


def _cluster_fee(cluster: ResourceRecord) -> Line:
    hourly = catalog.gke_management_fee_hourly()
    fee = hourly * HOURS
    location = cluster.inputs.get("location", "")
    claims_free_tier = cluster.inputs.get("resourceLabels", {}).get(FREE_TIER_LABEL) == "true"
    if not catalog.ZONE_PATTERN.fullmatch(location):
        return Line("GKE management fee", f"regional cluster {location}: the free tier never covers it; ${hourly:.2f}/h × {HOURS} h", fee)
    if claims_free_tier:
        credit = catalog.gke_free_tier_monthly_credit()
        return Line("GKE management fee", f"zonal cluster claims the billing account's free tier (${credit:,.2f}/month credit)", 0.0)
    return Line("GKE management fee", f"zonal cluster, not the free one: ${hourly:.2f}/h × {HOURS} h", fee)


def _node_pool(pool: ResourceRecord, location: str, region: str | None, private_nodes: bool, needed: int | None) -> list[Line]:
    """The pool's lines at rest: its minimum, or more when the stack's pods need more nodes
    (``needed``, from the capacity placement; None when it could not be computed)."""
    inputs = pool.inputs
    node = inputs.get("nodeConfig", {})
    machine_type = node.get("machineType", "e2-medium")
    spot = bool(node.get("spot"))
    zones = len(inputs.get("nodeLocations") or []) or (1 if catalog.ZONE_PATTERN.fullmatch(location) else 3)
    min_nodes, max_nodes = capacity.pool_bounds({"location": location} | inputs)
    resting = max(min_nodes, needed or 0)
    why = f"; the pods' requests need {needed}, above its minimum of {min_nodes}" if resting > min_nodes else ""
    accelerators = node.get("guestAccelerators", [])
    name = pool.name
    try:
        node_hourly = catalog.node_hourly(region, machine_type, spot, [(a["type"], a.get("count", 1)) for a in accelerators])
        disk_monthly = node.get("diskSizeGb", 100) * catalog.disk_monthly_per_gb(region, node.get("diskType", "pd-balanced"))
        ip_hourly = 0.0 if private_nodes else catalog.node_external_ip_hourly(region, spot)
    except catalog.UnknownPrice as e:
        return [Line(f"{name} nodes", f"not priced: {e.args[0]}", None)]

    kind = "Spot" if spot else "on-demand"
    discount = 0.0 if spot else catalog.sustained_use_discount(machine_type)
    machine = catalog.machine(region, machine_type)
    spot_range = (machine.spot_range[0] / machine.spot_hourly, machine.spot_range[1] / machine.spot_hourly) if spot and machine.spot_range else None
    spot_machine_hourly = machine.spot_hourly if spot else 0.0
    gpus = " + ".join(f"{a.get('count', 1)}× {a['type']}" for a in accelerators)
    what = f"{machine_type}{' with ' + gpus if gpus else ''}, {kind}, ${node_hourly:.4f}/h"
    spans = "totalMaxNodeCount" in (inputs.get("autoscaling") or {})
    # Per-zone bounds repeat in every zone; total bounds span them (the autoscaler picks the zone).
    where = "" if zones == 1 else f"across {zones} zones, " if spans else f"{zones} zones × "
    if accelerators:
        # A GPU node's boot disk and external IP live and die with it: priced in the node's line.
        per_node_month = (node_hourly * (1 - discount) + ip_hourly) * HOURS + disk_monthly
        burst = node_hourly + ip_hourly + disk_monthly / HOURS
        ip = f" + external IP ${ip_hourly:.4f}/h" if ip_hourly else ""
        return [
            Line(
                f"{name} GPU nodes",
                f"{where}{min_nodes}–{max_nodes} × {what} + {node.get('diskSizeGb')} GB {node.get('diskType')}{ip}; "
                f"{resting} at rest{why}, ${burst:.4f}/h per node while a burst runs",
                resting * per_node_month,
                burst_hourly=burst,
                burst_max_hourly=(max_nodes - resting) * burst,
                ceiling_monthly=max_nodes * ((node_hourly + ip_hourly) * HOURS + disk_monthly),
                spot_monthly=resting * spot_machine_hourly * HOURS,
                spot_hourly=spot_machine_hourly,
                spot_range=spot_range,
            )
        ]
    sud = f", {discount:.0%} sustained-use discount" if discount else ""
    monthly_node = node_hourly * HOURS * (1 - discount)
    lines = [
        Line(
            f"{name} nodes",
            f"{where}{resting} × {what}{sud} at rest{why} (up to {max_nodes})",
            resting * monthly_node,
            ceiling_monthly=max_nodes * monthly_node,
            spot_monthly=resting * spot_machine_hourly * HOURS,
            spot_range=spot_range,
        )
    ]
    if resting:
        lines.append(
            Line(
                f"{name} boot disks",
                f"{resting} × {node.get('diskSizeGb')} GB {node.get('diskType')}",
                resting * disk_monthly,
                ceiling_monthly=max_nodes * disk_monthly,
            )
        )
    if resting and ip_hourly:
        lines.append(
            Line(
                f"{name} node IPs",
                f"{resting} × external IPv4 of a{' Spot' if spot else 'n on-demand'} node, ${ip_hourly}/h (none with private nodes)",
                resting * ip_hourly * HOURS,
                ceiling_monthly=max_nodes * ip_hourly * HOURS,
            )
        )
    return lines


def _cloud_nat(records: Sequence[ResourceRecord], region: str, placement: capacity.Placement | None) -> Line:
    """Cloud NAT, the way out for private nodes: per node it serves (in place of the external IP
    a public node has), plus its own address; the GiB it processes are a usage rate."""
    nat = catalog.cloud_nat()
    pools = _of(records, NODE_POOL)
    resting = sum(placement.nodes_of(p.name) if placement else capacity.pool_bounds(p.inputs)[0] for p in pools)
    billed = min(resting, nat["max_vms_billed"])
    gpu = any(p.inputs.get("nodeConfig", {}).get("guestAccelerators") for p in pools)
    return Line(
        "Cloud NAT",
        f"{billed} node(s) at rest × ${nat['per_vm_hourly']}/h + 1 NAT IP × ${nat['ip_hourly']}/h"
        + (f"; ${nat['per_vm_hourly']}/h per GPU node while a burst runs" if gpu else ""),
        (billed * nat["per_vm_hourly"] + nat["ip_hourly"]) * HOURS,
        burst_hourly=nat["per_vm_hourly"] if gpu else 0.0,
    )


def _is_load_balancer(service: ResourceRecord) -> bool:
    return service.inputs.get("spec", {}).get("type") == "LoadBalancer"


def forwarding_rules(records: Sequence[ResourceRecord], region: str) -> dict[str, list[str]]:
    """The forwarding rules the records create, by billing scope: a GKE Gateway of the global
    class is a global external Application Load Balancer with a rule per listener port; a
    LoadBalancer Service is a regional passthrough Network Load Balancer, one rule in the region."""
    scopes: dict[str, list[str]] = {}
    for gateway in _of(records, GATEWAY):
        ports = sorted({listener["port"] for listener in gateway.inputs.get("spec", {}).get("listeners", [])})
        scope = "global" if "global" in gateway.inputs.get("spec", {}).get("gatewayClassName", "global") else region
        scopes.setdefault(scope, []).extend(f"Gateway port {port}" for port in ports)
    for service in _of(records, "kubernetes:core/v1:Service"):
        if _is_load_balancer(service):
            metadata = service.inputs.get("metadata", {})
            scopes.setdefault(region, []).append(f"{metadata.get('namespace')}/{metadata.get('name')}")
    return scopes


def _forwarding_rules(records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord], region: str | None) -> list[Line]:
    """Forwarding rules priced as Google bills them: per project and scope, a flat rate for the
    first five together, then per rule. A stack in another's cluster pays what its rules add
    to the host's (same project)."""
    if region is None:
        return [Line("forwarding rules", "not priced: the cluster's region is not in this plan", None)] if forwarding_rules(records, "?") else []
    own, host = forwarding_rules(records, region), forwarding_rules(host_records, region)
    lines = []
    for scope, rules in own.items():
        before = len(host.get(scope, []))
        monthly = (catalog.forwarding_rules_hourly(region, before + len(rules)) - catalog.forwarding_rules_hourly(region, before)) * HOURS
        what = "public entry (Gateway)" if all(rule.startswith("Gateway") for rule in rules) else "load balancers"
        detail = (
            f"{len(rules)} {scope} forwarding rule{'s' if len(rules) != 1 else ''} ({', '.join(rules)})"
            f"{f' after the host stack’s {before}' if before else ''}: {_rule_pricing(region)}"
        )
        if what.startswith("public entry"):
            detail += _per_app_alternative(records, host_records, region)
        lines.append(Line(what if scope == "global" else f"{what} ({scope})", detail, monthly))
    return lines


def _rule_pricing(region: str) -> str:
    first_five = catalog.forwarding_rules_hourly(region, 1) * HOURS
    extra = (catalog.forwarding_rules_hourly(region, 6) - catalog.forwarding_rules_hourly(region, 5)) * HOURS
    return f"${first_five:,.2f}/month for the project's first five in the scope together, ${extra:,.2f} for each one beyond"


def _per_app_alternative(records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord], region: str) -> str:
    apps = len(public_routes(records))
    if not apps:
        return ""
    instead = catalog.forwarding_rules_hourly(region, apps) * HOURS
    return (
        f"; {apps} public app{'s' if apps != 1 else ''} today, as LoadBalancer Services they would be "
        f"{apps} regional rule{'s' if apps != 1 else ''} = ${instead:,.2f} with no TLS, host routing or shared address"
    )


def _static_ip(address: ResourceRecord, region: str | None) -> Line:
    if region is None:
        return Line(f"static IP {address.name}", "not priced: the cluster's region is not in this plan", None)
    unused = catalog.static_ip_hourly(region, in_use=False) * HOURS
    return Line(f"static IP {address.inputs.get('name', address.name)}", f"no charge while the Gateway's forwarding rules use it (${unused:,.2f}/month if left unused)", catalog.static_ip_hourly(region, in_use=True) * HOURS)


def _certificates(records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord], region: str | None) -> Line | None:
    own = _of(records, CERTIFICATE_TYPES[0])
    if not own:
        return None
    hosts = sorted(d for c in own for d in c.inputs.get("managed", {}).get("domains", []))
    described = f"{len(own)} Google-managed ({', '.join(hosts)})"
    if region is None:
        return Line("TLS certificates", f"{described} — not priced: the cluster's region is not in this plan", None)
    before = len(_of(host_records, CERTIFICATE_TYPES[0]))
    try:
        monthly = catalog.certificates_monthly(region, before + len(own)) - catalog.certificates_monthly(region, before)
    except catalog.UnknownPrice as e:
        return Line("TLS certificates", f"{described} — not priced: {e.args[0]}", None)
    total = before + len(own)
    return Line("TLS certificates", f"{described}; {total} in the project, free up to {catalog.free_certificates_per_project(region)}", monthly)


def _rates(records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord], region: str) -> list[Rate]:
    rates = catalog.per_gib_rates(region)
    found = []
    behind_a_load_balancer = forwarding_rules(records, region) or (public_routes(records) and forwarding_rules(host_records, region))
    if behind_a_load_balancer:
        entry = rates["load_balancer_data_processed"]
        found.append(Rate("load balancer data processed", entry["rate"], entry["note"]))
    entry = rates["internet_egress"]
    found.append(Rate("internet egress", entry["rate"], entry["note"]))
    if _of(records, ROUTER_NAT):
        found.append(Rate("Cloud NAT data processed", catalog.cloud_nat()["per_gib"], "every GiB through the NAT, both directions: image pulls from ghcr.io and Docker Hub included"))
    return found


def _shared_cluster(host: str, records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord] | None, region: str | None) -> Line:
    """What this stack's pods add to the host's cluster at rest: the nodes they need beyond the
    host's own, at the host pools' prices."""
    pods = capacity.pods_of(records)
    cpu, memory = sum(p.cpu for p in pods), sum(p.memory for p in pods)
    quota_cpu, quota_memory = _reserved(records)
    detail = (
        f"runs in {host}'s cluster, no management fee; its pods request {cpu:g} vCPU and {memory:.2f} GiB at rest "
        f"(its quotas allow up to {quota_cpu:g} vCPU and {quota_memory:g} GiB)"
    )
    if host_records is None or region is None:
        return Line("shared cluster", f"{detail} — not priced: {host}'s plan is not available", None)
    try:
        alone, shared = capacity.at_rest(host_records, region), capacity.at_rest(host_records, region, guests=records)
    except catalog.UnknownPrice as e:
        return Line("shared cluster", f"{detail} — not priced: {e.args[0]}", None)
    private = any(private_nodes(c) for c in _of(host_records, CLUSTER))
    added, monthly = [], 0.0
    for pool in _of(host_records, NODE_POOL):
        extra = shared.nodes_of(pool.name) - alone.nodes_of(pool.name)
        if extra > 0:
            per_node = node_monthly(pool, region, private)
            added.append(f"{extra} × {pool.inputs.get('nodeConfig', {}).get('machineType')} in {pool.name} (${per_node:,.2f}/month each)")
            monthly += extra * per_node
    if shared.unschedulable:
        detail += f"; {len(shared.unschedulable)} pod(s) fit nowhere even with {host}'s pools at their maximum"
    if added:
        return Line("shared cluster", f"{detail}; they add {', '.join(added)} to {host}'s nodes at rest", monthly)
    return Line("shared cluster", f"{detail}; they fit in the room {host}'s nodes have at rest", 0.0)


CRON_JOB = "kubernetes:batch/v1:CronJob"
GPU_POOL_COMPONENT = "shoestring:gke:GpuPool"
CLUSTER_DNS = "shoestring:gke:ClusterDns"


def cloud_dns(record: ResourceRecord) -> Line:
    """Cloud DNS as the cluster's provider: its private zone, and the pods' queries at the rate
    the stack declares (``shoestring:dns.queriesPerSecond``), each second of a 730-hour month."""
    rates = catalog.cloud_dns()
    per_second = float(record.inputs.get("queriesPerSecond", 0))
    millions = per_second * 3600 * HOURS / 1e6
    return Line(
        "Cloud DNS",
        f"the cluster's private zone ${rates['zone_monthly']:.2f}/month, and {per_second:g} queries/s declared = "
        f"{millions:,.1f} million a month × ${rates['per_million_queries']:.2f} per million (kube-dns and its autoscaler scaled to zero)",
        rates["zone_monthly"] + millions * rates["per_million_queries"],
    )


def _gpu_pools(records: Sequence[ResourceRecord]) -> list[ResourceRecord]:
    return [p for p in _of(records, NODE_POOL) if p.inputs.get("nodeConfig", {}).get("guestAccelerators")]


def _scheduled_batch(cron_job: ResourceRecord, records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord] | None, region: str | None) -> Line:
    """A CronJob's runs a month × the GPU nodes a run takes × its deadline, at the GPU pool's burst
    rate: the most its schedule can spend. A suspended one (a batch run on demand) spends nothing
    of its own; its bursts are the stack's expectedGpuHours."""
    metadata, spec = cron_job.inputs.get("metadata", {}), cron_job.inputs.get("spec", {})
    item = f"batch {metadata.get('namespace')}/{metadata.get('name')}"
    job = spec.get("jobTemplate", {}).get("spec", {})
    pod = job.get("template", {}).get("spec", {})
    gpus = int(sum(float(c.get("resources", {}).get("requests", {}).get(GPU_RESOURCE, 0)) for c in pod.get("containers", [])))
    parallelism, hours = int(job.get("parallelism", 1)), job.get("activeDeadlineSeconds", 0) / 3600
    if spec.get("suspend"):
        return Line(item, f"on demand (suspended CronJob): up to {parallelism} pods for at most {hours:g} h a run, in the expected GPU node-hours", 0.0)
    runs = capacity.cron_runs_per_month(spec.get("schedule", ""))
    if not gpus:
        return Line(item, f"{runs:,.2f} runs/month ({spec.get('schedule')} UTC) of CPU pods, in the CPU pools' room or on nodes added for their hours (not estimated)", 0.0)
    pools = _gpu_pools(records) or _gpu_pools(host_records or [])
    if not pools or region is None:
        return Line(item, f"{runs:,.2f} runs/month of GPU pods — not priced: no GPU pool in this plan", None)
    pool = pools[0]
    per_node = max(1, int(sum(a.get("count", 1) for a in pool.inputs["nodeConfig"]["guestAccelerators"])) // gpus)
    nodes = -(-parallelism // per_node)
    clusters = _of(records, CLUSTER) or _of(host_records or [], CLUSTER)
    try:
        burst = _node_pool(pool, _location_of(pool, clusters), region, any(private_nodes(c) for c in clusters), None)[0].burst_hourly
    except IndexError:
        return Line(item, "not priced: the GPU pool has no price", None)
    if not burst:
        return Line(item, "not priced: the GPU pool has no price", None)
    node_hours = runs * nodes * hours
    return Line(
        item,
        f"{runs:,.2f} runs/month ({spec.get('schedule')} UTC) × {nodes} × {pool.inputs['nodeConfig'].get('machineType')} GPU node"
        f"{'s' if nodes != 1 else ''} × at most {hours:g} h = {node_hours:,.1f} GPU node-hours × ${burst:.4f}/h, in the expected figure",
        0.0,
        scheduled_monthly=node_hours * burst,
        scheduled_gpu_hours=node_hours,
    )


def always_on_gpu(records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord] | None, region: str) -> list[AlwaysOnGpu]:
    """GPU Deployments with replicas, and the GPU nodes the placement gives them at rest."""
    owners = {
        f"{r.inputs.get('metadata', {}).get('namespace')}/{r.inputs.get('metadata', {}).get('name')}": capacity.deployment_replicas(r.inputs.get("spec", {}))
        for r in _of(records, capacity.DEPLOYMENT)
        if any(c.get("resources", {}).get("requests", {}).get(GPU_RESOURCE) for c in r.inputs.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []))
        and capacity.deployment_replicas(r.inputs.get("spec", {})) > 0
    }
    if not owners:
        return []
    cluster = records if host_records is None else host_records
    pools = {p.name: p for p in _gpu_pools(cluster)}
    try:
        placement = capacity.at_rest(cluster, region, guests=[] if host_records is None else records)
    except catalog.UnknownPrice:
        return []
    private = any(private_nodes(c) for c in _of(cluster, CLUSTER))
    found = []
    for owner, replicas in owners.items():
        nodes = [n for n in placement.on(owner) if n.pool.name in pools]
        if nodes:
            pool = pools[nodes[0].pool.name]
            try:
                monthly = len(nodes) * node_monthly(pool, region, private)
            except catalog.UnknownPrice:
                continue
            found.append(AlwaysOnGpu(owner, replicas, len(nodes), pool.inputs["nodeConfig"].get("machineType", ""), round(monthly, 2)))
    return found


GPU_COMPUTE_CLASS_COMPONENT = "shoestring:gke:GpuComputeClass"


def fallback_rungs(records: Sequence[ResourceRecord]) -> set[str]:
    """The GKE names of the GPU pools the ComputeClass falls back to (every rung after the first)."""
    return {rung["pool"] for r in _of(records, GPU_COMPUTE_CLASS_COMPONENT) for rung in r.inputs.get("rungs", [])[1:]}


def _fallback_rung(line: Line) -> Line:
    """A fallback rung's pool costs nothing until the rungs above it are out: out of the expected
    figure and the burst rate (which the first rung sets), shown with what a burst entirely on it costs."""
    if not line.burst_hourly:
        return line
    nodes = round(line.burst_max_hourly / line.burst_hourly)
    return dataclasses.replace(
        line,
        detail=f"{line.detail}; a fallback rung of the GPU ComputeClass, used only when Spot is out in every zone: "
        f"a burst entirely on it costs {nodes} × ${line.burst_hourly:.4f} = ${line.burst_max_hourly:,.4f}/h, not in the expected figure",
        burst_hourly=0.0,
        burst_max_hourly=0.0,
        fallback_hourly=line.burst_hourly,
        fallback_max_hourly=line.burst_max_hourly,
    )


def gpu_ceiling(records: Sequence[ResourceRecord]) -> GpuCeiling | None:
    """The stack's own GPU pool at its maximum, with the quota its GpuPool component records (the
    fallback rungs share that ceiling: the namespaces' GPU quota caps the pods of all rungs together)."""
    fallbacks = fallback_rungs(records)
    pools = [p for p in _gpu_pools(records) if p.inputs.get("name") not in fallbacks]
    if not pools:
        return None
    nodes = sum(capacity.pool_bounds(p.inputs)[1] for p in pools)
    per_node = int(sum(a.get("count", 1) for a in pools[0].inputs["nodeConfig"]["guestAccelerators"]))
    quota = next((r.inputs.get("quota") for r in _of(records, GPU_POOL_COMPONENT) if r.inputs.get("quota")), None)
    return GpuCeiling(nodes, per_node, quota.get("metric") if quota else None, int(quota["limit"]) if quota else None)
def _gpu_burst_on_host(host: str, records: Sequence[ResourceRecord], host_records: Sequence[ResourceRecord] | None, region: str | None) -> Line | None:
    """What this stack's GPU work costs on the host's GPU pool: a node per hour while it runs,
    billed to the same project as the host's, so priced from the host's pool. None when no app
    of this stack asks for GPUs."""
    deployments = _of(records, capacity.DEPLOYMENT)
    if not any(_requests_gpus(d) for d in deployments):
        return None
    pools = [p for p in _of(host_records or (), capacity.NODE_POOL) if p.inputs.get("nodeConfig", {}).get("guestAccelerators")]
    if not pools or region is None:
        return Line("GPU burst on the host's pool", f"its GPU apps run on {host}'s GPU pool — not priced: {host}'s plan is not available", None)
    clusters = _of(host_records, CLUSTER)
    private = any(private_nodes(c) for c in clusters)
    [line] = _node_pool(pools[0], _location_of(pools[0], clusters), region, private or private_nodes(pools[0]), 0)
    if line.idle_monthly is None:
        return dataclasses.replace(line, item="GPU burst on the host's pool")
    return Line(
        "GPU burst on the host's pool",
        f"its GPU apps wake {host}'s {pools[0].name} (scale-to-zero, {host} pays it at rest): "
        f"${line.burst_hourly:.4f}/h per node while a burst runs, up to {line.burst_max_hourly / line.burst_hourly:g} nodes" if line.burst_hourly else "",
        0.0,
        burst_hourly=line.burst_hourly,
        burst_max_hourly=line.burst_max_hourly,
        ceiling_monthly=line.ceiling_monthly,
        spot_hourly=line.spot_hourly,
        spot_range=line.spot_range,
    )


def _requests_gpus(deployment: ResourceRecord) -> bool:
    containers = deployment.inputs.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return any(float(c.get("resources", {}).get("requests", {}).get(capacity.GPU_RESOURCE, 0)) > 0 for c in containers)


def node_monthly(pool: ResourceRecord, region: str, private_nodes: bool) -> float:
    """One node of the pool for a whole month: machine (after any sustained-use discount), boot disk and address."""
    node = pool.inputs.get("nodeConfig", {})
    machine_type, spot = node.get("machineType", "e2-medium"), bool(node.get("spot"))
    gpus = [(a["type"], a.get("count", 1)) for a in node.get("guestAccelerators", [])]
    discount = 0.0 if spot else catalog.sustained_use_discount(machine_type)
    hourly = catalog.node_hourly(region, machine_type, spot, gpus) * (1 - discount)
    ip = 0.0 if private_nodes else catalog.node_external_ip_hourly(region, spot)
    return (hourly + ip) * HOURS + node.get("diskSizeGb", 100) * catalog.disk_monthly_per_gb(region, node.get("diskType", "pd-balanced"))


def headroom_problems(stack: str, records: Sequence[ResourceRecord], guests: Sequence[ResourceRecord] = ()) -> list[str]:
    """Why the stack's on-demand pools are too full at rest (below ``capacity.HEADROOM_FLOOR``),
    each naming the pool, the node that would fix it and what that node costs; [] when none is."""
    region = region_of(records)
    if region is None or not _of(records, capacity.NODE_POOL):
        return []
    try:
        placement = capacity.at_rest(records, region, guests)
    except catalog.UnknownPrice:
        return []
    private = any(private_nodes(c) for c in _of(records, CLUSTER))
    problems = []
    for room in capacity.headroom(placement):
        if not room.short:
            continue
        pool = room.pool
        [record] = [r for r in _of(records, capacity.NODE_POOL) if r.name == pool.name]
        fix = f"raise its minNodes to {room.nodes + 1}" + (f" and maxNodes to {room.nodes + 1}" if room.nodes >= pool.max_nodes else "")
        problems.append(
            f"stack {stack}: {pool.name} (on-demand {pool.machine.name}) keeps {room.free_cpu:.2f} of {room.allocatable_cpu:.2f} vCPU "
            f"and {room.free_memory:.2f} of {room.allocatable_memory:.2f} GiB free at rest with {room.nodes} node(s), below the "
            f"{capacity.HEADROOM_FLOOR:.0%} headroom floor GKE's own pods and rollouts need (docs/costs.md \"Headroom floor\"). "
            f"{fix[0].upper()}{fix[1:]}: 1 more {pool.machine.name} at ${node_monthly(record, region, private):,.2f}/month; "
            "or give the pool a larger machine type, or lower the apps' requests"
        )
    return problems


def default_apps_that_fit(records: Sequence[ResourceRecord], guests: Sequence[ResourceRecord] = ()) -> str | None:
    """`make plan`'s room line: how many more apps at the definitions' default requests (one
    replica each) the stack's nodes at rest hold before a node is added; None without pools."""
    region = region_of(records)
    if region is None or not _of(records, NODE_POOL):
        return None
    default = Resources()  # the requests an app gets when its definition sets none
    app = capacity.Pod("new/app", capacity.parse_cpu(default.cpu), capacity.parse_gib(default.memory), priority=PRIORITY_VALUES[USER_FACING_PRIORITY])
    try:
        fit = capacity.room_for(records, region, app, guests)
    except catalog.UnknownPrice:
        return None
    return (
        f"room: {fit} more app{'s' if fit != 1 else ''} at the default requests ({default.cpu} CPU, {default.memory}, 1 replica) "
        f"fit on the nodes at rest with the {capacity.HEADROOM_FLOOR:.0%} headroom floor kept; the next adds a node"
    )


def _at_rest(records: Sequence[ResourceRecord], region: str | None, notes: list[str]) -> capacity.Placement | None:
    """The stack's own cluster at rest, or None (no pools, or a machine the catalog lacks)."""
    if region is None or not _of(records, NODE_POOL):
        return None
    try:
        placement = capacity.at_rest(records, region)
    except catalog.UnknownPrice:
        return None
    for pod in placement.unschedulable:
        notes.append(f"a pod of {pod.owner} ({pod.cpu:g} vCPU, {pod.memory:.2f} GiB) fits on no pool even at its maximum")
    return placement


# Helpers.


def _of(records: Sequence[ResourceRecord], type_: str) -> list[ResourceRecord]:
    return [r for r in records if r.type == type_]


def public_routes(records: Sequence[ResourceRecord]) -> list[ResourceRecord]:
    """The HTTPRoutes of public apps: those with host names (the HTTP-to-HTTPS redirect has none)."""
    return [r for r in _of(records, ROUTE) if r.inputs.get("spec", {}).get("hostnames")]


def region_of(records: Sequence[ResourceRecord]) -> str | None:
    """The region a stack's resources are priced in: its cluster's, else its node pools'."""
    for cluster in _of(records, CLUSTER):
        location = cluster.inputs.get("location", "")
        return catalog.region_of(location) if catalog.ZONE_PATTERN.fullmatch(location) else location
    for pool in _of(records, NODE_POOL):
        return catalog.region_of(pool.inputs.get("location", ""))
    return None


def private_nodes(record: ResourceRecord) -> bool:
    """Whether the cluster (or the pool) gives its nodes no external address."""
    inputs = record.inputs
    return bool(inputs.get("privateClusterConfig", {}).get("enablePrivateNodes") or inputs.get("networkConfig", {}).get("enablePrivateNodes"))


def _location_of(pool: ResourceRecord, clusters: Sequence[ResourceRecord]) -> str:
    location = pool.inputs.get("location")
    if location:
        return location
    return clusters[0].inputs.get("location", "") if clusters else ""


def _reserved(records: Sequence[ResourceRecord]) -> tuple[float, float]:
    cpu = memory = 0.0
    for quota in _of(records, "kubernetes:core/v1:ResourceQuota"):
        hard = quota.inputs.get("spec", {}).get("hard", {})
        cpu += capacity.parse_cpu(hard.get("requests.cpu", "0"))
        memory += capacity.parse_gib(hard.get("requests.memory", "0"))
    return cpu, memory
