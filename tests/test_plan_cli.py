"""`python -m shoestring plan`: the offline plan a reviewer reads, as a tree and as JSON records."""

from __future__ import annotations

import json

from click.testing import CliRunner

from shoestring.__main__ import cli


def test_the_plan_tree_shows_components_resources_and_the_settings_that_matter():
    result = CliRunner().invoke(cli, ["plan", "--stack", "dev"])
    assert result.exit_code == 0, result.output
    assert "stack dev" in result.output
    assert "ZonalCluster shoestring-dev" in result.output
    assert "zone us-central1-a" in result.output
    assert "e2-standard-2 · 1–2 nodes · spot" in result.output
    assert "g2-standard-4 · 1× nvidia-l4 (driver LATEST) · 0–1 nodes" in result.output
    assert "taint nvidia.com/gpu=present:NO_SCHEDULE" in result.output


def test_the_json_plan_is_the_records_contract():
    result = CliRunner().invoke(cli, ["plan", "--stack", "prod", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["stack"] == "prod"
    record = next(r for r in plan["resources"] if r["type"] == "gcp:container/nodePool:NodePool" and r["name"] == "gpu-pool")
    assert {"type", "name", "parent", "inputs"} <= set(record)
    assert record["parent"].endswith("shoestring:gke:GpuPool::gpu-pool")
    assert record["inputs"]["nodeConfig"]["machineType"] == "g2-standard-4"  # camelCase, as Pulumi passes it


def test_the_json_plan_is_byte_identical_run_to_run():
    runner = CliRunner()
    assert runner.invoke(cli, ["plan", "--stack", "prod", "--json"]).output == runner.invoke(cli, ["plan", "--stack", "prod", "--json"]).output


def test_an_unknown_stack_names_the_known_ones():
    result = CliRunner().invoke(cli, ["plan", "--stack", "qa"])
    assert result.exit_code == 2
    assert "no stack 'qa'; stacks: dev, prod, staging" in result.output


def test_make_plan_stack_all_plans_and_prices_every_stack():
    result = CliRunner().invoke(cli, ["plan", "--stack", "all"])
    assert result.exit_code == 0, result.output
    for stack in ("dev", "prod", "staging"):
        assert f"stack {stack}" in result.output
    assert result.output.count("cost: $") == 3
