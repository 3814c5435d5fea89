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

import json

import kmock
import pytest
from click.testing import CliRunner

from program import config
from shoestring.oncall.cli import cli

LABELS = {"app.kubernetes.io/name": "frontend"}
DECLARED = "9c4e1f2a7b3d@sha256:03add99eadf5b71fa26a01a230a9674cd5c8d2048ac4123b66cd1aeadc3353c0"
"""The tag prod declares for blog/frontend (projects/blog.py): the commit and its digest."""
GPU_POD_PLACEMENT = {
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "nodeSelector": {"cloud.google.com/compute-class": "shoestring-gpu"},
}


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
        self.loop.call_soon_threadsafe(self._release.set)
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

        async def serve() -> None:
            self._stop = asyncio.Event()
            self._release = asyncio.Event()
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
        """Whether the object exists (kmock keeps a deleted one, marked deleted, with its history)."""
        key = (kmock.resource(resource), namespace, name)
        return key in self.emulator.objects and not self.emulator.objects[key].deleted

    def respond(self, request: str, body: bytes) -> None:
        self.emulator[request] << body

    def hang(self, request: str) -> list[float]:
        """Answer ``request`` only once the server stops: a hung API server. Returns the moments
        (time.monotonic) the request arrived."""
        arrived: list[float] = []
        self.emulator[request] << (lambda: arrived.append(time.monotonic()) or self._release.wait())
        return arrived

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


@pytest.fixture
def declare(monkeypatch):
    """Set the tag (or replicas) prod's stack file declares for an app, as an edit to it would."""
    original = config.read_stack_files

    def set_app(project: str, app: str, **settings) -> None:
        def read(stack: str):
            raw, *rest = original(stack)
            projects = json.loads(raw["shoestring:projects"])
            projects[project]["apps"][app] = projects[project]["apps"].get(app, {}) | settings
            return (raw | {"shoestring:projects": json.dumps(projects)}, *rest)

        monkeypatch.setattr(config, "read_stack_files", read)

    return set_app


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


