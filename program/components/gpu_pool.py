"""GpuPool: GPU nodes that exist only while a pod that tolerates them is waiting."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

from pydantic import Field, model_validator

from program.components.compute_class import COMPUTE_CLASS_KEY, GPU_COMPUTE_CLASS, Rung
from program.components.node_pool import POOL_LABEL, PoolArgs, node_config
from program.definitions import MAX_GPUS_PER_POD
from program.settings import MAX_DISK_GB, MAX_NODES_PER_POOL, Autoscaled, DiskType, Settings

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NO_SCHEDULE"
"""The taint GKE itself puts on GPU nodes (in some cases, and never retroactively). Declaring the
same key, value and effect means ours and GKE's never disagree."""
GPU_POOL_LABEL_VALUE = "gpu"


class GpuQuota(TypedDict):
    """GPU quota of the GCP project, as Compute Engine counts it (cloud.google.com/compute/resource-usage#gpu_quota)."""

    metric: str
    """The regional metric the pool's GPUs count against, e.g. ``PREEMPTIBLE_NVIDIA_L4_GPUS`` for Spot nodes."""
    limit: int
    """The limit the stack declares for that metric in the region."""
    all_regions: int
    """The limit the stack declares for ``GPUS_ALL_REGIONS``, the global metric every GPU counts against too."""


class GpuQuotaSettings(Settings):
    """`shoestring:gpuPool.quota` — the Compute Engine quota the GCP project has for a full burst, as
    Compute Engine counts it (cloud.google.com/compute/resource-usage): check yours on the console's Quotas page."""

    preemptible: int = Field(default=0, ge=0, le=100_000)
    """Regional `PREEMPTIBLE_<GPU>_GPUS` (PREEMPTIBLE_NVIDIA_L4_GPUS for nvidia-l4) in the cluster's region: what Spot GPU nodes count against (while it is 0, they count against the on-demand quota)."""
    on_demand: int = Field(default=0, ge=0, le=100_000)
    """Regional `<GPU>_GPUS` (NVIDIA_L4_GPUS for nvidia-l4) in the cluster's region: what on-demand GPU nodes count against."""
    all_regions: int = Field(default=0, ge=0, le=100_000)
    """Global `GPUS_ALL_REGIONS`: every GPU of the project, in any region, counts against it as well. A new project has 0."""
    cpus: int | None = Field(default=None, ge=0, le=1_000_000)
    """Regional vCPU metric of the GPU machines' series (`G2_CPUS` for g2-*; `CPUS` for n1-*): on-demand GPU nodes count against it, and Spot ones while preemptibleCpus is 0. Omitted: make plan warns."""
    preemptible_cpus: int | None = Field(default=None, ge=0, le=1_000_000)
    """Regional `PREEMPTIBLE_CPUS`, where granted: above 0, every Spot VM's vCPUs count against it instead. Omitted or 0: Spot vCPUs count against cpus."""
    cpus_all_regions: int | None = Field(default=None, ge=0, le=1_000_000)
    """Global `CPUS_ALL_REGIONS`: every vCPU of the project, the other pools' at their maxNodes too. Omitted: make plan warns."""
    ssd_total_gb: int | None = Field(default=None, ge=0, le=10_000_000)
    """Regional `SSD_TOTAL_GB`: every pd-balanced and pd-ssd disk, the GPU nodes' boot disks included. Omitted: make plan warns."""
    in_use_addresses: int | None = Field(default=None, ge=0, le=100_000)
    """Regional `IN_USE_ADDRESSES`: an external IPv4 per node unless the cluster has private nodes. Omitted: make plan warns."""


class OnDemandFallbackSettings(Settings):
    """`shoestring:gpuPool.onDemandFallback` — on-demand GPU nodes a burst falls back to when Spot is
    out in every zone of the pool: the second rung of the GPU ComputeClass. Declaring it is the
    stack's opt-in to paying on-demand prices; it costs nothing until a node is added."""

    max_nodes: int = Field(ge=1, le=MAX_NODES_PER_POOL)
    """The most on-demand GPU nodes at once (required), at most gpuPool.maxNodes: a burst's pods are
    capped by the namespaces' GPU quota, which the Spot pool's ceiling sets."""


