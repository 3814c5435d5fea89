"""What a change does to each stack: the offline plans at a base git ref and at the working tree,
compared resource by resource, with replacements, dangers and the cost before and after.

The report is deterministic: resources in URN order, properties in path order, figures rounded
the same way, so the same inputs print byte-identical Markdown.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from program import capacity, catalog, cost
from program.config import stack_names
from program.definitions import PROJECT_ROLES
from program.names import CLUSTER, CRON_JOB, DEPLOYMENT, NODE_POOL
from program.records import Record
from shoestring import render, replacements
from shoestring.offline import ROOT, PlanFailed
from shoestring.plan_process import TIMEOUT_SECONDS
from shoestring.release import Image

ACTIONS = ("create", "update", "replace", "delete")


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any


@dataclass
class ResourceDiff:
    action: str
    type: str
    name: str
    urn: str
    changes: list[Change] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    """Why it is replaced, or why an in-place update still recreates nodes."""
    summary: str = ""
    """The settings that matter of a created resource (image, replicas, hosts...)."""


@dataclass(frozen=True)
class ImageChange:
    """A workload's container image before and after: a Deployment rolls its pods onto it, a
    CronJob's next run uses it."""

    workload: str
    """PROJECT/APP (or PROJECT/BATCH), as `release` names it."""
    kind: str
    """The object that carries the image: Deployment or CronJob."""
    object: str
    """Its namespace/name in the cluster."""
    old: Image
    new: Image
    pods: int
    """The pods a Deployment restarts (its replicas); 0 for a CronJob."""

    def to_json(self) -> dict[str, Any]:
        return {"workload": self.workload, "kind": self.kind, "object": self.object, "old": str(self.old), "new": str(self.new), "pods": self.pods}

    def markdown(self, stack: str) -> str:
        what = f"`{self.old.commit[:12]}` → `{self.new.commit[:12]}`" if self.old.commit != self.new.commit else f"`{self.new.commit[:12]}`, same commit"
        digest = "digest changed" if self.old.digest != self.new.digest else "same digest"
        if not self.new.digest:
            digest += ", **no digest pinned**: the registry may serve other bytes under this tag"
        moved = f"; repository `{self.old.repository}` → `{self.new.repository}`" if self.old.repository != self.new.repository else ""
        effect = (
            f"rolls Deployment {self.object}: {self.pods} pod{'s' if self.pods != 1 else ''} restart{'s' if self.pods == 1 else ''}"
            if self.kind == "Deployment" else f"CronJob {self.object}: its next run uses it, no pod restarts now"
        )
        return f"- `{stack}`: **{self.workload}** {what} ({digest}{moved}) — {effect}"


@dataclass
class StackDiff:
    stack: str
    resources: list[ResourceDiff]
    cost_before: cost.Estimate | None
    cost_after: cost.Estimate | None
    dangers: list[str] = field(default_factory=list)
    money: list[str] = field(default_factory=list)
    """What the change does to the stack's money: a budget breach, a large change, the burst ceiling."""
    blocked: list[str] = field(default_factory=list)
    """What `pulumi up` will refuse to do as the change stands (protected resources it would delete)."""
    images: list[ImageChange] = field(default_factory=list)
    """The workloads whose image changes: what a release is, and what a reviewer checks first."""

    @property
    def over_budget(self) -> str | None:
        return cost.over_budget(self.cost_after) if self.cost_after is not None else None

    def count(self, action: str) -> int:
        return sum(r.action == action for r in self.resources)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "dangers": self.dangers,
            "blocked": self.blocked,
            "money": self.money,
            "images": [i.to_json() for i in self.images],
            "over_budget": self.over_budget,
            "counts": {action: self.count(action) for action in ACTIONS},
            "resources": [
                {
                    "action": r.action,
                    "type": r.type,
                    "name": r.name,
                    "urn": r.urn,
                    "reasons": r.reasons,
                    "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in r.changes],
                }
                for r in self.resources
            ],
            "cost": {side: _figures(e) for side, e in (("before", self.cost_before), ("after", self.cost_after))},
        }


