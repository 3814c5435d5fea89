"""The dated price catalog (prices.yaml) and the lookups the config checks and the estimator share."""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

CATALOG_PATH = Path(__file__).with_name("prices.yaml")
HOURS_PER_MONTH = 730  # Google's own convention on its pricing pages and calculator.


@dataclass(frozen=True)
class Machine:
    name: str
    vcpus: float
    memory_gb: float
    hourly: float
    spot_hourly: float
    bundled_gpus: int
    """GPUs included in the machine's price (A2 and G2 machines are sold with theirs)."""
    billed_vcpus: float
    """vCPUs the machine is billed for: a shared-core machine's sustained share (e2-medium: 1)."""
    commit_1y_hourly: float | None
    """With a 1-year resource-based commitment; None when not offered or not read."""
    spot_range: tuple[float, float] | None = None
    """Lowest and highest Spot price per hour over the year to the catalog's date; None: not read."""


class UnknownPrice(KeyError):
    """The catalog has no figure for what was asked; the caller reports it as not priced."""


@functools.cache
def _catalog() -> dict:
    with CATALOG_PATH.open() as f:
        return yaml.safe_load(f)


ZONE_PATTERN = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
REGION_PATTERN = re.compile(r"^[a-z]+-[a-z]+\d+$")


ZONES_PATH = Path(__file__).with_name("zones.yaml")


@functools.cache
def _zones_file() -> dict:
    with ZONES_PATH.open() as f:
        return yaml.safe_load(f)


def _zones() -> dict:
    return _zones_file()["regions"]


def zones(region: str) -> list[str]:
    """The zones of a region (program/zones.yaml); [] for a region it does not list."""
    return list(_zones().get(region, {}).get("zones", []))


def accelerator_zones(region: str, accelerator: str) -> list[str] | None:
    """The zones of ``region`` that offer ``accelerator``; None when zones.yaml does not say."""
    offered = _zones().get(region, {}).get("accelerators", {})
    return list(offered[accelerator]) if accelerator in offered else None


def gpu_quota_metric(accelerator: str, spot: bool) -> str:
    """The regional Compute Engine quota metric GPUs of this type count against, e.g.
    ``NVIDIA_L4_GPUS``, or ``PREEMPTIBLE_NVIDIA_L4_GPUS`` for Spot and preemptible VMs (zones.yaml)."""
    metric = _zones_file()["gpu_quota_metrics"][accelerator]
    return f"PREEMPTIBLE_{metric}" if spot else metric


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def regions() -> list[str]:
    return sorted(_catalog()["regions"])


def _region(region: str) -> dict:
    try:
        return _catalog()["regions"][region]
    except KeyError:
        raise UnknownPrice(f"region {region}") from None


def machine_types(region: str) -> list[str]:
    return sorted(_region(region)["machines"])


def machine(region: str, machine_type: str) -> Machine:
    try:
        entry = _region(region)["machines"][machine_type]
    except KeyError:
        raise UnknownPrice(f"machine type {machine_type} in {region}") from None
    return Machine(
        name=machine_type,
        vcpus=entry["vcpus"],
        memory_gb=entry["memory_gb"],
        hourly=entry["hourly"],
        spot_hourly=entry["spot_hourly"],
        bundled_gpus=entry.get("bundled_gpus", 0),
        billed_vcpus=entry.get("billed_vcpus", entry["vcpus"]),
        commit_1y_hourly=entry.get("commit_1y_hourly"),
        spot_range=tuple(entry["spot_range"]) if entry.get("spot_range") else None,
    )


def accelerator_types(region: str) -> list[str]:
    return sorted(_region(region)["gpus"])


def gpu_hourly(region: str, accelerator: str, spot: bool) -> float:
    try:
        entry = _region(region)["gpus"][accelerator]
    except KeyError:
        raise UnknownPrice(f"accelerator {accelerator} in {region}") from None
    price = entry["spot_hourly" if spot else "hourly"]
    if price is None:
        raise UnknownPrice(f"accelerator {accelerator} in {region} ({entry['note']})")
    return price


def node_hourly(region: str, machine_type: str, spot: bool, gpus: Iterable[tuple[str, int]] = ()) -> float:
    """What one node costs per hour: the machine, plus the (accelerator, count) GPUs its price does not bundle."""
    node = machine(region, machine_type)
    hourly = node.spot_hourly if spot else node.hourly
    for accelerator, count in gpus:
        unbundled = count - node.bundled_gpus
        if unbundled > 0:
            hourly += unbundled * gpu_hourly(region, accelerator, spot)
    return hourly


