"""GPU pods and nodes as the cluster autoscaler sees them, read through the Kubernetes API: why a
GPU pod waits (and what fixes it), what keeps a GPU node from scaling away, and what a GPU node
has cost so far. `check-health` (GPU apps), `burst` and `gpu` share it.

Every text parsed here is quoted from the source that writes it:

- ``TriggeredScaleUp`` "pod triggered scale-up: %v" and ``NotTriggerScaleUp`` "pod didn't
  trigger scale-up: %s": kubernetes/autoscaler
  cluster-autoscaler/processors/status/eventing_scale_up_processor.go (``Process``). The second
  is ``ReasonsMessage``'s aggregate over *every* node group the autoscaler considered, each reason
  with how many groups gave it ("1 max node group size reached, 2 node(s) didn't match Pod's node
  affinity/selector"): a reason in it is not the GPU pool's unless the GPU pool can be shown to be
  the one (``_not_triggered`` counts the GPU nodes).
- The skipped-group reasons "max node group size reached" and "in backoff after failed scale-up":
  cluster-autoscaler/core/scaleup/orchestrator/skippedreasons.go (``MaxLimitReachedReason``,
  ``BackoffReason``).
- ``FailedScaleUp`` "Node scale up in zones %v associated with this pod failed: %v. Pod is at risk
  of not being scheduled.", with the failure mapped to a fixed text — "GCE quota exceeded" for
  every quota (which one is not said), "GCE out of resources" for a stockout: GKE's autoscaler,
  k8s.io/gke-autoscaling cluster-autoscaler/pkg/events (``zonalErrorMessageTemplate``,
  ``quotaExceededMessage``, ``outOfResourcesMessage``, ``failureToMessage``).

Which quota ran out is written only in the autoscaler's visibility log in Cloud Logging, as
``jsonPayload.resultInfo.results[].errorMsg.messageId`` = ``scale.up.error.quota.exceeded`` with
the quota in its parameters; a pod the autoscaler would not scale up for is
``jsonPayload.noDecisionStatus.noScaleUp`` (its ``unhandledPodGroups[].rejectedMigs`` and
``skippedMigs``), a node it will not remove ``jsonPayload.noDecisionStatus.noScaleDown``
(cloud.google.com/kubernetes-engine/docs/how-to/cluster-autoscaler-visibility, "Types of events";
the same field paths GoogleCloudPlatform/gcpdiag gcpdiag/runbook/gke/cluster_autoscaler.py
queries). ``autoscaler_log`` queries those fields, never their names as free text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from program.components.compute_class import COMPUTE_CLASS_KEY, GPU_COMPUTE_CLASS
from program.components.gpu_pool import GPU_POOL_LABEL_VALUE, GPU_TAINT_KEY
from program.components.internal_service import GPU_RESOURCE
from program.components.node_pool import POOL_LABEL
from program import capacity, catalog, config, cost
from program.config import StackConfig

SCALE_DOWN_UNNEEDED = timedelta(minutes=cost.SCALE_DOWN_UNNEEDED_MINUTES)
"""How long a node stays unneeded before the autoscaler removes it (program/cost.py, which bills it)."""
SCALE_DOWN_DELAY_AFTER_ADD = timedelta(minutes=10)
"""After any scale-up the autoscaler removes no node for this long (``--scale-down-delay-after-add``,
10m0s; FAQ.md "What are the parameters to CA?", and "there was a scale-up in the last 10 min" among
what prevents a scale-down, FAQ.md "How does scale-down work?")."""
NO_SCALE_UP_GRACE = timedelta(minutes=2)
"""How long a GPU pod may wait without a scale-up before it is a problem: the autoscaler looks at
unschedulable pods every 10 seconds (``--scan-interval``, FAQ.md "How does scale-up work?"), so two
minutes without a word is not a delay."""
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
SPOT_LABEL = "cloud.google.com/gke-spot"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ZONE_LABEL = "topology.kubernetes.io/zone"
TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler"
TRIGGERED, NOT_TRIGGERED, FAILED = "TriggeredScaleUp", "NotTriggerScaleUp", "FailedScaleUp"
AUTOSCALER_REASONS = (TRIGGERED, NOT_TRIGGERED, FAILED)
QUOTA_EXCEEDED = "GCE quota exceeded"
OUT_OF_RESOURCES = "GCE out of resources"
MAX_NODE_GROUP_SIZE = "max node group size reached"
IN_BACKOFF = "in backoff after failed scale-up"
ZONES_IN_MESSAGE = re.compile(r"Node scale up in zones (.*?) associated with this pod failed")
EXCEEDED_QUOTA = re.compile(r"exceeded quota: ([^,]+), requested: (.+?), used: (.+?), limited: (.+)$")


@dataclass(frozen=True)
class Finding:
    """What holds a GPU pod, as a verdict: ``waiting`` (exit 3) or ``problem`` (exit 1). ``stage``
    says where a waiting pod is: ``scale-up`` (the autoscaler is adding a node for it) or
    ``starting`` (bound to a node, its containers not running yet)."""

    kind: str
    message: str
    next_command: str | None = None
    stage: str = ""

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


def autoscaler_log(stack: StackConfig, selects: str) -> str:
    """The Cloud Logging query that shows the autoscaler's own account (which quota, which zones,
    why no scale-up or scale-down): its visibility log, the cluster's zone, and ``selects`` — a
    condition on the JSON fields GKE writes (module docstring)."""
    owner = stack.cluster_owner
    return (
        f"gcloud logging read 'resource.type=\"k8s_cluster\" AND resource.labels.location=\"{owner.zone}\" AND "
        f"logName=\"projects/{owner.gcp_project}/logs/container.googleapis.com%2Fcluster-autoscaler-visibility\" AND {selects}' "
        f"--project {owner.gcp_project} --freshness 1h"
    )


def scale_up_error(message_id: str = "") -> str:
    """The visibility log's failed scale-ups (``resultInfo.results[].errorMsg.messageId``), all or one kind."""
    return f'jsonPayload.resultInfo.results.errorMsg.messageId="{message_id}"' if message_id else "jsonPayload.resultInfo.results.errorMsg.messageId:*"


