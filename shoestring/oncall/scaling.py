"""GPU pods and nodes as the cluster autoscaler sees them, read through the Kubernetes API: why a
GPU pod waits (and what fixes it), what keeps a GPU node from scaling away, and what a GPU node
has cost so far. `check-health` (GPU apps), `burst` and `gpu` share it.

The autoscaler's own words, as GKE writes them on the pod (`kubectl describe pod`):

- ``TriggeredScaleUp``: "pod triggered scale-up: [{<instance group> 0->1 (max: 20)}]";
- ``NotTriggerScaleUp``: "pod didn't trigger scale-up: 1 max node group size reached",
  "...: 1 node(s) had untolerated taint {nvidia.com/gpu: present}", "...: 1 node(s) didn't match
  Pod's node affinity/selector", "...: 1 in backoff after failed scale-up"
  (2i2c-org/infrastructure#2185, cortexlabs/cortex#1685);
- ``FailedScaleUp``: "Node scale up in zones us-central1-c associated with this pod failed: GCE
  quota exceeded. Pod is at risk of not being scheduled." — or "GCE out of resources" for a zone
  stockout (GKE's cluster autoscaler, k8s.io/gke-autoscaling `events` package:
  ``zonalErrorMessageTemplate``, ``quotaExceededMessage``, ``outOfResourcesMessage``;
  huggingface/Google-Cloud-Containers#126).

Which quota ran out is written only in the autoscaler's visibility log in Cloud Logging
(``scale.up.error.quota.exceeded``, cloud.google.com/kubernetes-engine/docs/how-to/cluster-autoscaler-visibility),
not on the pod: unless the message quotes it, the stack's GPU quotas are named, with the query
that tells them apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from program.components.compute_class import COMPUTE_CLASS_KEY, GPU_COMPUTE_CLASS
from program.components.gpu_pool import GPU_POOL_LABEL_VALUE, GPU_TAINT_KEY
from program.components.internal_service import GPU_RESOURCE
from program.components.node_pool import POOL_LABEL
from program import capacity, catalog, config, cost
from program.config import StackConfig

SCALE_DOWN_UNNEEDED = timedelta(minutes=10)
"""How long a node stays unneeded before GKE's autoscaler removes it (its scale-down-unneeded-time):
"If the node is still underutilized after 10 minutes, cluster autoscaler should remove the node"
(cloud.google.com/kubernetes-engine/docs/troubleshooting/cluster-autoscaler-scale-down)."""
NO_SCALE_UP_GRACE = timedelta(minutes=2)
"""How long a GPU pod may wait without a scale-up before it is a problem: the autoscaler looks at
unschedulable pods every 10 seconds (the same page), so two minutes without a word is not a delay."""
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
SPOT_LABEL = "cloud.google.com/gke-spot"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ZONE_LABEL = "topology.kubernetes.io/zone"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
QUOTA_IN_MESSAGE = re.compile(r"Quota '([A-Z0-9_]+)' exceeded")
ZONES_IN_MESSAGE = re.compile(r"Node scale up in zones (.*?) associated with this pod failed")
EXCEEDED_QUOTA = re.compile(r"exceeded quota: ([^,]+), requested: (.+?), used: (.+?), limited: (.+)$")


@dataclass(frozen=True)
class Finding:
    """What holds a GPU pod, as a verdict: ``waiting`` (exit 3) or ``problem`` (exit 1)."""

    kind: str
    message: str
    next_command: str | None = None

    def report(self, session) -> None:
        if self.kind == "problem":
            session.problem(self.message, next_command=self.next_command)
        elif self.kind == "waiting":
            session.waiting(self.message)
            session.suggest(self.next_command)
        else:
            session.info(self.message)


def when(event) -> datetime:
    return event.last_timestamp or event.event_time or event.first_timestamp or datetime.min.replace(tzinfo=UTC)


def events_by_object(session, namespace: str) -> dict[str, list]:
    """The namespace's events, by the name of the object they are about, oldest first: one request."""
    found: dict[str, list] = {}
    for event in sorted(session.call(session.kube.core.list_namespaced_event, namespace).items, key=when):
        found.setdefault(event.involved_object.name, []).append(event)
    return found


