"""README stays true: its configuration table and Pulumi.yaml's config schema are the ones the
settings models generate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from program import config
from shoestring import settings_reference

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(name: str) -> str:
    """A generated block, wherever README or docs/ holds it."""
    from helpers import documentation_block

    return documentation_block(name)


def test_the_configuration_reference_is_generated_from_the_settings_models():
    block = readme_block("config-reference")
    assert block == settings_reference.reference_markdown(), "run `make docs`"


def test_pulumi_yaml_types_each_setting_it_can_with_the_models_default():
    declared = yaml.safe_load((README.parent / "Pulumi.yaml").read_text())["config"]
    assert declared == {
        "deletionProtection": {"type": "boolean", "default": True, "description": declared["deletionProtection"]["description"]},
        "releaseChannel": {"type": "string", "default": config.StackConfig.model_fields["release_channel"].default, "description": declared["releaseChannel"]["description"]},
        "freeTier": {"type": "boolean", "default": False, "description": declared["freeTier"]["description"]},
        "kubernetesVersion": {"type": "string", "default": "1.34", "description": declared["kubernetesVersion"]["description"]},
    }


def test_what_it_costs_in_readme_is_the_estimators_output(plans):
    from shoestring import report

    block = readme_block("what-it-costs")
    assert block == report.markdown(plans), "paste `python -m shoestring cost-report` into README"


def test_the_gpu_burst_figures_in_readme_are_the_helpers_output(plans):
    from shoestring import report

    block = readme_block("gpu-burst")
    assert "| Spot |" in block and "| On demand |" in block
    assert block == report.gpu_burst_markdown("prod", plans["prod"].records), "run `python -m shoestring docs` (or paste `python -m shoestring gpu-burst`)"


def test_the_on_call_burst_dry_run_in_readme_is_what_it_prints():
    from shoestring.oncall.runbooks import burst

    block = readme_block("burst-dry-run")
    assert "Verdict: dry run — nothing was created." in block
    assert block == burst.readme_sample(), "run `python -m shoestring docs`"


def test_the_deployers_roles_in_readme_are_generated_from_the_declared_resource_types(plans):
    from shoestring import permissions

    block = readme_block("deployer-roles")
    types = permissions.deployer_types({stack: plan.records for stack, plan in plans.items()})
    assert block == permissions.markdown(types), "paste `python -m shoestring deployer-roles` into README"


def test_the_right_sizing_table_in_readme_is_the_advisors_output(plans):
    from program import capacity, cost
    from shoestring import advisor

    block = readme_block("advise")
    prod, guests = plans["prod"].records, plans["staging"].records
    rate = advisor.declared_queries_per_second(prod)
    found = advisor.shapes("us-central1", capacity.pods_of(prod), capacity.pods_of(guests), addons=capacity.cluster_addons(prod), queries_per_second=rate)
    current = advisor.current_monthly(prod, "us-central1", capacity.at_rest(prod, "us-central1", guests))
    assert cost.region_of(prod) == "us-central1"
    expected = advisor.markdown("prod", found, current, rate, top=6)
    assert block == expected, "run `python -m shoestring docs` (the block is `python -m shoestring advise --stack prod --top 6`)"


MERMAID = README.parent / "tools" / "mermaid"


def _mermaid(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(MERMAID / "parse.mjs"), str(path)], check=False, capture_output=True, text=True, timeout=120)


def test_the_architecture_diagram_parses_with_mermaids_own_parser():
    result = _mermaid(README)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"diagramType":"flowchart-v2"' in result.stdout


def test_the_parser_would_catch_a_broken_diagram(tmp_path):
    broken = tmp_path / "README.md"
    text = README.read_text()
    assert 'spot["Spot pool:' in text and 'tainted"]' in text  # what is broken below must be there
    broken.write_text(text.replace('spot["Spot pool:', 'spot["Spot pool:(', 1).replace('tainted"]', 'tainted"', 1))
    result = _mermaid(broken)
    assert result.returncode == 1
    assert '"error":"Parse error' in result.stdout


def test_the_preview_identitys_roles_in_readme_are_generated():
    from shoestring import permissions

    block = readme_block("preview-roles")
    assert block == permissions.preview_markdown(), "paste `python -m shoestring preview-roles` into README"


def test_the_cis_gke_table_in_readme_is_generated_from_the_rules(plans):
    from shoestring import cis_gke

    block = readme_block("security-table")
    expected = cis_gke.markdown({stack: (plan.records, plan.host_stack) for stack, plan in plans.items()})
    assert block == expected, "paste `python -m shoestring security-table` into README"


def test_the_make_plan_sample_in_readme_is_what_make_plan_prints():
    from click.testing import CliRunner

    from shoestring.__main__ import cli

    block = readme_block("plan-sample")
    result = CliRunner().invoke(cli, ["plan", "--stack", "dev"])
    assert result.exit_code == 0, result.output
    assert block == f"```console\n$ make plan\n{result.output}```\n", "paste `python -m shoestring plan --stack dev` into README"
