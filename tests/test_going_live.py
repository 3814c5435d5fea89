"""docs/going-live.md's steps, in the order written, played against the first-`up` simulation
(tests/first_up.py): the two APIs it turns on by hand, then prod's `pulumi up`, then staging's in
prod's cluster and project — nothing is refused; staging before prod, or without the hand-enabled
APIs, is."""

from __future__ import annotations

import re
from pathlib import Path

from first_up import FirstUp

from program import apis
from program.records import Record

GOING_LIVE = (Path(__file__).resolve().parent.parent / "docs" / "going-live.md").read_text()
SERVICE_USAGE = "serviceusage.googleapis.com"
"""Turning an API on is a call to the Service Usage API, which must itself be on in the project
(cloud.google.com/service-usage/docs/enable-disable, "Before you begin"): no stack can enable it."""


def enabled_by_hand(project: str) -> list[Record]:
    [line] = [line for line in GOING_LIVE.splitlines() if "gcloud services enable" in line]
    names = re.findall(r"\b[a-z]+\.googleapis\.com\b", line)
    return [Record(type=apis.SERVICE, name=f"by-hand-{n}", parent=None, urn=f"urn:by-hand::{n}", inputs={"service": n, "project": project}) for n in names]


def project_of(plans, stack: str) -> str:
    return next(r.inputs["project"] for r in plans[stack].records if r.type == apis.SERVICE)


def test_the_steps_in_order_leave_nothing_refused(plans):
    hand = enabled_by_hand(project_of(plans, "prod"))
    assert SERVICE_USAGE in {r.inputs["service"] for r in hand}  # what every Service registration calls
    # prod's `pulumi up` (step 11) comes before staging's stack (step 13).
    assert GOING_LIVE.index("then `pulumi up`") < GOING_LIVE.index("pulumi stack init staging")
    assert FirstUp(plans["prod"].records, hand).refusals() == []
    assert project_of(plans, "staging") == project_of(plans, "prod")  # staging lives in prod's project
    assert FirstUp(plans["staging"].records, [*hand, *plans["prod"].records]).refusals() == []


def test_staging_before_prod_is_refused(plans):
    hand = enabled_by_hand(project_of(plans, "prod"))
    refused = FirstUp(plans["staging"].records, hand).refusals()
    assert refused, "staging's first up needs prod's cluster and its Workload Identity pool"
    assert any("Identity Pool does not exist" in r.message for r in refused), [str(r) for r in refused]


def test_the_stack_enables_every_api_it_uses_but_the_two_the_doc_turns_on_by_hand(plans):
    # Without the hand-enabled APIs nothing can turn the others on: every Service registration calls
    # Service Usage, and the stack's project-level grants call Cloud Resource Manager.
    declared = {r.inputs["service"] for r in plans["prod"].records if r.type == apis.SERVICE}
    assert SERVICE_USAGE not in declared
    hand = {r.inputs["service"] for r in enabled_by_hand(project_of(plans, "prod"))}
    assert hand == {SERVICE_USAGE, "cloudresourcemanager.googleapis.com"}
