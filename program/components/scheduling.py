"""What a workload's pods need in the cluster before they can be admitted and placed, so that
its object waits for them (``depends_on``) in a stack that declares them.

A pod naming a PriorityClass that does not exist is refused at creation by the Priority
admission plugin ("no PriorityClass with name %v was found": kubernetes/kubernetes
plugin/pkg/admission/priority/admission.go, resolvePriorityClass), and a rollout pulumi-kubernetes awaits cannot finish while the pool its
pods select is still being built. Kubernetes objects are registered in parallel with the node
pools unless they depend on them: the engine runs each registration as soon as the SDK sends
it (program/apis.py cites the lines)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypedDict

import pulumi


class ClusterCapacity(TypedDict):
    priority_classes: Mapping[str, pulumi.Resource]
    """PriorityClass name to the object declaring it."""
    pools: Mapping[str, pulumi.Resource]
    """Node pool (its ``shoestring.dev/pool`` label: default, spot, gpu) to the component declaring it."""


def scheduled_after(capacity: ClusterCapacity | None, priority_class: str | None, pools: Iterable[str]) -> list[pulumi.Resource]:
    """The PriorityClass and the pools a workload's pods need, of those this stack declares.
    None (a stack in another's cluster): the cluster's stack created them already."""
    if capacity is None:
        return []
    named = [capacity["priority_classes"][priority_class]] if priority_class is not None else []
    return named + [capacity["pools"][pool] for pool in sorted(set(pools)) if pool in capacity["pools"]]
