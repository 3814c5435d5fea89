"""The `@runbook` decorator: one function in one module of shoestring/oncall/runbooks becomes an
`on-call` command with the common options (--app, --project, --env, --yes, --wait, --json,
cluster access) and its own, runs as a guided session and exits with one meaning per status:
0 healthy or nothing to do, 1 a problem found, 2 could not check, 3 waiting on something that is
expected to resolve (with --wait: polled until it does, or the timeout)."""

from __future__ import annotations

import io
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Literal

import click
from rich.console import Console

from shoestring.oncall.session import (
    CANNOT_CHECK, HEALTHY, REQUEST_TIMEOUT_SECONDS, UNHEALTHY, WAITING, CannotCheck, Session, StoppedByUser, Target, cluster_target, connect,
    find_batch, find_target,
)

RunbookFunction = Callable[..., None]
DEFAULT_ENVIRONMENT = "dev"
"""The stack a runbook looks at without --env (or ON_CALL_ENV): the one `make` plans by default."""


Subject = Literal["app", "batch", "cluster"]


class FiniteFloat(click.FloatRange):
    """A number within bounds, and finite: click's FloatRange lets NaN through (every comparison with
    it is false, so `nan < min` never holds) and infinity past an open upper bound, and either would
    switch off the guard the option sets (`--max-cost nan`, `--request-timeout inf`)."""

    name = "finite number"

    def convert(self, value, param, ctx):  # noqa: ANN001 — click's signature
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def runbook(
    steps: int, *options: Callable, applies: Callable[[Target], None] | None = None, subject: Subject = "app",
) -> Callable[[RunbookFunction], click.Command]:
    """Make ``function(session, **options)`` an `on-call` command walking ``steps`` steps.
    ``applies(target)`` raises CannotCheck for an app the runbook has nothing to do with; it runs
    before the cluster is reached (no kubeconfig needed to be told so). ``subject`` is what the
    runbook is about: an app (``--app``, ``--project``), a batch (``PROJECT/BATCH``) or the cluster."""

    def decorate(function: RunbookFunction) -> click.Command:
        def command(
            env: str, yes: bool, wait: bool, wait_timeout: int, as_json: bool,
            kubeconfig: str | None, context: str | None, from_stack: str | None, request_timeout: float,
            app: str | None = None, project: str | None = None, batch: str | None = None, **extra,
        ) -> None:
            out = io.StringIO() if as_json else None
            console = Console(file=out, highlight=False, width=None if sys.stdout.isatty() else 120)
            deadline = time.monotonic() + wait_timeout
            assume_yes = yes or as_json
            source = click.get_current_context().get_parameter_source("kubeconfig")
            access = {
                "kubeconfig_path": kubeconfig, "context": context, "from_stack": from_stack, "timeout": request_timeout,
                "kubeconfig_from": "KUBECONFIG" if source == click.core.ParameterSource.ENVIRONMENT else "--kubeconfig",
            }
            while True:
                status, verdict, session = _walk(function, applies, console, _find(subject, app, project, batch), env, assume_yes, access, steps, extra)
                if status != WAITING or not wait or time.monotonic() > deadline:
                    break
                console.print(f"[cyan]waiting[/cyan]: checking again in {_poll_seconds():g} s (until --wait-timeout)")
                time.sleep(_poll_seconds())
                assume_yes = True  # the engineer already agreed to every step once
            if as_json:
                click.echo(json.dumps({
                    "verdict": verdict, "exit_code": status,
                    "steps": session.steps if session else [], "next": session.next_commands if session else [],
                }, indent=2))
            sys.exit(status)

        command.__doc__ = function.__doc__
        for option in reversed(_SUBJECT[subject] + _COMMON + list(options)):
            command = option(command)
        return click.command(function.__name__.replace("_", "-"))(command)

    return decorate


