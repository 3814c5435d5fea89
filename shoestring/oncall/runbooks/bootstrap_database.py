"""`on-call bootstrap-database`: run an app's declared one-off setup (projects/<project>.py,
``bootstrap=``) as a Kubernetes Job in its namespace, follow it, and report how it ended.

It never destroys by default: a Job that is still running is left alone unless --force, the
steps that change the cluster default to "No", and a bootstrap already done is nothing to do."""

from __future__ import annotations

import os
import time

import click
from kubernetes.client import V1Job

from components.pod_security import RUN_AS_USER
from shoestring.oncall.runbook import runbook
from shoestring.oncall.session import CannotCheck, Session, Target


def _declares_bootstrap(target: Target) -> None:
    if target.app.bootstrap is None:
        raise CannotCheck(
            f"{target.project.name}/{target.app.name} declares no bootstrap, so there is nothing to run (the cluster was not "
            f"contacted); add bootstrap=Bootstrap(command=...) to its App in projects/{target.project.name}.py"
        )


@runbook(
    3,
    click.option("--force", is_flag=True, help="Run again even though a bootstrap succeeded, or delete one still running and start again."),
    click.option("--timeout", default=600, show_default=True, help="Seconds to wait for the Job to finish."),
    applies=_declares_bootstrap,
)
def bootstrap_database(session: Session, force: bool, timeout: int) -> None:
    """Run the app's database bootstrap as a Job, stream its logs and report its exit code."""
    app = session.target.app
    name = f"{app.name}-bootstrap"
    namespace = session.target.namespace
    follow_logs = f"kubectl -n {namespace} logs job/{name} -f"
    started: list[bool] = []

    def earlier_runs() -> None:
        job = _read_job(session, name)
        if job is None:
            session.ok("no earlier bootstrap")
            started.append(True)
            return
        running = not _succeeded(job) and not _failed(job)
        if _succeeded(job) and not force:
            finished = job.status.completion_time or job.metadata.creation_timestamp
            session.ok(f"already bootstrapped: Job {name} succeeded at {finished}; nothing to do (--force bootstraps again)")
            session.success = "already bootstrapped — nothing to do."
            return
        if running and not force:
            session.problem(
                f"Job {name} is still running (created {job.metadata.creation_timestamp}); it was left alone: wait for it, "
                f"or run with --force to delete it and start again",
                next_command=follow_logs,
            )
            return
        state = "succeeded" if _succeeded(job) else "failed" if _failed(job) else "still running"
        session.call(session.kube.batch.delete_namespaced_job, name, namespace, propagation_policy="Background")
        session.info(f"deleted the earlier Job {name} ({state}){' as --force asked' if force else ''}, to start again")
        started.append(True)

    def start() -> None:
        if not started:
            session.info("skipped: nothing to start")
            return
        session.call(session.kube.batch.create_namespaced_job, session.target.namespace, _job(session, name))
        session.ok(f"started Job {session.target.namespace}/{name}: {' '.join(app.bootstrap.command)}")

    def follow() -> None:
        if not started:
            session.info("skipped: nothing to wait for")
            return
        try:
            job = _wait(session, name, timeout)
        except CannotCheck as e:
            raise CannotCheck(f"{e}. Job {namespace}/{name} was started and may still run: {follow_logs}") from None
        if job is None:
            session.waiting(f"Job {name} is still running after {timeout} s; running on-call again will not start another while it runs")
            session.suggest(follow_logs)
            return
        # The verdict first: reading the pod and its logs may fail, and must not lose it.
        outcome = "succeeded" if _succeeded(job) else "failed"
        try:
            pod = _pod_of(session, name)
            code = _exit_code(pod)
            if pod is not None:
                logs = session.call(session.kube.core.read_namespaced_pod_log, pod.metadata.name, namespace, _preload_content=False)
                session.info(f"logs of {pod.metadata.name}:")
                for line in logs.data.decode(errors="replace").splitlines():
                    session.console.print(f"    {line}", markup=False)
        except CannotCheck as e:
            code = None
            session.cannot_check(f"the Job {outcome}, but its pod and logs could not be read ({e.what}); read them with kubectl")
            session.suggest(f"kubectl -n {namespace} logs job/{name}")
        if _succeeded(job):
            session.success = f"bootstrap succeeded (exit code {code if code is not None else 0})."
            session.ok("the Job succeeded")
        else:
            session.problem(f"the bootstrap failed with exit code {code if code is not None else 'unknown'}; read the logs above, fix, and run with --force")

    session.step("Earlier bootstraps (a finished or, with --force, running Job is deleted)", earlier_runs, changes=True)
    session.step(f"Start Job {name}", start, changes=True)
    session.step("Wait for it, with its logs", follow)


def _read_job(session: Session, name: str) -> V1Job | None:
    return session.call(session.kube.batch.read_namespaced_job, name, session.target.namespace, missing_ok=True)


def _wait(session: Session, name: str, timeout: int) -> V1Job | None:
    """The Job once it has finished, or None if it still runs at the timeout."""
    deadline = time.monotonic() + timeout
    with session.console.status(f"waiting for Job {name}…"):
        while True:
            job = _read_job(session, name)
            if job is not None and (_succeeded(job) or _failed(job)):
                return job
            if time.monotonic() > deadline:
                return None
            time.sleep(float(os.environ.get("ON_CALL_POLL_SECONDS", "2")))


def _succeeded(job: V1Job) -> bool:
    return job.status is not None and (job.status.succeeded or 0) > 0


def _failed(job: V1Job) -> bool:
    return job.status is not None and (job.status.failed or 0) > 0


def _pod_of(session: Session, job: str):
    pods = session.call(session.kube.core.list_namespaced_pod, session.target.namespace, label_selector=f"job-name={job}")
    mine = [p for p in pods.items if (p.metadata.labels or {}).get("job-name") == job]
    return max(mine, key=lambda p: p.metadata.creation_timestamp or 0, default=None)


def _exit_code(pod) -> int | None:
    for status in (pod.status.container_statuses or []) if pod is not None else []:
        if status.state and status.state.terminated:
            return status.state.terminated.exit_code
    return None


def _job(session: Session, name: str) -> dict:
    """A Job that passes the namespace's Pod Security `restricted` and its quota, like the app's pods."""
    target = session.target
    app = target.app
    image = f"{app.bootstrap.image or app.image}:{app.tag}"
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": target.project.name,
        "shoestring.dev/bootstrap-of": app.name,
        "shoestring.dev/environment": target.environment,
    }
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "capabilities": {"drop": ["ALL"]},
    }
    resources = app.resources
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": target.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,  # a failed bootstrap is looked at, not retried blindly
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": "workload",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_USER, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "bootstrap",
                            "image": image,
                            "imagePullPolicy": "Always",
                            "command": list(app.bootstrap.command),
                            "env": [{"name": k, "value": v} for k, v in sorted(app.env.items())],
                            "resources": {
                                "requests": {"cpu": resources.cpu, "memory": resources.memory},
                                "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
                            },
                            "securityContext": security,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
