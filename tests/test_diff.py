"""`make diff`: what a change does to every stack, as a reviewer reads it in the pull request —
checked on a temporary git repository made from this project."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_add_a_project import readme_snippet

ROOT = Path(__file__).resolve().parent.parent


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


def diff(repo: Path, exit_code: int = 0) -> str:
    result = subprocess.run([sys.executable, "-m", "shoestring", "diff", "--base", "base"], cwd=repo, capture_output=True, text=True)
    assert result.returncode == exit_code, result.stderr
    return result.stdout


def section(report: str, stack: str) -> str:
    match = re.search(rf"^### `{stack}`.*?(?=^### |\Z)", report, re.S | re.M)
    assert match, report
    return match.group(0)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_no_change_says_so_in_one_line_per_stack(clean):
    report = diff(clean)
    for stack in ("dev", "prod", "staging"):
        assert f"### `{stack}`: no changes\n" in report


def test_the_report_is_byte_identical_run_to_run(clean):
    edit(clean / "stacks" / "Pulumi.dev.yaml", "maxNodes: 2", "maxNodes: 4")
    assert diff(clean) == diff(clean)


def test_adding_a_project_shows_only_creates_and_no_cost_change(clean):
    (clean / "projects" / "notes.py").write_text(readme_snippet())
    report = diff(clean)
    for stack in ("dev", "prod", "staging"):
        part = section(report, stack)
        assert "0 to update, 0 to replace, 0 to delete" in part
        assert "**create** `kubernetes:core/v1:Namespace`" in part
        assert "**Cost:** " in part and "+$" not in part and "−$" not in part
    # A created resource shows the settings a reviewer checks: image, replicas, where it runs.
    assert re.search(r"- \*\*create\*\* `kubernetes:apps/v1:Deployment` notes-\w+ — ghcr\.io/\S+ · \d+ replicas · on ", section(report, "prod"))


def test_raising_the_default_pools_max_nodes_is_an_update_with_its_cost_delta(clean):
    edit(clean / "stacks" / "Pulumi.dev.yaml", "maxNodes: 2", "maxNodes: 4")
    part = section(diff(clean), "dev")
    assert "0 to create, 1 to update, 0 to replace, 0 to delete" in part
    assert "- **update** `gcp:container/nodePool:NodePool` default-pool\n  - `autoscaling.maxNodeCount`: `2` → `4`" in part
    # Two more e2-medium Spot nodes with their 30 GB pd-standard disks and external IPs at full scale: 2 x (14.68 + 1.20 + 1.825).
    assert "at full scale $410.35 → $445.75/month (+$35.40)" in part
    assert "idle $108.46 → $108.46/month (no change)" in part


def test_changing_the_gpu_accelerator_is_a_replace_naming_the_property(clean):
    stack_file = clean / "stacks" / "Pulumi.dev.yaml"
    edit(stack_file, "machineType: g2-standard-4", "machineType: n1-standard-4")
    edit(stack_file, "accelerator: nvidia-l4", "accelerator: nvidia-tesla-t4")
    part = section(diff(clean), "dev")
    assert "- **replace** `gcp:container/nodePool:NodePool` gpu-pool" in part
    assert "  - :warning: `nodeConfig.guestAccelerators[0].type` changed: ForceNew: GKE cannot change a pool's accelerator type" in part
    assert '  - `nodeConfig.guestAccelerators[0].type`: `"nvidia-l4"` → `"nvidia-tesla-t4"`' in part


def test_moving_the_cluster_to_another_zone_puts_a_replace_warning_at_the_top(clean):
    edit(clean / "stacks" / "Pulumi.dev.yaml", "shoestring:zone: us-central1-a", "shoestring:zone: us-central1-b")
    part = section(diff(clean), "dev")
    first_item = part.split("\n\n")[1]
    assert first_item.startswith("> :warning: **Replaces the cluster shoestring-dev**")
    assert "`location` changed: ForceNew: a cluster cannot move between zones or regions" in first_item
    assert "- **replace** `gcp:container/nodePool:NodePool` default-pool" in part
    assert readme_example() in part, "README's diff example is this scenario's output"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- diff-example:start -->", 1)[1].split("<!-- diff-example:end -->", 1)[0]
    return re.search(r"```markdown\n(.*?)```", block, re.S).group(1)


def test_removing_prods_protection_stands_at_the_top(clean):
    edit(clean / "stacks" / "Pulumi.prod.yaml", "shoestring:deletionProtection: true", "shoestring:deletionProtection: false")
    part = section(diff(clean), "prod")
    assert part.split("\n\n")[1].startswith("> :warning: **Removes protection from the cluster shoestring-prod**")


def test_shrinking_a_pool_below_its_workloads_stands_at_the_top(clean):
    stack_file = clean / "stacks" / "Pulumi.prod.yaml"
    edit(stack_file, "minNodes: 1\n    maxNodes: 3\n  shoestring:spotPool", "minNodes: 1\n    maxNodes: 1\n  shoestring:spotPool")
    edit(stack_file, "minNodes: 1\n    maxNodes: 3\n  # The ml", "minNodes: 1\n    maxNodes: 1\n  # The ml")
    edit(stack_file, "backend: {replicas: 3}", "backend: {replicas: 8}")
    part = section(diff(clean), "prod")
    # One e2-medium (0.94 vCPU allocatable) and one n2d-standard-2 (1.93) less 0.315 vCPU of system
    # DaemonSets each, the system Deployments, 3 frontends (100m) and 8 backends (200m): three stay Pending.
    pools = "default-pool (at most 1 × e2-medium), gpu-pool (at most 2 × g2-standard-4), spot-pool (at most 1 × n2d-standard-2)."
    assert part.split("\n\n")[1].startswith(
        f"> :warning: **1 pod of blog/backend would stay Pending**: it fits on no node even with every pool at its maximum — {pools}\n"
        f"> :warning: **2 pods of blog/frontend would stay Pending**: they fit on no node even with every pool at its maximum — {pools}"
    )
    # The pool's initial size is ignored after creation (ignoreChanges): resizing it is an update.
    assert "- **update** `gcp:container/nodePool:NodePool` default-pool" in part


def test_a_change_that_puts_prod_over_budget_says_so_in_the_first_lines_and_fails(clean):
    # A second on-demand and a second Spot node always on: the expected cost passes prod's $100.
    stack_file = clean / "stacks" / "Pulumi.prod.yaml"
    edit(stack_file, "minNodes: 1\n    maxNodes: 3\n  shoestring:spotPool", "minNodes: 3\n    maxNodes: 3\n  shoestring:spotPool")
    report = diff(clean, exit_code=1)
    first_lines = report.splitlines()[:4]
    [breach] = [line for line in first_lines if line.startswith("> :no_entry:")]
    assert breach.startswith("> :no_entry: **`prod` is over budget**: stack prod: expected $")
    assert "exceeds its budget of $100.00/month" in breach
    part = section(report, "prod")
    assert "> :moneybag: **Over budget**: expected $" in part and "against a budget of $100.00/month" in part
    assert "> :moneybag: **Expected cost $85.04 → $" in part


def test_raising_gpu_max_nodes_states_the_new_burst_ceiling(clean):
    edit(clean / "stacks" / "Pulumi.prod.yaml", "driverVersion: DEFAULT\n    maxNodes: 2", "driverVersion: DEFAULT\n    maxNodes: 8")
    part = section(diff(clean), "prod")
    # Six more Spot g2-standard-4 nodes: ($0.397336 + $0.0025 address + 100 GB x $0.10 / 730 h) each.
    per_node = 0.397336 + 0.0025 + 100 * 0.10 / 730
    assert f"> :moneybag: **Maximum GPU burst ${2 * per_node:,.4f} → ${8 * per_node:,.4f}/h**" in part
    assert f"costs +${round(6 * per_node, 4) * 730:,.2f}/month more if it ran all month" in part


def test_a_small_change_in_cost_is_not_flagged(clean):
    edit(clean / "stacks" / "Pulumi.dev.yaml", "maxNodes: 2", "maxNodes: 3")
    assert ":moneybag:" not in section(diff(clean), "dev")


def test_moving_prods_cluster_says_first_that_protection_blocks_it_and_how_to_proceed(clean):
    edit(clean / "stacks" / "Pulumi.prod.yaml", "shoestring:zone: us-central1-a", "shoestring:zone: us-central1-b")
    report = diff(clean)
    first_lines = report.splitlines()[:4]
    [blocked] = [line for line in first_lines if "block the replacement of shoestring-prod" in line]
    assert blocked.startswith("> :no_entry: `prod`: **Pulumi `protect` and GKE deletion protection block the replacement of shoestring-prod**")
    assert "set `shoestring:deletionProtection: false` in the stack file and `pulumi up`" in blocked
    assert "then `pulumi up` this change" in blocked


def test_deleting_a_project_flags_its_public_host_and_namespace_going_away(clean):
    (clean / "projects" / "blog.py").unlink()
    for stack in ("dev", "prod", "staging"):
        path = clean / "stacks" / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(path.read_text())
        del document["config"]["shoestring:projects"]["blog"]
        path.write_text(yaml.safe_dump(document))
    part = section(diff(clean), "prod")
    dangers = [line for line in part.splitlines() if line.startswith("> :warning:")]
    assert "> :warning: **Takes blog.example.com off the internet**: no route serves it after this change (it was HTTPRoute blog/frontend)." in dangers
    assert "> :warning: **Deletes the namespace blog** and everything in it, data included." in dangers


def test_a_new_image_tag_says_which_deployments_restart_every_pod(clean):
    edit(clean / "stacks" / "Pulumi.dev.yaml", "tag: \"0a7d3e5b1c9f@sha256:f6afa10e", "tag: \"1b8e4f6c2d0a@sha256:f6afa10e")
    part = section(diff(clean), "dev")
    assert "> :warning: **Restarts every pod of blog/frontend**: its pod template changes (`spec.template.spec.containers[0].image`)" in part
    assert "Restarts every pod of blog/backend" not in part