def pod(name: str, tag: str, *, ready: bool = True, restarts: int = 0, waiting: str | None = None, app: str = "frontend", image: str | None = None) -> dict:
    """A pod of ``app`` running ``image`` (default ghcr.io/acme/blog-<app>) at ``tag``, as the kubelet reports it."""
    image = f"{image or f'ghcr.io/acme/blog-{app}'}:{tag}"
    now = datetime.now(UTC)
    state = {"waiting": {"reason": waiting, "message": "back-off restarting failed container"}} if waiting else {"running": {"startedAt": _t(now - timedelta(hours=2))}}
    status = {
        "name": app,
        "image": image,
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
        "spec": {"containers": [{"name": app, "image": image}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": _t(now - timedelta(minutes=42))}],
            "containerStatuses": [status],
        },
    }


def _t(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def on_call(kube: KubeApi, tmp_path: Path, *args: str, input: str | None = None, **env: str):
    """The CLI against ``kube``, looking at prod (as an engineer with ON_CALL_ENV=prod) unless --env."""
    kubeconfig = kube.kubeconfig(tmp_path / "kubeconfig")
    env = {"ON_CALL_POLL_SECONDS": "0.05", "ON_CALL_ENV": "prod", **env}
    return CliRunner().invoke(cli, [*args, "--kubeconfig", str(kubeconfig)], input=input, env=env)


class TestCheckHealth:
    def test_a_healthy_app_running_its_branchs_latest_commit_exits_0(self, kube, remote, tmp_path, declare):
        declare("blog", "frontend", tag=remote["new"][:12])
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 3, 3))
        for i in range(3):
            kube.put("v1/pods", "blog", pod(f"frontend-{i}", remote["new"][:12]))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--project", "blog", "--env", "prod", "--yes")
        assert result.exit_code == 0, result.output
        assert "Step 1/4: Uptime" in result.output and "Step 4/4: GPU" in result.output
        assert "3/3 pods ready; stable for 42 minutes" in result.output
        assert "desired 3, updated 3, ready 3" in result.output
        assert f"stacks/Pulumi.prod.yaml declares {remote['new'][:12]}, the latest commit of main, and it runs" in " ".join(result.output.split())
        assert "Verdict: healthy" in result.output

    def test_a_crash_looping_app_exits_1_naming_the_pod_the_reason_and_the_command_to_read_its_logs(self, kube, remote, tmp_path, declare):
        declare("blog", "frontend", tag=remote["new"][:12])
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 3, 2))
        kube.put("v1/pods", "blog", pod("frontend-0", remote["new"][:12]))
        kube.put("v1/pods", "blog", pod("frontend-1", remote["new"][:12]))
        kube.put("v1/pods", "blog", pod("frontend-2", remote["new"][:12], ready=False, restarts=7, waiting="CrashLoopBackOff"))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert "pod frontend-2 is CrashLoopBackOff (7 restarts; last exit: Error with code 1); read its previous logs" in text
        assert "next: kubectl -n blog logs pod/frontend-2 --previous" in text
        assert "Verdict: unhealthy" in result.output

    def one_frontend(self, kube, tmp_path, declare, declared: str, running: str) -> tuple[int, str]:
        """check-health of a one-replica frontend: the tag prod declares, and the one that runs."""
        declare("blog", "frontend", tag=declared)
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", running))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        return result.exit_code, " ".join(result.output.split())

    def test_a_stack_behind_its_branch_exits_1_printing_both_and_which_is_newer(self, kube, remote, tmp_path, declare):
        code, text = self.one_frontend(kube, tmp_path, declare, declared=remote["old"][:12], running=remote["old"][:12])
        assert code == 1, text
        assert (
            f"running {remote['old'][:12]}; stacks/Pulumi.prod.yaml declares {remote['old'][:12]} but main is at {remote['new'][:12]}: "
            f"the declared commit is 1 commit behind main; the stack is behind its branch: release the build of {remote['new'][:12]} "
            f"(`python -m shoestring release blog/frontend --tag {remote['new'][:12]}@sha256:<digest> --stack prod`)"
        ) in text

    def test_a_cluster_running_another_tag_than_the_stack_declares_has_drifted_exit_1_naming_both(self, kube, remote, tmp_path, declare):
        code, text = self.one_frontend(kube, tmp_path, declare, declared=remote["new"][:12], running=remote["old"][:12])
        assert code == 1, text
        assert (
            f"the cluster drifted from the stack: running ghcr.io/acme/blog-frontend:{remote['old'][:12]}, "
            f"but stacks/Pulumi.prod.yaml declares ghcr.io/acme/blog-frontend:{remote['new'][:12]} (the commit differs)"
        ) in text

    def test_the_declared_commit_running_with_another_digest_has_drifted_exit_1_naming_both_images(self, kube, remote, tmp_path, declare):
        # Same commit tag, other bytes: the tag was pushed over, or the Deployment was edited by hand.
        declared, running = f"{remote['new']}@sha256:{'5e' * 32}", f"{remote['new']}@sha256:{'a7' * 32}"
        code, text = self.one_frontend(kube, tmp_path, declare, declared=declared, running=running)
        assert code == 1, text
        # The terminal breaks a reference this long across lines: compare without the breaks.
        assert "".join((
            f"the cluster drifted from the stack: running ghcr.io/acme/blog-frontend:{running}, "
            f"but stacks/Pulumi.prod.yaml declares ghcr.io/acme/blog-frontend:{declared} (the digest differs)"
        ).split()) in "".join(text.split())
        assert "Verdict: unhealthy — 1 problem(s)" in text  # the branch's latest is what is declared

    def test_the_definitions_image_running_where_no_stack_file_overrides_it_is_named_from_the_definition(self, kube, remote, tmp_path):
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", remote["old"][:12]))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        text = " ".join(result.output.split())
        assert result.exit_code == 1, text
        assert f"but blog's definition in projects/ declares ghcr.io/acme/blog-frontend:{DECLARED} (the commit and digest differ)" in text

    def test_a_tag_that_is_not_a_commit_says_so(self, kube, remote, tmp_path, declare):
        code, text = self.one_frontend(kube, tmp_path, declare, declared=remote["new"][:12], running="latest")
        assert code == 1, text
        assert "running tag 'latest', which is not a commit sha" in text

    def test_an_app_at_rest_by_design_exits_0(self, kube, remote, tmp_path):
        # prod declares ml/worker with 0 replicas: no pods, a Deployment scaled to 0.
        worker = deployment("worker", 0, 0)
        worker["metadata"]["namespace"] = "ml"
        kube.put("apps/v1/deployments", "ml", worker)
        # kmock answers a list in a namespace it holds nothing of with 404 (the API server, with an
        # empty list): a pod of another app stands in for the namespace's existence.
        other = pod("other-0", "0123456789ab", app="other")
        other["metadata"]["namespace"] = "ml"
        kube.put("v1/pods", "ml", other)
        result = on_call(kube, tmp_path, "check-health", "--app", "worker", "--yes")
        assert result.exit_code == 0, result.output
        assert "at rest: worker is scaled to 0 replicas, nothing runs" in " ".join(result.output.split())
        assert "Verdict: healthy" in result.output

    @pytest.mark.parametrize(("status", "reason"), [(401, "Unauthorized"), (403, "Forbidden")])
    def test_a_refusal_by_the_api_server_exits_2_without_a_traceback(self, kube, tmp_path, status, reason):
        message = 'pods is forbidden: User "oncall@acme.iam.gserviceaccount.com" cannot list resource "pods" in API group "" in the namespace "blog"'
        kube.emulator["get /api/v1/namespaces/blog/pods"] << status << {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": status}
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
        text = " ".join(result.output.split())
        assert f"the API server at {kube.url} (context test)" in text
        if status == 403:
            assert "the identity needs permission to list pods in namespace blog" in text and message in text
        else:
            assert "rejected the credentials (401 Unauthorized)" in text and "gcloud container clusters get-credentials" in text

    def test_a_broken_stack_file_exits_2_without_a_traceback(self, kube, tmp_path, monkeypatch):
        def broken(stack: str):
            raise config.StackFileError(["stacks/Pulumi.prod.yaml:3: duplicated key shoestring:zone"])

        monkeypatch.setattr(config, "read_stack_files", broken)
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and "stacks/Pulumi.prod.yaml:3: duplicated key" in result.output

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
        text = " ".join(result.output.split())
        assert f"Verdict: cannot check — the cluster at http://127.0.0.1:{port} (context dead) does not answer" in text
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)

    def test_an_unknown_app_exits_2_listing_the_known_ones(self, kube, tmp_path):
        result = on_call(kube, tmp_path, "check-health", "--app", "frontnd", "--yes")
        assert result.exit_code == 2, result.output
        assert "no app 'frontnd' in prod. Known apps: blog/frontend, blog/backend, ml/worker" in " ".join(result.output.split())

    def test_answering_no_at_a_step_stops_the_walk_through_cleanly(self, kube, remote, tmp_path, declare):
        declare("blog", "frontend", tag=remote["new"][:12])
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", remote["new"][:12]))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", input="y\nn\n")
        assert result.exit_code == 0, result.output
        assert "Step 1/4" in result.output and "Step 2/4" in result.output and "Step 3/4" not in result.output
        assert "stopped before step 2 (Rollout: desired, updated and ready replicas) as asked; nothing was changed" in result.output

    def test_an_unreachable_git_host_leaves_only_that_step_unchecked_exit_2(self, kube, tmp_path, monkeypatch):
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-such-gitconfig"))
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", DECLARED))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert result.exit_code == 2, result.output
        assert "Step 4/4" in result.output  # the other steps still ran
        assert "Verdict: cannot check everything — cannot read the latest commit of main from https://github.com/acme/blog" in " ".join(result.output.split())

    def test_a_gpu_pod_waiting_on_a_triggered_scale_up_exits_3_and_0_with_wait_once_it_runs(self, kube, remote, tmp_path, declare):
        declare("ml", "worker", replicas=1, tag=remote["new"][:12])
        worker = deployment("worker", 1, 0)
        worker["metadata"]["namespace"] = "ml"
        kube.put("apps/v1/deployments", "ml", worker)
        pending = pod("worker-0", remote["new"][:12], app="worker", image="ghcr.io/acme/ml-worker")
        pending["metadata"]["namespace"] = "ml"
        pending["spec"] |= GPU_POD_PLACEMENT  # as the Deployment the program declares places it
        pending["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"}]}
        kube.put("v1/pods", "ml", pending)
        kube.put("v1/events", "ml", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "worker-0.scale", "namespace": "ml"},
            "involvedObject": {"kind": "Pod", "name": "worker-0", "namespace": "ml"},
            "reason": "TriggeredScaleUp", "message": "pod triggered scale-up: [{gpu-pool 0->1 (max: 2)}]", "type": "Normal",
        })
        result = on_call(kube, tmp_path, "check-health", "--app", "worker", "--yes")
        text = " ".join(result.output.split())
        assert result.exit_code == 3, result.output
        assert "pod worker-0 is waiting for the GPU pool to scale up from zero: pod triggered scale-up: [{gpu-pool 0->1 (max: 2)}]" in text
        assert "Verdict: waiting" in text

        def node_arrives() -> None:  # what the autoscaler and kubelet would do a little later
            time.sleep(0.3)
            running = pod("worker-0", remote["new"][:12], app="worker", image="ghcr.io/acme/ml-worker")
            running["metadata"]["namespace"] = "ml"
            kube.put("v1/pods", "ml", running)
            kube.put("apps/v1/deployments", "ml", worker | {"status": worker["status"] | {"readyReplicas": 1, "availableReplicas": 1}})

        threading.Thread(target=node_arrives, daemon=True).start()
        waited = on_call(kube, tmp_path, "check-health", "--app", "worker", "--yes", "--wait", "--wait-timeout", "20")
        assert waited.exit_code == 0, waited.output
        assert "Verdict: waiting" in waited.output and "Verdict: healthy" in waited.output  # checked again until it resolved

    def test_json_prints_the_steps_the_findings_and_the_verdict(self, kube, remote, tmp_path, declare):
        declare("blog", "frontend", tag=remote["new"][:12])
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", remote["new"][:12]))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--json")
        report = json.loads(result.output)
        assert (report["exit_code"], report["verdict"]) == (0, "healthy — nothing to do.")
        assert [s["title"] for s in report["steps"]][0] == "Uptime: are the pods ready, and since when?"
        assert report["steps"][0]["findings"][-1]["kind"] == "ok"

    def test_version_and_the_exit_codes_are_in_the_help(self):
        assert CliRunner().invoke(cli, ["--version"]).output.startswith("on-call, version ")
        help_text = " ".join(CliRunner().invoke(cli, ["--help"]).output.split())
        assert "3 waiting on something expected to resolve" in help_text and "2 could not check" in help_text


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

    def test_a_running_bootstrap_job_is_left_alone_without_force_exit_1(self, kube, tmp_path):
        kube.put(self.JOB, "blog", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "backend-bootstrap", "namespace": "blog", "creationTimestamp": "2026-11-25T10:00:00Z"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "bootstrap", "image": "i"}]}}},
            "status": {"active": 1},
        })
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes")
        assert result.exit_code == 1, result.output
        assert kube.has(self.JOB, "blog", "backend-bootstrap")  # still there
        text = " ".join(result.output.split())
        assert "Job backend-bootstrap is still running" in text and "it was left alone" in text
        assert "next: kubectl -n blog logs job/backend-bootstrap -f" in text

    def test_with_force_a_running_job_is_deleted_and_it_says_so(self, kube, tmp_path):
        kube.put(self.JOB, "blog", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "backend-bootstrap", "namespace": "blog"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "bootstrap", "image": "i"}]}}},
            "status": {"active": 1},
        })
        self.finish_job_after_delete(kube)
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes", "--force")
        assert result.exit_code == 0, result.output
        assert "deleted the earlier Job backend-bootstrap (still running) as --force asked" in " ".join(result.output.split())

    def finish_job_after_delete(self, kube: KubeApi) -> None:
        """Finish the Job once on-call has replaced the one there (its own carries the command)."""

        def controller() -> None:
            deadline = time.monotonic() + 10
            while not self.created_by_on_call(kube) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.finish_job(kube, 0, b"done\n")

        threading.Thread(target=controller, daemon=True).start()

    def created_by_on_call(self, kube: KubeApi) -> bool:
        if not kube.has(self.JOB, "blog", "backend-bootstrap"):
            return False
        job = kube.emulator.objects[self.JOB, "blog", "backend-bootstrap"]
        return "command" in job["spec"]["template"]["spec"]["containers"][0]

    def test_changing_steps_default_to_no(self, kube, tmp_path):
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", input="\n")
        assert result.exit_code == 0, result.output
        assert "Run this step? It changes the cluster [y/N]" in result.output
        assert not kube.has(self.JOB, "blog", "backend-bootstrap")

    def test_a_second_bootstrap_is_nothing_to_do_without_force(self, kube, tmp_path):
        kube.put(self.JOB, "blog", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "backend-bootstrap", "namespace": "blog"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "bootstrap", "image": "i"}]}}},
            "status": {"succeeded": 1, "completionTime": "2026-11-20T10:00:00Z"},
        })
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes")
        assert result.exit_code == 0, result.output
        assert "already bootstrapped: Job backend-bootstrap succeeded at 2026-11-20 10:00:00+00:00; nothing to do (--force bootstraps again)" in " ".join(result.output.split())
        assert "skipped: nothing to start" in result.output
        assert "Verdict: already bootstrapped — nothing to do." in result.output


