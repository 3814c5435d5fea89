"""`make prices`: the catalog regenerated from the Cloud Billing Catalog API, composed the way
Google bills machines (per-vCPU and per-GiB SKUs, Spot and commitment SKUs), on a trimmed response."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pytest
import yaml

from program import catalog
from shoestring import billing_catalog

DATA = Path(__file__).parent / "data" / "billing-catalog"
PAGES = [json.loads((DATA / f"compute-engine-page-{n}.json").read_text()) for n in (1, 2)]
READ_ON = datetime.date(2026, 11, 25)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[dict, list[str]]:
    path = tmp_path_factory.mktemp("catalog") / "prices.yaml"
    shutil.copy(catalog.CATALOG_PATH, path)
    skus = [sku for page in PAGES for sku in page["skus"]]
    missing = billing_catalog.write(path, {"compute": skus}, READ_ON)
    return yaml.safe_load(path.read_text()), missing


def test_it_pages_through_the_catalog_with_the_key_and_the_page_token():
    asked: list[str] = []

    def get(url: str) -> dict:
        asked.append(url)
        return PAGES[len(asked) - 1]

    skus = billing_catalog.fetch_skus("compute", "KEY", get)
    assert len(skus) == sum(len(p["skus"]) for p in PAGES)
    assert asked[0].startswith("https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus?key=KEY&currencyCode=USD")
    assert "pageToken=page-2" in asked[1]


@pytest.mark.parametrize(
    ("machine", "hourly", "spot_hourly", "skus"),
    [
        # 1 billed vCPU x $0.02181159 + 4 GiB x $0.00292353; Spot 1 x $0.01309 + 4 x $0.001754.
        ("e2-medium", 0.03350571, 0.020106, ["CF4E-A0C7-E3BF", "F449-33EC-A5EF"]),
        # 1 vCPU x $0.031611 + 3.75 GiB x $0.004237; Spot 1 x $0.01115 + 3.75 x $0.001494.
        ("n1-standard-1", 0.04749975, 0.0167525, ["2E27-4F75-95CD", "6C71-E844-38BC"]),
    ],
)
def test_it_reproduces_hand_checked_machine_prices_with_their_skus_and_date(regenerated, machine, hourly, spot_hourly, skus):
    document, _ = regenerated
    entry = document["regions"]["us-central1"]["machines"][machine]
    assert entry["hourly"] == pytest.approx(hourly, abs=1e-9)
    assert entry["spot_hourly"] == pytest.approx(spot_hourly, abs=1e-9)
    assert entry["skus"][:2] == skus
    assert entry["read"] == READ_ON
    # The trimmed response is of 2026-07-30: its on-demand figure is the shipped one, read another
    # way, and its Spot figure lies in the shipped year's range.
    shipped = catalog.machine("us-central1", machine)
    assert entry["hourly"] == pytest.approx(shipped.hourly, abs=1e-9)
    assert shipped.spot_range[0] <= entry["spot_hourly"] <= shipped.spot_range[1]
    assert "spot_checked" not in entry  # the refreshed Spot figure is the API's, not the copy's


def test_the_one_year_commitment_and_the_nodes_address_come_from_their_skus(regenerated):
    document, _ = regenerated
    region = document["regions"]["us-central1"]
    assert region["machines"]["e2-medium"]["commit_1y_hourly"] == pytest.approx(0.021108593, abs=1e-8)
    assert region["node_external_ip"]["hourly"] == 0.005 and region["node_external_ip"]["spot_hourly"] == 0.0025
    assert region["disks"]["pd-balanced"]["skus"] == ["6AE1-525F-8B80"]


def test_a_figure_without_its_skus_keeps_its_old_value_and_is_reported(regenerated):
    document, missing = regenerated
    assert document["regions"]["us-central1"]["machines"]["n2d-standard-2"]["hourly"] == catalog.machine("us-central1", "n2d-standard-2").hourly
    assert "us-central1 n2d-standard-2: no on-demand or Spot SKUs of the n2d family" in missing
    assert any(line.startswith("us-central1 forwarding rules") for line in missing)


def test_the_comments_that_cite_sources_survive(regenerated, tmp_path):
    path = tmp_path / "prices.yaml"
    shutil.copy(catalog.CATALOG_PATH, path)
    billing_catalog.write(path, {"compute": [sku for page in PAGES for sku in page["skus"]]}, READ_ON)
    assert "# Every node of a cluster without private nodes has an ephemeral external IPv4 address." in path.read_text()


def test_a_partial_refresh_keeps_the_catalogs_data_date(regenerated):
    document, missing = regenerated
    assert missing and document["data_date"] == catalog.data_date()
