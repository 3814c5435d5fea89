"""Each stack planned in a fresh interpreter of its own, as `pulumi up` runs the program: nothing
one stack's run sets (import-time state, the SDK's settings) reaches another's, and the process
that reports a plan — and evaluates its rules, budget and capacity gates — runs no program.

The child writes its plan to a file descriptor the parent opened for it (``pass_fds``), never to
stdout: whatever the program prints, or logs, cannot be read as a plan or break one. Every child
has a deadline, so a plan that never returns ends in one message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shoestring.offline import ROOT, Plan, PlanFailed

TIMEOUT_SECONDS = 180
"""A stack's plan takes seconds (the provider SDKs' imports most of them, on a busy 2-core machine
tens); one that runs this long is stuck."""


def plan_stacks(stacks: list[str], root: Path = ROOT, timeout: float = TIMEOUT_SECONDS) -> dict[str, Plan]:
    """Every one of ``stacks`` planned in a child of its own (two at a time: the planner's machine
    has two cores), in order; PlanFailed with each failed stack's one message."""
    stacks = list(dict.fromkeys(stacks))
    with ThreadPoolExecutor(max_workers=max(1, min(2, len(stacks)))) as pool:
        results = dict(zip(stacks, pool.map(lambda stack: _plan_in_child(stack, root, timeout), stacks)))
    failed = [result for result in results.values() if isinstance(result, str)]
    if failed:
        raise PlanFailed("\n".join(failed))
    return results


def _plan_in_child(stack: str, root: Path, timeout: float) -> Plan | str:
    with tempfile.TemporaryFile() as channel:
        fd = channel.fileno()
        try:
            completed = subprocess.run(
                [sys.executable, "-m", "shoestring.plan_process", stack, str(fd)],
                cwd=root, capture_output=True, text=True, timeout=timeout, pass_fds=(fd,),
                env=os.environ | {"PYTHONPATH": str(root)},
            )
        except subprocess.TimeoutExpired:  # subprocess.run has killed the child
            return f"error: stack {stack}: the plan did not finish within {timeout:g} s and was stopped; a project or stack file keeps the program from returning"
        if completed.returncode != 0:
            return completed.stderr.strip() or f"error: stack {stack}: the plan stopped (exit {completed.returncode}) without saying why"
        channel.seek(0)
        try:
            written = json.loads(channel.read())
            plan = Plan.from_json(written["plan"])
            plan.order = [(what, urn) for what, urn in written["order"]]
            return plan
        except (ValueError, KeyError, TypeError):
            return f"error: stack {stack}: the planner wrote no readable plan"


def _child(stack: str, fd: int) -> int:
    """In the child: plan ``stack`` and write it to ``fd``; on failure one message on stderr, exit 1."""
    from program.config import ConfigError
    from shoestring import offline

    try:
        plan = offline.run(stack)
    except ConfigError as e:
        print(f"error: stack {stack} (stacks/Pulumi.{stack}.yaml): {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"error: stack {stack}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 — the program failed; say where, in the repository's files first
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith(str(ROOT)) and "/shoestring/" not in f.filename]
        where = "".join(f"\n  at {Path(f.filename).relative_to(ROOT)}:{f.lineno}: {f.line}" for f in frames[-4:])
        print(f"error: stack {stack}: the program stopped with {type(e).__name__}: {e}{where}", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w") as channel:
        # The registration order rides beside the plan, never in it: the JSON plan leaves it out
        # (it varies run to run, Plan.order), the first-up simulation reads it (tests/first_up.py).
        json.dump({"plan": plan.to_json(), "order": plan.order}, channel)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
