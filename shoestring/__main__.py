"""`python -m shoestring`: offline plans and cost estimates of the Pulumi program, per stack."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import click
from rich.console import Console

from program import catalog, config, cost, definitions
from program.config import ConfigError
from shoestring import cis_gke, diff, offline, permissions, plan_process, render, report, rules, settings_reference


@click.group()
def cli() -> None:
    """Plan and price Shoestring stacks offline, under Pulumi's mocks: no Pulumi CLI, no credentials."""


@cli.command()
@click.option("--stack", default="dev", show_default=True, help="Stack to plan (a file stacks/Pulumi.<stack>.yaml), or `all`.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON records {type, name, parent, inputs}.")
def plan(stack: str, as_json: bool) -> None:
    """Run the program for STACK under mocks and show what it declares and costs.

    Exits 1 when a security, tenancy or CIS GKE rule is broken (shoestring/security.py and
    shoestring/cis_gke.py, the rules the policy pack enforces), when an on-demand pool keeps less
    than the headroom floor free at rest, or the stack's expected monthly cost exceeds its budget."""
    if stack == "all" and as_json:
        plans = {name: plan.to_json() for name, plan in _plans(offline.stacks()).items()}
        click.echo(json.dumps({"stacks": plans}, indent=2, sort_keys=True))
        return
    if as_json:
        click.echo(json.dumps(_run(stack).to_json(), indent=2, sort_keys=True))
        return
    console = _console()
    estimates: list[cost.Estimate] = []
    broken: list[str] = []
    planned: dict[str, list] = {}
    # Each stack's program runs in a fresh process of its own (shoestring/plan_process.py); this
    # one checks what they declared: rules, capacity and budget are evaluated here, never there.
    names = offline.stacks() if stack == "all" else [stack]
    for name in names:
        _check_stack(name)
    try:
        hosts = [h for name in names if (h := config.host_stack_of(name)) and h not in names]
        guests = [g for name in names for g in _guests_of(name) if g not in names]
    except ConfigError as e:  # a stack file that is not YAML, before any program runs
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    isolated = _plans([*names, *hosts, *guests])
    for name in names:
        result = isolated[name]
        console.print(render.plan_tree(result))
        for note in result.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        console.print(f"{len(result.records)} resources; outputs: {', '.join(sorted(result.outputs))}")
        host = isolated[result.host_stack].records if result.host_stack in isolated else None
        estimates.append(cost.estimate(name, result.records, host))
        console.print(render.cost_summary(estimates[-1]))
        broken.extend(f"stack {name}: policy {v}" for v in rules.stack_violations(result.records))
        planned[name] = result.records
    for name, records in planned.items():
        guests = [r for guest in _guests_of(name) for r in isolated[guest].records]
        broken.extend(f"capacity: {problem}" for problem in cost.headroom_problems(name, records, guests))
        room = cost.default_apps_that_fit(records, guests)
        if room:
            console.print(f"stack {name}: {room}")
    broken.extend(f"policy {v}" for v in rules.cross_stack_violations(planned))
    for violation in broken:
        click.echo(f"error: {violation}", err=True)
    if broken:
        sys.exit(1)
    _fail_if_over_budget(estimates)


@cli.command("cost")
@click.option("--stack", default="dev", show_default=True, help="Stack to price, or `all`.")
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
def cost_command(stack: str, as_json: bool) -> None:
    """Monthly cost of STACK (or all stacks): line items, idle, GPU burst, expected and budget.

    Exits 1 when a stack's expected monthly cost exceeds its budget."""
    stacks = offline.stacks() if stack == "all" else [stack]
    _check_stack(stacks[0])
    plans = _plans(offline.stacks() if stack == "all" else [stack, *([host] if (host := config.host_stack_of(stack)) else [])])
    estimates = [_estimate(name, plans) for name in stacks]
    warnings = cost.free_tier_claims((e, _billing_account(e.stack)) for e in estimates) if stack == "all" else []
    stale = catalog.staleness_warning(datetime.date.today())
    if stale:
        warnings.insert(0, stale)
    if as_json:
        body = estimates[0].to_json() if stack != "all" else {"stacks": [e.to_json() for e in estimates], "warnings": warnings}
        click.echo(json.dumps(body, indent=2, sort_keys=True))
    else:
        console = _console()
        for estimate in estimates:
            console.print(render.cost_table(estimate))
            records = _run(estimate.stack).records
            if any(r.type == cost.NODE_POOL for r in records):
                console.print(_autopilot_line(estimate.stack, records))
        for warning in warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}")
    _fail_if_over_budget(estimates)


