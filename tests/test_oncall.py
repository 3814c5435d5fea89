"""`on-call`: runbooks driven against a real HTTP server that speaks the Kubernetes API (kmock's
KubernetesEmulator on localhost), a local git repository standing in for the app's remote, and
the CLI run as an engineer runs it (Click's test runner, exit codes and output)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import kmock
import pytest
from click.testing import CliRunner

from shoestring.oncall.cli import cli

LABELS = {"app.kubernetes.io/name": "frontend"}


class KubeApi:
    """kmock's Kubernetes emulator on a localhost port, served from a thread of its own."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> KubeApi:
        self._thread.start()
        assert self._ready.wait(10), "kmock did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

        async def serve() -> None:
            self._stop = asyncio.Event()
            async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
                self.emulator, self.url = emulator, str(server.url).rstrip("/")
                self._ready.set()
                await self._stop.wait()

        self.loop.run_until_complete(serve())

    def put(self, resource: str, namespace: str, obj: dict) -> None:
        done = threading.Event()

        def store() -> None:
            self.emulator.objects[resource, namespace, obj["metadata"]["name"]] = obj
            done.set()

        self.loop.call_soon_threadsafe(store)
        assert done.wait(5)

    def has(self, resource: str, namespace: str, name: str) -> bool:
        return (kmock.resource(resource), namespace, name) in self.emulator.objects

    def respond(self, request: str, body: bytes) -> None:
        self.emulator[request] << body

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
            f"clusters: [{{name: test, cluster: {{server: '{self.url}'}}}}]\n"
            "users: [{name: test, user: {token: test-token}}]\n"
            "contexts: [{name: test, context: {cluster: test, user: test}}]\n"
        )
        return path


@pytest.fixture
def kube() -> Iterator[KubeApi]:
    with KubeApi() as api:
        yield api


@pytest.fixture
def remote(tmp_path, monkeypatch) -> dict[str, str]:
    """A local git repository that `https://github.com/acme/blog` resolves to (git's insteadOf),
    with two commits on main: `old` and `new`."""
    repo = tmp_path / "blog.git"
    work = tmp_path / "blog"
    run_git("init", "--quiet", "--initial-branch=main", str(work))
    shas = {}
    for label in ("old", "new"):
        (work / "version").write_text(label)
        run_git("-C", str(work), "add", "version")
        run_git("-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", label)
        shas[label] = run_git("-C", str(work), "rev-parse", "HEAD").strip()
    run_git("clone", "--quiet", "--bare", str(work), str(repo))
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(f'[url "{repo}"]\n\tinsteadOf = https://github.com/acme/blog\n[url "{repo}"]\n\tinsteadOf = https://github.com/acme/ml\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    return shas


def run_git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def deployment(name: str, replicas: int, ready: int, updated: int | None = None) -> dict:
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "blog", "generation": 2, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": f"ghcr.io/acme/blog-{name}:x"}]}},
        },
        "status": {
            "observedGeneration": 2,
            "replicas": replicas,
            "updatedReplicas": replicas if updated is None else updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
        },
    }


