"""PriorityClasses: who waits, and who may be preempted, when the cluster is short of capacity."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from program.names import BATCH_PRIORITY, ENTRY_PRIORITY, ONE_OFF_PRIORITY, PRIORITY_VALUES, USER_FACING_PRIORITY

DESCRIPTIONS = {
    ENTRY_PRIORITY: "The cluster's public entry (cloudflared): no app can preempt it.",
    ONE_OFF_PRIORITY: "One-off Jobs (an app's bootstrap): no app preempts a run part-way; waits for room, never preempts.",
    USER_FACING_PRIORITY: "Apps people wait on; scheduled before batch work, and may preempt it.",
    BATCH_PRIORITY: "Work that retries (GPU batch); waits for room, never preempts.",
}
PREEMPTION = {ENTRY_PRIORITY: "PreemptLowerPriority", ONE_OFF_PRIORITY: "Never", USER_FACING_PRIORITY: "PreemptLowerPriority", BATCH_PRIORITY: "Never"}
"""``Never`` (KEP-902, stable in Kubernetes 1.24): the pod queues ahead of lower priorities but
evicts nothing to get a node. The scheduler preempts only pods of lower priority than the pending
one (kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/#preemption), so a
pod above every app's class is preempted by none of them."""


class PriorityClasses(pulumi.ComponentResource):
    """The cluster's PriorityClasses: the public entry above one-off Jobs, above user-facing apps,
    above batch, all far below GKE's own system-cluster-critical. None is the global default: a
    pod that names none stays at 0, below them all. Declared by the stack that owns the cluster;
    its guests' pods name them too."""

    classes: dict[str, k8s.scheduling.v1.PriorityClass]
    """Class name to its object: what a workload naming it depends on (scheduling.py)."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:k8s:PriorityClasses", name, None, opts)
        self.classes = {
            class_name: k8s.scheduling.v1.PriorityClass(
                class_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name),
                value=value,
                global_default=False,
                preemption_policy=PREEMPTION[class_name],
                description=DESCRIPTIONS[class_name],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for class_name, value in PRIORITY_VALUES.items()
        }
        self.register_outputs({"names": list(PRIORITY_VALUES)})
