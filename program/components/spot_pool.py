"""SpotPool: CPU capacity on Spot VMs, beside the on-demand default pool."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from pydantic import Field

from program.components.node_pool import CpuPoolSettings, PoolArgs, cpu_pool
from program.names import SPOT_TAINT_KEY
from program.settings import MAX_NODES_PER_POOL


class SpotPoolSettings(CpuPoolSettings):
    """`shoestring:spotPool` — extra CPU capacity on Spot VMs, beside the on-demand default pool."""

    min_nodes: int = Field(default=0, ge=0, le=MAX_NODES_PER_POOL)
    """Autoscaling floor."""
    max_nodes: int = Field(default=3, ge=1, le=MAX_NODES_PER_POOL)
    """Autoscaling ceiling."""


class SpotPoolArgs(PoolArgs):
    settings: SpotPoolSettings

SPOT_TAINT_VALUE = "true"
SPOT_TAINT_EFFECT = "NO_SCHEDULE"
"""The taint GKE documents for Spot node pools of Standard clusters ("use node taints to avoid
scheduling to Spot VMs", cloud.google.com/kubernetes-engine/docs/how-to/spot-vms; its preemptible
page: taints and tolerations "to avoid issues with system workloads" when nodes are preempted).
GKE puts it on Autopilot's Spot nodes itself, never on a Standard pool's: declared here. Only a
pod that tolerates it lands there: not kube-dns, metrics-server or any of GKE's cluster pods,
and of the apps only those that declare ``spot`` (program/components/internal_service.py)."""


class SpotPool(pulumi.ComponentResource):
    """An autoscaled pool of Spot VMs (60-91% below on-demand, preemptible at any time).

    Its nodes carry ``shoestring.dev/capacity: spot`` and the default pool's ``on-demand``, and
    the ``cloud.google.com/gke-spot=true:NoSchedule`` taint: GKE's system pods stay on on-demand
    nodes, and only apps that declare ``spot`` (with two or more replicas, spread across the two
    kinds of capacity by ``InternalService``) run here — so a preemption of every Spot node at
    once leaves each a replica on on-demand capacity, and cluster DNS untouched.
    """

    name: pulumi.Output[str]

    def __init__(self, name: str, args: SpotPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:gke:SpotPool", name, None, opts)
        taint = gcp.container.NodePoolNodeConfigTaintArgs(key=SPOT_TAINT_KEY, value=SPOT_TAINT_VALUE, effect=SPOT_TAINT_EFFECT)
        pool = cpu_pool(name, args, args["settings"], pool_label="spot", spot=True, parent=self, taints=[taint])
        self.name = pool.name
        self.register_outputs({"name": self.name})