def _autopilot_line(stack: str, records: list) -> str:
    """`make cost`'s comparison: the same pods on GKE Autopilot (docs/costs.md has the table)."""
    from shoestring import autopilot

    other = autopilot.same_pods(stack, records)
    return (
        f"GKE Autopilot, the same pods: ${other.expected_monthly:,.2f}/month expected (Pod requests ${other.pods_monthly:,.2f}, "
        f"the same entry, secrets and GPU work ${other.carried_monthly:,.2f}, cluster fee ${other.fee_monthly:,.2f}). "
        + " ".join(autopilot.verdict(stack, records)).replace("**", "")
    )


@cli.command("diff")
@click.option("--base", default="origin/main", show_default=True, help="Git ref to compare the working tree with.")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
def diff_command(base: str, as_json: bool) -> None:
    """What this change does to every stack, against BASE: created, updated, replaced and deleted
    resources with each changed property, money and dangers first, and the cost before and after.

    Exits 1, after printing the whole diff, when a stack is over its budget after the change; and,
    printing that side's configuration error, when either side does not plan."""
    try:
        after = diff.plans_in(offline.ROOT)
    except diff.SideFailed as e:
        raise click.ClickException(f"this change does not plan, so there is nothing to compare; fix it (as `make plan` says):\n{e}") from None
    except offline.PlanFailed as e:
        raise click.ClickException(str(e)) from None
    try:
        before = diff.plans_at(base)
    except subprocess.CalledProcessError as e:
        raise click.ClickException(f"cannot check out {base!r}: {e.stderr.strip()}") from None
    except diff.SideFailed as e:
        raise click.ClickException(f"the base, {base}, does not plan, so there is nothing to compare with; its error:\n{e}") from None
    except offline.PlanFailed as e:
        raise click.ClickException(f"the base, {base}: {e}") from None
    diffs = diff.compare(before, after)
    if as_json:
        click.echo(json.dumps({"base": base, "stacks": [d.to_json() for d in diffs]}, indent=2, sort_keys=True))
    else:
        click.echo(diff.markdown(diffs, base), nl=False)
    if any(d.over_budget for d in diffs):
        sys.exit(1)


@cli.command("release")
@click.argument("name", metavar="PROJECT/APP")
@click.option("--tag", required=True, help="<commit>@sha256:<digest>: the commit the image was built from and the digest its push returned.")
@click.option("--stack", required=True, help="Stack to release to (stacks/Pulumi.<stack>.yaml), or `all` to change the definition in projects/.")
def release_command(name: str, tag: str, stack: str) -> None:
    """Deploy a new build of an app (or a batch) to STACK: its tag written on one line of the
    stack file (or, with --stack all, of its definition), comments and layout kept.

    Exits 1, changing nothing, for a tag without a digest, an unknown project, app or stack, or a
    stack that does not run the app."""
    from shoestring import release

    try:
        click.echo(release.release(name, tag, stack).describe(offline.ROOT))
    except release.ReleaseRefused as e:
        raise click.ClickException(str(e)) from None


@cli.command()
@click.argument("name", metavar="PROJECT/APP")
@click.option("--from", "source", default="staging", show_default=True, help="Stack whose image to promote.")
@click.option("--to", "target", default="prod", show_default=True, help="Stack to give it.")
def promote(name: str, source: str, target: str) -> None:
    """Give the --to stack exactly the image the --from stack declares for an app: same commit,
    same digest, one line of its stack file. Exits 1, changing nothing, when --from does not run
    the app or runs it without a digest."""
    from shoestring import release

    try:
        click.echo(release.promote(name, source, target).describe(offline.ROOT))
    except release.ReleaseRefused as e:
        raise click.ClickException(str(e)) from None


@cli.command("cost-report")
def cost_report() -> None:
    """Print README's "What it costs" tables, computed from every stack's plan."""
    click.echo(report.markdown(_plans(offline.stacks())), nl=False)


@cli.command("gpu-burst")
@click.option("--stack", default="prod", show_default=True, help="Stack whose GPU pool to price.")
@click.option("--nodes", default=20, show_default=True, help="GPU nodes the burst runs.")
@click.option("--hours", default=2.0, show_default=True, help="Hours it runs.")
def gpu_burst(stack: str, nodes: int, hours: float) -> None:
    """What NODES GPU nodes for HOURS cost on STACK's GPU pool, on Spot and on demand, and the quota they need."""
    click.echo(report.gpu_burst_markdown(stack, _run(stack).records, nodes, hours), nl=False)


