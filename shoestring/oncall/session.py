"""What every runbook works with: the app it is about (from the same definitions and stack
config the Pulumi program declares), the cluster's API, and a guided walk through numbered steps.

A runbook reports ``problem(...)`` for what is wrong, ``cannot_check(...)`` for what stops it
from looking and ``waiting(...)`` for what is expected to resolve on its own; the session turns
them into a verdict line and the exit status, one meaning each: 0 healthy or nothing to do,
1 a problem found, 2 could not check, 3 waiting on something expected to resolve.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import urllib3
from kubernetes import client
from kubernetes import config as kubeconfig
from rich.console import Console

from shoestring import config, definitions
from shoestring.config import ProjectInstance
from shoestring.definitions import App

HEALTHY, UNHEALTHY, CANNOT_CHECK, WAITING = 0, 1, 2, 3
REQUEST_TIMEOUT_SECONDS = 10


class CannotCheck(Exception):
    """The runbook cannot look (cluster unreachable, app unknown): exit 2 with what to do."""


class StoppedByUser(Exception):
    """The engineer answered no at a step."""


@dataclass(frozen=True)
class Target:
    """The app a runbook is about, as the stack deploys it."""

    environment: str
    project: ProjectInstance
    app: App

    @property
    def namespace(self) -> str:
        return self.project.namespace

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/name={self.app.name}"


def find_target(app: str, project: str | None, environment: str) -> Target:
    """Resolve ``--app``/``--project``/``--env`` against projects/ and stacks/Pulumi.<env>.yaml."""
    try:
        stack = config.load(environment, config.read_stack_files(environment)[0], definitions.discover())
    except FileNotFoundError as e:
        raise CannotCheck(f"unknown environment {environment!r}: {e}") from None
    except (config.ConfigError, definitions.DefinitionError) as e:
        raise CannotCheck(f"the {environment} stack's configuration is not valid: {e}") from None
    candidates = [
        (instance, deployed)
        for instance in stack.deployed
        for deployed in instance.apps
        if deployed.name == app and (project is None or instance.name == project)
    ]
    known = ", ".join(f"{i.name}/{a.name}" for i in stack.deployed for a in i.apps)
    if not candidates:
        raise CannotCheck(f"no app {app!r}{f' in project {project!r}' if project else ''} in {environment}. Known apps: {known}")
    if len(candidates) > 1:
        raise CannotCheck(f"app {app!r} is in several projects; name one with --project. Known apps: {known}")
    instance, deployed = candidates[0]
    return Target(environment=environment, project=instance, app=deployed)


@dataclass
class Kube:
    """The Kubernetes API clients for the cluster, built from a kubeconfig."""

    api: client.ApiClient
    context: str = "(current)"
    """The kubeconfig context, to name in a message about access."""
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)
    batch: client.BatchV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)


def connect(kubeconfig_path: str | None, context: str | None, from_stack: str | None) -> Kube:
    """A client for the cluster: the standard kubeconfig (``--kubeconfig``/KUBECONFIG, current or
    ``--context``), or the kubeconfig output of a stack (``--from-stack``, via the Pulumi CLI)."""
    if from_stack:
        kubeconfig_path = _stack_kubeconfig(from_stack)
    try:
        api = kubeconfig.new_client_from_config(config_file=kubeconfig_path, context=context, persist_config=False)
        contexts, current = kubeconfig.list_kube_config_contexts(config_file=kubeconfig_path)
    except (kubeconfig.ConfigException, FileNotFoundError) as e:
        raise CannotCheck(f"no usable kubeconfig ({e}); {GET_CREDENTIALS}, or pass --kubeconfig, --context or --from-stack") from None
    api.configuration.retries = 1  # an unreachable cluster answers in seconds, not minutes
    return Kube(api, context=context or current["name"])


GET_CREDENTIALS = "run `gcloud container clusters get-credentials <cluster> --zone <zone>` (the stack's cluster_name and zone outputs)"


def _stack_kubeconfig(stack: str) -> str:
    try:
        result = subprocess.run(
            ["pulumi", "stack", "output", "kubeconfig", "--show-secrets", "--stack", stack],
            capture_output=True, text=True, check=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        raise CannotCheck(f"could not read stack {stack}'s kubeconfig output with the Pulumi CLI: {e}") from None
    path = Path.home() / ".cache" / "shoestring" / f"kubeconfig-{stack.replace('/', '_')}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.stdout)
    path.chmod(0o600)
    return str(path)


@dataclass
class Session:
    """One walk through a runbook: numbered steps, each announced and (unless --yes) confirmed."""

    target: Target
    kube: Kube
    console: Console
    assume_yes: bool
    steps_total: int
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """What a step could not look at, while the others could (e.g. an unreachable git host)."""
    pending: list[str] = field(default_factory=list)
    """What is expected to resolve on its own (a triggered scale-up, a rollout in progress)."""
    next_commands: list[str] = field(default_factory=list)
    """Commands the engineer should run next, printed with the verdict."""
    steps: list[dict] = field(default_factory=list)
    """Each step and what it found, for --json."""
    success: str = "healthy — nothing to do."
    """The verdict line when no problem was reported."""
    _step: int = 0

    def step(self, title: str, run: Callable[[], None], changes: bool = False) -> None:
        """Announce and run one step. A step that ``changes`` the cluster is asked with "No" as the
        answer on Enter; a step that only looks, with "Yes"."""
        self._step += 1
        self.steps.append({"step": self._step, "title": title, "findings": []})
        self.console.rule(f"[bold]Step {self._step}/{self.steps_total}: {title}")
        prompt = "Run this step? It changes the cluster" if changes else "Run this step?"
        if not self.assume_yes and not click.confirm(prompt, default=not changes):
            raise StoppedByUser(f"stopped before step {self._step} ({title}) as asked; nothing was changed")
        try:
            run()
        except urllib3.exceptions.HTTPError as e:
            raise CannotCheck(
                f"the cluster at {self.kube.api.configuration.host} (context {self.kube.context}) does not answer ({type(e).__name__}); "
                f"check your network, or {GET_CREDENTIALS}"
            ) from None

    def ok(self, message: str) -> None:
        self._found("ok", message)
        self.console.print(f"  [green]✓[/green] {message}")

    def info(self, message: str) -> None:
        self._found("info", message)
        self.console.print(f"  {message}")

    def cannot_check(self, message: str) -> None:
        self.unchecked.append(message)
        self._found("cannot check", message)
        self.console.print(f"  [yellow]?[/yellow] {message}")

    def problem(self, message: str, next_command: str | None = None) -> None:
        self.problems.append(message)
        self._found("problem", message)
        self.console.print(f"  [red]✗[/red] {message}")
        self.suggest(next_command)

    def waiting(self, message: str) -> None:
        self.pending.append(message)
        self._found("waiting", message)
        self.console.print(f"  [cyan]…[/cyan] {message}")

    def suggest(self, command: str | None) -> None:
        if command and command not in self.next_commands:
            self.next_commands.append(command)
            self.console.print(f"    next: [bold]{command}[/bold]", markup=True, highlight=False)

    def _found(self, kind: str, message: str) -> None:
        if self.steps:
            self.steps[-1]["findings"].append({"kind": kind, "message": message})

    def call(self, method: Callable, *args, **kwargs):
        """A Kubernetes API call with the session's timeout. A 401 or 403 ends the walk as "cannot
        check", naming the identity's context and the permission the call needed."""
        try:
            return method(*args, _request_timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)
        except client.ApiException as e:
            if e.status not in (401, 403):
                raise
            raise CannotCheck(_refused(e, method.__name__, args, self.kube)) from None