class GpuPoolSettings(Autoscaled):
    """`shoestring:gpuPool` — the pool that exists only while GPU work is pending."""

    machine_type: str = "g2-standard-4"
    """Machine type that can carry the accelerator (g2-* for nvidia-l4, n1-* for nvidia-tesla-t4)."""
    accelerator: str = "nvidia-l4"
    """GPU type."""
    accelerator_count: int = Field(default=1, ge=1, le=MAX_GPUS_PER_POD)
    """GPUs per node; g2 and a2 machines come with a fixed number."""
    driver_version: Literal["DEFAULT", "LATEST"] = "DEFAULT"
    """GPU driver GKE installs on each node. Without one, pods cannot use the GPU."""
    min_nodes: int = Field(default=0, ge=0, le=MAX_NODES_PER_POOL)
    """Autoscaling floor. 0, so no GPU is billed while nothing needs one (see keepWarm)."""
    max_nodes: int = Field(default=1, ge=1, le=MAX_NODES_PER_POOL)
    """Autoscaling ceiling: the most GPU nodes a burst may bill at once."""
    keep_warm: bool = False
    """Explicit override that allows minNodes above 0, i.e. paying for idle GPU nodes."""
    zone: str | None = None
    """Zone of the GPU nodes, in the cluster's region; defaults to the cluster's zone.
    GPU types are offered per zone, so a pool may need a neighbouring one."""
    zones: list[str] = []
    """Zones of the cluster's region the GPU nodes may run in, instead of `zone`: the autoscaler adds each node wherever
    Spot capacity is left (location policy ANY), minNodes and maxNodes count over all of them, and the control plane
    stays in the cluster's zone (still a zonal, free-tier cluster). Only zones that offer the accelerator (program/zones.yaml)."""
    quota: GpuQuotaSettings | None = None
    """The GPU quota the GCP project has (object; keys below). `make plan` fails when maxNodes × acceleratorCount exceeds
    it, naming the quota to request; omitted, the plan only warns."""
    spot: bool = False
    """Spot GPU nodes: far cheaper, preemptible; right for batch work that can retry."""
    on_demand_fallback: OnDemandFallbackSettings | None = None
    """With `spot`, an on-demand pool GKE falls back to when no zone has Spot capacity (object; keys below). Omit for none: pods then wait for Spot."""
    disk_type: DiskType = "pd-balanced"
    """Boot disk type. pd-balanced, the cheapest that G2 (L4) machines offer: they have no pd-standard."""
    disk_size_gb: int = Field(default=100, ge=10, le=MAX_DISK_GB)
    """Room for CUDA images, which run to several GB."""

    @model_validator(mode="after")
    def _fallback_below_spot(self) -> GpuPoolSettings:
        fallback = self.on_demand_fallback
        if fallback is not None and not self.spot:
            raise ValueError("onDemandFallback falls back from Spot, but the pool is on demand already (spot: false); remove onDemandFallback")
        if fallback is not None and fallback.max_nodes > self.max_nodes:
            raise ValueError(
                f"onDemandFallback.maxNodes ({fallback.max_nodes}) is above maxNodes ({self.max_nodes}): the namespaces' GPU quota "
                f"admits {self.max_nodes} nodes' worth of pods at once; set onDemandFallback.maxNodes to at most {self.max_nodes}"
            )
        return self

    @property
    def gpus(self) -> int:
        """The most GPUs the pool bills at once: its ceiling."""
        return self.max_nodes * self.accelerator_count

    def node_zone(self, cluster_zone: str) -> str:
        """The zone of its nodes when ``zones`` lists none: ``zone``, else the cluster's."""
        return self.zone or cluster_zone

    def node_zones(self, cluster_zone: str) -> list[str]:
        """The zones its nodes may run in: ``zones``, else :meth:`node_zone`."""
        return list(self.zones) or [self.node_zone(cluster_zone)]


class BurstQuota(TypedDict):
    """One more metric a full burst draws on (program/quota.py), as the plan shows it."""

    metric: str
    needed: str
    """What the GPU nodes take, with its unit, e.g. ``2,000 GB``; ``+ the other pools'`` where those count too."""
    declared: str | None


