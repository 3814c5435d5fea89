"""The comparison a user would make: the same declared pods on GKE Autopilot, priced as Google
bills Autopilot (requests rounded to its minimums, system pods free, the free tier), beside
Shoestring's estimate — and the load at which Shoestring overtakes it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from program import catalog, cost
from shoestring import autopilot
from shoestring.__main__ import cli

HOURS = 730
RATES = catalog.autopilot("us-central1")


def test_requests_round_up_to_autopilots_minimums_steps_and_memory_per_vcpu():
    # Google's estimator: at least 250 mCPU in 250 mCPU steps, at least 500 MiB and 1 GiB per vCPU.
    assert autopilot.rounded(0.1, 0.125, RATES) == (0.25, 500 / 1024)
    assert autopilot.rounded(0.2, 0.25, RATES) == (0.25, 500 / 1024)
    assert autopilot.rounded(1.1, 0.5, RATES) == (1.25, 1.25)
    assert autopilot.rounded(0.5, 3.0, RATES) == (0.5, 3.0)


def test_the_same_pods_bill_their_rounded_requests_with_spot_beyond_the_first_replica(plans):
    # blog's frontend (100m/128Mi) and backend (200m/256Mi), 3 replicas each, both tolerating Spot:
    # one regular Pod each and two Spot Pods each, every one billed as 250 mCPU / 500 MiB; the ml
    # worker runs no replica; kube-system's pods are not billed on Autopilot.
    regular = 0.25 * RATES["vcpu_hourly"] + 500 / 1024 * RATES["memory_gb_hourly"]
    spot = 0.25 * RATES["spot_vcpu_hourly"] + 500 / 1024 * RATES["spot_memory_gb_hourly"]
    same = autopilot.same_pods("prod", plans["prod"].records)
    assert same.pods_monthly == pytest.approx((2 * regular + 4 * spot) * HOURS)  # $31.57
    assert same.fee_monthly == 0  # $73.00 of fee inside the $74.40 free-tier credit


def test_what_costs_the_same_in_both_modes_is_carried_over_and_nodes_are_not(plans):
    estimate = cost.estimate("prod", plans["prod"].records)
    same = autopilot.same_pods("prod", plans["prod"].records)
    # The entry, secrets, certificates and (issue 26b) the declared buckets' storage bill the same on Autopilot.
    entry = sum(
        x.idle_monthly for x in estimate.lines if x.item in ("public entry (Gateway)", "Secret Manager", "TLS certificates") or x.item.startswith("Bucket ")
    )
    gpu = estimate.expected_gpu_hours * estimate.burst_hourly_usd + estimate.scheduled_monthly_usd
    assert same.carried_monthly == pytest.approx(entry + gpu)


def test_where_autopilot_is_cheaper_the_report_says_so_and_names_the_load_where_shoestring_overtakes(plans):
    verdict = autopilot.verdict("prod", plans["prod"].records)
    # Pods $31.57 + carried $38.83 (29's entry, secret and GPU work $37.83 + 26b's 50 GiB bucket $1.00) + fee $0,
    # against prod's expected $105.24 (29's $104.24 + the bucket).
    assert verdict[0] == "**Autopilot is cheaper for `prod` as declared**: $70.39 against $105.24/month."
    count, standard, other = autopilot.crossover("prod", plans["prod"].records)
    assert count == 4 and standard <= other
    assert f"Shoestring overtakes it at {count} more default-sized apps" in verdict[-1]


def test_make_cost_shows_the_autopilot_figure_for_the_same_pods():
    result = CliRunner().invoke(cli, ["cost", "--stack", "prod"])
    # $69.39 before 26b's bucket ($1.00 of storage, the same on Autopilot) joined the carried lines.
    assert "GKE Autopilot, the same pods: $70.39/month expected" in result.output
    assert "Autopilot is cheaper for `prod` as declared" in result.output
