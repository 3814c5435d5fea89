"""Checks against the price and zone catalog (program/prices.yaml, program/zones.yaml), and
others that need more than one key: machine types, accelerators and their zones, GPU quota,
boot disks. Each returns (key, value, message) triples."""

from __future__ import annotations

from typing import Any

from program.components.gpu_pool import GpuPoolSettings
from program import catalog
from program.config.model import StackConfig, check_zone
from program.quota import burst_needs


def catalog_problems(cfg: StackConfig) -> list[tuple[str, Any, str]]:
    problems: list[tuple[str, Any, str]] = []
    region = cfg.region
    if region not in catalog.regions():
        return [("zone", cfg.zone, f"region {region} is not in the price catalog; use one of {catalog.regions()}")]
    known = catalog.machine_types(region)
    if cfg.default_pool.machine_type not in known:
        problems.append(
            ("defaultPool.machineType", cfg.default_pool.machine_type, f"not a priced machine type in {region}; use one of {known}")
        )
    else:
        problems += _disk_problems("defaultPool", cfg.default_pool.machine_type, cfg.default_pool.disk_type)
    spot = cfg.spot_pool
    if spot is not None and spot.machine_type not in known:
        problems.append(("spotPool.machineType", spot.machine_type, f"not a priced machine type in {region}; use one of {known}"))
    elif spot is not None:
        problems += _disk_problems("spotPool", spot.machine_type, spot.disk_type)
    gpu = cfg.gpu_pool
    if gpu is None:
        return problems
    if gpu.zone is not None:
        try:
            check_zone(gpu.zone)
        except ValueError as e:
            problems.append(("gpuPool.zone", gpu.zone, str(e)))
        else:
            if catalog.region_of(gpu.zone) != region:
                problems.append(
                    ("gpuPool.zone", gpu.zone, f"must be in the cluster's region {region} (a zonal cluster can place pools only in its own region)")
                )
    accelerators = catalog.accelerator_types(region)
    if gpu.accelerator not in accelerators:
        problems.append(
            ("gpuPool.accelerator", gpu.accelerator, f"not in the price catalog for {region} (program/prices.yaml), so no "
             f"estimate could price it; use one of {accelerators}, or add its prices to the catalog")
        )
        return problems
    offered_in = catalog.accelerator_zones(region, gpu.accelerator)
    gpu_zone = cfg.gpu_zone
    if gpu.zones:
        problems += _gpu_zones_problems(cfg, offered_in)
    elif offered_in is not None and gpu_zone not in offered_in:
        key, fix = ("gpuPool.zone", "set gpuPool.zone to one of them") if gpu.zone else ("zone", "set gpuPool.zone to one of them (a pool may run in another zone of the cluster's region)")
        problems.append(
            (key, gpu_zone, f"does not offer {gpu.accelerator}; the zones of {region} that do are {', '.join(offered_in) or 'none'} "
             f"(program/zones.yaml): {fix}" if offered_in else f"no zone of {region} offers {gpu.accelerator}; choose another accelerator")
        )
    family = catalog.gpu_machine_family(gpu.accelerator)
    if not gpu.machine_type.startswith(family + "-"):
        problems.append(
            ("gpuPool.machineType", gpu.machine_type, f"cannot carry {gpu.accelerator}; it needs a {family}-* machine type, e.g. {_example(known, family)}")
        )
    elif gpu.machine_type not in known:
        problems.append(("gpuPool.machineType", gpu.machine_type, f"not a priced machine type in {region}; use one of {known}"))
    else:
        problems += _disk_problems("gpuPool", gpu.machine_type, gpu.disk_type)
        bundled = catalog.machine(region, gpu.machine_type).bundled_gpus
        if bundled and gpu.accelerator_count != bundled:
            problems.append(
                ("gpuPool.acceleratorCount", gpu.accelerator_count,
                 f"{gpu.machine_type} comes with exactly {bundled} {gpu.accelerator}; set acceleratorCount: {bundled} or pick a larger {family} machine type")
            )
        elif gpu.min_nodes > 0 and not gpu.keep_warm:
            problems.append(
                ("gpuPool.minNodes", gpu.min_nodes,
                 f"a GPU pool must scale to zero: {gpu.min_nodes} warm {gpu.machine_type} node(s) with {gpu.accelerator} "
                 f"cost {_warm_cost(region, gpu)} even when idle. Set minNodes: 0, or set gpuPool.keepWarm: true to pay for it")
            )
    if gpu.quota is not None:
        problems += _gpu_quota_problems(cfg)
    return problems


def _gpu_zones_problems(cfg: StackConfig, offered_in: list[str] | None) -> list[tuple[str, Any, str]]:
    gpu, region = cfg.gpu_pool, cfg.region
    if gpu.zone is not None:
        return [("gpuPool.zones", gpu.zones, f"is set beside gpuPool.zone {gpu.zone}; keep one: zones: [{gpu.zone}] is the same pool")]
    problems = []
    for zone in gpu.zones:
        if catalog.region_of(zone) != region or zone not in catalog.zones(region):
            problems.append(("gpuPool.zones", zone, f"is not a zone of the cluster's region {region}; its zones are {', '.join(catalog.zones(region))}"))
        elif offered_in is not None and zone not in offered_in:
            problems.append(
                ("gpuPool.zones", zone, f"does not offer {gpu.accelerator}; the zones of {region} that do are {', '.join(offered_in) or 'none'} (program/zones.yaml)")
            )
    if len(set(gpu.zones)) != len(gpu.zones):
        problems.append(("gpuPool.zones", gpu.zones, "lists a zone twice; list each once"))
    return problems


