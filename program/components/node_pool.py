"""DefaultPool: the always-on, autoscaled pool that runs system pods and CPU workloads."""

from __future__ import annotations

from typing import Protocol, TypedDict

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, field_validator

from program.settings import MAX_DISK_GB, MAX_NODES_PER_POOL, Autoscaled, DiskType

POOL_LABEL = "shoestring.dev/pool"
"""Node label naming the Shoestring pool a node belongs to; workloads select pools by it."""
CAPACITY_LABEL = "shoestring.dev/capacity"
"""Node label of the CPU pools only, ``on-demand`` or ``spot``: apps spread their replicas across
its values. GPU nodes lack it, so they never count as a domain of that spread (a tainted node in
a domain the pods cannot reach would hold the spread's skew hostage)."""

# Access is governed by the nodes' service account and its IAM roles, as Google recommends.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

class NodeSettings(Protocol):
    """What every pool's settings say of its nodes (CpuPoolSettings, GpuPoolSettings)."""

    machine_type: str
    disk_type: DiskType
    disk_size_gb: int


class CpuPoolSettings(Autoscaled):
    """What the CPU pools' nodes are; each pool adds its own autoscaling bounds."""

    machine_type: str = "e2-medium"
    """Machine type of each node. e2-medium (2 shared vCPU, 4 GB) is the smallest GKE recommends."""
    disk_type: DiskType = "pd-standard"
    """Boot disk type; pd-standard is the cheapest."""
    disk_size_gb: int = Field(default=30, ge=10, le=MAX_DISK_GB)
    """Boot disk size per node."""


class DefaultPoolSettings(CpuPoolSettings):
    """`shoestring:defaultPool` — the always-on pool that runs system pods and CPU workloads."""

    min_nodes: int = Field(default=1, le=MAX_NODES_PER_POOL)
    """Autoscaling floor. At least 1, so system pods (DNS, metrics) always have a home."""
    max_nodes: int = Field(default=3, ge=1, le=MAX_NODES_PER_POOL)
    """Autoscaling ceiling."""
    spot: bool = False
    """Spot VMs: 60-91% cheaper, preemptible at any time. Right for dev, wrong for prod."""

    @field_validator("min_nodes")
    @classmethod
    def _keeps_a_node(cls, min_nodes: int) -> int:
        if min_nodes < 1:
            raise ValueError(
                "the default pool must keep at least 1 node: system pods (DNS, metrics) need a home, and "
                "without one they would wake the GPU pool or stay pending. Set minNodes: 1"
            )
        return min_nodes


class PoolArgs(TypedDict):
    """Where a pool's nodes join, and as whom; what they are is the pool's settings."""

    cluster: pulumi.Input[str]
    """Name of the cluster the pool joins."""
    project: str
    zone: str
    """The cluster's zone."""
    service_account: pulumi.Input[str]
    """Email of the nodes' service account."""


class DefaultPoolArgs(PoolArgs):
    settings: DefaultPoolSettings


class DefaultPool(pulumi.ComponentResource):
    """An autoscaled CPU pool with auto-repair, auto-upgrade and the GKE metadata server."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: DefaultPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:gke:DefaultPool", name, None, opts)
        pool = cpu_pool(name, args, args["settings"], pool_label="default", spot=args["settings"].spot, parent=self)
        self.name = pool.name
        self.register_outputs({"name": self.name})


def cpu_pool(
    name: str,
    args: PoolArgs,
    settings: CpuPoolSettings,
    *,
    pool_label: str,
    spot: bool,
    parent: pulumi.Resource,
    taints: list[gcp.container.NodePoolNodeConfigTaintArgs] | None = None,
) -> gcp.container.NodePool:
    """An autoscaled CPU node pool labelled with its pool and its kind of capacity."""
    return gcp.container.NodePool(
        name,
        cluster=args["cluster"],
        project=args["project"],
        location=args["zone"],
        # Sets the size at creation only; the autoscaler owns it afterwards, and a change to
        # this field would otherwise recreate the pool.
        initial_node_count=settings.min_nodes,
        autoscaling=gcp.container.NodePoolAutoscalingArgs(min_node_count=settings.min_nodes, max_node_count=settings.max_nodes),
        management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        node_config=node_config(
            service_account=args["service_account"],
            settings=settings,
            spot=spot,
            labels={POOL_LABEL: pool_label, CAPACITY_LABEL: "spot" if spot else "on-demand"},
            taints=taints,
        ),
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["initialNodeCount"]),
    )


def node_config(
    *,
    service_account: pulumi.Input[str],
    settings: NodeSettings,
    spot: bool,
    labels: dict[str, str],
    taints: list[gcp.container.NodePoolNodeConfigTaintArgs] | None = None,
    guest_accelerators: list[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs] | None = None,
) -> gcp.container.NodePoolNodeConfigArgs:
    """Node settings every Shoestring pool shares: own service account, shielded VMs, GKE metadata server."""
    return gcp.container.NodePoolNodeConfigArgs(
        machine_type=settings.machine_type,
        disk_type=settings.disk_type,
        disk_size_gb=settings.disk_size_gb,
        spot=spot,
        service_account=service_account,
        oauth_scopes=[CLOUD_PLATFORM_SCOPE],
        labels=labels,
        taints=taints,
        guest_accelerators=guest_accelerators,
        shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
    )
