"""`on-call burst`, the diagnosis of a waiting GPU pod and `on-call gpu` (issue 19, items 2, 5 and
6), against kmock's Kubernetes emulator. The CronJob in the emulator is the one the program
declares for prod's ml/embed (offline plan), so the Job on-call creates is checked against it."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
import time
from datetime import UTC, datetime, timedelta

import kmock
import pytest

from program import cost
from shoestring import offline
from shoestring.oncall.runbooks.burst import JOB_NAME, job_name
from tests.test_oncall import GPU_POD_PLACEMENT, KubeApi, _t, declare, kube, on_call  # noqa: F401 (kube, declare: fixtures)

JOBS, PODS, EVENTS, NODES = "batch/v1/jobs", "v1/pods", "v1/events", "v1/nodes"
QUOTA_EXCEEDED = "Node scale up in zones us-central1-a associated with this pod failed: GCE quota exceeded. Pod is at risk of not being scheduled."
OUT_OF_RESOURCES = (
    "Node scale up in zones us-central1-a, us-central1-b, us-central1-c associated with this pod failed: GCE out of resources. "
    "Pod is at risk of not being scheduled."
)
"""GKE's FailedScaleUp text (k8s.io/gke-autoscaling cluster-autoscaler/pkg/events: zonalErrorMessageTemplate,
outOfResourcesMessage), every zone of prod's GPU pool out."""
OUT_IN_ZONE_A = "Node scale up in zones us-central1-a associated with this pod failed: GCE out of resources. Pod is at risk of not being scheduled."
TRIGGERED_IN_ZONE_B = "pod triggered scale-up: [{https://www.googleapis.com/compute/v1/projects/acme-prod/zones/us-central1-b/instanceGroups/gke-gpu-grp 0->1 (max: 20)}]"
"""cluster-autoscaler's TriggeredScaleUp ("pod triggered scale-up: %v" of its ScaleUpInfos, processors/status/eventing_scale_up_processor.go)."""


@pytest.fixture(scope="module")
def prod() -> offline.Plan:
    return offline.run("prod")


@pytest.fixture
def cron_job(kube, prod) -> dict:
    """prod's ml/embed CronJob as the program declares it, in the emulator; and the events resource."""
    [record] = [r for r in prod.of_type(cost.CRON_JOB) if r.inputs["metadata"]["name"] == "embed"]
    manifest = record.inputs | {"apiVersion": "batch/v1", "kind": "CronJob"}
    manifest["metadata"] = manifest["metadata"] | {"uid": "0d5e-embed"}
    kube.put("batch/v1/cronjobs", "ml", manifest)
    declared(kube)
    return manifest


def declared(kube: KubeApi) -> None:
    """The resource types on-call lists, known to the emulator even while none exists."""
    for resource in ("v1/events", "v1/pods", "v1/nodes", "policy/v1/poddisruptionbudgets", JOBS):
        kube.emulator.resources[resource] = {}


def created_jobs(kube: KubeApi) -> list[dict]:
    return [plain(obj) for (resource, _, _), obj in list(kube.emulator.objects.items()) if resource == kmock.resource(JOBS) and not obj.deleted]


def plain(value):
    """kmock's object views as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def when_created(kube: KubeApi, then) -> None:
    """What the Job controller, scheduler and autoscaler would do once on-call's Job exists."""

    def controller() -> None:
        deadline = time.monotonic() + 10
        while not created_jobs(kube) and time.monotonic() < deadline:
            time.sleep(0.02)
        if created_jobs(kube):
            then(created_jobs(kube)[0])

    threading.Thread(target=controller, daemon=True).start()


