"""The `@runbook` decorator: one function in one module of shoestring/oncall/runbooks becomes an
`on-call` command with the common options (--app, --project, --env, --yes, cluster access) and
its own, runs as a guided session and exits 0 healthy, 1 unhealthy, 2 cannot check."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click
from rich.console import Console

from shoestring.oncall.session import CANNOT_CHECK, HEALTHY, UNHEALTHY, CannotCheck, Session, StoppedByUser, connect, find_target

RunbookFunction = Callable[..., None]


def runbook(steps: int, *options: Callable) -> Callable[[RunbookFunction], click.Command]:
    """Make ``function(session, **options)`` an `on-call` command walking ``steps`` steps."""

    def decorate(function: RunbookFunction) -> click.Command:
        def command(app: str, project: str | None, env: str, yes: bool, kubeconfig: str | None, context: str | None, from_stack: str | None, **extra) -> None:
            console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
            try:
                target = find_target(app, project, env)
                console.print(f"[bold]{target.project.name}/{target.app.name}[/bold] in namespace [bold]{target.namespace}[/bold] ({env})")
                session = Session(target, connect(kubeconfig, context, from_stack), console, assume_yes=yes, steps_total=steps)
                function(session, **extra)
            except StoppedByUser as e:
                console.print(f"[yellow]{e}[/yellow]")
                sys.exit(HEALTHY)
            except CannotCheck as e:
                console.print(f"[bold red]Verdict: cannot check[/bold red] — {e}")
                sys.exit(CANNOT_CHECK)
            if session.problems:
                console.print(f"[bold red]Verdict: unhealthy[/bold red] — {len(session.problems)} problem(s): " + "; ".join(session.problems))
                sys.exit(UNHEALTHY)
            if session.unchecked:
                console.print("[bold yellow]Verdict: cannot check[/bold yellow] everything — " + "; ".join(session.unchecked))
                sys.exit(CANNOT_CHECK)
            console.print(f"[bold green]Verdict: {session.success}[/bold green]")

        command.__doc__ = function.__doc__
        for option in reversed(_COMMON + list(options)):
            command = option(command)
        return click.command(function.__name__.replace("_", "-"))(command)

    return decorate


_COMMON = [
    click.option("--app", required=True, help="App name, as in projects/<project>.py."),
    click.option("--project", default=None, help="Project of the app, when the name alone is ambiguous."),
    click.option("--env", default="prod", show_default=True, help="Stack the app runs in (stacks/Pulumi.<env>.yaml)."),
    click.option("--yes", is_flag=True, help="Run every step without asking (scripts, CI)."),
    click.option("--kubeconfig", default=None, envvar="KUBECONFIG", help="Kubeconfig file (default: KUBECONFIG or ~/.kube/config)."),
    click.option("--context", default=None, help="Kubeconfig context (default: the current one)."),
    click.option("--from-stack", default=None, help="Use this Pulumi stack's kubeconfig output instead (needs the Pulumi CLI)."),
]
