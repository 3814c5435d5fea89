"""Shared fixtures: every test runs the real program or component under Pulumi's mocks."""

from __future__ import annotations

import pytest

from shoestring import offline, plan_process
from shoestring.offline import Plan


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    """The offline plan of every stack in stacks/, run once per test session, each in a fresh
    process as `make plan` and `pulumi up` run it (shoestring/plan_process.py)."""
    return plan_process.plan_stacks(offline.stacks())


SLOW = (
    # Each runs the real CLI, a program in a fresh interpreter, a scanner or a virtualenv build:
    # what `make test` proves and `make check` (the inner loop) leaves out.
    "tests/test_add_a_project.py",
    "tests/test_plan_process.py::TestInACopy",
    "tests/test_deployable.py::TestOneRuntime",
    "tests/test_deployable.py::TestBrokenFilesEndInOneMessage",
    "tests/test_deployable.py::TestAutomationApi",
    "tests/test_deployable.py::TestDependencies::test_the_json_plan_carries_each_records_dependencies",
    "tests/test_isolation.py::test_each_attack",
    "tests/test_first_up.py::test_bad_input",
    "tests/test_diff.py::test_no_change_says_so",
    "tests/test_diff.py::test_make_diff_prints",
    "tests/test_diff.py::test_a_base_that_reads_as_a_git_option",
    "tests/test_diff.py::test_make_diff_hands_base",
    "tests/test_manifests.py",
    "tests/test_workflows.py::test_actionlint",
    "tests/test_readme.py::test_the_architecture_diagram",
    "tests/test_readme.py::test_the_parser_would_catch",
    "tests/test_readme.py::test_the_make_plan_sample_in_readme_is_what_make_plan_prints",
    "tests/test_security.py::TestMakePlanRefuses",
    "tests/test_security.py::test_make_plan_all",
    "tests/test_cost.py::TestBudgets::test_make_plan_fails_over_budget_too",
    "tests/test_plan_cli.py",
    "tests/test_oncall_faults.py::test_the_real_cli",
    "tests/test_documentation.py::test_make_docs_would_change_nothing",
)


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
