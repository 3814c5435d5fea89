"""`make prices`: regenerate program/prices.yaml from Google's Cloud Billing Catalog API.

Reads every SKU of Compute Engine and Networking (`services.skus.list`,
cloud.google.com/billing/docs/reference/rest/v1/services.skus/list, with an API key from
CLOUD_BILLING_API_KEY) and composes the catalog's figures the way Google bills them: a machine is
its family's per-vCPU SKU times the vCPUs it is billed for, plus its per-GiB RAM SKU times its
memory, plus the GPUs it comes with (G2's L4, A2's A100, which are billed on their own line); Spot
from the "Spot Preemptible" SKUs, the 1-year commitment from the "Commitment v1" ones. A figure
keeps the SKU ids it came from and the date it was read; one whose SKU is missing keeps its old
value and says so. Tooling room: the program never imports this module.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

API = "https://cloudbilling.googleapis.com/v1"
# Service ids of the public catalog (services.list).
SERVICES = {"compute": "6F81-5844-456A", "networking": "E505-1604-58F8"}

# How each family's SKUs are described: "<prefix> Core running in Americas", "... Ram ...".
FAMILY_SKU = {
    "e2": "E2 Instance",
    "n1": "N1 Predefined Instance",
    "n2": "N2 Instance",
    "n2d": "N2D AMD Instance",
    "t2d": "T2D AMD Instance",
    "n4": "N4 Instance",
    "g2": "G2 Instance",
    "a2": "A2 Instance",
}
# "Commitment v1: E2 Cpu in Americas for 1 Year"; N1's are plain "Commitment v1: Cpu ...".
COMMITMENT_SKU = {"e2": "E2 ", "n1": "", "n2": "N2 ", "n2d": "N2D ", "t2d": "T2D ", "n4": "N4 ", "g2": "G2 ", "a2": "A2 "}
GPU_SKU = {"nvidia-l4": "Nvidia L4 GPU", "nvidia-tesla-a100": "Nvidia Tesla A100 GPU", "nvidia-tesla-t4": "Nvidia Tesla T4 GPU"}
DISK_SKU = {"pd-standard": "Storage PD Capacity", "pd-balanced": "Balanced PD Capacity", "pd-ssd": "SSD backed PD Capacity"}
BUNDLED_GPU = {"g2": "nvidia-l4", "a2": "nvidia-tesla-a100"}

Get = Callable[[str], dict[str, Any]]


def fetch_skus(service: str, api_key: str, get: Get | None = None) -> list[dict[str, Any]]:
    """Every SKU of the service, following nextPageToken."""
    get = get or _get
    skus: list[dict[str, Any]] = []
    token = ""
    while True:
        query = {"key": api_key, "currencyCode": "USD", "pageSize": "5000"} | ({"pageToken": token} if token else {})
        page = get(f"{API}/services/{SERVICES[service]}/skus?{urllib.parse.urlencode(query)}")
        skus += page.get("skus", [])
        token = page.get("nextPageToken", "")
        if not token:
            return skus


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 — a fixed https URL
        return json.load(response)


def unit_price(sku: dict[str, Any]) -> float:
    """The SKU's price per usage unit: its first non-zero tier (a free allowance comes first)."""
    rates = sku["pricingInfo"][0]["pricingExpression"]["tieredRates"]
    for rate in rates:
        price = int(rate["unitPrice"].get("units", "0")) + rate["unitPrice"].get("nanos", 0) / 1e9
        if price:
            return price
    return 0.0


def find(skus: Iterable[dict[str, Any]], region: str, description: str, usage: str = "OnDemand") -> dict[str, Any] | None:
    """The SKU of the region (or global) whose description starts with ``description``."""
    for sku in skus:
        if sku["description"].startswith(description) and sku["category"]["usageType"] == usage and (region in sku.get("serviceRegions", []) or "global" in sku.get("serviceRegions", [])):
            return sku
    return None


