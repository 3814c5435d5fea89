"""README stays true: its configuration table is the one the config module generates."""

from __future__ import annotations

from pathlib import Path

from shoestring import config

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_configuration_reference_in_readme_is_generated_from_the_config_module():
    text = README.read_text()
    start = text.index("<!-- config-reference:start -->\n") + len("<!-- config-reference:start -->\n")
    end = text.index("<!-- config-reference:end -->")
    assert text[start:end] == config.reference_markdown(), "run `python -m shoestring config-reference` and paste it into README"


def test_what_it_costs_in_readme_is_the_estimators_output(plans):
    from shoestring import report

    text = README.read_text()
    start = text.index("<!-- what-it-costs:start -->\n") + len("<!-- what-it-costs:start -->\n")
    end = text.index("<!-- what-it-costs:end -->")
    assert text[start:end] == report.markdown(plans), "paste `python -m shoestring cost-report` into README"


def test_the_deployers_roles_in_readme_are_generated_from_the_declared_resource_types(plans):
    from shoestring import permissions

    text = README.read_text()
    start = text.index("<!-- deployer-roles:start -->\n") + len("<!-- deployer-roles:start -->\n")
    end = text.index("<!-- deployer-roles:end -->")
    types = permissions.deployer_types({stack: plan.records for stack, plan in plans.items()})
    assert text[start:end] == permissions.markdown(types), "paste `python -m shoestring deployer-roles` into README"


def test_the_right_sizing_table_in_readme_is_the_advisors_output(plans):
    from shoestring import advisor, capacity, cost

    text = README.read_text()
    start = text.index("<!-- advise:start -->\n") + len("<!-- advise:start -->\n")
    end = text.index("<!-- advise:end -->")
    prod, guests = plans["prod"].records, plans["staging"].records
    found = advisor.shapes("us-central1", capacity.pods_of(prod), capacity.pods_of(guests), 3, 11.25)
    current = advisor.current_monthly(prod, "us-central1", capacity.at_rest(prod, "us-central1", guests))
    assert cost.region_of(prod) == "us-central1"
    expected = advisor.markdown("prod", found, current, top=6)
    assert text[start:end] == expected, "paste `python -m shoestring advise --stack prod --min-vcpus 3 --min-memory-gb 11.25 --top 6` into README"