NO_SCALE_UP = "jsonPayload.noDecisionStatus.noScaleUp:*"
NO_SCALE_DOWN = "jsonPayload.noDecisionStatus.noScaleDown:*"


def is_bound(pod) -> bool:
    """The scheduler has given the pod a node (``spec.nodeName``, or its ``PodScheduled`` condition
    True): it waits for its containers, not for the autoscaler."""
    if pod.spec.node_name:
        return True
    return any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions or [])


def scheduling_attempt(pod) -> datetime:
    """When the pod's current scheduling attempt began: the scheduler's last ``PodScheduled``
    transition, else the pod's creation. The autoscaler only looks at a pod after the scheduler
    marked it unschedulable (FAQ.md "How does scale-up work?"), so nothing older is about it."""
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.last_transition_time is not None:
            return condition.last_transition_time
    return pod.metadata.creation_timestamp or datetime.min.replace(tzinfo=UTC)


def current_events(pod, events: Sequence) -> list:
    """The events about this pod — this object (its uid, where the event names one), since its
    current scheduling attempt — oldest first. Events are kept by name for an hour
    (kube-apiserver --event-ttl), so a name reused, or an older attempt, must not speak for it."""
    uid = pod.metadata.uid
    since = scheduling_attempt(pod).replace(microsecond=0)
    return [
        e for e in events
        if (not uid or not e.involved_object.uid or e.involved_object.uid == uid) and when(e) >= since
    ]