# Planning both sides.


def plans_at(ref: str, repo: Path = ROOT) -> dict[str, list[Record]]:
    """Every stack's records at a git ref, planned in a temporary worktree of ``repo``.

    The ref is resolved to a commit first, after ``--end-of-options``: a BASE that reads as an
    option (``--orphan``, ``-f``) is refused as no commit, never handed to git as one."""
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], capture_output=True, text=True
    ).stdout.strip()
    if not commit:
        raise subprocess.CalledProcessError(128, "git rev-parse", stderr=f"no commit {ref!r} in this repository (try origin/main, HEAD~1 or a sha)")
    with tempfile.TemporaryDirectory(prefix="shoestring-base-") as tmp:
        worktree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "--quiet", str(worktree), commit], check=True, capture_output=True, text=True)
        try:
            return plans_in(worktree)
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(worktree)], check=True, capture_output=True)


class SideFailed(Exception):
    """One side of the diff does not plan; the message is that side's own `make plan` error, which
    names the stack file and the key."""


def plans_in(root: Path) -> dict[str, list[Record]]:
    """Every stack's records in a checkout, planned by that checkout's own code."""
    if not (root / "shoestring" / "__main__.py").exists():
        return {}
    try:
        plans = _plan_json(root, "all")["stacks"]
    except SideFailed:
        # A base from before `plan --stack all` plans one stack at a time; a broken side fails here
        # too, with the message of the stack it breaks.
        plans = {stack: _plan_json(root, stack) for stack in stack_names(root / "stacks")}
    return {stack: [Record.from_json(r) for r in plan["resources"]] for stack, plan in plans.items()}


def _plan_json(root: Path, stack: str) -> dict[str, Any]:
    # The checkout's own planner, with a deadline as each of its stacks' children has.
    timeout = TIMEOUT_SECONDS * (len(stack_names(root / "stacks")) if stack == "all" else 1)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "shoestring", "plan", "--stack", stack, "--json"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise PlanFailed(f"planning {stack} in {root} did not finish within {timeout} s and was stopped") from None
    if result.returncode != 0:
        raise SideFailed(result.stderr.strip() or f"`plan --stack {stack}` exited {result.returncode}")
    return json.loads(result.stdout)


# Comparing.


def compare(before: dict[str, list[Record]], after: dict[str, list[Record]]) -> list[StackDiff]:
    return [
        compare_stack(stack, before.get(stack), after.get(stack), _host_of(before.get(stack), before), _host_of(after.get(stack), after))
        for stack in sorted(set(before) | set(after))
    ]


def _host_of(records: list[Record] | None, plans: dict[str, list[Record]]) -> list[Record] | None:
    """The records of the stack whose cluster this one lives in, on the same side of the diff."""
    host = next((r.inputs.get("hostStack") for r in records or [] if r.type == "shoestring:cost:MonthlyBudget"), None)
    return plans.get(host) if host else None


def compare_stack(
    stack: str, before: list[Record] | None, after: list[Record] | None, host_before: list[Record] | None = None, host_after: list[Record] | None = None
) -> StackDiff:
    old = {r.urn: r for r in before or []}
    new = {r.urn: r for r in after or []}
    resources = []
    for urn in sorted(set(old) | set(new)):
        if urn not in old:
            resources.append(ResourceDiff("create", new[urn].type, new[urn].name, urn, summary=render.summary(new[urn])))
        elif urn not in new:
            resources.append(ResourceDiff("delete", old[urn].type, old[urn].name, urn))
        else:
            changed = resource_change(old[urn], new[urn])
            if changed:
                resources.append(changed)
    cost_before = cost.estimate(stack, before, host_before) if before is not None else None
    cost_after = cost.estimate(stack, after, host_after) if after is not None else None
    return StackDiff(
        stack=stack,
        resources=resources,
        cost_before=cost_before,
        cost_after=cost_after,
        dangers=_dangers(resources, old, new),
        money=_money(cost_before, cost_after),
        blocked=_blocked(resources, old),
        images=image_changes(resources, old, new),
    )