class GpuPoolArgs(PoolArgs):
    settings: GpuPoolSettings
    burst_quota: NotRequired[list[BurstQuota]]
    """The vCPU, disk and address quota a burst at the ceiling needs, recorded for the plan."""
    quota: NotRequired[GpuQuota]
    """The project's GPU quota as the stack declares it, with the metric the pool's GPUs count
    against; recorded on the component for the plan, the cost estimate and the diff to set the
    pool's ceiling against."""


class GpuPool(pulumi.ComponentResource):
    """An autoscaled GPU pool that scales to zero and repels every pod that does not tolerate it,
    with, for a Spot pool, an on-demand pool beside it to fall back to (``onDemandFallback``).

    No initial nodes are declared: the pools start empty, and only a pending pod that tolerates
    the ``nvidia.com/gpu`` taint and selects the GPU ComputeClass makes the autoscaler add one.
    Both pools carry the class's label and taint (program/components/compute_class.py), in the order
    :attr:`rungs` gives.
    """

    name: pulumi.Output[str]
    rungs: list[Rung]
    """The pools in the order the ComputeClass tries them."""
    pools: list[gcp.container.NodePool]

    def __init__(self, name: str, args: GpuPoolArgs, opts: pulumi.ResourceOptions | None = None):
        quota = args.get("quota")
        props = {"quota": {"metric": quota["metric"], "limit": quota["limit"], "allRegions": quota["all_regions"]}} if quota else {}
        if args.get("burst_quota"):
            props["burstQuota"] = [dict(need) for need in args["burst_quota"]]
        super().__init__("shoestring:gke:GpuPool", name, props or None, opts)
        settings = args["settings"]
        fallback = settings.on_demand_fallback
        self.rungs = [{"pool": name, "provisioning": "spot" if settings.spot else "on-demand", "max_nodes": settings.max_nodes}]
        if fallback is not None:
            self.rungs.append({"pool": f"{name}-on-demand", "provisioning": "on-demand", "max_nodes": fallback.max_nodes})
        self.pools = [self._pool(args, rung, min_nodes=settings.min_nodes if i == 0 else 0) for i, rung in enumerate(self.rungs)]
        self.name = self.pools[0].name
        self.register_outputs({"name": self.name, **props})

    def _pool(self, args: GpuPoolArgs, rung: Rung, *, min_nodes: int) -> gcp.container.NodePool:
        settings = args["settings"]
        return gcp.container.NodePool(
            rung["pool"],
            # Named, not auto-named: the ComputeClass lists its rungs by their GKE names.
            name=rung["pool"],
            cluster=args["cluster"],
            project=args["project"],
            # The cluster's zone: its control plane stays there (zonal, so in the free tier) however
            # many zones the pool's nodes span (a multi-zonal cluster; cloud.google.com/kubernetes-engine/docs/how-to/creating-a-zonal-cluster).
            location=args["zone"],
            node_locations=settings.node_zones(args["zone"]),
            # Total bounds, over every zone of node_locations, and location policy ANY: the autoscaler
            # adds each node in a zone that has capacity, instead of balancing zones (BALANCED) —
            # when Spot L4s run out in one zone, a burst still reaches its ceiling in the others
            # (cloud.google.com/kubernetes-engine/docs/concepts/cluster-autoscaler#location_policy;
            # terraform-google-kubernetes-engine moved its GPU CI to ANY, #2643).
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=min_nodes,
                total_max_node_count=rung["max_nodes"],
                location_policy="ANY",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=node_config(
                service_account=args["service_account"],
                settings=settings,
                spot=rung["provisioning"] == "spot",
                # The class's label and taint tie a manually created pool to the class: only pods
                # that select it land here (node-attributes-compute-classes, "Configure manually created node pools").
                labels={POOL_LABEL: GPU_POOL_LABEL_VALUE, COMPUTE_CLASS_KEY: GPU_COMPUTE_CLASS},
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT),
                    gcp.container.NodePoolNodeConfigTaintArgs(key=COMPUTE_CLASS_KEY, value=GPU_COMPUTE_CLASS, effect="NO_SCHEDULE"),
                ],
                guest_accelerators=[
                    gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                        type=settings.accelerator,
                        count=settings.accelerator_count,
                        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                            gpu_driver_version=settings.driver_version
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
