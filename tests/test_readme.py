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