def _gpu_quota_problems(cfg: StackConfig) -> list[tuple[str, Any, str]]:
    """The pool's ceiling against the quota the stack declares: a burst beyond the quota leaves
    nodes that GKE cannot create, and pods Pending, while the plan would say the ceiling is there."""
    gpu, region = cfg.gpu_pool, cfg.region
    needed = gpu.gpus
    ceiling = f"maxNodes {gpu.max_nodes} × acceleratorCount {gpu.accelerator_count} = {needed} {gpu.accelerator} GPUs"
    problems = []
    quota = gpu.quota
    regional = catalog.gpu_quota_metric(gpu.accelerator, gpu.spot)
    if gpu.spot and quota.preemptible == 0:
        # Without preemptible quota, Spot VMs count against the on-demand quota.
        regional, has, key = catalog.gpu_quota_metric(gpu.accelerator, False), quota.on_demand, "gpuPool.quota.onDemand"
    else:
        has, key = (quota.preemptible, "gpuPool.quota.preemptible") if gpu.spot else (quota.on_demand, "gpuPool.quota.onDemand")
    if has < needed:
        problems.append((key, has, f"{regional} in {region} is {has}, below the pool's ceiling ({ceiling}): nodes beyond it are never created. "
                         f"{quota_request(cfg.gcp_project, regional, needed, region)}; or lower gpuPool.maxNodes to {has // gpu.accelerator_count}"))
    fallback = gpu.on_demand_fallback
    if fallback is not None:
        # The on-demand rung draws on the regular metric (with Spot, when no preemptible quota is granted).
        on_demand_metric = catalog.gpu_quota_metric(gpu.accelerator, False)
        rung = min(gpu.max_nodes, fallback.max_nodes + (gpu.max_nodes if regional == on_demand_metric else 0)) * gpu.accelerator_count
        if quota.on_demand < rung:
            problems.append(("gpuPool.quota.onDemand", quota.on_demand,
                             f"{on_demand_metric} in {region} is {quota.on_demand}, below the on-demand fallback rung's {rung} GPUs "
                             f"(onDemandFallback.maxNodes {fallback.max_nodes} × acceleratorCount {gpu.accelerator_count}): the fallback stops there. "
                             f"{quota_request(cfg.gcp_project, on_demand_metric, rung, region)}; or lower onDemandFallback.maxNodes"))
    for need in burst_needs(cfg):
        if need.declared is not None and need.declared < need.needed:
            where = f" in {need.region}" if need.region else ""
            others = f", {need.figure(need.needed - need.burst)} of it the other pools' at their maxNodes" if need.needed > need.burst else ""
            problems.append((f"gpuPool.quota.{need.key}", need.declared,
                             f"{need.metric}{where} is {need.figure(need.declared)}, below the {need.figure(need.needed)} a full GPU burst needs "
                             f"({gpu.max_nodes} × {gpu.machine_type} nodes{others}): the autoscaler stops adding nodes at the quota. "
                             f"{quota_request(cfg.gcp_project, need.metric, need.needed, need.region)}; or lower gpuPool.maxNodes"))
    if quota.all_regions < needed:
        problems.append(("gpuPool.quota.allRegions", quota.all_regions,
                         f"GPUS_ALL_REGIONS is {quota.all_regions}, below the pool's ceiling ({ceiling}); a new project has 0. "
                         f"{quota_request(cfg.gcp_project, 'GPUS_ALL_REGIONS', needed, None)}"))
    return problems


def quota_request(project: str, metric: str, value: int, region: str | None) -> str:
    """How to ask Google for ``value`` of a Compute Engine quota: the Cloud Quotas API's gcloud
    command (cloud.google.com/sdk/gcloud/reference/quotas/preferences/create), or the console."""
    quota_id = metric.replace("_", "-") + ("-per-project-region" if region else "-per-project")
    dimensions = f" --dimensions=region={region}" if region else ""
    return (
        f"Request {value} with `gcloud quotas preferences create --service=compute.googleapis.com --project={project} "
        f"--quota-id={quota_id} --preferred-value={value}{dimensions}` or on the console's Quotas page "
        f"(console.cloud.google.com/iam-admin/quotas, filter {metric}), then set the granted figure here"
    )


def _disk_problems(pool: str, machine_type: str, disk_type: str) -> list[tuple[str, Any, str]]:
    offered = catalog.boot_disk_types(machine_type)
    if disk_type in offered:
        return []
    family = machine_type.split("-", 1)[0].upper()
    return [
        (f"{pool}.diskType", disk_type,
         f"{machine_type} cannot boot from {disk_type}: {family} machines offer {', '.join(offered)}, and GKE would fail to "
         f"create the pool's nodes when they are needed. Set {pool}.diskType: {offered[0]}")
    ]


def _warm_cost(region: str, gpu: GpuPoolSettings) -> str:
    try:
        node = catalog.node_hourly(region, gpu.machine_type, gpu.spot, [(gpu.accelerator, gpu.accelerator_count)]) * catalog.HOURS_PER_MONTH
        disk = gpu.disk_size_gb * catalog.disk_monthly_per_gb(region, gpu.disk_type)
    except catalog.UnknownPrice as e:
        return f"an amount the price catalog cannot tell ({e.args[0]})"
    return f"${gpu.min_nodes * (node + disk):,.2f}/month"


def _example(known: list[str], family: str) -> str:
    return next((m for m in known if m.startswith(family + "-")), f"{family}-standard-4")
