"""`on-call` under faults of the Kubernetes API: every one ends in exit 2 ("could not check") with
one paragraph naming the server, the request and what to do — never a traceback, and never exit
1, which means "a problem found". The faults are served by kmock's emulator (statuses, bodies that
are not JSON or not the object asked for, an answer that never comes) and by a loopback socket
that resets every connection; two run the real CLI in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from test_oncall import DECLARED, KubeApi, deployment, kube, on_call, pod  # noqa: F401 — kube is a fixture

ROOT = Path(__file__).resolve().parent.parent
PODS = "get /api/v1/namespaces/blog/pods"
DEPLOYMENT = "get /apis/apps/v1/namespaces/blog/deployments/frontend"
JOB = "/apis/batch/v1/namespaces/blog/jobs/backend-bootstrap"
JOBS = "post /apis/batch/v1/namespaces/blog/jobs"
LOG = "get /api/v1/namespaces/blog/pods/backend-bootstrap-x1/log"
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n"
TIMEOUT = 0.3
"""--request-timeout of the tests with a hung server (ON_CALL_REQUEST_TIMEOUT)."""


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code}


def running_frontend(kube: KubeApi) -> None:
    kube.put("apps/v1/deployments", "blog", deployment("frontend", 1, 1))
    kube.put("v1/pods", "blog", pod("frontend-0", DECLARED))


def a_job(kube: KubeApi, state: dict) -> None:
    kube.put("batch/v1/jobs", "blog", {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "backend-bootstrap", "namespace": "blog", "creationTimestamp": "2026-11-25T10:00:00Z"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "bootstrap", "image": "i"}]}}},
        "status": state,
    })


def job_finishes(kube: KubeApi, log: Callable[[KubeApi], None] | None = None, pods: bool = True) -> None:
    """What the Job controller and kubelet would do once on-call creates the Job: run its pod to a
    success. ``log`` sets how the log endpoint answers (by default, one line of logs)."""

    def controller() -> None:
        deadline = time.monotonic() + 10
        while not kube.has("batch/v1/jobs", "blog", "backend-bootstrap") and time.monotonic() < deadline:
            time.sleep(0.02)
        if pods:
            kube.put("v1/pods", "blog", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "backend-bootstrap-x1", "namespace": "blog", "labels": {"job-name": "backend-bootstrap"}},
                "spec": {"containers": [{"name": "bootstrap", "image": "i"}]},
                "status": {"phase": "Succeeded", "containerStatuses": [{
                    "name": "bootstrap", "image": "i", "imageID": "", "ready": False, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                }]},
            })
        a_job(kube, {"succeeded": 1})

    (log or (lambda k: k.respond(LOG, b"created 12 tables\n")))(kube)
    threading.Thread(target=controller, daemon=True).start()


def fault(request: str, *reaction) -> Callable[[KubeApi], None]:
    def apply(kube: KubeApi) -> None:
        view = kube.emulator[request]
        for part in reaction:
            view = view << part

    return apply


def both(*setups: Callable[[KubeApi], None]) -> Callable[[KubeApi], None]:
    def apply(kube: KubeApi) -> None:
        for setup in setups:
            setup(kube)

    return apply


CHECK = ("check-health", "--app", "frontend", "--yes")
BOOTSTRAP = ("bootstrap-database", "--app", "backend", "--yes", "--timeout", "5")

# id: (command, what the server holds and does, the request named, words of the advice)
FAULTS: dict[str, tuple[tuple[str, ...], Callable[[KubeApi], None], str, str]] = {
    # check-health
    "500 listing pods": (CHECK, fault(PODS, 500, status(500, "InternalError", "etcdserver: request timed out")), "GET /api/v1/namespaces/blog/pods?labelSelector=app.kubernetes.io/name=frontend", "etcdserver: request timed out"),
    "503 reading the Deployment": (CHECK, both(running_frontend, fault(DEPLOYMENT, 503, status(503, "ServiceUnavailable", "the server is currently unable to handle the request"))), "GET /apis/apps/v1/namespaces/blog/deployments/frontend", "gcloud container operations list"),
    "502 with an HTML body": (CHECK, fault(PODS, 502, HTML), "GET /api/v1/namespaces/blog/pods", "502"),
    "200 with an HTML body": (CHECK, fault(PODS, 200, HTML), "GET /api/v1/namespaces/blog/pods", "get --raw /version"),
    "200 with truncated JSON": (CHECK, fault(PODS, 200, {"Content-Type": "application/json"}, b'{"kind": "PodList", "items": ['), "GET /api/v1/namespaces/blog/pods", "not the Kubernetes object"),
    "a list without items": (CHECK, fault(PODS, 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}}), "GET /api/v1/namespaces/blog/pods", "not the Kubernetes object"),
    "a pod without spec or status": (CHECK, fault(PODS, 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [{"metadata": {"name": "frontend-0", "labels": {"app.kubernetes.io/name": "frontend"}}}]}), "GET /api/v1/namespaces/blog/pods", "cannot read"),
    "a pod spec without containers": (CHECK, fault(PODS, 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [{"metadata": {"name": "frontend-0"}, "spec": {}}]}), "GET /api/v1/namespaces/blog/pods", "not the Kubernetes object"),
    "a Deployment without status": (CHECK, both(running_frontend, fault(DEPLOYMENT, 200, {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "frontend"}, "spec": {"selector": {}, "template": {}}})), "GET /apis/apps/v1/namespaces/blog/deployments/frontend", "cannot read"),
    "404 for the namespace's pods": (CHECK, lambda kube: None, "GET /api/v1/namespaces/blog/pods", "is the stack deployed"),
    "429 throttled": (CHECK, fault(PODS, 429, status(429, "TooManyRequests", "too many requests")), "GET /api/v1/namespaces/blog/pods", "throttling"),
    # bootstrap-database
    "500 reading the Job": (BOOTSTRAP, fault(f"get {JOB}", 500, status(500, "InternalError", "etcd cluster is unavailable")), f"GET {JOB}", "gcloud container operations list"),
    "404 creating the Job": (BOOTSTRAP, fault(JOBS, 404, status(404, "NotFound", 'namespaces "blog" not found')), "POST /apis/batch/v1/namespaces/blog/jobs", "is the stack deployed"),
    "409 creating the Job": (BOOTSTRAP, fault(JOBS, 409, status(409, "AlreadyExists", 'jobs.batch "backend-bootstrap" already exists')), "POST /apis/batch/v1/namespaces/blog/jobs", "another on-call run"),
    "422 creating the Job": (BOOTSTRAP, fault(JOBS, 422, status(422, "Invalid", 'Job.batch "backend-bootstrap" is invalid: spec.template.spec.containers[0].image: Required value')), "POST /apis/batch/v1/namespaces/blog/jobs", "rejected what on-call sent"),
    "500 deleting a failed Job": (BOOTSTRAP, both(lambda kube: a_job(kube, {"failed": 1}), fault(f"delete {JOB}", 500, status(500, "InternalError", "boom"))), f"DELETE {JOB}", "gcloud container operations list"),
    "a Job that is not JSON": (BOOTSTRAP, fault(f"get {JOB}", 200, HTML), f"GET {JOB}", "get --raw /version"),
    "a Job whose status is a list": (BOOTSTRAP, fault(f"get {JOB}", 200, {"kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "backend-bootstrap"}, "status": ["done"]}), f"GET {JOB}", "not the Kubernetes object"),
    "500 from the log endpoint after the Job succeeded": (BOOTSTRAP, lambda kube: job_finishes(kube, fault(LOG, 500, status(500, "InternalError", "kubelet unreachable"))), "GET /api/v1/namespaces/blog/pods/backend-bootstrap-x1/log", "the Job succeeded, but its pod and logs could not be read (the API server at"),
    "503 listing the Job's pods after it succeeded": (BOOTSTRAP, lambda kube: both(job_finishes, fault(PODS, 503, status(503, "ServiceUnavailable", "unavailable")))(kube), "GET /api/v1/namespaces/blog/pods?labelSelector=job-name=backend-bootstrap", "the Job succeeded, but"),
}


def verdict(output: str) -> str:
    """The verdict paragraph: from "Verdict:" to the end, whitespace collapsed."""
    assert "Verdict:" in output, output
    return " ".join(output[output.index("Verdict:"):].split())


def assert_cannot_check(result, *words: str) -> str:
    """Exit 2, no traceback, one paragraph (no blank line) naming each of ``words``."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # nothing escaped the CLI
    assert "Traceback" not in result.output
    paragraph = result.output[result.output.index("Verdict:"):].strip()
    assert "\n\n" not in paragraph, paragraph
    text = verdict(result.output)
    for word in words:
        assert word in text, f"{word!r} not in: {text}"
    return text


