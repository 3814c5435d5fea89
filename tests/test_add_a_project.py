"""Adding a project is adding one file: README's "Add a project", followed literally on a copy of
the repository, changes every stack's plan by additions only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shoestring import offline

ROOT = Path(__file__).resolve().parent.parent


def readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- add-a-project:start -->", 1)[1].split("<!-- add-a-project:end -->", 1)[0]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


def plan_json(root: Path, stack: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "shoestring", "plan", "--stack", stack, "--json"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def before_and_after(tmp_path_factory) -> dict[str, tuple[dict, dict]]:
    copy = tmp_path_factory.mktemp("clone") / "shoestring"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".tools", ".git", "__pycache__", ".pytest_cache"))
    before = {stack: plan_json(copy, stack) for stack in offline.stacks()}
    (copy / "projects" / "notes.py").write_text(readme_snippet())
    return {stack: (before[stack], plan_json(copy, stack)) for stack in offline.stacks()}


@pytest.mark.parametrize("stack", offline.stacks())
def test_adding_a_project_only_adds_resources(before_and_after, stack):
    before, after = before_and_after[stack]
    old = {r["urn"]: r for r in before["resources"]}
    new = {r["urn"]: r for r in after["resources"]}
    assert old.keys() <= new.keys(), f"removed: {old.keys() - new.keys()}"
    changed = [urn for urn in old if old[urn] != new[urn]]
    assert not changed, f"changed: {changed}"
    added = {new[urn]["type"] for urn in new.keys() - old.keys()}
    assert {"shoestring:k8s:Project", "kubernetes:core/v1:Namespace", "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"} <= added


def test_the_new_namespace_and_its_isolation_appear_in_the_plan(before_and_after):
    _, after = before_and_after["dev"]
    notes = [r for r in after["resources"] if r["inputs"].get("metadata", {}).get("namespace") == "notes"]
    kinds = sorted({r["inputs"]["kind"] for r in notes})
    assert kinds == ["Deployment", "LimitRange", "NetworkPolicy", "ResourceQuota", "Service", "ServiceAccount"]
    _, staging = before_and_after["staging"]
    assert any(r["inputs"].get("metadata", {}).get("name") == "notes-staging" for r in staging["resources"])