def why_pending(pod, events: Sequence, stack: StackConfig, now: datetime, gpu_nodes: Callable[[], int]) -> Finding:
    """Why a GPU pod is not running, from its spec, its container statuses and its events since its
    current scheduling attempt, with the fix. The autoscaler's latest word wins: a scale-up
    triggered after a failure in another zone is the run going its expected way. ``waiting`` for a
    pod bound to a node (starting), a scale-up the autoscaler triggered, a stockout in some of the
    pool's zones (it tries the others) or a pod too young to tell. ``gpu_nodes`` counts the GPU
    nodes up (asked only when a message needs it)."""
    name = pod.metadata.name
    spec = pod.spec
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
            return Finding("problem", f"pod {name} got its GPU node but cannot pull image {status.image} ({waiting.reason}: "
                           f"{' '.join((waiting.message or '').split())}); the node is billed meanwhile: check that the tag was pushed and the "
                           "registry admits the nodes, or stop the run", f"kubectl -n {pod.metadata.namespace} describe pod/{name}")
    if is_bound(pod):
        return Finding("waiting", f"pod {name} is on node {spec.node_name or '(binding)'}, starting its containers", stage="starting")
    if not any(t.key == GPU_TAINT_KEY for t in spec.tolerations or []):
        return Finding("problem", f"pod {name} asks for a GPU but does not tolerate the GPU nodes' taint {GPU_TAINT_KEY}: no GPU node will take it; "
                       "it was not built from the definition (the program's Deployments and CronJobs carry the toleration): `pulumi up`, and start it again")
    if (spec.node_selector or {}).get(COMPUTE_CLASS_KEY) != GPU_COMPUTE_CLASS:
        return Finding("problem", f"pod {name} does not select the GPU ComputeClass ({COMPUTE_CLASS_KEY}={GPU_COMPUTE_CLASS}): the autoscaler will not add a GPU node "
                       "for it; it was not built from the definition: `pulumi up`, and start it again")
    current = current_events(pod, events)
    said = [e for e in current if e.reason in AUTOSCALER_REASONS]
    failed = [e.message or "" for e in said if e.reason == FAILED]
    if said and said[-1].reason == TRIGGERED:
        before = f" (after a failed scale-up: {failed[-1]})" if failed else ""
        return Finding("waiting", f"pod {name} is waiting for the GPU pool to scale up from zero: {said[-1].message}{before}", stage="scale-up")
    if said and said[-1].reason == FAILED:
        latest = said[-1].message or ""
        if QUOTA_EXCEEDED in latest:
            return _quota(name, failed, stack)
        if OUT_OF_RESOURCES in latest:
            return _stockout(name, failed, stack)
        return Finding("problem", f"pod {name} cannot get a GPU node: {latest}", autoscaler_log(stack, scale_up_error()))
    if said:
        return _not_triggered(name, said[-1].message or "", stack, gpu_nodes)
    age = now - (pod.metadata.creation_timestamp or now)
    scheduling = [e.message for e in current if e.reason == "FailedScheduling"]
    note = f" (the scheduler: {scheduling[-1]})" if scheduling else ""
    if age < NO_SCALE_UP_GRACE:
        return Finding("waiting", f"pod {name} is pending for {int(age.total_seconds())} s, no scale-up yet{note}")
    return Finding(
        "problem",
        f"pod {name} has been pending for {int(age.total_seconds() // 60)} min and the autoscaler triggered no scale-up{note}: is autoscaling "
        f"on for the GPU pool, and does it exist? `gcloud container node-pools list` shows it",
        autoscaler_log(stack, NO_SCALE_UP),
    )


def _quota_metrics(stack: StackConfig) -> list[str]:
    gpu = stack.cluster_owner.gpu_pool
    if gpu is None:
        return ["GPUS_ALL_REGIONS"]
    spot = gpu.spot and not (gpu.quota is not None and gpu.quota.preemptible == 0)  # without preemptible quota, Spot counts as on demand
    return [catalog.gpu_quota_metric(gpu.accelerator, spot), "GPUS_ALL_REGIONS"]


def _quota(pod: str, failed: list[str], stack: StackConfig) -> Finding:
    """GKE writes "GCE quota exceeded" for every quota (module docstring): which one ran out is in
    the visibility log only, so the quotas a GPU node counts against are named, GPUs first."""
    owner = stack.cluster_owner
    metrics = _quota_metrics(stack)
    needed = owner.gpu_pool.gpus if owner.gpu_pool else 1
    requests = "; ".join(
        config.quota_request(owner.gcp_project, metric, needed, None if metric == "GPUS_ALL_REGIONS" else owner.region)
        + f" (gpuPool.quota in stacks/Pulumi.{owner.stack}.yaml)"
        for metric in metrics
    )
    return Finding(
        "problem",
        f"pod {pod} cannot get a GPU node: the scale-up failed on GCE quota ({_zones(failed) or 'zones not named'}): a GPU quota is exhausted, "
        f"{' or '.join(metrics)}, or the CPUs, SSD GB or in-use addresses each node also takes (`make plan` names them); GKE's event does not "
        f"say which, the autoscaler's log does. {requests}",
        autoscaler_log(stack, scale_up_error("scale.up.error.quota.exceeded")),
    )


def _tried(failed: Iterable[str]) -> list[str]:
    return sorted({z.strip() for message in failed for match in ZONES_IN_MESSAGE.findall(message) for z in match.split(",") if z.strip()})


def _zones(failed: Iterable[str]) -> str:
    zones = _tried(failed)
    return f"zones tried: {', '.join(zones)}" if zones else ""


