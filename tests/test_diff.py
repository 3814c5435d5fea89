"""`make diff`: what a change does to every stack, as a reviewer reads it in the pull request.

Two tests run `python -m shoestring diff --base base` on a temporary git repository made from this
project: they prove the plumbing (the base planned in a git worktree, both sides in processes of
their own, read back as records) and that it prints byte for byte what comparing the records here
prints. The other tests compare records that way: the shipped plans (the session's ``plans``)
against the program run again with a stack config edited setting by setting.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
import yaml
from click.testing import CliRunner
from test_add_a_project import readme_snippet

from program import config, definitions
from program.config import loading
from shoestring import diff, offline
from shoestring.__main__ import cli
from program.records import Record

ROOT = Path(__file__).resolve().parent.parent
DELETE = object()
"""As the new value of a setting: remove it."""

Plans = dict[str, list[Record]]


# End to end: `python -m shoestring diff` on a git repository.


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git repository holding this project, its first commit tagged `base`."""
    path = tmp_path_factory.mktemp("repo") / "shoestring"
    shutil.copytree(ROOT, path, ignore=shutil.ignore_patterns(".venv", ".tools", ".git", "__pycache__", ".pytest_cache"))
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "add", "-A")
    git(path, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "--quiet", "-m", "base")
    git(path, "tag", "base")
    return path


@pytest.fixture
def clean(repo: Path):
    yield repo
    git(repo, "checkout", "--quiet", "--", ".")
    git(repo, "clean", "--quiet", "-fd")


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True).stdout


def run_diff(repo: Path, exit_code: int = 0) -> str:
    result = subprocess.run([sys.executable, "-m", "shoestring", "diff", "--base", "base"], cwd=repo, capture_output=True, text=True)
    assert result.returncode == exit_code, result.stderr
    return result.stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_no_change_says_so_in_one_line_per_stack(clean):
    report = run_diff(clean)
    for stack in ("dev", "prod", "staging"):
        assert f"### `{stack}`: no changes\n" in report


def test_a_base_that_reads_as_a_git_option_is_no_commit_and_checks_nothing_out(clean):
    result = subprocess.run([sys.executable, "-m", "shoestring", "diff", "--base", "--orphan=evil"], cwd=clean, capture_output=True, text=True)
    assert result.returncode == 1 and "no commit '--orphan=evil'" in result.stderr, result.stderr
    assert "evil" not in git(clean, "branch", "--list") and git(clean, "worktree", "list").count("\n") == 1