IMAGE_CARRIERS = {DEPLOYMENT: ("Deployment", ("spec", "template")), CRON_JOB: ("CronJob", ("spec", "jobTemplate", "spec", "template"))}
"""The objects whose pod template names an app's or a batch's image, and where the template is."""


def image_changes(resources: list[ResourceDiff], old: dict[str, Record], new: dict[str, Record]) -> list[ImageChange]:
    """Each container whose image an update changes, with the object that carries it."""
    found = []
    for diff in resources:
        if diff.action != "update" or diff.type not in IMAGE_CARRIERS:
            continue
        kind, template = IMAGE_CARRIERS[diff.type]
        before, after = _containers(old[diff.urn], template), _containers(new[diff.urn], template)
        metadata = new[diff.urn].inputs.get("metadata", {})
        labels = metadata.get("labels", {})
        for name, image in after.items():
            if name in before and before[name] != image:
                found.append(
                    ImageChange(
                        workload=f"{labels.get('shoestring.dev/project', metadata.get('namespace'))}/{labels.get('app.kubernetes.io/name', name)}",
                        kind=kind, object=f"{metadata.get('namespace')}/{metadata.get('name')}",
                        old=Image.parse(before[name]), new=Image.parse(image),
                        pods=new[diff.urn].inputs.get("spec", {}).get("replicas", 1) if kind == "Deployment" else 0,
                    )
                )
    return found


def _containers(record: Record, template: tuple[str, ...]) -> dict[str, str]:
    spec: Any = record.inputs
    for key in template:
        spec = spec.get(key, {}) if isinstance(spec, dict) else {}
    return {c.get("name"): c.get("image") for c in spec.get("spec", {}).get("containers", []) if isinstance(c, dict)}


NOTABLE_CHANGE = (0.10, 10.0)
"""A change of the expected monthly cost worth a reviewer's eye: more than 10%, or more than $10."""


def _money(before: cost.Estimate | None, after: cost.Estimate | None) -> list[str]:
    found = []
    if after is not None and cost.over_budget(after):
        found.append(
            f"**Over budget**: expected ${after.expected_monthly_usd:,.2f}/month against a budget of ${after.budget_usd:,.2f}/month "
            f"(+${after.expected_monthly_usd - after.budget_usd:,.2f}). Lower the largest line items, or raise shoestring:budget."
        )
    old = before.expected_monthly_usd if before is not None else 0.0
    new = after.expected_monthly_usd if after is not None else 0.0
    share, dollars = NOTABLE_CHANGE
    if abs(new - old) > dollars or (old and abs(new - old) / old > share):
        relative = f", {(new - old) / old:+.0%}" if old else ""
        found.append(f"**Expected cost ${old:,.2f} → ${new:,.2f}/month** ({_delta(new - old)}{relative})")
    old_burst = before.burst_max_hourly_usd if before is not None else 0.0
    new_burst = after.burst_max_hourly_usd if after is not None else 0.0
    old_ceiling = before.gpu_ceiling if before is not None else None
    new_ceiling = after.gpu_ceiling if after is not None else None
    if round(new_burst - old_burst, 4) or _ceiling_figures(old_ceiling) != _ceiling_figures(new_ceiling):
        moved = round(new_burst - old_burst, 4)
        what = (
            f"every GPU node at the pool's maximum costs {_delta((new_burst - old_burst) * cost.HOURS)}/month more if it ran all month"
            if moved else "the ceiling's price is unchanged; its quota is what changes"
        )
        found.append(f"**Maximum GPU burst ${old_burst:,.4f} → ${new_burst:,.4f}/h**{_nodes(old_ceiling, new_ceiling)}: {what}{_quota(new_ceiling)}{_budget_hours(after)}")
    old_always = {str(a) for a in before.always_on_gpu} if before is not None else set()
    for always_on in after.always_on_gpu if after is not None else []:
        if str(always_on) not in old_always:
            found.append(f"**Always-on GPU**: {always_on}, in the idle figure")
    return found


def _ceiling_figures(ceiling: cost.GpuCeiling | None) -> tuple:
    return (None,) if ceiling is None else (ceiling.nodes, ceiling.gpus_per_node, ceiling.quota_metric, ceiling.quota_limit)