@cli.command()
@click.option("--stack", default="prod", show_default=True, help="Stack whose cluster to size (its guests' pods included).")
@click.option("--min-vcpus", default=3.0, show_default=True, help="Keep at least this many billed vCPUs (the seed's three n1-standard-1).")
@click.option("--min-memory-gb", default=11.25, show_default=True, help="Keep at least this much node memory (the seed's).")
@click.option("--dns-queries-per-second", type=float, default=None, help="Price Cloud DNS at this query rate. Default: the stack's shoestring:dns.queriesPerSecond.")
@click.option("--top", default=8, show_default=True, help="How many shapes to list (and the cheapest of each DNS provider).")
def advise(stack: str, min_vcpus: float, min_memory_gb: float, dns_queries_per_second: float | None, top: int) -> None:
    """The cheapest DNS provider and on-demand + Spot pool shapes that run STACK's pods keeping
    every guarantee (GKE's pods never on Spot, a replica of every app on on-demand nodes, the
    headroom floor, the seed's capacity), the saving against today's, and why the first."""
    from program import capacity
    from shoestring import advisor

    plans = _plans(offline.stacks())
    plan = plans[stack]
    region = cost.region_of(plan.records)
    if region is None or not any(r.type == capacity.NODE_POOL for r in plan.records):
        raise click.ClickException(f"stack {stack} has no node pools of its own; advise its host stack instead")
    guests = [r for name, other in plans.items() if name != stack and other.host_stack == stack for r in other.records]
    rate = dns_queries_per_second if dns_queries_per_second is not None else advisor.declared_queries_per_second(plan.records) or 0.0
    private = any(cost.private_nodes(r) for r in plan.records if r.type == "gcp:container/cluster:Cluster")
    found = advisor.shapes(region, capacity.pods_of(plan.records), capacity.pods_of(guests), min_vcpus, min_memory_gb, private, capacity.cluster_addons(plan.records), rate)
    current = advisor.current_monthly(plan.records, region, capacity.at_rest(plan.records, region, guests))
    click.echo(advisor.markdown(stack, found, current, rate, top), nl=False)


@cli.command("prices")
def prices() -> None:
    """Regenerate program/prices.yaml from the Cloud Billing Catalog API.

    Needs an API key with the Cloud Billing API enabled in CLOUD_BILLING_API_KEY (the catalog is
    public; no billing account is read)."""
    from shoestring import billing_catalog

    key = os.environ.get("CLOUD_BILLING_API_KEY")
    if not key:
        raise click.ClickException(
            "set CLOUD_BILLING_API_KEY to an API key of a project with the Cloud Billing API enabled "
            "(console: APIs & Services > Credentials > Create credentials > API key)"
        )
    skus = {service: billing_catalog.fetch_skus(service, key) for service in billing_catalog.SERVICES}
    missing = billing_catalog.write(catalog.CATALOG_PATH, skus, datetime.date.today())
    for line in missing:
        click.echo(f"warning: kept the old figure for {line}", err=True)
    click.echo(f"wrote {catalog.CATALOG_PATH} from {sum(len(s) for s in skus.values())} SKUs; review `git diff`, then `make test`")


@cli.command("deployer-roles")
def deployer_roles() -> None:
    """Print README's table of the IAM roles `pulumi up` needs for what the stacks declare."""
    types = permissions.deployer_types({stack: plan.records for stack, plan in _plans(offline.stacks()).items()})
    click.echo(permissions.markdown(types), nl=False)


@cli.command("preview-roles")
def preview_roles() -> None:
    """Print README's table of the read-only roles of the pull-request preview identity."""
    click.echo(permissions.preview_markdown(), nl=False)


@cli.command("security-table")
def security_table() -> None:
    """Print README's table of CIS GKE 1.9 controls: status per stack, rules, monthly cost."""
    plans = _plans(offline.stacks())
    click.echo(cis_gke.markdown({stack: (plan.records, plan.host_stack) for stack, plan in plans.items()}), nl=False)