def pod(name: str, tag: str, *, ready: bool = True, restarts: int = 0, waiting: str | None = None, app: str = "frontend") -> dict:
    now = datetime.now(UTC)
    state = {"waiting": {"reason": waiting, "message": "back-off restarting failed container"}} if waiting else {"running": {"startedAt": _t(now - timedelta(hours=2))}}
    status = {
        "name": app,
        "image": f"ghcr.io/acme/blog-{app}:{tag}",
        "imageID": "",
        "ready": ready,
        "restartCount": restarts,
        "state": state,
    }
    if waiting:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": _t(now - timedelta(minutes=1))}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "blog", "labels": {"app.kubernetes.io/name": app}},
        "spec": {"containers": [{"name": app, "image": f"ghcr.io/acme/blog-{app}:{tag}"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": _t(now - timedelta(minutes=42))}],
            "containerStatuses": [status],
        },
    }


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def on_call(kube: KubeApi, tmp_path: Path, *args: str, input: str | None = None):
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
    return CliRunner().invoke(cli, [*args, "--kubeconfig", str(kubeconfig)], input=input, env={"ON_CALL_POLL_SECONDS": "0.05"})


class TestCheckHealth:
    def test_a_healthy_app_running_its_branchs_latest_commit_exits_0(self, kube, remote, tmp_path):
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 3, 3))
        for i in range(3):
            kube.put("v1/pods", "blog", pod(f"frontend-{i}", remote["new"][:12]))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--project", "blog", "--env", "prod", "--yes")
        assert result.exit_code == 0, result.output
        assert "Step 1/4: Uptime" in result.output and "Step 4/4: GPU" in result.output
        assert "3/3 pods ready; stable for 42 minutes" in result.output
        assert "desired 3, updated 3, ready 3" in result.output
        assert f"running {remote['new'][:12]}, the latest commit of main" in result.output
        assert "Verdict: healthy" in result.output

    def test_a_crash_looping_app_exits_1_naming_the_pod_and_the_reason(self, kube, remote, tmp_path):
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 3, 2))
        kube.put("v1/pods", "blog", pod("frontend-0", remote["new"][:12]))
        kube.put("v1/pods", "blog", pod("frontend-1", remote["new"][:12]))
        kube.put("v1/pods", "blog", pod("frontend-2", remote["new"][:12], ready=False, restarts=7, waiting="CrashLoopBackOff"))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert result.exit_code == 1, result.output
        assert "pod frontend-2 is CrashLoopBackOff (7 restarts; last exit: Error with code 1)" in " ".join(result.output.split())
        assert "Verdict: unhealthy" in result.output

    def test_a_sha_mismatch_exits_1_printing_both_and_which_is_newer(self, kube, remote, tmp_path):
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", remote["old"][:12]))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert f"running {remote['old'][:12]} but main is at {remote['new'][:12]}: the deployed commit is 1 commit behind main" in text

    def test_a_cluster_that_does_not_answer_exits_2_with_a_clear_message(self, tmp_path):
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
            f"clusters: [{{name: dead, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
            "users: [{name: dead, user: {token: t}}]\ncontexts: [{name: dead, context: {cluster: dead, user: dead}}]\n"
        )
        result = CliRunner().invoke(cli, ["check-health", "--app", "frontend", "--yes", "--kubeconfig", str(kubeconfig)])
        assert result.exit_code == 2, result.output
        assert "Verdict: cannot check — the cluster does not answer" in result.output
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)

    def test_an_unknown_app_exits_2_listing_the_known_ones(self, kube, tmp_path):
        result = on_call(kube, tmp_path, "check-health", "--app", "frontnd", "--yes")
        assert result.exit_code == 2, result.output
        assert "no app 'frontnd' in prod. Known apps: blog/frontend, blog/backend, ml/worker" in " ".join(result.output.split())

    def test_answering_no_at_a_step_stops_the_walk_through_cleanly(self, kube, remote, tmp_path):
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", remote["new"][:12]))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", input="y\nn\n")
        assert result.exit_code == 0, result.output
        assert "Step 1/4" in result.output and "Step 2/4" in result.output and "Step 3/4" not in result.output
        assert "stopped before step 2 (Rollout: desired, updated and ready replicas) as asked; nothing was changed" in result.output

    def test_an_unreachable_git_host_leaves_only_that_step_unchecked_exit_2(self, kube, tmp_path, monkeypatch):
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-such-gitconfig"))
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", "0123456789ab"))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert result.exit_code == 2, result.output
        assert "Step 4/4" in result.output  # the other steps still ran
        assert "Verdict: cannot check everything — cannot read the latest commit of main from https://github.com/acme/blog" in " ".join(result.output.split())

    def test_a_gpu_app_waiting_for_scale_up_says_so(self, kube, remote, tmp_path):
        worker = deployment("worker", 1, 0)
        worker["metadata"]["namespace"] = "ml"
        kube.put("apps/v1/deployments", "ml", worker)
        pending = pod("worker-0", "51d0c7e8f9a2", app="worker")
        pending["metadata"]["namespace"] = "ml"
        pending["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}
        kube.put("v1/pods", "ml", pending)
        kube.put("v1/events", "ml", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "worker-0.scale", "namespace": "ml"},
            "involvedObject": {"kind": "Pod", "name": "worker-0", "namespace": "ml"},
            "reason": "TriggeredScaleUp", "message": "pod triggered scale-up: [{gpu-pool 0->1 (max: 2)}]", "type": "Normal",
        })
        result = on_call(kube, tmp_path, "check-health", "--app", "worker", "--yes")
        text = " ".join(result.output.split())
        assert "pod worker-0 is waiting for the GPU pool to scale up from zero: pod triggered scale-up: [{gpu-pool 0->1 (max: 2)}]" in text


