"""`on-call burst`, the diagnosis of a waiting GPU pod and `on-call gpu` (issue 19, items 2, 5 and
6), against kmock's Kubernetes emulator. The CronJob in the emulator is the one the program
declares for prod's ml/embed (offline plan), so the Job on-call creates is checked against it."""

from __future__ import annotations

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
OUT_OF_RESOURCES = "Node scale up in zones us-central1-a, us-central1-b associated with this pod failed: GCE out of resources. Pod is at risk of not being scheduled."


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
    for resource in ("v1/events", "v1/pods", "v1/nodes", "policy/v1/poddisruptionbudgets"):
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


def event(about: str, kind: str, reason: str, message: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{about}.{reason.lower()}", "namespace": "ml"},
        "involvedObject": {"kind": kind, "name": about, "namespace": "ml"}, "reason": reason, "message": message, "type": "Warning",
        "lastTimestamp": _t(datetime.now(UTC)),
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
        assert f"while it runs: ${20 * hourly:,.2f}/h on Spot (${hourly:.4f} a node)" in text and "/h on demand" in text
        ceiling = 2 * 20 * hourly
        assert f"ceiling: 2 h (max_hours) × 20 nodes × ${hourly:.4f}/h = ${ceiling:,.2f}" in text
        left = estimate.budget_usd - estimate.expected_monthly_usd
        after = left - ceiling
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
        assert pod["nodeSelector"] == {"shoestring.dev/pool": "gpu"}
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
        assert job["metadata"]["ownerReferences"][0]["name"] == "embed"
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

    def test_a_zone_stockout_names_the_zones_tried_and_the_fallback(self, kube, tmp_path, cron_job):
        def scenario(job):
            pod = pending_pod(job["metadata"]["name"])
            kube.put(EVENTS, "ml", event(pod["metadata"]["name"], "Pod", "FailedScaleUp", OUT_OF_RESOURCES))
            kube.put(PODS, "ml", pod)

        code, text = self.run_held(kube, tmp_path, scenario)
        assert code == 1, text
        assert "zones tried: us-central1-a, us-central1-b" in text and "a stockout, not your quota" in text
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

    def test_no_gpu_node_is_nothing_to_do(self, kube, tmp_path):
        declared(kube)
        result = on_call(kube, tmp_path, "gpu", "--yes")
        assert result.exit_code == 0 and "the GPU pool is at zero" in result.output