def _nodes(before: cost.GpuCeiling | None, after: cost.GpuCeiling | None) -> str:
    if after is None:
        return ""
    return f" ({before.nodes if before else 0} → {after.nodes} GPU nodes)"


def _quota(ceiling: cost.GpuCeiling | None) -> str:
    """The ceiling against the quota the stack declares: GKE creates no node beyond it."""
    if ceiling is None:
        return ""
    needed = ceiling.nodes * ceiling.gpus_per_node
    if ceiling.quota_metric is None:
        return f". The ceiling needs {needed} GPUs of quota; the stack declares none (gpuPool.quota), and a new project has 0 GPUS_ALL_REGIONS"
    verdict = "admits it" if ceiling.quota_limit >= needed else f"admits {ceiling.quota_limit // max(1, ceiling.gpus_per_node)} nodes only"
    return f". The ceiling needs {needed} GPUs; the declared quota {ceiling.quota_metric} = {ceiling.quota_limit} {verdict}"


def _budget_hours(after: cost.Estimate | None) -> str:
    """GPU node-hours the budget leaves beyond the expected estimate, and what that is of a full burst."""
    hours = after.budget_gpu_hours() if after is not None else None
    if hours is None:
        return ""
    ceiling = after.gpu_ceiling
    full = f" ({hours / ceiling.nodes:,.1f} h of all {ceiling.nodes} nodes)" if ceiling and ceiling.nodes else ""
    return f". The budget of ${after.budget_usd:,.2f}/month leaves {hours:,.1f} GPU node-hours a month beyond the expected {after.expected_gpu_hours:g}{full}"


def resource_change(old: Record, new: Record) -> ResourceDiff | None:
    # What the program tells Pulumi to ignore (ignoreChanges) is no change at all.
    changes = [
        Change(path, a, b)
        for path, a, b in _differences(old.inputs, new.inputs, "")
        if not any(path == ignored or path.startswith(ignored + ".") for ignored in new.ignore_changes)
    ]
    if old.protect != new.protect:
        changes.append(Change("(protect)", old.protect, new.protect))
    if not changes:
        return None
    replaced_by = [(c.path, replacements.replacement_reason(new.type, c.path)) for c in changes]
    reasons = [f"`{path}` changed: {reason}" for path, reason in replaced_by if reason]
    rolling = [f"`{c.path}` changed: {r}" for c in changes if (r := replacements.rolling_reason(new.type, c.path))]
    action = "replace" if reasons else "update"
    return ResourceDiff(action, new.type, new.name, new.urn, changes, reasons or rolling)