def test_the_runbook_the_docs_show_is_a_shipped_working_command(kube, tmp_path):
    from helpers import documentation

    # The page shows the shipped runbook (a generated block), which on-call runs as a command.
    assert (Path(__file__).resolve().parent.parent / "shoestring/oncall/runbooks/restart_app.py").read_text() in documentation()
    kube.put("apps/v1/deployments", "blog", deployment("frontend", 3, 3))
    result = on_call(kube, tmp_path, "restart-app", "--app", "frontend", "--yes")
    assert result.exit_code == 0, result.output
    assert "restarting blog/frontend" in result.output
    patched = kube.emulator.objects["apps/v1/deployments", "blog", "frontend"]
    assert "kubectl.kubernetes.io/restartedAt" in patched["spec"]["template"]["metadata"]["annotations"]


@pytest.fixture
def redefine(monkeypatch):
    """Change fields of an app's definition (projects/<project>.yaml) as an edit to it would, with no
    validation: what a hostile or careless definition could say."""
    from program import definitions

    original = definitions.discover

    def set_fields(project: str, app: str, **fields) -> None:
        def discover(*args, **kwargs):
            found = original(*args, **kwargs)
            apps = tuple(a.model_copy(update=fields) if a.name == app else a for a in found[project].apps)
            return found | {project: found[project].model_copy(update={"apps": apps})}

        monkeypatch.setattr(definitions, "discover", discover)

    return set_fields