def _find(subject: Subject, app: str | None, project: str | None, batch: str | None) -> Callable[[str], Target]:
    """How the walk finds what the runbook is about, in the environment it is given."""
    if subject == "batch":
        return lambda env: find_batch(batch, env)
    if subject == "cluster":
        return cluster_target
    return lambda env: find_target(app, project, env)


def _walk(function, applies, console, find, env, assume_yes, access, steps, extra) -> tuple[int, str, Session | None]:
    """One walk through the runbook: its exit status, verdict line and session."""
    session = None
    try:
        target = find(env)
        console.print(f"[bold]{target.title}[/bold] ({env})")
        if applies is not None:
            applies(target)
        session = Session(target, connect(**access), console, assume_yes=assume_yes, steps_total=steps)
        function(session, **extra)
    except StoppedByUser as e:
        console.print(f"[yellow]{e}[/yellow]")
        return HEALTHY, str(e), session
    except CannotCheck as e:
        console.print(f"[bold red]Verdict: cannot check[/bold red] — {e}")
        return CANNOT_CHECK, f"cannot check — {e}", session
    if session.next_commands:
        console.print("Next: " + "; ".join(f"[bold]{c}[/bold]" for c in session.next_commands))
    if session.problems:
        verdict = f"unhealthy — {len(session.problems)} problem(s): " + "; ".join(session.problems)
        console.print(f"[bold red]Verdict: {verdict}[/bold red]")
        return UNHEALTHY, verdict, session
    if session.unchecked:
        verdict = "cannot check everything — " + "; ".join(session.unchecked)
        console.print(f"[bold yellow]Verdict: {verdict}[/bold yellow]")
        return CANNOT_CHECK, verdict, session
    if session.pending:
        verdict = "waiting — " + "; ".join(session.pending)
        console.print(f"[bold cyan]Verdict: {verdict}[/bold cyan]")
        return WAITING, verdict, session
    console.print(f"[bold green]Verdict: {session.success}[/bold green]")
    return HEALTHY, session.success, session


def _poll_seconds() -> float:
    return float(os.environ.get("ON_CALL_POLL_SECONDS", "10"))


_SUBJECT = {
    "app": [
        click.option("--app", required=True, help="App name, as in projects/<project>.yaml."),
        click.option("--project", default=None, help="Project of the app, when the name alone is ambiguous."),
    ],
    "batch": [click.argument("batch", metavar="PROJECT/BATCH")],
    "cluster": [],
}
_COMMON = [
    click.option(
        "--env", default=DEFAULT_ENVIRONMENT, show_default=True, envvar="ON_CALL_ENV",
        help="Stack the app runs in (stacks/Pulumi.<env>.yaml); the default is make's (STACK=dev). Also ON_CALL_ENV.",
    ),
    click.option("--yes", is_flag=True, help="Run every step without asking (scripts, CI)."),
    click.option("--wait", is_flag=True, help="While the verdict is 'waiting' (exit 3), check again until it is not."),
    click.option("--wait-timeout", default=900, show_default=True, help="Seconds --wait keeps checking."),
    click.option("--json", "as_json", is_flag=True, help="Print the steps, findings, next commands and verdict as JSON (implies --yes)."),
    click.option("--kubeconfig", default=None, envvar="KUBECONFIG", help="Kubeconfig file (default: KUBECONFIG or ~/.kube/config)."),
    click.option("--context", default=None, help="Kubeconfig context (default: the current one)."),
    click.option("--from-stack", default=None, help="Use this Pulumi stack's kubeconfig output instead (needs the Pulumi CLI)."),
    click.option(
        "--request-timeout", default=REQUEST_TIMEOUT_SECONDS, show_default=True, type=FiniteFloat(min=0.1), envvar="ON_CALL_REQUEST_TIMEOUT",
        help="Seconds each Kubernetes API request may take, connecting and answering however slowly, with no retry (and the "
        "kubeconfig's exec credential plugin): a hung or unreachable API server ends the walk with exit 2 this long after "
        "the request it hangs on. Also ON_CALL_REQUEST_TIMEOUT.",
    ),
]
