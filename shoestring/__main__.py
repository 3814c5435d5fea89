"""`python -m shoestring`: offline plans of the Pulumi program, per stack."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from shoestring import config, offline, render
from shoestring.config import ConfigError


@click.group()
def cli() -> None:
    """Plan Shoestring stacks offline, under Pulumi's mocks: no Pulumi CLI, no credentials."""


@cli.command()
@click.option("--stack", default="dev", show_default=True, help="Stack to plan (a file stacks/Pulumi.<stack>.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON records {type, name, parent, inputs}.")
def plan(stack: str, as_json: bool) -> None:
    """Run the program for STACK under mocks and show what it declares."""
    result = _run(stack)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
        return
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(render.plan_tree(result))
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"{len(result.records)} resources; outputs: {', '.join(sorted(result.outputs))}")


@cli.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference table that README embeds."""
    click.echo(config.reference_markdown(), nl=False)


def _run(stack: str) -> offline.Plan:
    if stack not in offline.stacks():
        raise click.BadParameter(f"no stack {stack!r}; stacks: {', '.join(offline.stacks())}", param_hint="--stack")
    try:
        return offline.run(stack)
    except ConfigError as e:
        click.echo(f"error: stack {stack}: {e}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    cli()