def machine(skus: list[dict[str, Any]], region: str, family: str, vcpus: float, memory_gb: float, bundled_gpus: int) -> dict[str, Any]:
    """hourly, spot_hourly and commit_1y_hourly of one machine shape, and the SKUs they came from."""
    figures: dict[str, Any] = {"skus": []}
    kinds = {
        "hourly": ("OnDemand", f"{FAMILY_SKU[family]} Core", f"{FAMILY_SKU[family]} Ram"),
        "spot_hourly": ("Preemptible", f"Spot Preemptible {FAMILY_SKU[family]} Core", f"Spot Preemptible {FAMILY_SKU[family]} Ram"),
        "commit_1y_hourly": ("Commit1Yr", f"Commitment v1: {COMMITMENT_SKU[family]}Cpu", f"Commitment v1: {COMMITMENT_SKU[family]}Ram"),
    }
    for key, (usage, core_description, ram_description) in kinds.items():
        core, ram = find(skus, region, core_description, usage), find(skus, region, ram_description, usage)
        if core is None or ram is None:
            continue
        price = vcpus * unit_price(core) + memory_gb * unit_price(ram)
        figures["skus"] += [core["skuId"], ram["skuId"]]
        if bundled_gpus:
            gpu_usage, prefix = ("Preemptible", "Spot Preemptible ") if key == "spot_hourly" else (usage, "")
            gpu = find(skus, region, prefix + GPU_SKU[BUNDLED_GPU[family]], gpu_usage)
            if gpu is None:
                continue
            price += bundled_gpus * unit_price(gpu)
            figures["skus"].append(gpu["skuId"])
        figures[key] = round(price, 9)
    return figures


def regenerate(document: Any, skus: dict[str, list[dict[str, Any]]], read_on: datetime.date) -> list[str]:
    """Update the catalog ``document`` (as ruamel.yaml loaded it, comments kept) in place from the
    services' SKUs. Returns what could not be read, one line per figure left as it was."""
    compute, networking = skus["compute"], skus.get("networking", [])
    missing: list[str] = []
    stamp = {"checked": "Cloud Billing Catalog API (make prices)", "read": read_on}
    for region, entry in document["regions"].items():
        for name, shape in entry["machines"].items():
            family = name.split("-", 1)[0]
            figures = machine(compute, region, family, shape.get("billed_vcpus", shape["vcpus"]), shape["memory_gb"], shape.get("bundled_gpus", 0))
            if "hourly" not in figures or "spot_hourly" not in figures:
                missing.append(f"{region} {name}: no on-demand or Spot SKUs of the {family} family")
                continue
            shape.pop("spot_checked", None)  # the Spot figure is now the API's own
            shape.update({k: v for k, v in figures.items() if k != "skus"} | {"skus": figures["skus"]} | stamp)
        for disk, description in DISK_SKU.items():
            sku = find(compute, region, description)
            if sku is None:
                missing.append(f"{region} {disk}: no SKU '{description}'")
                continue
            entry["disks"][disk].update({"monthly_per_gb": unit_price(sku), "skus": [sku["skuId"]]} | stamp)
        on_demand, spot = find(compute, region, "External IP Charge on a Standard VM"), find(compute, region, "External IP Charge on a Spot Preemptible VM")
        if on_demand and spot:
            entry["node_external_ip"].update({"hourly": unit_price(on_demand), "spot_hourly": unit_price(spot), "sku": on_demand["skuId"]} | stamp)
        else:
            missing.append(f"{region} node external IP: no External IP Charge SKUs")
        minimum = find(networking + compute, region, "Network Load Balancing: Forwarding Rule Minimum Service Charge")
        extra = find(networking + compute, region, "Network Load Balancing: Forwarding Rule Additional Service Charge")
        if minimum and extra:
            entry["forwarding_rules"].update({"first_five_hourly": unit_price(minimum), "extra_hourly": unit_price(extra)} | stamp)
        else:
            missing.append(f"{region} forwarding rules: no Forwarding Rule Minimum/Additional Service Charge SKUs")
    if not missing:  # a partial refresh leaves the catalog dated by its oldest data
        document["data_date"] = read_on
        document["read"] = read_on
    return missing


def write(path: Path, skus: dict[str, list[dict[str, Any]]], read_on: datetime.date) -> list[str]:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    document = yaml.load(path.read_text())
    missing = regenerate(document, skus, read_on)
    with path.open("w") as f:
        yaml.dump(document, f)
    return missing