def pending_pod(job: str, age: timedelta = timedelta(seconds=30), **spec) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{job}-0-x1", "namespace": "ml", "labels": {"job-name": job}, "creationTimestamp": _t(datetime.now(UTC) - age)},
        "spec": {"containers": [{"name": "embed", "image": "i", "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}}]}
        | GPU_POD_PLACEMENT | spec,
        "status": {"phase": "Pending"},
    }


def event(about: str, kind: str, reason: str, message: str, ago: timedelta = timedelta(0), uid: str | None = None) -> dict:
    return {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{about}.{reason.lower()}", "namespace": "ml"},
        "involvedObject": {"kind": kind, "name": about, "namespace": "ml", **({"uid": uid} if uid else {})},
        "reason": reason, "message": message, "type": "Normal" if reason != "FailedScaleUp" else "Warning",
        "lastTimestamp": _t(datetime.now(UTC) - ago),
    }


def gpu_node(name: str, age: timedelta) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": _t(datetime.now(UTC) - age), "labels": {
            "cloud.google.com/gke-accelerator": "nvidia-l4", "cloud.google.com/gke-spot": "true",
            "node.kubernetes.io/instance-type": "g2-standard-4", "topology.kubernetes.io/zone": "us-central1-b", "shoestring.dev/pool": "gpu",
        }},
        "status": {"capacity": {"nvidia.com/gpu": "1"}},
    }


def words(result) -> str:
    return " ".join(result.output.split())


