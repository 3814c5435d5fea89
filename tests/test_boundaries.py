"""Two rooms, one door: the program (what `pulumi up` runs — __main__.py, program/ with its
components, and the project definitions in projects/) imports nothing from the tooling (shoestring/: plan,
cost reports, diff, rules, on-call) and nothing requirements.txt does not install; the tooling
reads what the program declares. (tests/test_deployable.py proves the install itself: the program
runs in a virtualenv built from requirements.txt alone, the policy pack in one from its own.)"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = [ROOT / "__main__.py", *sorted((ROOT / "program").rglob("*.py")), *sorted((ROOT / "projects").rglob("*.py"))]
PROGRAM_PACKAGES = {"program", "projects"}
IMPORT_NAME = {"pyyaml": "yaml"}
"""A distribution whose import name is not its own, lowercased with '-' as '_'."""


def installed_by(requirements: Path) -> set[str]:
    """The top-level modules the distributions a requirements file names provide."""
    names = set()
    for line in requirements.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==", line):
            name = match.group(1).lower()
            names.add(IMPORT_NAME.get(name, name.replace("-", "_")))
    return names


def imports_of(path: Path) -> set[str]:
    """The top-level modules a file imports (relative imports are the file's own package), by
    statement or by a string handed to ``importlib.import_module`` or ``__import__``. A name built
    at run time is beyond any reading of the source: `make plan` runs the program in a child
    process and checks its records in a parent that imported none of it (shoestring/offline.py)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
            and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module") or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))
        ):
            found.add(node.args[0].value.split(".")[0])
    return found


def foreign_imports(paths: list[Path], allowed: set[str]) -> dict[str, set[str]]:
    """Each file's imports outside ``allowed`` and the standard library."""
    found = {}
    for path in paths:
        if outside := {m for m in imports_of(path) if m not in allowed and m not in sys.stdlib_module_names}:
            found[str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)] = outside
    return found


def test_the_program_imports_only_itself_the_standard_library_and_what_requirements_txt_installs():
    assert foreign_imports(PROGRAM, PROGRAM_PACKAGES | installed_by(ROOT / "requirements.txt")) == {}


def test_the_program_imports_nothing_from_the_tooling():
    assert not any("shoestring" in imports_of(path) for path in PROGRAM)


def test_a_program_module_importing_the_tooling_is_caught(tmp_path):
    stray = tmp_path / "cluster.py"
    stray.write_text("import pulumi\nfrom program import names\nfrom shoestring import diff\nimport click\n")
    assert foreign_imports([stray], PROGRAM_PACKAGES | installed_by(ROOT / "requirements.txt")) == {str(stray): {"shoestring", "click"}}


def test_an_import_by_name_inside_a_function_is_caught_too(tmp_path):
    stray = tmp_path / "priority.py"
    stray.write_text("import importlib\n\ndef rules():\n    return importlib.import_module('shoestring.rules'), __import__('rich')\n")
    assert foreign_imports([stray], PROGRAM_PACKAGES | installed_by(ROOT / "requirements.txt")) == {str(stray): {"shoestring", "rich"}}


def test_every_requirement_of_the_program_maps_to_the_module_it_provides():
    assert installed_by(ROOT / "requirements.txt") == {"pulumi", "pulumi_gcp", "pulumi_kubernetes", "pydantic", "yaml"}


def test_the_policy_pack_reaches_the_code_as_installed_packages_not_through_sys_path():
    pack = sorted((ROOT / "policies").glob("*.py"))
    assert pack and not any("sys.path" in path.read_text() for path in pack)
    assert "-e .." in (ROOT / "policies" / "requirements.txt").read_text().splitlines()
    # What the pack imports of the repository needs nothing but its own requirements (no pulumi_gcp):
    # the estimator, the rules and the names they share.
    allowed = PROGRAM_PACKAGES | {"shoestring", "guardrails"} | installed_by(ROOT / "policies" / "requirements.txt") | {"pulumi"}
    assert foreign_imports(pack, allowed) == {}