def _refused(error: client.ApiException, method: str, args: tuple, kube: Kube) -> str:
    """What a 401 or 403 means and what to do, for the API call ``method`` (e.g. list_namespaced_pod)."""
    where = f"{kube.api.configuration.host} (context {kube.context})"
    if error.status == 401:
        return f"the API server at {where} rejected the credentials (401 Unauthorized): they are missing or expired; {GET_CREDENTIALS}"
    verb, resource = _permission(method)
    # The generated client takes (namespace, ...) to list or create, (name, namespace, ...) otherwise.
    namespace = "" if "namespaced" not in method else args[0] if method.startswith(("list_", "create_")) else args[1]
    try:
        said = json.loads(error.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        said = ""
    detail = f": {said}" if said else ""
    scope = f" in namespace {namespace}" if namespace else ""
    return (
        f"the API server at {where} refused (403 Forbidden{detail}); the identity needs permission to {verb} {resource}{scope} "
        f"(e.g. roles/container.developer on the project, or a RoleBinding in the namespace)"
    )


def _permission(method: str) -> tuple[str, str]:
    """('list', 'pods') from list_namespaced_pod, ('create', 'jobs') from create_namespaced_job."""
    verb, _, rest = method.partition("_")
    noun = rest.removeprefix("namespaced_")
    if noun.endswith("_log"):
        return "get", "pods/log"
    return verb.replace("read", "get"), noun + "s"
