"""The CI workflows: valid GitHub Actions workflows (SchemaStore's schema, via check-jsonschema),
wired the way README's "Reviewing changes" says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_every_workflow_is_valid_against_the_github_workflow_schema():
    assert [p.name for p in WORKFLOWS] == ["deploy.yml", "preview.yml"]
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pull_requests_get_the_tests_and_one_sticky_plan_diff_comment():
    jobs = load("preview.yml")["jobs"]
    steps = jobs["offline"]["steps"]
    assert {"run": "make test"} in steps
    report = next(s for s in steps if s.get("id") == "report")
    assert "make --silent diff" in report["run"] and "make --silent cost STACK=all" in report["run"]
    sticky = next(s for s in steps if s.get("uses", "").startswith("marocchino/sticky-pull-request-comment"))
    assert sticky["with"]["header"] == "shoestring-plan-diff"


def test_with_credentials_each_stack_gets_a_real_preview_with_the_policy_pack():
    preview = load("preview.yml")["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod", "staging"]
    assert preview["permissions"]["id-token"] == "write"  # Workload Identity Federation
    pulumi = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions"))
    assert pulumi["with"] | {"stack-name": None} == {"command": "preview", "stack-name": None, "diff": True, "comment-on-pr": True, "policyPacks": "policies"}


def test_merges_deploy_prod_behind_manual_approval_then_staging():
    jobs = load("deploy.yml")["jobs"]
    assert load("deploy.yml")[True] == {"push": {"branches": ["main"]}}  # YAML reads `on` as true
    assert jobs["prod"]["environment"] == "production"
    assert jobs["staging"]["needs"] == "prod"
