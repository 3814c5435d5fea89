"""A burst's cluster, played against kmock's emulator: the Job controller, the scheduler, the GKE
cluster autoscaler and Spot preemption, each by its documented rule (cited where it acts). It
writes only what those components write — pods, nodes, events, the Job's status — with the same
fields and texts, so on-call reads it as it reads a real cluster.

The scenario (issue 27, item 7): Spot capacity is out in zone a, so the first scale-up fails
there and nodes come in zone b; a wave of preemptions takes some running pods; one shard's code
fails once; the run ends succeeded and its nodes are left with nothing to hold them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import kmock

JOBS, PODS, EVENTS, NODES = "batch/v1/jobs", "v1/pods", "v1/events", "v1/nodes"
STOCKOUT_ZONE, NODE_ZONE = "us-central1-a", "us-central1-b"
OUT_OF_RESOURCES = (
    f"Node scale up in zones {STOCKOUT_ZONE} associated with this pod failed: GCE out of resources. Pod is at risk of not being scheduled."
)
"""GKE's FailedScaleUp (k8s.io/gke-autoscaling cluster-autoscaler/pkg/events: zonalErrorMessageTemplate, outOfResourcesMessage)."""


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class BurstCluster:
    """Plays the run's cluster in a thread until the Job completes (or ``stop``)."""

    kube: object
    """tests/test_oncall.py's KubeApi."""
    preempt: int = 3
    """Running pods whose Spot nodes are reclaimed in one wave."""
    failing_index: int = 7
    """The shard whose code fails on its first attempt."""
    run_seconds: float = 0.4
    """How long a shard's pod runs."""
    seconds_per_step: float = 1.1
    """Between the autoscaler's steps: events a second apart, as their second-resolution timestamps need."""
    preempted: list[str] = field(default_factory=list)
    failed_in_code: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> BurstCluster:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    # State read back from the emulator.

    def _objects(self, resource: str) -> list[dict]:
        key = kmock.resource(resource)
        return [_plain(o) for (r, _, _), o in list(self.kube.emulator.objects.items()) if r == key and not o.deleted]

    def _delete(self, resource: str, namespace: str | None, name: str) -> None:
        done = threading.Event()

        def drop() -> None:
            self.kube.emulator.objects[kmock.resource(resource), namespace, name].delete()
            done.set()

        self.kube.loop.call_soon_threadsafe(drop)
        assert done.wait(5)

    def _event(self, pod: dict, reason: str, message: str, kind: str = "Normal") -> None:
        now = datetime.now(UTC)
        name = pod["metadata"]["name"]
        self.kube.put(EVENTS, "ml", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.{reason.lower()}", "namespace": "ml"},
            "involvedObject": {"kind": "Pod", "name": name, "namespace": "ml", "uid": pod["metadata"]["uid"]},
            "reason": reason, "message": message, "type": kind, "source": {"component": "cluster-autoscaler"},
            "firstTimestamp": _t(now), "lastTimestamp": _t(now), "count": 1,
        })

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        job = None
        while job is None and not self._stop.is_set() and time.monotonic() < deadline:
            job = next(iter(self._objects(JOBS)), None)
            time.sleep(0.02)
        if job is None:
            return
        spec = job["spec"]
        name = job["metadata"]["name"]
        completions, parallelism = spec["completions"], spec["parallelism"]
        template = spec["template"]["spec"]
        started = datetime.now(UTC)
        done: set[int] = set()
        attempts: dict[int, int] = {}
        failures = 0
        nodes = 0
        stocked_out = scaled_up_at = None
        preempted_wave = False
        while not self._stop.is_set() and time.monotonic() < deadline:
            now = datetime.now(UTC)
            pods = {p["metadata"]["name"]: p for p in self._objects(PODS) if p["metadata"].get("labels", {}).get("job-name") == name}
            live = [p for p in pods.values() if p["status"]["phase"] in ("Pending", "Running")]
            # Job controller, Indexed mode: one pod per index not yet succeeded, at most `parallelism`
            # at once (kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode).
            busy = {int(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]) for p in live}
            for index in range(completions):
                if len(busy) >= parallelism:
                    break
                if index in done or index in busy:
                    continue
                attempts[index] = attempts.get(index, 0) + 1
                pod_name = f"{name}-{index}-a{attempts[index]}"
                self.kube.put(PODS, "ml", {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {
                        "name": pod_name, "namespace": "ml", "uid": f"uid-{pod_name}", "creationTimestamp": _t(now),
                        "labels": {"job-name": name, "batch.kubernetes.io/job-completion-index": str(index)},
                        "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": "job-uid", "controller": True}],
                    },
                    "spec": template,
                    "status": {"phase": "Pending", "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": _t(now),
                         "message": "0/3 nodes are available: 3 node(s) had untolerated taint {nvidia.com/gpu: present}."}]},
                })
                busy.add(index)
            pods = {p["metadata"]["name"]: p for p in self._objects(PODS) if p["metadata"].get("labels", {}).get("job-name") == name}
            unbound = [p for p in pods.values() if p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName")]
            free = [n["metadata"]["name"] for n in self._objects(NODES)
                    if not any(p["spec"].get("nodeName") == n["metadata"]["name"] and p["status"]["phase"] in ("Pending", "Running") for p in pods.values())]
            # The autoscaler, for pods the scheduler marked unschedulable: the first attempt meets a
            # stockout in zone a (GKE's FailedScaleUp); the zone is backed off and the next attempt
            # adds nodes in zone b (TriggeredScaleUp, processors/status/eventing_scale_up_processor.go).
            if unbound and not free:
                if stocked_out is None:
                    for pod in unbound:
                        self._event(pod, "FailedScaleUp", OUT_OF_RESOURCES, "Warning")
                    stocked_out = time.monotonic()
                elif time.monotonic() - stocked_out > self.seconds_per_step and (scaled_up_at is None or time.monotonic() - scaled_up_at > self.seconds_per_step):
                    group = f"https://www.googleapis.com/compute/v1/projects/acme-prod/zones/{NODE_ZONE}/instanceGroups/gke-prod-gpu-pool-grp"
                    for pod in unbound:
                        self._event(pod, "TriggeredScaleUp", f"pod triggered scale-up: [{{{group} {nodes}->{nodes + len(unbound)} (max: 20)}}]")
                    for _ in unbound:
                        nodes += 1
                        self.kube.put(NODES, None, _gpu_node(f"gke-prod-gpu-pool-b-{nodes}", now))
                    scaled_up_at = time.monotonic()
            # The scheduler binds each unschedulable pod to a free node that fits it, one pod per node.
            for pod, node in zip(sorted(unbound, key=lambda p: p["metadata"]["name"]), sorted(free)):
                pod["spec"] = pod["spec"] | {"nodeName": node}
                pod["status"] = {"phase": "Running", "startTime": _t(now), "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": _t(now)}]}
                self.kube.put(PODS, "ml", pod)
            running = [p for p in pods.values() if p["status"]["phase"] == "Running"]
            # Spot preemption: Compute Engine reclaims the VMs; the node's graceful shutdown fails its
            # pods with the DisruptionTarget condition, reason TerminationByKubelet
            # (kubernetes.io/docs/concepts/workloads/pods/disruptions/#pod-disruption-conditions;
            # cloud.google.com/kubernetes-engine/docs/concepts/spot-vms, "graceful node shutdown").
            oldest = max((_ran(p, now) for p in running), default=0.0)
            if not preempted_wave and len(running) > self.preempt and oldest >= self.run_seconds / 2:
                for pod in sorted(running, key=lambda p: p["metadata"]["name"])[: self.preempt]:
                    pod["status"] = pod["status"] | {"phase": "Failed", "conditions": pod["status"]["conditions"] + [{
                        "type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "lastTransitionTime": _t(now),
                        "message": "Pod was terminated in response to imminent node shutdown."}]}
                    self.kube.put(PODS, "ml", pod)
                    self._delete(NODES, None, pod["spec"]["nodeName"])
                    self.preempted.append(pod["metadata"]["name"])
                preempted_wave = True
                continue
            for pod in running:
                if _ran(pod, now) < self.run_seconds:
                    continue
                index = int(pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"])
                code = 1 if index == self.failing_index and not self.failed_in_code else 0
                if code and template.get("restartPolicy") == "OnFailure":
                    # The kubelet re-runs the container in the same pod, and the restart counts against
                    # backoffLimit (kubernetes.io/docs/concepts/workloads/controllers/job/#handling-pod-and-container-failures).
                    pod["status"] = pod["status"] | {"startTime": _t(now), "containerStatuses": [{
                        "name": template["containers"][0]["name"], "image": template["containers"][0]["image"], "imageID": "", "ready": True,
                        "restartCount": 1, "state": {"running": {"startedAt": _t(now)}}}]}
                    self.kube.put(PODS, "ml", pod)
                    failures += 1
                    self.failed_in_code.append(pod["metadata"]["name"])
                    continue
                pod["status"] = pod["status"] | {"phase": "Succeeded" if code == 0 else "Failed", "containerStatuses": [{
                    "name": template["containers"][0]["name"], "image": template["containers"][0]["image"], "imageID": "", "ready": False,
                    "restartCount": 0, "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                                                 "finishedAt": _t(now)}}}]}
                self.kube.put(PODS, "ml", pod)
                if code == 0:
                    done.add(index)
                else:
                    failures += 1
                    self.failed_in_code.append(pod["metadata"]["name"])
            # The Job's status as its controller writes it. A pod failure counts against backoffLimit
            # unless a podFailurePolicy rule ignores it (kubernetes.io/docs/concepts/workloads/controllers/job/#pod-failure-policy):
            # Ignore on DisruptionTarget where the batch declares it; otherwise preemptions count too.
            counted = failures + (0 if _ignores_disruptions(spec) else len(self.preempted))
            status = {"startTime": _t(started), "active": len(busy) - len(done & busy), "succeeded": len(done), "failed": counted}
            if counted > spec.get("backoffLimit", 6):
                status["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]
            elif len(done) == completions:
                status |= {"active": 0, "completionTime": _t(now), "conditions": [{"type": "Complete", "status": "True"}]}
            self.kube.put(JOBS, "ml", job | {"status": status})
            if "conditions" in status:
                return
            time.sleep(0.05)


def _ran(pod: dict, now: datetime) -> float:
    return (now - datetime.fromisoformat(pod["status"]["startTime"].replace("Z", "+00:00"))).total_seconds()


def _ignores_disruptions(spec: dict) -> bool:
    rules = (spec.get("podFailurePolicy") or {}).get("rules", [])
    return any(r.get("action") == "Ignore" and any(c.get("type") == "DisruptionTarget" for c in r.get("onPodConditions", [])) for r in rules)


def _gpu_node(name: str, now: datetime) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": _t(now), "labels": {
            "cloud.google.com/gke-accelerator": "nvidia-l4", "cloud.google.com/gke-spot": "true", "cloud.google.com/gke-nodepool": "gpu-pool",
            "node.kubernetes.io/instance-type": "g2-standard-4", "topology.kubernetes.io/zone": NODE_ZONE, "shoestring.dev/pool": "gpu",
        }},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {"capacity": {"nvidia.com/gpu": "1"}},
    }


def _plain(value):
    from collections.abc import Mapping

    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
