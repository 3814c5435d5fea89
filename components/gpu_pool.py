"""GpuPool: GPU nodes that exist only while a pod that tolerates them is waiting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

from components.node_pool import POOL_LABEL, DiskType, node_config

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


class GpuPoolArgs(TypedDict):
    cluster: pulumi.Input[str]
    """Name of the cluster the pool joins."""
    project: str
    zone: str
    """The cluster's zone."""
    service_account: pulumi.Input[str]
    """Email of the nodes' service account."""
    accelerator: str
    """GPU type, e.g. ``nvidia-l4`` (G2 machines) or ``nvidia-tesla-t4`` (N1 machines)."""
    machine_type: str
    """A machine type that can carry the accelerator, e.g. ``g2-standard-4``."""
    accelerator_count: NotRequired[int]
    """GPUs per node. Default 1."""
    driver_version: NotRequired[Literal["DEFAULT", "LATEST"]]
    """Driver GKE installs. Default ``DEFAULT``; without one a pod cannot use the GPU."""
    node_zones: NotRequired[Sequence[str]]
    """Zones of the GPU nodes, in the cluster's region. Default the cluster's zone. With several,
    the autoscaler adds each node in whichever of them has capacity (location policy ``ANY``)."""
    min_nodes: NotRequired[int]
    """Autoscaling floor over all its zones. Default 0: no GPU is billed while none is needed."""
    max_nodes: NotRequired[int]
    """Autoscaling ceiling over all its zones. Default 1."""
    quota: NotRequired[GpuQuota]
    """The project's GPU quota as the stack declares it; recorded on the component for the plan,
    the cost estimate and the diff to set the pool's ceiling against."""
    spot: NotRequired[bool]
    """Run on Spot VMs. Default ``False``."""
    disk_type: NotRequired[DiskType]
    """Default ``pd-balanced``: G2 machines (L4) and A3 offer no ``pd-standard``."""
    disk_size_gb: NotRequired[int]
    """Default 100, room for CUDA images."""


class GpuPool(pulumi.ComponentResource):
    """An autoscaled GPU pool that scales to zero and repels every pod that does not tolerate it.

    No initial nodes are declared: the pool starts empty, and only a pending pod that tolerates
    the ``nvidia.com/gpu`` taint and selects the pool's label makes the autoscaler add one.
    """

    name: pulumi.Output[str]
    node_selector: dict[str, str]
    """The node selector a workload uses to land on this pool."""

    def __init__(self, name: str, args: GpuPoolArgs, opts: pulumi.ResourceOptions | None = None):
        quota = args.get("quota")
        props = {"quota": {"metric": quota["metric"], "limit": quota["limit"], "allRegions": quota["all_regions"]}} if quota else None
        super().__init__("shoestring:gke:GpuPool", name, props, opts)
        self.node_selector = {POOL_LABEL: GPU_POOL_LABEL_VALUE}
        pool = gcp.container.NodePool(
            name,
            cluster=args["cluster"],
            project=args["project"],
            # The cluster's zone: its control plane stays there (zonal, so in the free tier) however
            # many zones the pool's nodes span (a multi-zonal cluster; cloud.google.com/kubernetes-engine/docs/how-to/creating-a-zonal-cluster).
            location=args["zone"],
            node_locations=list(args.get("node_zones", [args["zone"]])),
            # Total bounds, over every zone of node_locations, and location policy ANY: the autoscaler
            # adds each node in a zone that has capacity, instead of balancing zones (BALANCED) —
            # when Spot L4s run out in one zone, a burst still reaches its ceiling in the others
            # (cloud.google.com/kubernetes-engine/docs/concepts/cluster-autoscaler#location_policy;
            # terraform-google-kubernetes-engine moved its GPU CI to ANY, #2643).
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=args.get("min_nodes", 0),
                total_max_node_count=args.get("max_nodes", 1),
                location_policy="ANY",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=node_config(
                service_account=args["service_account"],
                machine_type=args["machine_type"],
                disk_type=args.get("disk_type", "pd-balanced"),
                disk_size_gb=args.get("disk_size_gb", 100),
                spot=args.get("spot", False),
                labels=self.node_selector,
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(
                        key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT
                    )
                ],
                guest_accelerators=[
                    gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                        type=args["accelerator"],
                        count=args.get("accelerator_count", 1),
                        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                            gpu_driver_version=args.get("driver_version", "DEFAULT")
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = pool.name
        self.register_outputs({"name": self.name, "node_selector": self.node_selector, **(props or {})})