class TestBurst:
    def test_a_dry_run_prints_nodes_hourly_ceiling_and_budget_left_and_writes_nothing(self, kube, tmp_path, cron_job, prod):
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--parallelism", "20", "--dry-run")
        text = words(result)
        assert result.exit_code == 0, result.output
        estimate = cost.estimate("prod", prod.records)
        hourly = estimate.burst_hourly_usd
        assert "20 pods × 1 GPU, 2 vCPU, 8Gi: 20 g2-standard-4 GPU nodes (1 pod per node, by the capacity model)" in text
        assert f"rung 1: pool gpu-pool (Spot, up to 20 nodes): ${hourly:.4f}/h a node, ${20 * hourly:,.2f}/h while it runs" in text
        # Prod declares 27a's on-demand rung (gpuPool.onDemandFallback), priced by the estimate but outside its expected figure.
        [on_demand] = [line.fallback_hourly for line in estimate.lines if line.item == "gpu-pool-on-demand GPU nodes"]
        assert f"rung 2: pool gpu-pool-on-demand (on demand, up to 20 nodes): ${on_demand:.4f}/h a node, ${20 * on_demand:,.2f}/h while it runs" in text
        assert "not declared" not in text
        # Billed from boot to removal: 5 min boot and the autoscaler's 10 min scale-down-unneeded-time beside the 2 h.
        assert "each node is billed from its boot to its removal: at most 2 h (max_hours) + 5 min boot + 10 min scale-down = 2.25 h" in text
        ceiling = 2.25 * 20 * hourly
        assert f"ceiling if the burst lands entirely on it: 20 nodes × 2.25 h × ${hourly:.4f}/h = ${ceiling:,.2f}" in text
        # The budget line weighs the run at its dearest declared rung: every node on demand.
        dearest = 2.25 * 20 * on_demand
        assert f"ceiling if the burst lands entirely on it: 20 nodes × 2.25 h × ${on_demand:.4f}/h = ${dearest:,.2f}" in text
        left = estimate.budget_usd - estimate.expected_monthly_usd
        after = left - dearest
        assert f"leaves ${left:,.2f}; after this run at its ceiling, " + (f"${after:,.2f}" if after >= 0 else f"${-after:,.2f} over budget") in text
        assert "Verdict: dry run — nothing was created." in text
        assert not created_jobs(kube)
        assert {str(r.method).upper().rsplit(".", 1)[-1] for r in kube.emulator} <= {"GET"}  # kmock saw no write

    def test_a_run_is_one_indexed_job_from_the_cronjob_and_exits_0_when_complete(self, kube, tmp_path, cron_job):
        when_created(kube, lambda job: kube.put(JOBS, "ml", job | {"status": {
            "succeeded": 200, "startTime": _t(datetime.now(UTC)), "conditions": [{"type": "Complete", "status": "True"}],
        }}))
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--parallelism", "10", "--yes")
        assert result.exit_code == 0, result.output
        [job] = created_jobs(kube)
        template = cron_job["spec"]["jobTemplate"]["spec"]
        spec = job["spec"]
        assert spec["parallelism"] == 10 and spec["completions"] == 200 and spec["completionMode"] == "Indexed"
        assert (spec["activeDeadlineSeconds"], spec["backoffLimit"], spec["ttlSecondsAfterFinished"]) == (7200, 20, 86400)
        pod = spec["template"]["spec"]
        assert pod == template["template"]["spec"]  # the CronJob's pod, as the program declares it
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        assert pod["nodeSelector"] == {"cloud.google.com/compute-class": "shoestring-gpu"}
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
        assert job["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "embed", "uid": "0d5e-embed", "controller": True}]
        assert "no GPU node is left: the pool is back at zero" in words(result)
        assert "Verdict: run embed-" in words(result)

    def test_the_job_name_fits_an_indexed_jobs_pod_names(self):
        assert job_name("embed", 1764000000) == "embed-1764000000"
        assert len(job_name("a" * 40 + "-b" * 10, 1764000000)) <= JOB_NAME.max_length

    def test_max_cost_refuses_a_run_above_it_and_parallelism_above_the_declared_is_refused(self, kube, tmp_path, cron_job):
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--max-cost", "5", "--yes")
        assert result.exit_code == 1, result.output
        assert "refused: the run's ceiling" in words(result) and "is above --max-cost $5.00; nothing was created" in words(result)
        above = on_call(kube, tmp_path, "burst", "ml/embed", "--parallelism", "21", "--yes")
        assert above.exit_code == 2 and "above 20, the parallelism prod declares for ml/embed" in words(above)
        assert not created_jobs(kube)

    def run_held(self, kube, tmp_path, scenario) -> tuple[int, str]:
        when_created(kube, scenario)
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--yes")
        assert "Traceback" not in result.output
        return result.exit_code, words(result)

    def test_a_scale_up_failed_on_quota_names_the_gpu_quotas_and_the_request_command(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"])
            kube.put(EVENTS, "ml", event(pod["metadata"]["name"], "Pod", "FailedScaleUp", QUOTA_EXCEEDED))
            kube.put(PODS, "ml", pod)

        code, text = self.run_held(kube, tmp_path, scenario)
        assert code == 1, text
        assert "the scale-up failed on GCE quota (zones tried: us-central1-a)" in text
        assert "PREEMPTIBLE_NVIDIA_L4_GPUS or GPUS_ALL_REGIONS" in text
        assert "gcloud quotas preferences create --service=compute.googleapis.com" in text and "--quota-id=GPUS-ALL-REGIONS-per-project" in text

    def test_a_stockout_in_every_zone_of_the_pool_names_the_zones_tried_and_the_fallback(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"])
            kube.put(EVENTS, "ml", event(pod["metadata"]["name"], "Pod", "FailedScaleUp", OUT_OF_RESOURCES))
            kube.put(PODS, "ml", pod)

        code, text = self.run_held(kube, tmp_path, scenario)
        assert code == 1, text
        assert "zones tried: us-central1-a, us-central1-b, us-central1-c" in text and "a stockout, not your quota" in text
        assert "gpuPool.spot: false" in text

    def test_the_namespace_quota_refusing_pods_names_the_quota_key(self, kube, tmp_path, cron_job):
        def scenario(job):
            name = job["metadata"]["name"]
            kube.put(EVENTS, "ml", event(name, "Job", "FailedCreate", (
                f'Error creating: pods "{name}-0-abcde" is forbidden: exceeded quota: project-quota, requested: requests.nvidia.com/gpu=1, '
                "used: requests.nvidia.com/gpu=20, limited: requests.nvidia.com/gpu=20"
            )))
            kube.put(JOBS, "ml", job | {"status": {"active": 0}})

        code, text = self.run_held(kube, tmp_path, scenario)
        assert code == 1, text
        assert "ResourceQuota project-quota refuses pods of Job embed-" in text and ": requests.nvidia.com/gpu (requested" in text

    def test_a_deadline_exceeded_is_exit_1_with_the_cost_so_far(self, kube, tmp_path, cron_job):
        def scenario(job):
            kube.put(NODES, None, gpu_node("gke-gpu-1", timedelta(hours=2)))
            kube.put(JOBS, "ml", job | {"status": {"failed": 3, "succeeded": 120, "startTime": _t(datetime.now(UTC) - timedelta(hours=2)), "conditions": [
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"},
            ]}})

        code, text = self.run_held(kube, tmp_path, scenario)
        assert code == 1, text
        assert "it reached its deadline of 2 h (activeDeadlineSeconds) with 120/200 shards done; cost so far ~$0.8" in text
        assert "GPU node gke-gpu-1 has no GPU work but is kept by" not in text  # nothing holds it
        assert "hold nothing: the autoscaler removes it after 10 min unneeded" in text


class TestOneRunAtATime:
    """One run at a time, created as `kubectl create job --from` creates it (issue 27, item 5)."""

    def active_run(self, kube, name: str = "embed-1764000000", **status) -> None:
        kube.put(JOBS, "ml", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ml", "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "CronJob", "name": "embed", "uid": "0d5e-embed", "controller": True}]},
            "spec": {"template": {"spec": {"containers": [{"name": "embed", "image": "i"}]}}},
            "status": status or {"active": 20, "startTime": _t(datetime.now(UTC) - timedelta(minutes=30))},
        })

    def test_a_second_burst_while_a_run_is_active_is_refused_naming_it_and_creates_no_job(self, kube, tmp_path, cron_job):
        self.active_run(kube)
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--yes", "--timeout", "3")
        text = words(result)
        assert result.exit_code == 1, result.output
        assert "refused: ml/embed-1764000000 (20 pods active) of embed is still running" in text and "Nothing was created" in text
        assert "next: kubectl -n ml delete job/embed-1764000000" in text and "--force" in text
        assert [j["metadata"]["name"] for j in created_jobs(kube)] == ["embed-1764000000"]
        assert "Traceback" not in result.output

    def test_a_finished_run_does_not_hold_the_next(self, kube, tmp_path, cron_job):
        self.active_run(kube, succeeded=200, conditions=[{"type": "Complete", "status": "True"}])
        when_created(kube, lambda job: None)
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--yes", "--detach")
        assert result.exit_code == 0, result.output
        assert "no run of embed is active" in words(result) and len(created_jobs(kube)) == 2

    def test_force_starts_beside_an_active_run(self, kube, tmp_path, cron_job):
        self.active_run(kube)
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--yes", "--detach", "--force")
        assert result.exit_code == 0, result.output
        assert "--force: starting beside the active run ml/embed-1764000000" in words(result) and len(created_jobs(kube)) == 2

    def test_the_job_burst_creates_has_no_block_owner_deletion(self, kube, tmp_path, cron_job):
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--yes", "--detach")
        assert result.exit_code == 0, result.output
        [job] = created_jobs(kube)
        [owner] = job["metadata"]["ownerReferences"]
        assert "blockOwnerDeletion" not in owner and owner["controller"] is True

    def test_finished_runs_are_deleted_by_their_ttl_not_the_next_runs_end(self, prod):
        [record] = [r for r in prod.of_type(cost.CRON_JOB) if r.inputs["metadata"]["name"] == "embed"]
        spec = record.inputs["spec"]
        # Manual runs have the CronJob as controller, so its history limits prune them too.
        assert spec["successfulJobsHistoryLimit"] >= 10 and spec["failedJobsHistoryLimit"] >= 10
        assert spec["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 24 * 3600


class TestReadingTheAutoscaler:
    """on-call reads the autoscaler as it writes (issue 27, item 4): a bound pod is not pending, the
    latest word wins, its reasons are summed over every pool, GKE's quota text is fixed."""

    def follow(self, kube, tmp_path, scenario, *extra: str) -> tuple[int, str]:
        when_created(kube, scenario)
        result = on_call(kube, tmp_path, "burst", "ml/embed", "--yes", "--timeout", "2", *extra)
        assert "Traceback" not in result.output
        return result.exit_code, words(result)

    def test_a_pod_bound_in_zone_b_after_a_stockout_in_zone_a_is_waiting_not_a_stockout(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"], nodeName="gke-gpu-b-1")
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": _t(datetime.now(UTC))}]
            name = pod["metadata"]["name"]
            kube.put(EVENTS, "ml", event(name, "Pod", "FailedScaleUp", OUT_IN_ZONE_A, ago=timedelta(seconds=20)))
            kube.put(NODES, None, gpu_node("gke-gpu-b-1", timedelta(seconds=5)))
            kube.put(PODS, "ml", pod)

        code, text = self.follow(kube, tmp_path, scenario)
        assert code == 3, text
        assert "stockout" not in text and "still runs after 2 s of following" in text

    def test_a_later_scale_up_in_zone_b_wins_over_an_earlier_failure_in_zone_a(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"])
            name = pod["metadata"]["name"]
            kube.put(EVENTS, "ml", event(name, "Pod", "FailedScaleUp", OUT_IN_ZONE_A, ago=timedelta(seconds=20)))
            kube.put(EVENTS, "ml", event(name, "Pod", "TriggeredScaleUp", TRIGGERED_IN_ZONE_B, ago=timedelta(seconds=5)))
            kube.put(PODS, "ml", pod)

        code, text = self.follow(kube, tmp_path, scenario)
        assert code == 3, text
        assert "scale-up triggered" in text and "stockout" not in text

    def test_a_stockout_in_one_zone_of_three_waits_for_the_autoscaler_to_try_the_others(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"])
            kube.put(EVENTS, "ml", event(pod["metadata"]["name"], "Pod", "FailedScaleUp", OUT_IN_ZONE_A))
            kube.put(PODS, "ml", pod)

        code, text = self.follow(kube, tmp_path, scenario)
        assert code == 3, text
        assert "out of g2-standard-4 capacity in us-central1-a; the autoscaler backs that zone off and tries the pool's other zones (us-central1-b, us-central1-c)" in text
        assert "a stockout, not your quota" not in text

    def test_an_event_older_than_the_pods_scheduling_attempt_does_not_speak_for_it(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"], age=timedelta(seconds=10))
            # A quota failure of an hour ago, about an earlier pod of the same name.
            kube.put(EVENTS, "ml", event(pod["metadata"]["name"], "Pod", "FailedScaleUp", QUOTA_EXCEEDED, ago=timedelta(hours=1)))
            kube.put(PODS, "ml", pod)

        code, text = self.follow(kube, tmp_path, scenario)
        assert code == 3, text
        assert "GCE quota" not in text

    def test_max_node_group_size_reached_with_no_gpu_node_up_is_not_the_gpu_pools_ceiling(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"])
            # The CPU pools are full; the GPU pool was refused for the other reason the sum names.
            message = "pod didn't trigger scale-up: 2 max node group size reached, 3 in backoff after failed scale-up"
            kube.put(EVENTS, "ml", event(pod["metadata"]["name"], "Pod", "NotTriggerScaleUp", message))
            kube.put(PODS, "ml", pod)

        code, text = self.follow(kube, tmp_path, scenario)
        assert code == 1, text
        assert "the GPU pool is at its ceiling" not in text
        assert "is another pool's (the autoscaler sums its reasons over every pool): the GPU pool has 0 of its 20 nodes" in text
        assert "jsonPayload.noDecisionStatus.noScaleUp:*" in text

    def test_max_node_group_size_reached_with_every_gpu_node_up_is_the_gpu_pools_ceiling(self, kube, tmp_path, cron_job):
        def scenario(job):
            for i in range(20):
                kube.put(NODES, None, gpu_node(f"gke-gpu-{i}", timedelta(minutes=30)))
            pod = pending_pod(job["metadata"]["name"])
            message = "pod didn't trigger scale-up: 1 max node group size reached, 2 node(s) didn't match Pod's node affinity/selector"
            kube.put(EVENTS, "ml", event(pod["metadata"]["name"], "Pod", "NotTriggerScaleUp", message))
            kube.put(PODS, "ml", pod)

        code, text = self.follow(kube, tmp_path, scenario)
        assert code == 1, text
        assert "the GPU pool is at its ceiling (20 of 20 nodes, gpuPool.maxNodes in stacks/Pulumi.prod.yaml)" in text

    def test_the_log_queries_select_the_json_fields_gke_writes(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"])
            kube.put(EVENTS, "ml", event(pod["metadata"]["name"], "Pod", "FailedScaleUp", QUOTA_EXCEEDED))
            kube.put(PODS, "ml", pod)

        code, text = self.follow(kube, tmp_path, scenario)
        assert code == 1, text
        assert 'jsonPayload.resultInfo.results.errorMsg.messageId="scale.up.error.quota.exceeded"' in text
        assert 'resource.type="k8s_cluster" AND resource.labels.location="us-central1-a"' in text
        assert "AND \"scale.up" not in text  # never a field's value searched as free text


class TestWaitingGpuApp:
    def worker(self, kube, age: timedelta, **placement) -> None:
        from tests.test_oncall import deployment

        worker = deployment("worker", 1, 0)
        worker["metadata"]["namespace"] = "ml"
        kube.put("apps/v1/deployments", "ml", worker)
        pod = pending_pod("worker", age, **placement)
        pod["metadata"] |= {"name": "worker-0", "labels": {"app.kubernetes.io/name": "worker"}}
        kube.put(PODS, "ml", pod)
        declared(kube)

    def test_a_gpu_pod_pending_with_no_scale_up_is_not_healthy(self, kube, tmp_path, declare):
        declare("ml", "worker", replicas=1)
        self.worker(kube, timedelta(minutes=10))
        result = on_call(kube, tmp_path, "check-health", "--app", "worker", "--yes")
        assert result.exit_code == 1, result.output
        assert "pod worker-0 has been pending for 10 min and the autoscaler triggered no scale-up" in words(result)

    def test_a_gpu_pod_without_the_toleration_names_it(self, kube, tmp_path, declare):
        declare("ml", "worker", replicas=1)
        self.worker(kube, timedelta(minutes=1), tolerations=[])
        result = on_call(kube, tmp_path, "check-health", "--app", "worker", "--yes")
        assert result.exit_code == 1 and "does not tolerate the GPU nodes' taint nvidia.com/gpu" in words(result)


class TestGpuNodes:
    def test_a_gpu_node_with_no_gpu_pod_past_the_scale_down_delay_is_exit_1_with_what_holds_it(self, kube, tmp_path):
        kube.put(NODES, None, gpu_node("gke-gpu-idle", timedelta(minutes=45)))
        kube.put(PODS, "ml", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "notebook", "namespace": "ml", "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "nb", "uid": "1"}]},
            "spec": {"nodeName": "gke-gpu-idle", "containers": [{"name": "nb", "image": "i"}]},
            "status": {"phase": "Running"},
        })
        declared(kube)
        result = on_call(kube, tmp_path, "gpu", "--yes")
        text = words(result)
        assert result.exit_code == 1, result.output
        assert "node gke-gpu-idle (g2-standard-4, Spot, us-central1-b), up 45 min, $0.33 this month at $0.4402/h" in text
        assert "no GPU pod for 45 min, longer than the 10 min scale-down delay: kept by pod ml/notebook, annotated " in text
        assert "safe-to-evict: \"false\"" in text

    def test_an_idle_gpu_node_within_scale_down_delay_after_add_of_a_scale_up_is_not_forgotten(self, kube, tmp_path):
        kube.put(NODES, None, gpu_node("gke-gpu-idle", timedelta(minutes=15)))
        kube.put(NODES, None, gpu_node("gke-gpu-new", timedelta(minutes=5)) | {"metadata": {
            **gpu_node("gke-gpu-new", timedelta(minutes=5))["metadata"], "name": "gke-cpu-new", "labels": {}}})
        declared(kube)
        result = on_call(kube, tmp_path, "gpu", "--yes")
        assert result.exit_code == 0, result.output
        assert "the cluster scaled up 5 min ago and the autoscaler removes no node for 10 min after a scale-up" in words(result)

    def test_no_gpu_node_is_nothing_to_do(self, kube, tmp_path):
        declared(kube)
        result = on_call(kube, tmp_path, "gpu", "--yes")
        assert result.exit_code == 0 and "the GPU pool is at zero" in result.output


class TestRunbookAccess:
    """docs/on-call.md names what each runbook asks the Kubernetes API for (issue 27, item 5)."""

    CALL = re.compile(r"kube\.(?:core|apps|batch|policy)\.(read|list|create|delete|patch)_(namespaced_|)([a-z_]+?)(_for_all_namespaces)?\b")
    VERBS = {"read": "get", "list": "list", "create": "create", "delete": "delete", "patch": "patch"}
    PLURAL = {"deployment": "deployments", "event": "events", "pod": "pods", "node": "nodes", "job": "jobs", "cron_job": "cronjobs",
              "pod_log": "pods/log", "pod_disruption_budget": "poddisruptionbudgets"}

    def test_every_call_a_runbook_makes_is_in_its_row(self):
        from pathlib import Path

        doc = Path("docs/on-call.md").read_text()
        table = doc.split("<!-- runbook-access:start -->")[1].split("<!-- runbook-access:end -->")[0]
        rows = {line.split("|")[1].strip().strip("`"): line.split("|")[2] for line in table.splitlines() if line.startswith("| `")}
        for module in Path("shoestring/oncall/runbooks").glob("*.py"):
            calls = {(self.VERBS[verb], self.PLURAL[kind]) for verb, _, kind, _ in self.CALL.findall(module.read_text())}
            if not calls:
                continue
            row = rows[module.stem.replace("_", "-")]
            for verb, resource in calls:
                assert re.search(rf"\b{verb}\b[^;|]*\b{re.escape(resource)}\b", row), f"{module.stem}: {verb} {resource} not in docs/on-call.md"


class TestAWholeRun:
    """A burst you can watch fail and recover, offline (issue 27, item 7): on-call burst through a
    whole run against the Job controller, scheduler, autoscaler and Spot preemption of
    tests/fake_cluster.py."""

    @pytest.fixture
    def twenty_shards(self, kube, cron_job, monkeypatch):
        """ml/embed as a 20-shard batch, 20 pods at once: the CronJob in the cluster and the definition agree."""
        import dataclasses

        from shoestring.oncall import runbook

        cron_job["spec"]["jobTemplate"]["spec"]["completions"] = 20
        kube.put("batch/v1/cronjobs", "ml", cron_job)
        found = runbook.find_batch

        def twenty(name: str, environment: str):
            target = found(name, environment)
            return dataclasses.replace(target, batch=target.batch.model_copy(update={"completions": 20}))

        monkeypatch.setattr(runbook, "find_batch", twenty)

    def test_spot_out_in_one_zone_then_nodes_in_another_preemptions_and_a_real_failure_end_succeeded(self, kube, tmp_path, twenty_shards):
        from tests.fake_cluster import BurstCluster

        cluster = BurstCluster(kube).start()
        try:
            result = on_call(kube, tmp_path, "burst", "ml/embed", "--yes", "--timeout", "90")
        finally:
            cluster.stop()
        text = words(result)
        assert "Traceback" not in result.output
        assert result.exit_code == 0, result.output
        assert "stockout" not in text  # zone a out, zone b tried: the expected path
        assert "out of g2-standard-4 capacity in us-central1-a; the autoscaler backs that zone off" in text
        assert "succeeded: 20/20 shards" in text
        assert len(cluster.preempted) == 3 and len(cluster.failed_in_code) == 1
        assert "3 shards preempted (DisruptionTarget: TerminationByKubelet) and run again" in text and "node-hours of work redone" in text
        assert "GPU nodes" in text and "hold nothing: the autoscaler removes each after 10 min unneeded" in text
        [job] = created_jobs(kube)
        assert job["status"]["conditions"] == [{"type": "Complete", "status": "True"}]
