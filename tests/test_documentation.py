"""What README and docs/ tell a user exists: every `make` target, `python -m shoestring` and
`on-call` command they name, every repository path, every page and heading they point to — and
`make docs` would change nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import documentation

from shoestring.__main__ import cli as shoestring_cli
from shoestring.__main__ import documentation_pages
from shoestring.oncall.cli import cli as on_call_cli

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"^(?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_.-]*$|^[A-Za-z0-9_-]+\.(?:py|yaml|yml|md|txt|toml|ini|json|mjs)$")
REFERENCE = re.compile(r"(README|docs/[a-z-]+\.md),? \\?\"([^\"\\]+)\\?\"")


def mentioned(pattern: re.Pattern[str]) -> set[str]:
    found = set()
    for page in documentation_pages():
        for code in CODE.findall(page.read_text()):
            found |= {m.group(1) for m in pattern.finditer(code)}
    return found


def test_readme_is_one_screen_up_top_and_under_300_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 300, len(lines)
    assert lines[0] == "# Shoestring" and any(line.startswith("**Contents:**") for line in lines[:15])


def test_every_make_target_named_exists():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = mentioned(re.compile(r"\bmake ([a-z-]+)"))
    assert named, "the pages name no make target"
    assert named <= targets, f"named but not in the Makefile: {sorted(named - targets)}"


def test_every_shoestring_command_named_exists():
    named = mentioned(re.compile(r"python -m shoestring ([a-z-]+)"))
    assert named <= set(shoestring_cli.commands), f"no such command: {sorted(named - set(shoestring_cli.commands))}"


def test_every_on_call_command_named_exists():
    named = mentioned(re.compile(r"\bon-call ([a-z][a-z-]+)")) - {"on-call"}
    assert named <= set(on_call_cli.commands), f"no such runbook: {sorted(named - set(on_call_cli.commands))}"
    for command in named:  # and each answers --help
        assert CliRunner().invoke(on_call_cli, [command, "--help"]).exit_code == 0, command


TO_CREATE = {"projects/notes.yaml"}
"""Files the pages tell the reader to create."""
ELSEWHERE = {"pricing.yml"}
"""Files of other repositories the pages cite (Cyclenerd's price catalog)."""
TOP_LEVEL = ("shoestring/", "program/", "projects/", "policies/", "stacks/", "tests/", "tools/", "docs/", "scripts/", ".github/", ".ci/")


def test_every_repository_path_named_exists():
    """A path under one of the repository's folders must exist; a bare file name
    (`prices.yaml`, `test_cost.py`) must name a file somewhere in it."""
    named = {
        code for page in documentation_pages() for code in CODE.findall(page.read_text())
        if PATH.match(code) and "<" not in code and "*" not in code
    }
    tracked = {p.name for p in ROOT.rglob("*") if not {".venv", ".tools", "node_modules", ".git"} & set(p.parts)}
    paths = {p for p in named if p.startswith(TOP_LEVEL)}
    bare = {p for p in named if "/" not in p}
    assert paths and bare, "the pages name no file"
    missing = sorted(p for p in paths - TO_CREATE if not (ROOT / p).exists()) + sorted(p for p in bare - ELSEWHERE if p not in tracked)
    assert not missing, f"named but absent: {missing}"


@pytest.mark.parametrize("page", documentation_pages(), ids=lambda p: p.name)
def test_every_link_between_pages_reaches_a_page_and_heading(page):
    for target, anchor in re.findall(r"\]\(((?:\.\./|docs/)?[A-Za-z-]+\.md)(?:#([a-z0-9-]+))?\)", page.read_text()):
        linked = (page.parent / target).resolve()
        assert linked.exists(), f"{page.name} links to {target}"
        if anchor:
            slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", linked.read_text(), re.M)}
            assert anchor in slugs, f"{page.name} links to {target}#{anchor}, which has no such heading"


def test_every_page_and_heading_the_code_and_docs_refer_to_exists():
    files = [p for p in ROOT.rglob("*") if p.suffix in (".py", ".md", ".yaml") and not {".venv", ".tools", "node_modules", ".git", "tests"} & set(p.parts)]
    references = {(page, heading) for path in files for page, heading in REFERENCE.findall(path.read_text())}
    assert references
    for page, heading in references:
        text = (ROOT / ("README.md" if page == "README" else page)).read_text()
        assert re.search(rf"^#+ {re.escape(heading)}\s*$", text, re.M), f'{page} "{heading}" is not a heading of {page}'


def test_make_docs_would_change_nothing():
    result = CliRunner().invoke(shoestring_cli, ["docs", "--check"])
    assert result.exit_code == 0, result.output

