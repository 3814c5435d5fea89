"""Virtualenvs built from one requirements file alone, as `pulumi install` builds the program's
(Pulumi.yaml, toolchain: pip) and the policy pack's (policies/PulumiPolicy.yaml): what runs
under `pulumi up` can then import nothing that only `make`'s dev requirements install.

Each is kept under .tools/venvs/, named by the hash of its requirements file, so a rerun with
the same file reuses it and a changed file gets a fresh one."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".tools" / "venvs"


def venv_for(requirements: Path) -> Path:
    """The python of a virtualenv holding exactly what ``requirements`` installs."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    name = str(requirements.relative_to(ROOT).with_suffix("")).replace("/", "-")
    home = VENVS / f"{name}-{digest}"
    python = home / "bin" / "python"
    if not (home / ".complete").exists():
        print(f"building {home.relative_to(ROOT)} from {requirements.relative_to(ROOT)} alone (once per version of the file)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True)
        # In the file's own directory, as Pulumi runs pip (sdk/python/toolchain/pip.go), so a
        # relative path in it (the policy pack's `-e ..`) means what it means under Pulumi.
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements.name],
            check=True,
            cwd=requirements.parent,
        )
        (home / ".complete").touch()
    return python


if __name__ == "__main__":
    # `make test` builds them before the suite, as it installs checkov and the npm tools: one-time
    # installs, reported apart from the tests' own time.
    for requirements in (ROOT / "requirements.txt", ROOT / "policies" / "requirements.txt"):
        venv_for(requirements)
