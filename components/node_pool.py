"""DefaultPool: the always-on, autoscaled pool that runs system pods and CPU workloads."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

POOL_LABEL = "shoestring.dev/pool"
"""Node label naming the Shoestring pool a node belongs to; workloads select pools by it."""
CAPACITY_LABEL = "shoestring.dev/capacity"
"""Node label of the CPU pools only, ``on-demand`` or ``spot``: apps spread their replicas across
its values. GPU nodes lack it, so they never count as a domain of that spread (a tainted node in
a domain the pods cannot reach would hold the spread's skew hostage)."""

# Access is governed by the nodes' service account and its IAM roles, as Google recommends.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

DiskType = Literal["pd-standard", "pd-balanced", "pd-ssd"]


class DefaultPoolArgs(TypedDict):
    cluster: pulumi.Input[str]
    """Name of the cluster the pool joins."""
    project: str
    zone: str
    """The cluster's zone."""
    service_account: pulumi.Input[str]
    """Email of the nodes' service account."""
    machine_type: NotRequired[str]
    """Default ``e2-medium``."""
    min_nodes: NotRequired[int]
    """Autoscaling floor, at least 1 so system pods always have a home. Default 1."""
    max_nodes: NotRequired[int]
    """Autoscaling ceiling. Default 3."""
    disk_type: NotRequired[DiskType]
    """Default ``pd-standard``, the cheapest."""
    disk_size_gb: NotRequired[int]
    """Default 30."""
    spot: NotRequired[bool]
    """Run on Spot VMs. Default ``False``."""


class DefaultPool(pulumi.ComponentResource):
    """An autoscaled CPU pool with auto-repair, auto-upgrade and the GKE metadata server."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: DefaultPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:gke:DefaultPool", name, None, opts)
        pool = cpu_pool(name, args, pool_label="default", spot=args.get("spot", False), parent=self)
        self.name = pool.name
        self.register_outputs({"name": self.name})


def cpu_pool(
    name: str,
    args: DefaultPoolArgs,
    *,
    pool_label: str,
    spot: bool,
    parent: pulumi.Resource,
    taints: list[gcp.container.NodePoolNodeConfigTaintArgs] | None = None,
) -> gcp.container.NodePool:
    """An autoscaled CPU node pool labelled with its pool and its kind of capacity."""
    min_nodes = args.get("min_nodes", 1)
    return gcp.container.NodePool(
        name,
        cluster=args["cluster"],
        project=args["project"],
        location=args["zone"],
        # Sets the size at creation only; the autoscaler owns it afterwards, and a change to
        # this field would otherwise recreate the pool.
        initial_node_count=min_nodes,
        autoscaling=gcp.container.NodePoolAutoscalingArgs(min_node_count=min_nodes, max_node_count=args.get("max_nodes", 3)),
        management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        node_config=node_config(
            service_account=args["service_account"],
            machine_type=args.get("machine_type", "e2-medium"),
            disk_type=args.get("disk_type", "pd-standard"),
            disk_size_gb=args.get("disk_size_gb", 30),
            spot=spot,
            labels={POOL_LABEL: pool_label, CAPACITY_LABEL: "spot" if spot else "on-demand"},
            taints=taints,
        ),
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["initialNodeCount"]),
    )


def node_config(
    *,
    service_account: pulumi.Input[str],
    machine_type: str,
    disk_type: DiskType,
    disk_size_gb: int,
    spot: bool,
    labels: dict[str, str],
    taints: list[gcp.container.NodePoolNodeConfigTaintArgs] | None = None,
    guest_accelerators: list[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs] | None = None,
) -> gcp.container.NodePoolNodeConfigArgs:
    """Node settings every Shoestring pool shares: own service account, shielded VMs, GKE metadata server."""
    return gcp.container.NodePoolNodeConfigArgs(
        machine_type=machine_type,
        disk_type=disk_type,
        disk_size_gb=disk_size_gb,
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
