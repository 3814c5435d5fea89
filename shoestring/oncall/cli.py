"""The `on-call` command: every runbook in shoestring/oncall/runbooks, one subcommand each."""

from __future__ import annotations

import importlib
import pkgutil

import click

from shoestring.oncall import runbooks


@click.group()
def cli() -> None:
    """Guided, step-by-step triage and one-off jobs for Shoestring's apps, over the Kubernetes API.

    Exit status: 0 healthy, 1 unhealthy, 2 cannot check."""


for module_info in sorted(pkgutil.iter_modules(runbooks.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"{runbooks.__name__}.{module_info.name}")
    for value in vars(module).values():
        if isinstance(value, click.Command):
            cli.add_command(value)
