"""Run the program for each stack named on the command line, under mocks, in whatever Python
runs this file, and print what it declared, and the program's pricing of it, as JSON. `tests/test_deployable.py` runs it in a
virtualenv built from requirements.txt alone: `python tests/program_in_runtime.py store dev prod`.

The first argument says how config reaches the program: ``store`` through
``pulumi.runtime.set_all_config`` only, ``environment`` through PULUMI_CONFIG only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from program import cost  # noqa: E402  (the repository root is added just above)
from shoestring import offline  # noqa: E402

via, *stacks = sys.argv[1:]
plans = {stack: offline.run(stack, config_via=via) for stack in stacks}
print(
    json.dumps(
        {
            "plans": {stack: plan.to_json() for stack, plan in plans.items()},
            # What the program's own pricing makes of each (its `cost` output under the engine).
            "costs": {stack: cost.stack_output(stack, plan.records, lambda warning: print(warning, file=sys.stderr)) for stack, plan in plans.items()},
            "modules": sorted({name.split(".")[0] for name in sys.modules}),
        },
        sort_keys=True,
    )
)