@cli.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference table that README embeds."""
    click.echo(settings_reference.reference_markdown(), nl=False)


@cli.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 1 naming each block that is out of date.")
def docs(check: bool) -> None:
    """Regenerate the generated blocks of README and docs/ (plan sample, costs, right-sizing,
    configuration, CIS GKE table, roles, burst samples) and the project files' JSON Schema
    (projects/project.schema.json) from the code, as the tests compare them."""
    from click.testing import CliRunner

    from program import capacity
    from shoestring import advisor
    from shoestring.oncall.runbooks import burst

    plans = _plans(offline.stacks())
    prod, guests = plans["prod"].records, plans["staging"].records
    rate = advisor.declared_queries_per_second(prod) or 0.0
    shapes = advisor.shapes("us-central1", capacity.pods_of(prod), capacity.pods_of(guests), addons=capacity.cluster_addons(prod), queries_per_second=rate)
    sample = CliRunner().invoke(cli, ["plan", "--stack", "dev"]).output
    blocks = {
        "plan-sample": f"```console\n$ make plan\n{sample}```\n",
        "what-it-costs": report.markdown(plans),
        "cost-summary": report.stacks_table(plans),
        "gpu-burst": report.gpu_burst_markdown("prod", prod),
        "burst-dry-run": burst.readme_sample(),
        "advise": advisor.markdown("prod", shapes, advisor.current_monthly(prod, "us-central1", capacity.at_rest(prod, "us-central1", guests)), rate, top=6),
        "config-reference": settings_reference.reference_markdown(),
        "pulumi-config": settings_reference.pulumi_config_schema(),
        "security-table": cis_gke.markdown({stack: (plan.records, plan.host_stack) for stack, plan in plans.items()}),
        "deployer-roles": permissions.markdown(permissions.deployer_types({stack: plan.records for stack, plan in plans.items()})),
        "preview-roles": permissions.preview_markdown(),
        "runbook-example": f"```python\n{(offline.ROOT / 'shoestring/oncall/runbooks/restart_app.py').read_text()}```\n",
        "app-release-workflow": f"```yaml\n{(offline.ROOT / 'docs/examples/app-release.yml').read_text()}```\n",
    }
    pages = documentation_pages()
    stale, placed = [], set()
    for page in pages:
        text = original = page.read_text()
        for name, body in blocks.items():
            start, end = block_markers(page, name)
            if start not in text:
                continue
            placed.add(name)
            head, rest = text.split(start, 1)
            old, tail = rest.split(end, 1)
            if old != body:
                stale.append(f"{page.relative_to(offline.ROOT)} {name}")
            text = head + start + body + end + tail
        if text != original and not check:
            page.write_text(text)
    schema_file = definitions.PROJECTS / definitions.SCHEMA
    schema = json.dumps(definitions.schema(), indent=2) + "\n"
    if not schema_file.exists() or schema_file.read_text() != schema:
        stale.append(f"{schema_file.relative_to(offline.ROOT)}")
        if not check:
            schema_file.write_text(schema)
    missing = sorted(set(blocks) - placed)
    if missing:
        raise click.ClickException(f"no page has the generated blocks {', '.join(missing)} (<!-- NAME:start --> … <!-- NAME:end -->)")
    if check:
        if stale:
            raise click.ClickException(f"generated blocks out of date: {', '.join(stale)}; run `make docs`")
        return
    click.echo(f"{len(stale)} of {len(blocks) + 1} generated blocks rewritten{': ' + ', '.join(stale) if stale else ''}")


def documentation_pages() -> list[Path]:
    """Where the generated blocks live: README.md, the pages of docs/, and Pulumi.yaml's config schema."""
    return [offline.ROOT / "README.md", *sorted((offline.ROOT / "docs").glob("*.md")), offline.ROOT / "Pulumi.yaml"]


def block_markers(page: Path, name: str) -> tuple[str, str]:
    """The lines around a generated block: an HTML comment in Markdown, a YAML comment in YAML."""
    if page.suffix == ".yaml":
        return f"  # {name}:start\n", f"  # {name}:end"
    return f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"


def _check_stack(stack: str) -> None:
    if stack not in offline.stacks():
        raise click.BadParameter(f"no stack {stack!r}; stacks: {', '.join(offline.stacks())}", param_hint="--stack")


def _run(stack: str) -> offline.Plan:
    return _plans([stack])[stack]


def _plans(stacks: list[str]) -> dict[str, offline.Plan]:
    """Each stack's plan, from a fresh process of its own; a stack that fails ends the command with its message."""
    for stack in stacks:
        _check_stack(stack)
    try:
        return plan_process.plan_stacks(stacks)
    except offline.PlanFailed as e:
        click.echo(str(e), err=True)
        sys.exit(1)


def _estimate(stack: str, plans: dict[str, offline.Plan]) -> cost.Estimate:
    """The stack's estimate; a stack in another stack's cluster is set against that cluster."""
    plan = plans[stack]
    host_records = plans[plan.host_stack].records if plan.host_stack in plans else None
    return cost.estimate(stack, plan.records, host_records)


def _guests_of(stack: str) -> list[str]:
    """The stacks whose projects run in ``stack``'s cluster (their hostStack), read from their files."""
    host = f"{config.PROJECT}:hostStack"
    return [name for name in offline.stacks() if config.read_stack_files(name)[0].get(host, "").rsplit("/", 1)[-1] == stack]


def _billing_account(stack: str) -> str | None:
    raw = config.read_stack_files(stack)[0]
    return raw.get(f"{config.PROJECT}:billingAccount")


def _fail_if_over_budget(estimates: list[cost.Estimate]) -> None:
    problems = [p for p in (cost.over_budget(e) for e in estimates) if p]
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(1)


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 200)


if __name__ == "__main__":
    cli()