def autoscaler_log(stack: StackConfig, message_id: str) -> str:
    """The Cloud Logging query that shows the autoscaler's own account (which quota, which zones)."""
    return (
        f"gcloud logging read 'logName=\"projects/{stack.cluster_owner.gcp_project}/logs/container.googleapis.com%2Fcluster-autoscaler-visibility\" "
        f"AND \"{message_id}\"' --project {stack.cluster_owner.gcp_project} --freshness 1h"
    )


def why_pending(pod, events: Sequence, stack: StackConfig, now: datetime) -> Finding:
    """Why a GPU pod is not running, from its spec, its container statuses and its events, with
    the fix; ``waiting`` only for a scale-up the autoscaler triggered (or a pod too young to tell)."""
    name = pod.metadata.name
    spec = pod.spec
    if not any(t.key == GPU_TAINT_KEY for t in spec.tolerations or []):
        return Finding("problem", f"pod {name} asks for a GPU but does not tolerate the GPU nodes' taint {GPU_TAINT_KEY}: no GPU node will take it; "
                       "it was not built from the definition (the program's Deployments and CronJobs carry the toleration): `pulumi up`, and start it again")
    if (spec.node_selector or {}).get(COMPUTE_CLASS_KEY) != GPU_COMPUTE_CLASS:
        return Finding("problem", f"pod {name} does not select the GPU ComputeClass ({COMPUTE_CLASS_KEY}={GPU_COMPUTE_CLASS}): the autoscaler will not add a GPU node "
                       "for it; it was not built from the definition: `pulumi up`, and start it again")
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
            return Finding("problem", f"pod {name} got its GPU node but cannot pull image {status.image} ({waiting.reason}: "
                           f"{' '.join((waiting.message or '').split())}); the node is billed meanwhile: check that the tag was pushed and the "
                           "registry admits the nodes, or stop the run", f"kubectl -n {pod.metadata.namespace} describe pod/{name}")
    by_reason = {e.reason: e.message or "" for e in events}
    failed = [e.message or "" for e in events if e.reason == "FailedScaleUp"]
    if any("GCE quota exceeded" in m or QUOTA_IN_MESSAGE.search(m) for m in failed):
        return _quota(name, failed, stack)
    if any("GCE out of resources" in m for m in failed):
        return _stockout(name, failed, stack)
    if "NotTriggerScaleUp" in by_reason:
        return _not_triggered(name, by_reason["NotTriggerScaleUp"], stack)
    if failed:
        return Finding("problem", f"pod {name} cannot get a GPU node: {failed[-1]}", autoscaler_log(stack, "scale.up.error"))
    if "TriggeredScaleUp" in by_reason:
        return Finding("waiting", f"pod {name} is waiting for the GPU pool to scale up from zero: {by_reason['TriggeredScaleUp']}")
    age = now - (pod.metadata.creation_timestamp or now)
    said = f" (the scheduler: {by_reason['FailedScheduling']})" if "FailedScheduling" in by_reason else ""
    if age < NO_SCALE_UP_GRACE:
        return Finding("waiting", f"pod {name} is pending for {int(age.total_seconds())} s, no scale-up yet{said}")
    return Finding(
        "problem",
        f"pod {name} has been pending for {int(age.total_seconds() // 60)} min and the autoscaler triggered no scale-up{said}: is autoscaling "
        f"on for the GPU pool, and does it exist? `gcloud container node-pools list` shows it",
        autoscaler_log(stack, "noScaleUp"),
    )


def _quota_metrics(stack: StackConfig) -> list[str]:
    gpu = stack.cluster_owner.gpu_pool
    if gpu is None:
        return ["GPUS_ALL_REGIONS"]
    spot = gpu.spot and not (gpu.quota is not None and gpu.quota.preemptible == 0)  # without preemptible quota, Spot counts as on demand
    return [catalog.gpu_quota_metric(gpu.accelerator, spot), "GPUS_ALL_REGIONS"]


