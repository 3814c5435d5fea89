"""The `on-call` command: every runbook in shoestring/oncall/runbooks, one subcommand each."""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil

import click

from shoestring.oncall import runbooks


@click.group()
@click.version_option(importlib.metadata.version("shoestring"), prog_name="on-call")
def cli() -> None:
    """Guided, step-by-step triage and one-off jobs for Shoestring's apps, over the Kubernetes API.

    \b
    Exit status, one meaning each:
      0  healthy, or nothing to do (an app at rest by design, a bootstrap already done)
      1  a problem found (the verdict names it, and the next command to run)
      2  could not check: any failure of the API (unreachable, no answer within
         --request-timeout, 401/403, 5xx, an unreadable answer), a bad kubeconfig or
         stack file; one paragraph naming the server, the request and what to do
      3  waiting on something expected to resolve (a triggered GPU scale-up, a rollout, a
         running Job); --wait checks again until it resolves or --wait-timeout passes

    Shell completion: eval "$(_ON_CALL_COMPLETE=bash_source on-call)" (zsh_source, fish_source)."""


for module_info in sorted(pkgutil.iter_modules(runbooks.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"{runbooks.__name__}.{module_info.name}")
    for value in vars(module).values():
        if isinstance(value, click.Command):
            cli.add_command(value)


if __name__ == "__main__":  # `python -m shoestring.oncall.cli`, as the installed `on-call` script runs it
    cli(prog_name="on-call")