def disk_monthly_per_gb(region: str, disk_type: str) -> float:
    try:
        return _region(region)["disks"][disk_type]["monthly_per_gb"]
    except KeyError:
        raise UnknownPrice(f"disk type {disk_type} in {region}") from None


def forwarding_rules_hourly(region: str, rules: int) -> float:
    """What ``rules`` forwarding rules of one project and one scope (global, or one region) cost
    per hour together: one flat rate for the first five, then a rate per rule beyond five."""
    if rules <= 0:
        return 0.0
    entry = _region(region)["forwarding_rules"]
    return entry["first_five_hourly"] + max(0, rules - 5) * entry["extra_hourly"]


def node_external_ip_hourly(region: str, spot: bool) -> float:
    """The ephemeral external IPv4 address every node of a public-node cluster has."""
    return _region(region)["node_external_ip"]["spot_hourly" if spot else "hourly"]


def cloud_nat() -> dict:
    """Public Cloud NAT's rates (per VM-hour, per NAT IP-hour, per GiB), the same in every region."""
    return _catalog()["cloud_nat"]


def bucket_gib_monthly(region: str) -> float | None:
    """Standard-class Cloud Storage in ``region``, per GiB a month; None where the catalog has no figure."""
    return _catalog()["cloud_storage"]["standard_gib_monthly"].get(region)


def autopilot(region: str) -> dict:
    """GKE Autopilot's Pod rates in ``region`` and its request rounding (min_mcpu, mcpu_step, min_memory_mib)."""
    try:
        return _catalog()["autopilot"][region]
    except KeyError:
        raise UnknownPrice(f"GKE Autopilot in {region}") from None


def cloud_dns() -> dict:
    """Cloud DNS's rates: per managed zone a month, per million queries."""
    return _catalog()["cloud_dns"]


def secret_manager() -> dict:
    """Secret Manager's rates: per active secret version a month, per 10,000 accesses."""
    return _catalog()["secret_manager"]


def static_ip_hourly(region: str, in_use: bool) -> float:
    return _region(region)["static_ip_in_use" if in_use else "static_ip_unused"]["hourly"]


def certificates_monthly(region: str, certificates: int) -> float:
    """Certificate Manager certificates of one project: free up to an allowance per project."""
    entry = _region(region)["certificate_manager"]
    beyond = certificates - entry["free_certificates_per_project"]
    if beyond <= 0:
        return 0.0
    if entry["monthly_beyond"] is None:
        raise UnknownPrice(f"Certificate Manager beyond {entry['free_certificates_per_project']} certificates ({entry['note']})")
    return beyond * entry["monthly_beyond"]


def free_certificates_per_project(region: str) -> int:
    return _region(region)["certificate_manager"]["free_certificates_per_project"]


def per_gib_rates(region: str) -> dict[str, dict]:
    """Usage-priced items ({rate, note}) the plan cannot know the quantity of."""
    return _region(region)["per_gib"]


def data_date() -> datetime.date:
    """The date of the catalog's data (not the day it was read)."""
    return _catalog()["data_date"]


def staleness_warning(today: datetime.date) -> str | None:
    """A warning when the catalog's data is older than its `stale_after_days`, else None."""
    age = (today - data_date()).days
    if age <= _catalog()["stale_after_days"]:
        return None
    return (
        f"the price catalog's data is from {data_date()} ({age} days old, more than {_catalog()['stale_after_days']}): "
        f"prices may have moved. Run `make prices` with a Cloud Billing API key (docs/costs.md \"Refreshing the catalog\")."
    )


def gke_management_fee_hourly() -> float:
    return _catalog()["gke"]["management_fee"]["hourly"]


def gke_system_pods() -> dict:
    """Requests of GKE's own pods: ``per_node`` (DaemonSets) and ``per_cluster`` (Deployments)."""
    return _catalog()["gke"]["system_pods"]


def gke_free_tier_monthly_credit() -> float:
    return _catalog()["gke"]["free_tier_credit"]["monthly"]


def sustained_use_discount(machine_type: str) -> float:
    """Discount Google applies to a machine that runs the whole month; 0 for families without one."""
    family = machine_type.split("-", 1)[0]
    return _catalog()["sustained_use_discount"]["full_month"].get(family, 0.0)


def boot_disk_types(machine_type: str) -> list[str]:
    """The boot disk types the machine's family offers, cheapest first."""
    family = machine_type.split("-", 1)[0]
    try:
        return list(_catalog()["boot_disk_types"][family])
    except KeyError:
        raise UnknownPrice(f"boot disk types of the {family} machine family") from None


def gpu_machine_family(accelerator: str) -> str:
    """The machine family (e.g. ``g2``) that can carry the accelerator."""
    return _catalog()["accelerator_families"][accelerator]
