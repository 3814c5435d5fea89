"""PriorityClasses: who waits when the cluster is short of capacity."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from program.names import BATCH_PRIORITY, PRIORITY_VALUES, USER_FACING_PRIORITY

DESCRIPTIONS = {
    USER_FACING_PRIORITY: "Apps people wait on; scheduled before batch work, and may preempt it.",
    BATCH_PRIORITY: "Work that retries (GPU batch); waits for room, never preempts.",
}
PREEMPTION = {USER_FACING_PRIORITY: "PreemptLowerPriority", BATCH_PRIORITY: "Never"}
"""``Never`` (KEP-902, stable in Kubernetes 1.24): a batch pod queues ahead of lower priorities
but evicts nothing to get a node."""


class PriorityClasses(pulumi.ComponentResource):
    """The cluster's two PriorityClasses, user-facing above batch, both far below GKE's own
    system-cluster-critical. Neither is the global default: a pod that names none stays at 0,
    below both. Declared by the stack that owns the cluster; its guests' pods name them too."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:k8s:PriorityClasses", name, None, opts)
        for class_name, value in PRIORITY_VALUES.items():
            k8s.scheduling.v1.PriorityClass(
                class_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name),
                value=value,
                global_default=False,
                preemption_policy=PREEMPTION[class_name],
                description=DESCRIPTIONS[class_name],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"names": list(PRIORITY_VALUES)})
