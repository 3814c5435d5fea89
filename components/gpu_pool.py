"""GpuPool: GPU nodes that exist only while a pod that tolerates them is waiting."""

from __future__ import annotations

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
    node_zone: NotRequired[str]
    """Zone of the GPU nodes, in the cluster's region. Default the cluster's zone."""
    min_nodes: NotRequired[int]
    """Autoscaling floor. Default 0: no GPU is billed while none is needed."""
    max_nodes: NotRequired[int]
    """Autoscaling ceiling. Default 1."""
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
        super().__init__("shoestring:gke:GpuPool", name, None, opts)
        self.node_selector = {POOL_LABEL: GPU_POOL_LABEL_VALUE}
        pool = gcp.container.NodePool(
            name,
            cluster=args["cluster"],
            project=args["project"],
            location=args["zone"],
            node_locations=[args.get("node_zone", args["zone"])],
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                min_node_count=args.get("min_nodes", 0), max_node_count=args.get("max_nodes", 1)
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
        self.register_outputs({"name": self.name, "node_selector": self.node_selector})
