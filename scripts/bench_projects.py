"""How the offline plan scales with projects: plans the dev stack with N generated projects of
2 apps each (N = 10, 25, 50) in a throwaway copy of the repository, and prints the seconds the
program took under mocks and the resources it declared.

Run with `make bench`. A benchmark, not a test: the figure depends on the machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNTS = (10, 25, 50)

PROJECT_TEMPLATE = """name: bench{n:02d}
apps:
  - {{name: web, image: ghcr.io/acme/bench-web, tag: 0123456789ab, port: 8080, repository: https://github.com/acme/bench}}
  - {{name: api, image: ghcr.io/acme/bench-api, tag: 0123456789ab, port: 8000, repository: https://github.com/acme/bench}}
"""

TIMED_RUN = """
import time
from shoestring import offline
start = time.perf_counter()
plan = offline.run("dev")
print(f"{time.perf_counter() - start:.2f} {len(plan.records)}")
"""


def main() -> None:
    print(f"{'projects':>8} {'apps':>5} {'resources':>9} {'seconds':>8}")
    for count in COUNTS:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "shoestring"
            shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".tools", ".git", "__pycache__"))
            for n in range(count):
                (copy / "projects" / f"bench{n:02d}.yaml").write_text(PROJECT_TEMPLATE.format(n=n))
            result = subprocess.run([sys.executable, "-c", TIMED_RUN], cwd=copy, capture_output=True, text=True, check=True)
            seconds, resources = result.stdout.split()
            print(f"{count:>8} {2 * count:>5} {resources:>9} {seconds:>8}")


if __name__ == "__main__":
    main()