def test_make_diff_hands_base_to_the_command_as_a_value_never_as_shell_code(clean):
    # The recipe with PY=echo prints the command it would run; a backquoted BASE stays text.
    result = subprocess.run(["make", "-o", ".venv/.installed", "diff", "PY=echo", "BASE=`touch pwned`"], cwd=clean, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--base `touch pwned`" in result.stdout and not (clean / "pwned").exists()


def test_make_diff_prints_byte_for_byte_what_comparing_the_records_prints(clean, plans, replan):
    # Another process (another hash seed) than this one: the report is byte-identical run to run,
    # and what the tests below check on records is what `make diff` prints.
    edit(clean / "stacks" / "Pulumi.dev.yaml", "maxNodes: 2", "maxNodes: 4")
    printed = run_diff(clean)
    assert "- **update** `gcp:container/nodePool:NodePool` default-pool\n  - `autoscaling.maxNodeCount`: `2` → `4`" in printed
    assert printed == report(plans, replan({"dev": {"defaultPool.maxNodes": (2, 4)}}))


# The comparison, on records.


@pytest.fixture
def replan(plans, monkeypatch):
    """Every stack's records after a change to the stack config (and the project definitions), as
    `make diff` plans its working tree: the stacks a change touches, and their guests, run again.

    ``changes`` maps a stack to settings by path, each ``(old, new)``: ``{"dev":
    {"defaultPool.maxNodes": (2, 4)}}``; the old value must be the shipped one.
    ``defined`` replaces what projects/*.yaml define."""
    shipped = {stack: config.read_stack_files(stack) for stack in plans}
    read_stack_files = config.read_stack_files

    def replan(changes: dict[str, dict[str, tuple[Any, Any]]], defined: dict[str, definitions.Project] | None = None) -> Plans:
        raw = {stack: edited(shipped[stack][0], changes.get(stack, {})) for stack in plans}
        # A guest stack reads its host's stack file: let it read the edited one.
        monkeypatch.setattr(loading, "read_stack_files", lambda stack, root=offline.ROOT: (raw[stack], *read_stack_files(stack, root)[1:]))
        touched = set(changes)
        if defined is not None:
            monkeypatch.setattr(definitions, "discover", lambda directory=definitions.PROJECTS: defined)
            touched = set(plans)
        again = touched | {stack for stack, plan in plans.items() if plan.host_stack in touched}
        return {
            stack: offline.run(stack, config=raw[stack], secret_keys=shipped[stack][1]).records if stack in again else plan.records
            for stack, plan in plans.items()
        }

    return replan


def edited(raw: dict[str, str], changes: dict[str, tuple[Any, Any]]) -> dict[str, str]:
    """A stack's flat config with settings changed by path: ``zone``, ``gpuPool.maxNodes``,
    ``projects.blog.apps.frontend.tag`` (the keys of README's configuration reference)."""
    raw = dict(raw)
    for path, (old, new) in changes.items():
        key, *inner = path.split(".")
        key = f"{config.PROJECT}:{key}"
        if not inner:
            assert raw.get(key) == as_config_string(old), f"{key} is {raw.get(key)!r}, not {old!r}"
            raw[key] = as_config_string(new)
            continue
        document = json.loads(raw[key])
        *parents, leaf = inner
        settings = document
        for parent in parents:
            settings = settings[parent]
        assert settings.get(leaf) == old, f"{path} is {settings.get(leaf)!r}, not {old!r}"
        if new is DELETE:
            del settings[leaf]
        else:
            settings[leaf] = new
        raw[key] = json.dumps(document)
    return raw


def as_config_string(value: Any) -> str:
    """A value as the Pulumi CLI hands it to the program: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def report(plans, after: Plans) -> str:
    return diff.markdown(diff.compare(shipped(plans), after), "base")


def shipped(plans) -> Plans:
    return {stack: plan.records for stack, plan in plans.items()}


def section(report: str, stack: str) -> str:
    match = re.search(rf"^### `{stack}`.*?(?=^### |\Z)", report, re.S | re.M)
    assert match, report
    return match.group(0)


def test_adding_a_project_shows_only_creates_and_no_cost_change(plans, replan):
    notes = definitions.Project.model_validate(yaml.safe_load(readme_snippet()))  # README's "Add a project", projects/notes.yaml
    text = report(plans, replan({}, defined=definitions.discover() | {"notes": notes}))
    for stack in ("dev", "prod", "staging"):
        part = section(text, stack)
        # The one update: a cluster's Binary Authorization policy admits the new repository.
        assert ("1 to update" if stack != "staging" else "0 to update") + ", 0 to replace, 0 to delete" in part
        assert re.findall(r"\*\*update\*\* `([^`]+)`", part) == (["gcp:binaryauthorization/policy:Policy"] if stack != "staging" else [])
        assert "**create** `kubernetes:core/v1:Namespace`" in part
        assert "**Cost:** " in part and "+$" not in part and "−$" not in part
    # A created resource shows the settings a reviewer checks: image, replicas, where it runs.
    assert re.search(r"- \*\*create\*\* `kubernetes:apps/v1:Deployment` notes-\w+ — ghcr\.io/\S+ · \d+ replicas · on ", section(text, "prod"))


def test_raising_the_default_pools_max_nodes_is_an_update_with_its_cost_delta(plans, replan):
    part = section(report(plans, replan({"dev": {"defaultPool.maxNodes": (2, 4)}})), "dev")
    assert "0 to create, 1 to update, 0 to replace, 0 to delete" in part
    assert "- **update** `gcp:container/nodePool:NodePool` default-pool\n  - `autoscaling.maxNodeCount`: `2` → `4`" in part
    # Two more e2-standard-2 Spot nodes with their 30 GB pd-standard disks and external IPs at full
    # scale, for the 60 hours a month dev exists: 2 x (29.35 + 1.20 + 1.825) x 60 / 730. Both totals
    # include 26b's 50 GiB bucket, $1.00 x 60 / 730 = $0.08 (idle $8.67 → $8.75 after the merge).
    assert "at full scale $37.82 → $43.14/month (+$5.32)" in part
    assert "idle $8.75 → $8.75/month (no change)" in part


def test_changing_the_gpu_accelerator_is_a_replace_naming_the_property(plans, replan):
    gpu = {"gpuPool.machineType": ("g2-standard-4", "n1-standard-4"), "gpuPool.accelerator": ("nvidia-l4", "nvidia-tesla-t4")}
    part = section(report(plans, replan({"dev": gpu})), "dev")
    assert "- **replace** `gcp:container/nodePool:NodePool` gpu-pool" in part
    assert "  - :warning: `nodeConfig.guestAccelerators[0].type` changed: ForceNew: GKE cannot change a pool's accelerator type" in part
    assert '  - `nodeConfig.guestAccelerators[0].type`: `"nvidia-l4"` → `"nvidia-tesla-t4"`' in part


def test_moving_the_cluster_to_another_zone_puts_a_replace_warning_at_the_top(plans, replan):
    part = section(report(plans, replan({"dev": {"zone": ("us-central1-a", "us-central1-b")}})), "dev")
    first_item = part.split("\n\n")[1]
    assert first_item.startswith("> :warning: **Replaces the cluster shoestring-dev**")
    assert "`location` changed: ForceNew: a cluster cannot move between zones or regions" in first_item
    assert "- **replace** `gcp:container/nodePool:NodePool` default-pool" in part
    assert readme_example() in part, "README's diff example is this scenario's output"


def readme_example() -> str:
    from helpers import documentation_block

    block = documentation_block("diff-example")
    return re.search(r"```markdown\n(.*?)```", block, re.S).group(1)


def test_removing_prods_protection_stands_at_the_top(plans, replan):
    part = section(report(plans, replan({"prod": {"deletionProtection": (True, False)}})), "prod")
    assert part.split("\n\n")[1].startswith("> :warning: **Removes protection from the cluster shoestring-prod**")


def test_shrinking_a_pool_below_its_workloads_stands_at_the_top(plans, replan):
    shrunk = {"defaultPool.maxNodes": (4, 2), "spotPool.maxNodes": (3, 1), "spotPool.machineType": ("n2d-standard-2", "e2-small"), "projects.blog.apps.backend.replicas": (3, 6)}
    part = section(report(plans, replan({"prod": shrunk})), "prod")
    # Two on-demand e2-small holding the system pods and a replica of each app, and one Spot
    # e2-small (2 shared vCPU, 2 GB) less its DaemonSets: 6 backends (200m) and 3 frontends
    # (100m) do not all fit, and what does not is named first, before any resource.
    top = part.split("\n\n")[1]
    assert top.startswith("> "), part  # money and dangers, before the first resource
    [pending] = [line for line in top.splitlines() if "would stay Pending" in line]
    assert pending.startswith("> :warning: **1 pod of blog/backend would stay Pending**: it fits on no node even with every pool at its maximum")
    assert "default-pool (at most 2 × e2-small)" in pending and "spot-pool (at most 1 × e2-small)" in pending
    # The pool's initial size is ignored after creation (ignoreChanges): resizing it is an update.
    assert "- **update** `gcp:container/nodePool:NodePool` default-pool" in part


def test_a_change_that_puts_prod_over_budget_says_so_in_the_first_lines_and_fails(plans, replan, monkeypatch):
    # Two more on-demand nodes always on: the expected cost passes prod's $108 (stacks/Pulumi.prod.yaml).
    after = replan({"prod": {"defaultPool.minNodes": (2, 4)}})
    # `make diff` itself, its two plans being these records: it prints the report, then exits 1.
    monkeypatch.setattr(diff, "plans_at", lambda ref: shipped(plans))
    monkeypatch.setattr(diff, "plans_in", lambda root: after)
    result = CliRunner().invoke(cli, ["diff", "--base", "base"])
    assert result.exit_code == 1, result.output
    text = result.output
    assert text == report(plans, after)
    first_lines = text.splitlines()[:4]
    [breach] = [line for line in first_lines if line.startswith("> :no_entry:")]
    assert breach.startswith("> :no_entry: **`prod` is over budget**: stack prod: expected $")
    assert "exceeds its budget of $108.00/month" in breach
    part = section(text, "prod")
    assert "> :moneybag: **Over budget**: expected $" in part and "against a budget of $108.00/month" in part
    # 29's $104.24 + 26b's bucket $1.00.
    assert "> :moneybag: **Expected cost $105.24 → $" in part


def test_raising_gpu_max_nodes_states_the_new_burst_ceiling_its_quota_and_what_the_budget_leaves(plans, replan):
    raised = {"gpuPool.maxNodes": (20, 24), "gpuPool.quota.preemptible": (20, 24), "gpuPool.quota.allRegions": (20, 24)}
    part = section(report(plans, replan({"prod": raised})), "prod")
    # Four more Spot g2-standard-4 nodes: ($0.423956 + $0.0025 address + 100 GB x $0.10 / 730 h) each.
    per_node = 0.423956 + 0.0025 + 100 * 0.10 / 730
    assert f"> :moneybag: **Maximum GPU burst ${20 * per_node:,.4f} → ${24 * per_node:,.4f}/h** (20 → 24 GPU nodes)" in part
    assert f"costs +${round(4 * per_node, 4) * 730:,.2f}/month more if it ran all month" in part
    assert "The ceiling needs 24 GPUs; the declared quota PREEMPTIBLE_NVIDIA_L4_GPUS = 24 admits it" in part
    # prod's $108 budget less its expected $105.24 (29's $104.24 + 26b's $1.00 bucket), at $0.4402 a GPU node-hour.
    assert f"The budget of $108.00/month leaves {(108 - 105.24) / round(per_node, 4):,.1f} GPU node-hours a month beyond the expected 40" in part


def test_a_small_change_in_cost_is_not_flagged(plans, replan):
    assert ":moneybag:" not in section(report(plans, replan({"dev": {"defaultPool.maxNodes": (2, 3)}})), "dev")


def test_moving_prods_cluster_says_first_that_protection_blocks_it_and_how_to_proceed(plans, replan):
    text = report(plans, replan({"prod": {"zone": ("us-central1-a", "us-central1-b")}}))
    first_lines = text.splitlines()[:4]
    [blocked] = [line for line in first_lines if "block the replacement of shoestring-prod" in line]
    assert blocked.startswith("> :no_entry: `prod`: **Pulumi `protect` and GKE deletion protection block the replacement of shoestring-prod**")
    assert "set `shoestring:deletionProtection: false` in the stack file and `pulumi up`" in blocked
    assert "then `pulumi up` this change" in blocked


def test_deleting_a_project_flags_its_public_host_and_namespace_going_away(plans, replan):
    # projects/blog.yaml deleted, and its settings from every stack file.
    without_blog = {name: project for name, project in definitions.discover().items() if name != "blog"}
    after = replan({stack: {"projects.blog": (ANY, DELETE)} for stack in ("dev", "prod", "staging")}, defined=without_blog)
    part = section(report(plans, after), "prod")
    dangers = [line for line in part.splitlines() if line.startswith("> :warning:")]
    assert "> :warning: **Takes blog.example.com off the internet**: no route serves it after this change (it was HTTPRoute blog/frontend)." in dangers
    assert "> :warning: **Deletes the namespace blog** and everything in it, data included." in dangers


def test_a_new_image_tag_says_which_deployments_restart_every_pod(plans, replan):
    digest = "@sha256:f6afa10e9831c6b80ce654974c8a232a52b1b00eba9e698f59faba1e556e417b"
    tag = {"projects.blog.apps.frontend.tag": ("0a7d3e5b1c9f" + digest, "1b8e4f6c2d0a" + digest)}
    part = section(report(plans, replan({"dev": tag})), "dev")
    assert "> :warning: **Restarts every pod of blog/frontend**: its pod template changes (`spec.template.spec.containers[0].image`)" in part
    assert "Restarts every pod of blog/backend" not in part


def test_a_quota_change_alone_says_the_ceilings_price_is_unchanged(plans, replan):
    part = section(report(plans, replan({"prod": {"gpuPool.quota.preemptible": (20, 24)}})), "prod")
    [line] = [line for line in part.splitlines() if "Maximum GPU burst" in line]
    assert "the ceiling's price is unchanged; its quota is what changes" in line and "no change/month" not in line


# A side that does not plan: its configuration error, exit 1, no traceback.


@pytest.mark.slow
def test_a_broken_stack_file_in_the_change_ends_the_diff_with_its_error(clean):
    edit(clean / "stacks" / "Pulumi.dev.yaml", "shoestring:zone: us-central1-a", "shoestring:zone: us-central1-z")
    result = subprocess.run([sys.executable, "-m", "shoestring", "diff", "--base", "base"], cwd=clean, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "this change does not plan" in result.stderr
    assert "stacks/Pulumi.dev.yaml" in result.stderr and "shoestring:zone = 'us-central1-z': us-central1 has no zone us-central1-z" in result.stderr


@pytest.mark.slow
def test_a_broken_stack_file_in_the_base_ends_the_diff_with_the_bases_error(clean):
    # The base: prod's GPU zones listed twice; the change fixes it.
    gpu_zones = "zones: [us-central1-a, us-central1-b, us-central1-c]"
    edit(clean / "stacks" / "Pulumi.prod.yaml", gpu_zones, "zones: [us-central1-a, us-central1-a, us-central1-b]")
    git(clean, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "--quiet", "-am", "broken")
    git(clean, "tag", "-f", "broken")
    git(clean, "reset", "--quiet", "--hard", "base")
    result = subprocess.run([sys.executable, "-m", "shoestring", "diff", "--base", "broken"], cwd=clean, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "the base, broken, does not plan" in result.stderr
    assert "stacks/Pulumi.prod.yaml" in result.stderr and "gpuPool.zones" in result.stderr, result.stderr