def _quota(pod: str, failed: list[str], stack: StackConfig) -> Finding:
    owner = stack.cluster_owner
    quoted = sorted({m for message in failed for m in QUOTA_IN_MESSAGE.findall(message)})
    metrics = quoted or _quota_metrics(stack)
    needed = owner.gpu_pool.gpus if owner.gpu_pool else 1
    requests = "; ".join(
        config.quota_request(owner.gcp_project, metric, needed, None if metric == "GPUS_ALL_REGIONS" else owner.region)
        + f" (gpuPool.quota in stacks/Pulumi.{owner.stack}.yaml)"
        for metric in metrics
    )
    which = f"quota {metrics[0]} is exhausted" if quoted else f"a GPU quota is exhausted: {' or '.join(metrics)} (the autoscaler's log says which)"
    return Finding(
        "problem",
        f"pod {pod} cannot get a GPU node: the scale-up failed on GCE quota ({_zones(failed) or 'zones not named'}): {which}. {requests}",
        autoscaler_log(stack, "scale.up.error.quota.exceeded"),
    )


def _zones(failed: Iterable[str]) -> str:
    zones = sorted({z.strip() for message in failed for match in ZONES_IN_MESSAGE.findall(message) for z in match.split(",") if z.strip()})
    return f"zones tried: {', '.join(zones)}" if zones else ""


def _stockout(pod: str, failed: list[str], stack: StackConfig) -> Finding:
    owner = stack.cluster_owner
    gpu = owner.gpu_pool
    tried = _zones(failed) or "zones not named"
    fallback = "wait: the autoscaler retries after a back-off, and Spot capacity comes back"
    if gpu is not None:
        offered = catalog.accelerator_zones(owner.region, gpu.accelerator) or []
        unused = [z for z in offered if z not in owner.gpu_zones]
        if unused:
            fallback += f"; or let the pool use {', '.join(unused)} too (gpuPool.zones, which has {', '.join(owner.gpu_zones)})"
        if gpu.spot:
            fallback += "; or run on demand (gpuPool.spot: false), dearer but not a Spot stockout"
    return Finding(
        "problem",
        f"pod {pod} cannot get a GPU node: Compute Engine is out of {gpu.machine_type if gpu else 'GPU'} capacity ({tried}): a stockout, "
        f"not your quota. The fallback: {fallback}",
        autoscaler_log(stack, "scale.up.error.out.of.resources"),
    )


def _not_triggered(pod: str, message: str, stack: StackConfig) -> Finding:
    owner = stack.cluster_owner
    if "max node group size reached" in message:
        ceiling = owner.gpu_pool.max_nodes if owner.gpu_pool else "its maxNodes"
        return Finding(
            "problem",
            f"pod {pod} cannot get a GPU node: the GPU pool is at its ceiling ({ceiling} nodes, gpuPool.maxNodes in "
            f"stacks/Pulumi.{owner.stack}.yaml): other GPU work holds its nodes (`on-call gpu` names it); wait for it, run with a lower "
            f"--parallelism, or raise gpuPool.maxNodes and its quota. The autoscaler: {message}",
            "on-call gpu",
        )
    if "backoff after failed scale-up" in message:
        return Finding("problem", f"pod {pod} cannot get a GPU node: the autoscaler backs off after a failed scale-up ({message}); its log says why",
                       autoscaler_log(stack, "scale.up.error"))
    return Finding("problem", f"pod {pod} cannot get a GPU node, the autoscaler will not add one: {message}", autoscaler_log(stack, "noScaleUp"))


def quota_refusal(events: Sequence) -> Finding | None:
    """A namespace's ResourceQuota refusing a controller's pods (``FailedCreate`` on a Job or
    ReplicaSet): "Error creating: pods "…" is forbidden: exceeded quota: project-quota, requested:
    requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=20, limited: requests.nvidia.com/gpu=20"."""
    for event in reversed(events):
        match = EXCEEDED_QUOTA.search(event.message or "") if event.reason == "FailedCreate" else None
        if match:
            quota, requested, used, limited = match.groups()
            keys = ", ".join(sorted({part.split("=")[0] for part in requested.split(",")}))
            namespace = event.involved_object.namespace
            return Finding(
                "problem",
                f"the namespace's ResourceQuota {quota} refuses pods of {event.involved_object.kind} {event.involved_object.name}: "
                f"{keys} (requested {requested}, used {used}, limited {limited}); other pods in {namespace} hold it: wait for them, run "
                f"with a lower --parallelism, or raise the project's quota in projects/*.py",
                f"kubectl -n {namespace} describe resourcequota/{quota}",
            )
    return None


