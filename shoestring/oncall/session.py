"""What every runbook works with: the app it is about (from the same definitions and stack
config the Pulumi program declares), the cluster's API, and a guided walk through numbered steps.

A runbook reports ``problem(...)`` for what is wrong and ``cannot_check(...)`` for what stops it
from looking; the session turns them into a verdict line and the exit status: 0 healthy,
1 unhealthy, 2 cannot check.
"""

from __future__ import annotations

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

HEALTHY, UNHEALTHY, CANNOT_CHECK = 0, 1, 2
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
    except (kubeconfig.ConfigException, FileNotFoundError) as e:
        raise CannotCheck(f"no usable kubeconfig ({e}); pass --kubeconfig, --context or --from-stack") from None
    api.configuration.retries = 1  # an unreachable cluster answers in seconds, not minutes
    return Kube(api)


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
    success: str = "healthy — nothing to do."
    """The verdict line when no problem was reported."""
    _step: int = 0

    def step(self, title: str, run: Callable[[], None]) -> None:
        self._step += 1
        self.console.rule(f"[bold]Step {self._step}/{self.steps_total}: {title}")
        if not self.assume_yes and not click.confirm("Run this step?", default=True):
            raise StoppedByUser(f"stopped before step {self._step} ({title}) as asked; nothing was changed")
        try:
            run()
        except urllib3.exceptions.HTTPError as e:
            raise CannotCheck(f"the cluster does not answer ({type(e).__name__}); check your network and kubeconfig") from None

    def ok(self, message: str) -> None:
        self.console.print(f"  [green]✓[/green] {message}")

    def info(self, message: str) -> None:
        self.console.print(f"  {message}")

    def cannot_check(self, message: str) -> None:
        self.unchecked.append(message)
        self.console.print(f"  [yellow]?[/yellow] {message}")

    def problem(self, message: str) -> None:
        self.problems.append(message)
        self.console.print(f"  [red]✗[/red] {message}")

    def call(self, method: Callable, *args, **kwargs):
        """A Kubernetes API call with the session's timeout."""
        return method(*args, _request_timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)
