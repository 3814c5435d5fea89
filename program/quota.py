"""The Compute Engine quota a full GPU burst draws on, metric by metric, as Compute Engine counts
it (cloud.google.com/compute/resource-usage): the GPUs (program/config/catalog_checks.py checks
those against gpuPool.quota), and what the same nodes need besides — their family's vCPUs
(#cpu_quota: E2 and N1 count against CPUS, every other series against its own <SERIES>_CPUS, e.g.
G2_CPUS; Spot VMs against PREEMPTIBLE_CPUS where the project has any, else the standard metric),
every vCPU again in CPUS_ALL_REGIONS, their boot disks in SSD_TOTAL_GB (#disk_quota: pd-balanced
and pd-ssd; pd-standard is DISKS_TOTAL_GB) and an external IPv4 each in IN_USE_ADDRESSES
(#external_ip_addresses; none with private nodes). The shared metrics count the cluster's other
pools at their ceilings too: they hold their quota while a burst runs."""

from __future__ import annotations

from dataclasses import dataclass

from program import catalog
from program.config.model import StackConfig

SSD_DISK_TYPES = ("pd-balanced", "pd-ssd")
SHARED_CORE_CPUS_SERIES = ("e2", "n1", "f1", "g1")
"""Series whose vCPUs count against the regional CPUS metric rather than a <SERIES>_CPUS of their own."""


@dataclass(frozen=True)
class QuotaNeed:
    metric: str
    key: str
    """Its gpuPool.quota key."""
    needed: int
    burst: int
    """The part of ``needed`` the GPU nodes take (the rest: the other pools at their ceilings)."""
    declared: int | None
    """None: the stack does not say what the project has."""
    region: str | None
    """None: a global metric."""
    unit: str = ""

    def figure(self, value: int) -> str:
        return f"{value:,}{self.unit}"


def cpu_metric(machine_type: str) -> str:
    series = machine_type.split("-", 1)[0].lower()
    return "CPUS" if series in SHARED_CORE_CPUS_SERIES else f"{series.upper()}_CPUS"


def burst_needs(cfg: StackConfig) -> list[QuotaNeed]:
    """What a burst at the GPU pool's ceiling needs of every metric but the GPUs', with what the
    stack declares of each; [] without a GPU pool or a priced machine type."""
    gpu, region = cfg.gpu_pool, cfg.region
    if gpu is None or gpu.machine_type not in catalog.machine_types(region):
        return []
    quota = gpu.quota
    declared = (lambda name: getattr(quota, name)) if quota is not None else (lambda name: None)
    vcpus = int(catalog.machine(region, gpu.machine_type).vcpus)
    nodes = gpu.max_nodes  # the namespaces' GPU quota caps every rung's pods together at this ceiling
    on_demand_nodes = gpu.on_demand_fallback.max_nodes if gpu.on_demand_fallback is not None else 0
    others = [pool for pool in (cfg.default_pool, cfg.spot_pool) if pool is not None]
    other_cpus = sum(pool.max_nodes * int(catalog.machine(region, pool.machine_type).vcpus) for pool in others if pool.machine_type in catalog.machine_types(region))
    preemptible = gpu.spot and (declared("preemptible_cpus") or 0) > 0
    family = cpu_metric(gpu.machine_type)
    # On the family's metric: the on-demand nodes, and the Spot ones too unless PREEMPTIBLE_CPUS is granted.
    family_nodes = min(nodes, on_demand_nodes + (0 if preemptible else nodes))
    needs = [
        QuotaNeed(family, "cpus", family_nodes * vcpus, family_nodes * vcpus, declared("cpus"), region),
        QuotaNeed("CPUS_ALL_REGIONS", "cpusAllRegions", nodes * vcpus + other_cpus, nodes * vcpus, declared("cpus_all_regions"), None),
    ]
    if preemptible:
        spot_pools = [pool for pool in others if pool is cfg.spot_pool or cfg.default_pool.spot]
        spot_cpus = sum(pool.max_nodes * int(catalog.machine(region, pool.machine_type).vcpus) for pool in spot_pools if pool.machine_type in catalog.machine_types(region))
        needs.insert(1, QuotaNeed("PREEMPTIBLE_CPUS", "preemptibleCpus", nodes * vcpus + spot_cpus, nodes * vcpus, declared("preemptible_cpus"), region))
    if gpu.disk_type in SSD_DISK_TYPES:
        burst_gb = nodes * gpu.disk_size_gb
        other_gb = sum(pool.max_nodes * pool.disk_size_gb for pool in others if pool.disk_type in SSD_DISK_TYPES)
        needs.append(QuotaNeed("SSD_TOTAL_GB", "ssdTotalGb", burst_gb + other_gb, burst_gb, declared("ssd_total_gb"), region, " GB"))
    if not cfg.private_nodes:
        needs.append(QuotaNeed("IN_USE_ADDRESSES", "inUseAddresses", nodes + sum(pool.max_nodes for pool in others), nodes, declared("in_use_addresses"), region))
    return needs
