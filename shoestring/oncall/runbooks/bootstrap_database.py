"""`on-call bootstrap-database`: run an app's declared one-off setup (projects/<project>.yaml,
``bootstrap:``) as a Kubernetes Job in its namespace, follow it, and report how it ended.

It never destroys by default: a Job that is still running is left alone unless --force, the
steps that change the cluster default to "No", and a bootstrap already done is nothing to do —
running it again takes --force and a second confirmation naming the database (never --yes alone).
The Job's pod reaches the database as the app's pods do: the namespace's Workload Identity
ServiceAccount and the app's Secret Manager secrets, mounted the same way."""

from __future__ import annotations

import os
import time

import click
from kubernetes.client import V1Job

from pulumi import _types as pulumi_types

from program.components.internal_service import SECRETS_DRIVER, SECRETS_PATH
from program.components.pod_security import restricted_container, restricted_pod
from program.names import ONE_OFF_PRIORITY
from shoestring.oncall.runbook import runbook
from shoestring.oncall.session import CannotCheck, Session, StoppedByUser, Target


def _declares_bootstrap(target: Target) -> None:
    if target.app.bootstrap is None:
        raise CannotCheck(
            f"{target.project.name}/{target.app.name} declares no bootstrap, so there is nothing to run (the cluster was not "
            f"contacted); add `bootstrap: {{command: [...]}}` to the app in projects/{target.project.name}.yaml"
        )


@runbook(
    3,
    click.option("--force", is_flag=True, help="Run again even though a bootstrap succeeded, or delete one still running and start again."),
    click.option("--timeout", default=600, show_default=True, help="Seconds to wait for the Job to finish."),
    click.option(
        "--confirm-rerun", metavar="SECRET", default=None,
        help="With --force on a bootstrap that succeeded: name the database it would run against again, by the Secret "
        "Manager secret the app reads it from (e.g. blog-db-url). --yes alone never confirms this; without it on-call asks.",
    ),
    applies=_declares_bootstrap,
)
def bootstrap_database(session: Session, force: bool, timeout: int, confirm_rerun: str | None) -> None:
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
        if _succeeded(job):
            _confirm_rerun(session, job, name, confirm_rerun)
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


def database_of(target: Target) -> str:
    """What a bootstrap runs against, as the engineer names it to confirm a rerun: the Secret
    Manager secret(s) its pod reads (the database URL), else ``namespace/app``."""
    return ",".join(sorted(set(target.app.secrets.values()))) or f"{target.namespace}/{target.app.name}"


def _confirm_rerun(session: Session, job: V1Job, name: str, confirmed: str | None) -> None:
    """A second, explicit confirmation before a bootstrap that succeeded runs again: typed, or
    --confirm-rerun naming the database. --yes alone refuses (exit 2); nothing is changed."""
    target = session.target
    database = database_of(target)
    finished = job.status.completion_time or job.metadata.creation_timestamp
    secrets = ", ".join(f"{key} from Secret Manager secret {secret}" for key, secret in sorted(target.app.secrets.items()))
    what = (
        f"Job {name} succeeded at {finished}; --force would delete it and run `{' '.join(target.app.bootstrap.command)}` again "
        f"against the {target.environment} database" + (f" ({secrets})" if secrets else f" of {database}")
    )
    if confirmed == database:
        session.info(f"{what}: confirmed by --confirm-rerun {database}")
        return
    if confirmed is not None:
        raise CannotCheck(f"refused: --confirm-rerun {confirmed!r} does not name what this bootstrap runs against ({database}); {what}. Nothing was changed")
    if session.assume_yes:
        raise CannotCheck(
            f"refused: {what}. --yes does not confirm a rerun: pass --confirm-rerun {database} to run it again. Nothing was changed"
        )
    session.console.print(f"  [bold red]![/bold red] {what}")
    typed = click.prompt(f"  Type {database} to run it again against that database", default="", show_default=False)
    if typed.strip() != database:
        raise StoppedByUser(f"not confirmed ({typed.strip()!r} is not {database}); the bootstrap was not run again and nothing was changed")


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


WORKLOAD_SERVICE_ACCOUNT = "workload"
"""The namespace's ServiceAccount, bound to the project's GCP identity through Workload Identity
(program/components/project.py names it so; tests/test_oncall.py holds the two together)."""


def secret_provider_class(app: str) -> str:
    """The app's SecretProviderClass, as program/components/internal_service.py names it (the same test
    holds the two together)."""
    return f"{app}-secrets"


def _job(session: Session, name: str) -> dict:
    """A Job whose pod reaches what the app's pods reach, built as program/components/internal_service.py
    builds theirs: the namespace's Workload Identity ServiceAccount, the app's Secret Manager
    secrets mounted read-only through its SecretProviderClass with ``<NAME>_FILE`` beside its
    plain environment, and the same security contexts (Pod Security `restricted`) and resources."""
    target = session.target
    app = target.app
    image = f"{app.bootstrap.image or app.image}:{app.tag}"
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": target.project.name,
        "shoestring.dev/bootstrap-of": app.name,
        "shoestring.dev/environment": target.environment,
    }
    env = [{"name": k, "value": v} for k, v in sorted(app.env.items())]
    env += [{"name": f"{k}_FILE", "value": f"{SECRETS_PATH}/{k}"} for k in sorted(app.secrets)]
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if app.secrets:
        mounts.append({"name": "secrets", "mountPath": SECRETS_PATH, "readOnly": True})
        volumes.append({
            "name": "secrets",
            "csi": {"driver": SECRETS_DRIVER, "readOnly": True, "volumeAttributes": {"secretProviderClass": secret_provider_class(app.name)}},
        })
    resources = app.resources
    container = {
        "name": "bootstrap",
        "image": image,
        "imagePullPolicy": "Always",
        "command": list(app.bootstrap.command),
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "securityContext": _manifest(restricted_container()),
        "volumeMounts": mounts,
    }
    if env:
        container["env"] = env
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
                    # Above every app's class: no user-facing pod preempts a bootstrap part-way (program/components/priority.py).
                    "priorityClassName": ONE_OFF_PRIORITY,
                    "serviceAccountName": WORKLOAD_SERVICE_ACCOUNT,
                    # Workload Identity goes through the GKE metadata server; no API token needed.
                    "automountServiceAccountToken": False,
                    "securityContext": _manifest(restricted_pod()),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _manifest(value):
    """A pulumi_kubernetes ``*Args`` value as the manifest fields the provider sends (camelCase)."""
    if pulumi_types.is_input_type(type(value)):
        return {k: _manifest(v) for k, v in pulumi_types.input_type_to_dict(value).items() if v is not None}
    if isinstance(value, list | tuple):
        return [_manifest(v) for v in value]
    return value
