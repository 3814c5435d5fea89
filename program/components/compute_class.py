"""GpuComputeClass: the order GKE's autoscaler tries the GPU pools in — Spot first, then on demand."""

from __future__ import annotations

from typing import Literal, TypedDict

import pulumi
import pulumi_kubernetes as k8s

COMPUTE_CLASS_KEY = "cloud.google.com/compute-class"
"""The node label and taint key that ties a manually created node pool to a custom ComputeClass,
and the node selector a pod requests the class with (cloud.google.com/kubernetes-engine/docs/how-to/node-attributes-compute-classes,
"Configure manually created node pools"; concepts/about-custom-compute-classes, "Request ComputeClasses in workloads")."""
GPU_COMPUTE_CLASS = "shoestring-gpu"
"""The class every GPU pod selects. A class name may not start with ``gke`` or ``autopilot``."""
REQUIRED_GKE_VERSION = "1.30.3-gke.1451000"
"""The first GKE version with custom ComputeClasses, Standard clusters included
(cloud.google.com/kubernetes-engine/docs/concepts/about-custom-compute-classes)."""
OLDEST_MINOR_OFFERED = {"RAPID": "1.34", "REGULAR": "1.34", "STABLE": "1.34", "EXTENDED": "1.31"}
"""The oldest minor each release channel offers, from the "Current versions" table of GKE's release
notes (docs.cloud.google.com/kubernetes-engine/docs/release-notes: Rapid 1.34 to 1.37, Regular 1.34 to
1.36, Stable 1.34 to 1.35, Extended 1.31 to 1.36). A cluster in a channel runs one of its versions,
so a channel whose oldest minor is above REQUIRED_GKE_VERSION's always has ComputeClasses."""


class Rung(TypedDict):
    """One step of the fallback ladder: a declared, bounded node pool."""

    pool: str
    """The GKE node pool's name."""
    provisioning: Literal["spot", "on-demand"]
    max_nodes: int


class GpuComputeClassArgs(TypedDict):
    rungs: list[Rung]
    """In the order GKE tries them: Spot before on demand."""
    depends_on: list[pulumi.Resource]
    """The rungs' node pools."""


def channel_has_compute_classes(channel: str) -> bool:
    """Whether every version ``channel`` offers is at least REQUIRED_GKE_VERSION: its oldest minor is above 1.30."""
    required = tuple(int(part) for part in REQUIRED_GKE_VERSION.split("-")[0].split(".")[:2])
    return tuple(int(part) for part in OLDEST_MINOR_OFFERED[channel].split(".")) > required


class GpuComputeClass(pulumi.ComponentResource):
    """A custom ComputeClass over the declared GPU pools and nothing else: GKE tries them in order
    and scales up the first that can take the pods (Spot in any zone of its nodeLocations, then on
    demand), never creates a pool of its own, never moves running shards back to Spot, and when no
    rung can take a pod adds no node at all rather than one outside the ladder."""

    def __init__(self, name: str, args: GpuComputeClassArgs, opts: pulumi.ResourceOptions | None = None):
        # Recorded for the plan, the estimate and on-call: each rung's pool, provisioning and bound.
        rungs = [{"pool": r["pool"], "provisioning": r["provisioning"], "maxNodes": r["max_nodes"]} for r in args["rungs"]]
        super().__init__("shoestring:gke:GpuComputeClass", name, {"rungs": rungs}, opts)
        k8s.apiextensions.CustomResource(
            name,
            api_version="cloud.google.com/v1",
            kind="ComputeClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GPU_COMPUTE_CLASS),
            spec={
                # Priorities are tried top to bottom (docs.cloud.google.com/kubernetes-engine/docs/reference/crds/computeclass).
                "priorities": [{"nodepools": [rung["pool"]]} for rung in args["rungs"]],
                # Only the pools above: no auto-created pool outside the priced, bounded ladder.
                "nodePoolAutoCreation": {"enabled": False},
                # Active migration would drain shards running on demand to move them to Spot,
                # throwing away their work; a run ends by itself and its nodes then go.
                "activeMigration": {"optimizeRulePriority": False},
                # Explicit: the default changed in GKE 1.33 (ScaleUpAnyway before, DoNotScaleUp after;
                # about-custom-compute-classes, "Define the behavior when no priority rules apply").
                # DoNotScaleUp: with every rung out, the pods wait for a rung rather than for a node
                # nobody priced.
                "whenUnsatisfiable": "DoNotScaleUp",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=args["depends_on"]),
        )
        self.name = GPU_COMPUTE_CLASS
        self.register_outputs({"name": self.name, "rungs": rungs})
