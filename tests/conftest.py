"""Shared fixtures: every test runs the real program or component under Pulumi's mocks."""

from __future__ import annotations

import pytest

from shoestring import offline
from shoestring.offline import Plan


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    """The offline plan of every stack in stacks/, run once per test session."""
    return {stack: offline.run(stack) for stack in offline.stacks()}