class TestBootstrapDatabase:
    JOB = "batch/v1/jobs"

    def finish_job(self, kube: KubeApi, exit_code: int, logs: bytes) -> threading.Thread:
        """What the Job controller and kubelet would do: once the Job exists, run its pod to the end."""

        def controller() -> None:
            deadline = time.monotonic() + 10
            while not kube.has(self.JOB, "blog", "backend-bootstrap") and time.monotonic() < deadline:
                time.sleep(0.02)
            job = {
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "backend-bootstrap", "namespace": "blog"},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "bootstrap", "image": "i"}]}}},
                "status": {"succeeded": 1} if exit_code == 0 else {"failed": 1},
            }
            kube.respond("get /api/v1/namespaces/blog/pods/backend-bootstrap-x1/log", logs)
            kube.put("v1/pods", "blog", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "backend-bootstrap-x1", "namespace": "blog", "labels": {"job-name": "backend-bootstrap"}},
                "spec": {"containers": [{"name": "bootstrap", "image": "i"}]},
                "status": {"phase": "Succeeded" if exit_code == 0 else "Failed", "containerStatuses": [{
                    "name": "bootstrap", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
                    "state": {"terminated": {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error"}},
                }]},
            })
            kube.put(self.JOB, "blog", job)

        thread = threading.Thread(target=controller, daemon=True)
        thread.start()
        return thread

    def test_a_bootstrap_job_that_succeeds(self, kube, tmp_path):
        self.finish_job(kube, 0, b"created 12 tables\n")
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes")
        assert result.exit_code == 0, result.output
        assert "started Job blog/backend-bootstrap: python -m blog.bootstrap_database" in result.output
        assert "created 12 tables" in result.output
        assert "Verdict: bootstrap succeeded (exit code 0)." in result.output
        created = kube.emulator.objects[self.JOB, "blog", "backend-bootstrap"]
        assert created is not None

    def test_a_bootstrap_job_that_fails_shows_its_logs_and_exits_1(self, kube, tmp_path):
        self.finish_job(kube, 3, b"psycopg.OperationalError: connection refused\n")
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes")
        assert result.exit_code == 1, result.output
        assert "psycopg.OperationalError: connection refused" in result.output
        assert "the bootstrap failed with exit code 3" in result.output

    def test_a_second_bootstrap_is_refused_without_force(self, kube, tmp_path):
        kube.put(self.JOB, "blog", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "backend-bootstrap", "namespace": "blog"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "bootstrap", "image": "i"}]}}},
            "status": {"succeeded": 1, "completionTime": "2026-11-20T10:00:00Z"},
        })
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes")
        assert result.exit_code == 1, result.output
        assert "already bootstrapped: Job backend-bootstrap succeeded at 2026-11-20 10:00:00+00:00; run with --force" in " ".join(result.output.split())
        assert "skipped: nothing to start" in result.output


def test_the_runbook_in_readme_is_a_working_command(kube, tmp_path):
    import importlib.util
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = re.search(r"### Write a runbook.*?```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "restart_app.py").write_text(example)
    spec = importlib.util.spec_from_file_location("restart_app", tmp_path / "restart_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kube.put("apps/v1/deployments", "blog", deployment("frontend", 3, 3))
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
    result = CliRunner().invoke(module.restart_app, ["--app", "frontend", "--yes", "--kubeconfig", str(kubeconfig)])
    assert result.exit_code == 0, result.output
    assert "restarting blog/frontend" in result.output
    patched = kube.emulator.objects["apps/v1/deployments", "blog", "frontend"]
    assert "kubectl.kubernetes.io/restartedAt" in patched["spec"]["template"]["metadata"]["annotations"]