@pytest.mark.parametrize("case", FAULTS)
def test_every_fault_of_the_api_is_exit_2_naming_the_server_the_request_and_what_to_do(kube, tmp_path, case):
    command, setup, request, advice = FAULTS[case]
    setup(kube)
    result = on_call(kube, tmp_path, *command)
    text = assert_cannot_check(result, f"at {kube.url} (context test)", request, advice)
    assert text.startswith("Verdict: cannot check"), text


@pytest.mark.parametrize("command", [CHECK, BOOTSTRAP], ids=["check-health", "bootstrap-database"])
def test_a_hung_api_server_is_reported_within_the_request_timeout(kube, tmp_path, command):
    arrived = kube.hang(PODS if command is CHECK else f"get {JOB}")
    result = on_call(kube, tmp_path, *command, ON_CALL_REQUEST_TIMEOUT=str(TIMEOUT))
    reported = time.monotonic()
    assert_cannot_check(result, "no answer to GET /ap", f"within {TIMEOUT:g} s (--request-timeout)")
    assert len(arrived) == 1, arrived  # asked once, no retry
    assert reported - arrived[0] < TIMEOUT + 1, reported - arrived[0]


@pytest.fixture
def resetting_server() -> Iterator[str]:
    """A loopback server that accepts each connection and resets it (SO_LINGER 0), like a proxy
    or firewall dropping the API server's connections."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        for _ in range(200):  # bounded: at most 20 s, or 200 connections
            if stop.is_set():
                return
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            connection.recv(65536)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


@pytest.mark.parametrize("command", [CHECK, BOOTSTRAP], ids=["check-health", "bootstrap-database"])
def test_a_reset_connection_is_exit_2(resetting_server, tmp_path, command):
    from click.testing import CliRunner

    from shoestring.oncall.cli import cli

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: reset\n"
        f"clusters: [{{name: reset, cluster: {{server: '{resetting_server}'}}}}]\n"
        "users: [{name: reset, user: {token: t}}]\ncontexts: [{name: reset, context: {cluster: reset, user: reset}}]\n"
    )
    result = CliRunner().invoke(cli, [*command, "--kubeconfig", str(kubeconfig)], env={"ON_CALL_ENV": "prod"})
    assert_cannot_check(result, f"the cluster at {resetting_server} (context reset) does not answer", "the connection broke during GET /ap", "run on-call again")


def real_cli(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as an engineer runs it."""
    return subprocess.run(
        [sys.executable, "-m", "shoestring.oncall.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env=os.environ | {"ON_CALL_ENV": "prod", "ON_CALL_POLL_SECONDS": "0.05", "COLUMNS": "120"} | env,
    )


def test_the_real_cli_reports_a_hung_server_within_its_request_timeout_without_a_traceback(kube, tmp_path):
    arrived = kube.hang(PODS)
    result = real_cli(*CHECK, "--kubeconfig", str(kube.kubeconfig(tmp_path / "kubeconfig")), env={"ON_CALL_REQUEST_TIMEOUT": "1"})
    exited = time.monotonic()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "no answer to GET /api/v1/namespaces/blog/pods?labelSelector=app.kubernetes.io/name=frontend within 1 s" in verdict(result.stdout)
    assert len(arrived) == 1, arrived  # asked once, no retry
    assert exited - arrived[0] < 1 + 2, exited - arrived[0]  # the timeout, then printing the verdict and exiting


def test_the_real_cli_keeps_the_verdict_when_the_logs_cannot_be_read(kube, tmp_path):
    job_finishes(kube, fault(LOG, 500, status(500, "InternalError", "kubelet unreachable")))
    result = real_cli(*BOOTSTRAP, "--kubeconfig", str(kube.kubeconfig(tmp_path / "kubeconfig")), env={})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    text = verdict(result.stdout)
    assert "the Job succeeded, but its pod and logs could not be read" in text and "kubelet unreachable" in text, text