def _stockout(pod: str, failed: list[str], stack: StackConfig) -> Finding:
    """A zone out of the machine: while the pool has zones not tried yet this is the multi-zone
    burst's expected path — each zone of a node pool is a node group of its own (one managed
    instance group), and a failed one is backed off (``initial-node-group-backoff-duration``,
    FAQ.md "What are the parameters to CA?") while the others are tried; only every zone out is
    a stockout to act on."""
    owner = stack.cluster_owner
    gpu = owner.gpu_pool
    tried = _tried(failed)
    machine = gpu.machine_type if gpu else "GPU"
    untried = [z for z in owner.gpu_zones if z not in tried]
    if tried and untried:
        return Finding(
            "waiting",
            f"pod {pod} waits: Compute Engine is out of {machine} capacity in {', '.join(tried)}; the autoscaler backs "
            f"{'that zone' if len(tried) == 1 else 'those zones'} off and tries the pool's other zones ({', '.join(untried)})",
            stage="scale-up",
        )
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
        f"pod {pod} cannot get a GPU node: Compute Engine is out of {machine} capacity ({_zones(failed) or 'zones not named'}): a stockout, "
        f"not your quota. The fallback: {fallback}",
        autoscaler_log(stack, scale_up_error("scale.up.error.out.of.resources")),
    )


def _not_triggered(pod: str, message: str, stack: StackConfig, gpu_nodes: Callable[[], int]) -> Finding:
    """The autoscaler's reasons are summed over every node group it considered (module docstring):
    "max node group size reached" is the GPU pool's only when its GPU nodes are at its ceiling."""
    owner = stack.cluster_owner
    ceiling = owner.gpu_pool.max_nodes if owner.gpu_pool else None
    if MAX_NODE_GROUP_SIZE in message and ceiling is not None:
        up = gpu_nodes()
        if up >= ceiling:
            return Finding(
                "problem",
                f"pod {pod} cannot get a GPU node: the GPU pool is at its ceiling ({up} of {ceiling} nodes, gpuPool.maxNodes in "
                f"stacks/Pulumi.{owner.stack}.yaml): other GPU work holds its nodes (`on-call gpu` names it); wait for it, run with a lower "
                f"--parallelism, or raise gpuPool.maxNodes and its quota. The autoscaler: {message}",
                "on-call gpu",
            )
        return Finding(
            "problem",
            f"pod {pod} cannot get a GPU node, the autoscaler will not add one: {message}. \"{MAX_NODE_GROUP_SIZE}\" is another pool's "
            f"(the autoscaler sums its reasons over every pool): the GPU pool has {up} of its {ceiling} nodes, so the GPU pool was refused "
            "for the message's other reason; its noScaleUp log names the reason of each pool",
            autoscaler_log(stack, NO_SCALE_UP),
        )
    if IN_BACKOFF in message:
        return Finding("problem", f"pod {pod} cannot get a GPU node: the autoscaler backs off after a failed scale-up ({message}); its log says why",
                       autoscaler_log(stack, scale_up_error()))
    return Finding("problem", f"pod {pod} cannot get a GPU node, the autoscaler will not add one: {message}", autoscaler_log(stack, NO_SCALE_UP))


def quota_refusal(events: Sequence) -> Finding | None:
    """A namespace's ResourceQuota refusing a controller's pods (``FailedCreate`` on a Job or
    ReplicaSet): "Error creating: pods "…" is forbidden: exceeded quota: project-quota, requested:
    requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=20, limited: requests.nvidia.com/gpu=20"
    — the API server's ResourceQuota admission, "exceeded quota: %s, requested: %s, used: %s,
    limited: %s" (kubernetes staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go,
    CheckRequest)."""
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
                f"with a lower --parallelism, or raise the project's quota in projects/*.yaml",
                f"kubectl -n {namespace} describe resourcequota/{quota}",
            )
    return None


# GPU nodes: what they cost, what holds them.


def is_gpu_node(node) -> bool:
    labels = node.metadata.labels or {}
    return ACCELERATOR_LABEL in labels or labels.get(POOL_LABEL) == GPU_POOL_LABEL_VALUE


def gpu_nodes_up(session) -> int:
    """GPU nodes in the cluster now, one request."""
    return sum(1 for n in session.call(session.kube.core.list_node).items if is_gpu_node(n))


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