def _differences(old: Any, new: Any, path: str) -> list[tuple[str, Any, Any]]:
    """Leaf paths whose values differ; dicts by key, lists by position unless only reordered."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            child = f"{path}.{key}" if path else key
            if key not in old:
                found.append((child, None, new[key]))
            elif key not in new:
                found.append((child, old[key], None))
            else:
                found.extend(_differences(old[key], new[key], child))
        return found
    if isinstance(old, list) and isinstance(new, list):
        if _canonical(old) == _canonical(new):
            return []  # same items, another order: not a change a reviewer needs
        if len(old) == len(new):
            found = []
            for index, (a, b) in enumerate(zip(old, new, strict=True)):
                found.extend(_differences(a, b, f"{path}[{index}]"))
            return found
        return [(path, old, new)]
    return [] if old == new else [(path, old, new)]


def _canonical(items: list[Any]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def _dangers(resources: list[ResourceDiff], old: dict[str, Record], new: dict[str, Record]) -> list[str]:
    dangers = _reviewed_roles(resources, new)
    for diff in resources:
        if diff.type != CLUSTER:
            continue
        if diff.action == "delete":
            dangers.append(f"**Deletes the cluster {diff.name}** and everything running on it.")
        elif diff.action == "replace":
            why = "; ".join(diff.reasons)
            dangers.append(f"**Replaces the cluster {diff.name}**: it is destroyed and created again, with every workload on it ({why}).")
        for change in diff.changes:
            if change.path in ("deletionProtection", "(protect)") and change.old is True and change.new is not True:
                dangers.append(f"**Removes protection from the cluster {diff.name}** (`{change.path}` {change.old} → {change.new}): the next step can delete it.")
    dangers.extend(_hosts_going_away(old, new))
    for diff in resources:
        if diff.action == "delete" and diff.type == "kubernetes:core/v1:Namespace":
            dangers.append(f"**Deletes the namespace {old[diff.urn].inputs.get('metadata', {}).get('name')}** and everything in it, data included.")
    restarted = [
        (diff, [c.path for c in diff.changes if c.path.startswith("spec.template")])
        for diff in resources
        if diff.type == DEPLOYMENT and diff.action == "update"
    ]
    for diff, paths in restarted:
        if paths:
            name = new[diff.urn].inputs.get("metadata", {})
            dangers.append(
                f"**Restarts every pod of {name.get('namespace')}/{name.get('name')}**: its pod template changes "
                f"({', '.join(f'`{p}`' for p in paths[:3])}{', …' if len(paths) > 3 else ''}), so the Deployment rolls all its pods."
            )
    dangers.extend(_undersized_pools(new))
    return dangers


def _reviewed_roles(resources: list[ResourceDiff], new: dict[str, Record]) -> list[str]:
    """Project-wide GCP roles beyond the allow-list that this change grants a project's identity
    (a stack's reviewed opt-in, shoestring:projects.<project>.reviewedGcpRoles): first to read."""
    found = []
    for diff in resources:
        record = new.get(diff.urn)
        if diff.action not in ("create", "replace", "update") or record is None or record.type != "gcp:projects/iAMMember:IAMMember":
            continue
        role = record.inputs.get("role", "")
        if "shoestring:k8s:Project" in (record.parent or "") and role not in PROJECT_ROLES:
            project = record.parent.rsplit("::", 1)[-1]
            found.append(
                f"**Grants `{role}` on the whole GCP project to project {project}'s identity**, beyond the roles a project may hold "
                "(a reviewed opt-in: `reviewedGcpRoles` in the stack file). Check what it can administer."
            )
    return found


def _blocked(resources: list[ResourceDiff], old: dict[str, Record]) -> list[str]:
    """Replacements and deletions of protected resources: `pulumi up` stops on them."""
    found = []
    for diff in resources:
        if diff.action not in ("replace", "delete"):
            continue
        record = old[diff.urn]
        guards = [g for g, on in (("Pulumi `protect`", record.protect), ("GKE deletion protection", record.inputs.get("deletionProtection") is True)) if on]
        if not guards:
            continue
        found.append(
            f"**{' and '.join(guards)} block the {'replacement' if diff.action == 'replace' else 'deletion'} of {diff.name}** "
            f"(`{diff.type}`): `pulumi up` stops before deleting it. To go ahead on purpose, in two steps: set "
            f"`shoestring:deletionProtection: false` in the stack file and `pulumi up` (that lifts both guards and changes nothing else), "
            f"then `pulumi up` this change — and expect everything on the cluster to be recreated."
        )
    return found


def _hosts_going_away(old: dict[str, Record], new: dict[str, Record]) -> list[str]:
    """Public host names served before the change and by no route after it."""
    def hosts(records: dict[str, Record]) -> dict[str, str]:
        return {
            host: f"{route.inputs.get('metadata', {}).get('namespace')}/{route.inputs.get('metadata', {}).get('name')}"
            for route in cost.public_routes(list(records.values()))
            for host in route.inputs["spec"]["hostnames"]
        }

    before, after = hosts(old), hosts(new)
    return [f"**Takes {host} off the internet**: no route serves it after this change (it was HTTPRoute {before[host]})." for host in sorted(set(before) - set(after))]


def _undersized_pools(records: dict[str, Record]) -> list[str]:
    """Pods that fit on no pool even with every pool at its maximum (the capacity placement)."""
    plans = list(records.values())
    region = cost.region_of(plans)
    if region is None or not any(r.type == capacity.NODE_POOL for r in plans):
        return []
    try:
        placement = capacity.at_rest(plans, region)
    except catalog.UnknownPrice:
        return []
    stranded: dict[str, int] = {}
    for pod in placement.unschedulable:
        stranded[pod.owner] = stranded.get(pod.owner, 0) + 1
    pools = ", ".join(f"{p.name} (at most {p.max_nodes} × {p.machine.name})" for p in capacity.pools_of(plans, region))
    return [
        f"**{count} pod{'s' if count != 1 else ''} of {owner} would stay Pending**: {'they fit' if count != 1 else 'it fits'} on no node "
        f"even with every pool at its maximum — {pools}."
        for owner, count in stranded.items()
    ]


# Rendering.


def markdown(diffs: list[StackDiff], base: str) -> str:
    lines = [f"## Shoestring plan diff: `{base}` → this change", ""]
    # A release changes images and nothing else: which build reaches which stack, and what rolls, first.
    images = [change.markdown(d.stack) for d in diffs for change in d.images]
    lines += ["**Images:**", *images, ""] if images else []
    # Budget breaches first of all: the check fails on them, and a reviewer should see why at once.
    breaches = [f"> :no_entry: **`{d.stack}` is over budget**: {d.over_budget}" for d in diffs if d.over_budget]
    breaches += [f"> :no_entry: `{d.stack}`: {blocked}" for d in diffs for blocked in d.blocked]
    lines += [*breaches, ""] if breaches else []
    for diff in diffs:
        if not diff.resources and _figures(diff.cost_before) == _figures(diff.cost_after):
            lines += [f"### `{diff.stack}`: no changes", ""]
            continue
        counts = ", ".join(f"{diff.count(a)} to {a}" for a in ACTIONS)
        lines += [f"### `{diff.stack}`: {counts}", ""]
        lines += [f"> :moneybag: {money}" for money in diff.money]
        lines += [f"> :warning: {danger}" for danger in diff.dangers]
        if diff.money or diff.dangers:
            lines.append("")
        for action in ("replace", "delete", "update", "create"):
            for resource in sorted((r for r in diff.resources if r.action == action), key=_reading_order):
                lines.append(f"- **{action}** `{resource.type}` {resource.name}" + (f" — {resource.summary}" if resource.summary else ""))
                lines += [f"  - :warning: {reason}" for reason in resource.reasons]
                lines += [f"  - `{c.path}`: {_show(c.old)} → {_show(c.new)}" for c in resource.changes]
        lines += ["", _cost_line(diff.cost_before, diff.cost_after), ""]
    return "\n".join(lines)


# The cluster before its pools, the pools before what runs on them; then by URN.
_FIRST = (CLUSTER, NODE_POOL)


def _reading_order(resource: ResourceDiff) -> tuple[int, str]:
    rank = _FIRST.index(resource.type) if resource.type in _FIRST else len(_FIRST)
    return rank, resource.urn


def _cost_line(before: cost.Estimate | None, after: cost.Estimate | None) -> str:
    old, new = _figures(before), _figures(after)
    parts = []
    for key, label in (("idle_monthly_usd", "idle"), ("expected_monthly_usd", "expected"), ("ceiling_monthly_usd", "at full scale")):
        a, b = old.get(key, 0.0), new.get(key, 0.0)
        parts.append(f"{label} ${a:,.2f} → ${b:,.2f}/month ({_delta(b - a)})")
    return "**Cost:** " + "; ".join(parts)


def _delta(amount: float) -> str:
    amount = round(amount, 2)
    return "no change" if amount == 0 else f"{'+' if amount > 0 else '−'}${abs(amount):,.2f}"


def _figures(estimate: cost.Estimate | None) -> dict[str, float]:
    if estimate is None:
        return {}
    return {
        "idle_monthly_usd": estimate.idle_monthly_usd,
        "expected_monthly_usd": estimate.expected_monthly_usd,
        "ceiling_monthly_usd": estimate.ceiling_monthly_usd,
    }


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    return f"`{json.dumps(value, sort_keys=True, ensure_ascii=False)}`"