class TestHostileDefinitions:
    """What a definition says reaches the cluster's API as data: never a shell or a program's
    option on the engineer's machine."""

    @pytest.mark.parametrize("repository", [
        "--upload-pack=touch {pwned};",
        "-u touch {pwned}",
        "ext::sh -c touch% {pwned}",
        "file://{pwned}",
        "https://github.com/acme/blog --upload-pack=touch {pwned}",
    ])
    def test_check_health_refuses_a_repository_that_is_not_a_url_and_runs_nothing(self, kube, tmp_path, redefine, repository):
        pwned = tmp_path / "pwned"
        redefine("blog", "frontend", repository=repository.format(pwned=pwned))
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
        kube.put("v1/pods", "blog", pod("frontend-0", DECLARED))
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert not pwned.exists()
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert "refused repository" in text and "git was not run. Fix repository: of frontend in projects/blog.yaml" in text

    def test_every_value_handed_to_git_comes_after_the_end_of_its_options(self, tmp_path, monkeypatch):
        from shoestring.oncall import commits

        seen: list[tuple[str, ...]] = []
        sha = "0123456789abcdef0123456789abcdef01234567"
        monkeypatch.setattr(commits, "_git", lambda *args: seen.append(args) or ("1\n" if "rev-list" in args else f"{sha}\trefs/heads/main\n"))
        commits.branch_head("https://github.com/acme/blog", "main")
        commits.which_is_newer("https://github.com/acme/blog", "main", "0123456", "89abcdef")
        assert [next(a for a in args if a in ("ls-remote", "init", "fetch", "rev-parse", "rev-list")) for args in seen] == [
            "ls-remote", "init", "fetch", "rev-parse", "rev-list", "rev-list"]
        for args in seen:
            end = max(args.index(s) for s in ("--", "--end-of-options") if s in args)
            assert not any(value in arg for arg in args[:end] for value in ("acme", "main", "0123456", "89abcdef")), args

    def test_a_bootstrap_command_goes_to_the_cluster_as_a_list_and_runs_nothing_here(self, kube, tmp_path, redefine):
        from program.definitions import Bootstrap

        pwned = tmp_path / "pwned"
        command = ("sh", "-c", f"touch {pwned}; echo $(touch {pwned})")
        redefine("blog", "backend", bootstrap=Bootstrap(command=command))
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes", "--timeout", "0")
        assert not pwned.exists()
        job = kube.emulator.objects["batch/v1/jobs", "blog", "backend-bootstrap"]
        assert job["spec"]["template"]["spec"]["containers"][0]["command"] == list(command), result.output