# GPU nodes: what they cost, what holds them.


def is_gpu_node(node) -> bool:
    labels = node.metadata.labels or {}
    return ACCELERATOR_LABEL in labels or labels.get(POOL_LABEL) == GPU_POOL_LABEL_VALUE


def gpu_requests(pod) -> int:
    return sum(int(float(((c.resources.requests or {}) if c.resources else {}).get(GPU_RESOURCE, 0))) for c in pod.spec.containers or [])


def node_hourly(node, stack: StackConfig) -> float | None:
    """What a GPU node costs an hour, as the estimate prices a GPU pool's node while a burst runs
    (machine, GPUs, boot disk and external IP: program/cost.py), from the node's machine type,
    accelerator and Spot labels; None when the catalog cannot price it."""
    labels = node.metadata.labels or {}
    owner = stack.cluster_owner
    gpus = int(float((node.status.capacity or {}).get(GPU_RESOURCE, 1))) if node.status else 1
    pool = owner.gpu_pool
    record = SimpleNamespace(type=capacity.NODE_POOL, name="gpu", inputs={"nodeConfig": {
        "machineType": labels.get(INSTANCE_TYPE_LABEL, pool.machine_type if pool else ""),
        "spot": labels.get(SPOT_LABEL) == "true",
        "guestAccelerators": [{"type": labels.get(ACCELERATOR_LABEL, pool.accelerator if pool else ""), "count": gpus}],
        "diskSizeGb": pool.disk_size_gb if pool else 100,
        "diskType": pool.disk_type if pool else "pd-balanced",
    }})
    try:
        [line] = cost._node_pool(record, owner.zone, owner.region, owner.private_nodes, None)
    except (catalog.UnknownPrice, ValueError):
        return None
    return line.burst_hourly or None


def holders(node, pods: Sequence, budgets: Sequence) -> list[str]:
    """What keeps the autoscaler from removing ``node`` (once nothing needs it), in its words:
    a pod with ``safe-to-evict: "false"``, a pod a PodDisruptionBudget allows no disruption of, a
    kube-system pod or a pod without a controller; the node's ``scale-down-disabled`` annotation
    (github.com/kubernetes/autoscaler cluster-autoscaler/FAQ.md, "What types of pods can prevent
    CA from removing a node?"). DaemonSet and finished pods hold nothing."""
    found = []
    if (node.metadata.annotations or {}).get(SCALE_DOWN_DISABLED) == "true":
        found.append(f"the node's annotation {SCALE_DOWN_DISABLED}: \"true\" (kubectl annotate node {node.metadata.name} {SCALE_DOWN_DISABLED}-)")
    for pod in pods:
        if pod.status.phase in ("Succeeded", "Failed") or any(o.kind == "DaemonSet" for o in pod.metadata.owner_references or []):
            continue
        where = f"{pod.metadata.namespace}/{pod.metadata.name}"
        if (pod.metadata.annotations or {}).get(SAFE_TO_EVICT) == "false":
            found.append(f"pod {where}, annotated {SAFE_TO_EVICT}: \"false\"")
            continue
        blocking = [b for b in budgets if b.metadata.namespace == pod.metadata.namespace and _selects(b, pod) and (b.status.disruptions_allowed if b.status else 0) == 0]
        if blocking:
            found.append(f"pod {where}, which PodDisruptionBudget {blocking[0].metadata.namespace}/{blocking[0].metadata.name} allows no disruption of")
        elif pod.metadata.namespace == "kube-system":
            found.append(f"pod {where}, a kube-system pod without a PodDisruptionBudget")
        elif not pod.metadata.owner_references:
            found.append(f"pod {where}, which no controller would recreate elsewhere")
        else:
            found.append(f"pod {where} ({'GPU' if gpu_requests(pod) else 'no GPU'}), which runs there")
    return found


def _selects(budget, pod) -> bool:
    selector = budget.spec.selector if budget.spec else None
    if selector is None:
        return False
    labels = pod.metadata.labels or {}
    if selector.match_expressions:
        return False  # not evaluated here: named by `kubectl get pdb -A` if it matters
    return all(labels.get(k) == v for k, v in (selector.match_labels or {}).items())


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def hours(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds() / 3600)


def duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min" if minutes else f"{int(delta.total_seconds())} s"
