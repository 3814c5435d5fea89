"""Each stack is planned in a fresh process of its own, as `pulumi up` runs the program: its plan
comes back on a channel of its own that nothing the program prints can forge, within a deadline,
and the process that reports it evaluates the rules and the budget itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import copy_of_repository, replaced

from shoestring import diff, offline, plan_process

# What a program could print to look like a plan, on Python's stdout and on the descriptor itself.
FORGERY = '''import json as _json, os as _os, pulumi as _pulumi, time as _time
_forged = _json.dumps({"stack": "forged", "notes": [], "outputs": {}, "resources": []})
print(_forged)
_os.write(1, _forged.encode())
_pulumi.export("pid", _os.getpid())
_pulumi.export("cost", {"expected_monthly_usd": 0, "budget_usd": 1_000_000})
if _os.environ.get("HANG_FOR_TEST"):
    _time.sleep(600)
'''


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    copy = copy_of_repository(tmp_path_factory, "plan-process")
    main = copy / "__main__.py"
    main.write_text(replaced(main, "cfg = config.from_pulumi()\n", FORGERY + "cfg = config.from_pulumi()\n"))
    return copy


@pytest.fixture(scope="module")
def plans(clone) -> dict[str, offline.Plan]:
    return plan_process.plan_stacks(offline.stacks(), root=clone)


class TestInACopy:
    """A copy of the repository whose program prints a forged plan, reports its pid, and can hang."""

    def test_each_stack_runs_in_a_process_of_its_own(self, plans):
        pids = {stack: plan.outputs["pid"] for stack, plan in plans.items()}
        assert len(set(pids.values())) == len(pids) and os.getpid() not in pids.values()

    def test_what_the_program_prints_cannot_stand_in_for_its_plan(self, plans):
        for stack, plan in plans.items():
            assert plan.stack == stack and len(plan.records) > 20

    def test_a_plan_that_never_returns_is_stopped_at_its_deadline(self, clone, monkeypatch):
        monkeypatch.setenv("HANG_FOR_TEST", "1")
        started = time.monotonic()
        with pytest.raises(offline.PlanFailed) as failed:
            plan_process.plan_stacks(["dev"], root=clone, timeout=20)
        assert time.monotonic() - started < 40
        assert str(failed.value) == "error: stack dev: the plan did not finish within 20 s and was stopped; a project or stack file keeps the program from returning"

    def test_the_budget_gate_is_the_reporting_processs_not_the_programs_output(self, clone):
        # The program's own `cost` output says a million dollars of budget; the stack file says $1.
        stack_file = clone / "stacks" / "Pulumi.dev.yaml"
        original = stack_file.read_text()
        stack_file.write_text(replaced(stack_file, "  shoestring:budget: 120\n", "  shoestring:budget: 1\n"))
        try:
            completed = subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "dev"], cwd=clone, capture_output=True, text=True, timeout=300)
        finally:
            stack_file.write_text(original)
        assert completed.returncode == 1, completed.stdout[-2000:]
        assert "error: stack dev: expected $" in completed.stderr and "exceeds its budget of $1.00/month" in completed.stderr, completed.stderr
        assert "Traceback" not in completed.stderr


def test_make_diffs_planner_has_a_deadline_too(tmp_path, monkeypatch):
    # A checkout whose planner never answers: `make diff` stops it and says so.
    (tmp_path / "shoestring").mkdir()
    (tmp_path / "shoestring" / "__init__.py").write_text("")
    (tmp_path / "shoestring" / "__main__.py").write_text("import time\ntime.sleep(600)\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text("config: {}\n")
    monkeypatch.setattr(diff, "TIMEOUT_SECONDS", 2)
    started = time.monotonic()
    with pytest.raises(offline.PlanFailed) as failed:
        diff.plans_in(tmp_path)
    assert time.monotonic() - started < 15
    assert str(failed.value) == f"planning all in {tmp_path} did not finish within 2 s and was stopped"