class TestAdviceThatFitsTheState:
    def test_an_image_pull_back_off_names_the_image_and_the_pull_error_not_logs_there_are_none(self, kube, tmp_path):
        stuck = pod("frontend-0", "9c4e1f2a7b3d", ready=False, waiting="ImagePullBackOff")
        stuck["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = (
            'Back-off pulling image "ghcr.io/acme/blog-frontend:9c4e1f2a7b3d": ErrImagePull: manifest unknown'
        )
        del stuck["status"]["containerStatuses"][0]["lastState"]
        kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 0))
        kube.put("v1/pods", "blog", stuck)
        result = on_call(kube, tmp_path, "check-health", "--app", "frontend", "--yes")
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert "pod frontend-0 is ImagePullBackOff: it cannot pull image ghcr.io/acme/blog-frontend:9c4e1f2a7b3d (Back-off pulling image" in text
        assert "manifest unknown" in text and "check that this tag was pushed" in text
        assert "previous logs" not in text and "--previous" not in text
        assert "next: kubectl -n blog describe pod/frontend-0" in text

    def test_a_pod_held_by_a_secret_without_a_version_names_the_secret_and_the_command_that_adds_one(self, kube, tmp_path):
        """The stack declares each secret without a value (issue 18): until someone adds one, the
        backend's secrets volume cannot mount and the pod waits in ContainerCreating."""
        held = pod("backend-0", "9c4e1f2a7b3d", ready=False, waiting="ContainerCreating", app="backend")
        del held["status"]["containerStatuses"][0]["lastState"]
        kube.put("apps/v1/deployments", "blog", deployment("backend", 1, 0))
        kube.put("v1/pods", "blog", held)
        kube.put("v1/events", "blog", {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "backend-0.mount", "namespace": "blog"},
            "involvedObject": {"kind": "Pod", "name": "backend-0", "namespace": "blog"}, "reason": "FailedMount", "type": "Warning",
            "message": 'MountVolume.SetUp failed for volume "secrets" : rpc error: code = NotFound desc = failed to access secret '
                       '"projects/replace-with-your-project-id/secrets/blog-db-url/versions/latest": Secret Version not found',
        })
        result = on_call(kube, tmp_path, "check-health", "--app", "backend", "--yes")
        assert result.exit_code == 1, result.output
        text = " ".join(result.output.split())
        assert "pod backend-0 cannot start: secret blog-db-url has no version its volume can mount" in text
        assert 'gcloud secrets versions add blog-db-url --data-file=- --project replace-with-your-project-id' in text
        assert "readiness probe" not in text

    @pytest.mark.parametrize("given", ["--kubeconfig", "KUBECONFIG"])
    def test_a_missing_kubeconfig_names_the_path_tried_and_where_it_came_from(self, tmp_path, given):
        missing = tmp_path / "nonexistent"
        args, env = (["--kubeconfig", str(missing)], {}) if given == "--kubeconfig" else ([], {"KUBECONFIG": str(missing)})
        result = CliRunner().invoke(cli, ["check-health", "--app", "frontend", "--yes", *args], env={"ON_CALL_ENV": "prod", **env})
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert f"no kubeconfig at {missing} (from {given}); check that path" in text
        assert "pass --kubeconfig" not in text

    def test_from_stack_without_the_pulumi_cli_says_it_is_needed(self, tmp_path):
        result = CliRunner().invoke(cli, ["check-health", "--app", "frontend", "--yes", "--from-stack", "prod"], env={"ON_CALL_ENV": "prod", "PATH": str(tmp_path)})
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert "--from-stack prod reads the stack's kubeconfig output with the Pulumi CLI, and there is no `pulumi` on PATH: install it" in text
        assert "Errno" not in text

    def test_bootstrapping_an_app_without_a_bootstrap_says_so_before_touching_the_kubeconfig(self, tmp_path):
        result = CliRunner().invoke(cli, ["bootstrap-database", "--app", "frontend", "--yes", "--kubeconfig", str(tmp_path / "nonexistent")], env={"ON_CALL_ENV": "prod"})
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert "blog/frontend declares no bootstrap, so there is nothing to run (the cluster was not contacted)" in text
        assert "kubeconfig" not in text

    def test_the_default_environment_is_makes_dev_and_documented(self, monkeypatch):
        import re

        monkeypatch.delenv("ON_CALL_ENV", raising=False)
        makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
        assert re.search(r"^STACK \?= dev$", makefile, re.M)
        help_text = " ".join(CliRunner().invoke(cli, ["check-health", "--help"]).output.split())
        assert "the default is make's (STACK=dev). Also ON_CALL_ENV. [default: dev]" in help_text
        result = CliRunner().invoke(cli, ["check-health", "--app", "frontend", "--yes", "--kubeconfig", "/nonexistent"])
        assert result.output.startswith("blog/frontend in namespace blog (dev)"), result.output


