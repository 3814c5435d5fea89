"""The price catalog: every figure dated and sourced, and the lookups the estimates rest on."""

from __future__ import annotations

import pytest
import yaml

from program import catalog

REQUIRED_MACHINES = {"e2-small", "e2-medium", "e2-standard-2", "e2-standard-4", "n1-standard-1", "n1-standard-2", "n1-standard-4", "n2-standard-2", "g2-standard-4", "g2-standard-8"}
FIGURE_KEYS = ("hourly", "monthly", "monthly_per_gb", "full_month", "first_five_hourly", "rate", "free_certificates_per_project")


def _figures(node, path=()):
    """Every mapping in the catalog that holds a price figure, with where it is."""
    if isinstance(node, dict):
        if any(key in node for key in FIGURE_KEYS):
            yield path, node
        for key, value in node.items():
            if isinstance(value, dict):
                yield from _figures(value, (*path, key))


def test_no_figure_lacks_a_source_a_second_source_and_a_date():
    """A figure checked against the generated catalog is dated by that catalog's data date; any
    other figure by the day its page was read."""
    document = yaml.safe_load(catalog.CATALOG_PATH.read_text())
    figures = list(_figures(document))
    assert len(figures) >= 60  # a figure that loses its keys must not drop out of this check
    for path, figure in figures:
        where = ".".join(path)
        if all(figure.get(k) is None for k in FIGURE_KEYS):
            assert figure.get("note"), f"{where} is unpriced without saying why"
            continue
        for key in ("source", "checked"):
            assert figure.get(key), f"{where} has no {key}"
        assert figure.get("read") or figure["checked"].startswith("cyclenerd"), f"{where} has no date"
        assert figure["source"] in document["sources"], f"{where}: unknown source {figure['source']}"


def test_the_data_is_of_2026_08_27_and_every_spot_figure_that_moved_since_names_its_source():
    """The newest generated catalog readable here is BetinMcFly's run of the same generator; a Spot
    figure taken from it, as read or computed from another shape of the family, says which."""
    import datetime

    document = yaml.safe_load(catalog.CATALOG_PATH.read_text())
    assert catalog.data_date() >= datetime.date(2026, 8, 27)
    assert "betinmcfly" in document["sources"]
    moved = [(region, name, entry) for region, body in document["regions"].items() for name, entry in body["machines"].items() if "spot_checked" in entry]
    assert len(moved) >= 20
    for region, name, entry in moved:
        assert entry["spot_checked"].startswith("betinmcfly"), f"{region} {name}"
        low, high = entry["spot_range"]
        assert low <= entry["spot_hourly"] <= high, f"{region} {name}: today's Spot price outside its year's range"


@pytest.mark.parametrize("region", ["us-central1", "europe-west1"])
def test_the_machine_types_the_project_allows_are_priced_in_both_regions(region):
    assert REQUIRED_MACHINES <= set(catalog.machine_types(region))
    for name in REQUIRED_MACHINES:
        machine = catalog.machine(region, name)
        assert 0 < machine.spot_hourly < machine.hourly


def test_bundled_gpus_are_part_of_the_machine_price():
    assert catalog.machine("us-central1", "g2-standard-4").bundled_gpus == 1
    with pytest.raises(catalog.UnknownPrice, match="bundled in g2"):
        catalog.gpu_hourly("us-central1", "nvidia-l4", spot=False)


def test_sustained_use_discounts_apply_to_n1_n2_n2d_and_c2_only():
    assert catalog.sustained_use_discount("n1-standard-1") == 0.30
    assert catalog.sustained_use_discount("n2-standard-2") == 0.20
    assert catalog.sustained_use_discount("n2d-standard-2") == 0.20
    assert catalog.sustained_use_discount("e2-medium") == 0.0
    assert catalog.sustained_use_discount("t2d-standard-1") == 0.0


def test_the_gke_fee_and_free_tier_credit():
    assert catalog.gke_management_fee_hourly() == 0.10
    assert catalog.gke_free_tier_monthly_credit() == 74.40