class TestBootstrapJob:
    """The bootstrap Job reaches what the app reaches, and a bootstrap that succeeded does not run
    again by accident."""

    JOB = "batch/v1/jobs"

    def test_the_bootstrap_job_in_prod_mounts_blog_db_url_the_way_the_backend_does(self):
        import types

        from program.components.project import Project
        from program import definitions, program_args
        from shoestring import offline
        from shoestring.oncall.runbooks.bootstrap_database import _job
        from shoestring.oncall.session import find_target

        stack = config.load("prod", config.read_stack_files("prod")[0], definitions.discover())
        blog = next(d for d in stack.deployed if d.name == "blog")
        plan = offline.declare(lambda: Project(blog.namespace, program_args.project(stack, blog, "acme.svc.id.goog")), stack="prod")
        manifests = {(r.inputs["kind"], r.inputs["metadata"]["name"]): r.inputs for r in plan.records if "kind" in r.inputs}
        app = manifests["Deployment", "backend"]["spec"]["template"]["spec"]
        job = _job(types.SimpleNamespace(target=find_target("backend", "blog", "prod")), "backend-bootstrap")["spec"]["template"]["spec"]

        provider_class = app["volumes"][1]["csi"]["volumeAttributes"]["secretProviderClass"]
        assert "/secrets/blog-db-url/versions/latest" in manifests["SecretProviderClass", provider_class]["spec"]["parameters"]["secrets"]
        assert job["volumes"] == app["volumes"]  # the same SecretProviderClass, through the same driver
        (bootstrap,), (backend,) = job["containers"], app["containers"]
        assert bootstrap["volumeMounts"] == backend["volumeMounts"]
        assert bootstrap["env"] == backend["env"] == [{"name": "DATABASE_URL_FILE", "value": "/var/run/secrets/shoestring/DATABASE_URL"}]
        assert bootstrap["securityContext"] == backend["securityContext"] and job["securityContext"] == app["securityContext"]
        assert bootstrap["resources"] == backend["resources"]
        # The project's Workload Identity: the namespace's ServiceAccount bound to its GCP account.
        assert job["serviceAccountName"] == app["serviceAccountName"] == "workload"
        assert job["automountServiceAccountToken"] is app["automountServiceAccountToken"] is False
        assert "iam.gke.io/gcp-service-account" in manifests["ServiceAccount", "workload"]["metadata"]["annotations"]

    def succeeded(self, kube: KubeApi) -> None:
        kube.put(self.JOB, "blog", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "backend-bootstrap", "namespace": "blog"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "bootstrap", "image": "i"}]}}},
            "status": {"succeeded": 1, "completionTime": "2026-11-20T10:00:00Z"},
        })

    def still_the_first(self, kube: KubeApi) -> bool:
        return kube.emulator.objects[self.JOB, "blog", "backend-bootstrap"]["status"].get("completionTime") == "2026-11-20T10:00:00Z"

    def test_force_yes_on_a_succeeded_job_is_refused_naming_the_database_and_changes_nothing(self, kube, tmp_path):
        self.succeeded(kube)
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes", "--force", "--timeout", "1")
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert (
            "refused: Job backend-bootstrap succeeded at 2026-11-20 10:00:00+00:00; --force would delete it and run "
            "`python -m blog.bootstrap_database` again against the prod database (DATABASE_URL from Secret Manager secret blog-db-url)"
        ) in text
        assert "--yes does not confirm a rerun: pass --confirm-rerun blog-db-url" in text and "Nothing was changed" in text
        assert kube.has(self.JOB, "blog", "backend-bootstrap") and self.still_the_first(kube)

    def test_force_with_the_wrong_database_named_is_refused(self, kube, tmp_path):
        self.succeeded(kube)
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--yes", "--force", "--confirm-rerun", "ml-db-url", "--timeout", "1")
        assert result.exit_code == 2, result.output
        assert "--confirm-rerun 'ml-db-url' does not name what this bootstrap runs against (blog-db-url)" in " ".join(result.output.split())
        assert self.still_the_first(kube)

    def test_force_asks_to_type_the_database_and_a_wrong_answer_changes_nothing(self, kube, tmp_path):
        self.succeeded(kube)
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--force", "--timeout", "1", input="y\nyes\ny\ny\n")
        assert result.exit_code == 0, result.output
        assert "Type blog-db-url to run it again against that database" in result.output
        assert "not confirmed ('yes' is not blog-db-url); the bootstrap was not run again and nothing was changed" in " ".join(result.output.split())
        assert self.still_the_first(kube)

    @pytest.mark.parametrize("how", ["flag", "typed"])
    def test_force_with_the_database_named_runs_the_bootstrap_again(self, kube, tmp_path, how):
        self.succeeded(kube)
        TestBootstrapDatabase().finish_job_after_delete(kube)
        args, typed = (["--yes", "--confirm-rerun", "blog-db-url"], None) if how == "flag" else ([], "y\nblog-db-url\ny\ny\n")
        result = on_call(kube, tmp_path, "bootstrap-database", "--app", "backend", "--force", *args, input=typed)
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        assert "deleted the earlier Job backend-bootstrap (succeeded) as --force asked" in text
        assert "Verdict: bootstrap succeeded" in text
