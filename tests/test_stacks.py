"""The whole program, run for every stack in stacks/: what `pulumi preview` would declare."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest
from helpers import CLUSTER, NODE_POOL, only
from pydantic.alias_generators import to_camel

from shoestring import offline

STACKS = offline.stacks()
CLUSTER_STACKS = ["dev", "prod"]
"""The stacks that own a cluster; staging runs in prod's (test_projects.py)."""


def test_the_shipped_environments_are_dev_staging_and_prod():
    assert STACKS == ["dev", "prod", "staging"]


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_one_zonal_cluster_without_its_default_pool_and_with_workload_identity(plans, stack):
    cluster = only(plans[stack], CLUSTER).inputs
    assert re.fullmatch(r"[a-z]+-[a-z]+\d+-[a-z]", cluster["location"])
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["workloadIdentityConfig"]["workloadPool"].endswith(".svc.id.goog")


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_a_cpu_pool_that_autoscales_and_always_keeps_a_node(plans, stack):
    pool = only(plans[stack], NODE_POOL, "default-pool").inputs
    assert pool["autoscaling"]["minNodeCount"] >= 1
    assert pool["autoscaling"]["maxNodeCount"] >= pool["autoscaling"]["minNodeCount"]


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_a_gpu_pool_that_scales_to_zero_is_tainted_and_installs_a_driver(plans, stack):
    pool = only(plans[stack], NODE_POOL, "gpu-pool").inputs
    assert pool["autoscaling"]["totalMinNodeCount"] == 0  # over every zone of the pool
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in pool["nodeConfig"]["taints"]
    [accelerator] = pool["nodeConfig"]["guestAccelerators"]
    assert accelerator["count"] >= 1
    assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] in {"DEFAULT", "LATEST"}


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_no_node_uses_the_compute_engine_default_service_account(plans, stack):
    node_configs = [r.inputs["nodeConfig"] for r in plans[stack].of_type(NODE_POOL)]
    node_configs.append(only(plans[stack], CLUSTER).inputs["nodeConfig"])
    for node in node_configs:
        account = node.get("serviceAccount", "default")
        assert account != "default" and not account.endswith("-compute@developer.gserviceaccount.com")


def test_prod_is_protected_twice_dev_can_be_destroyed(plans):
    prod = only(plans["prod"], CLUSTER)
    assert prod.protect and prod.inputs["deletionProtection"] is True
    dev = only(plans["dev"], CLUSTER)
    assert not dev.protect and dev.inputs["deletionProtection"] is False


def test_node_pools_are_not_protected_so_a_machine_type_change_can_replace_them(plans):
    assert not any(pool.protect for pool in plans["prod"].of_type(NODE_POOL))


def test_dev_is_the_cheap_throwaway_spot_nodes_and_one_gpu_at_most(plans):
    pools = {r.name: r.inputs for r in plans["dev"].of_type(NODE_POOL)}
    assert pools["default-pool"]["nodeConfig"]["spot"] is True
    assert pools["gpu-pool"]["nodeConfig"]["spot"] is True
    assert pools["gpu-pool"]["autoscaling"]["totalMaxNodeCount"] == 1


@pytest.mark.parametrize("stack", STACKS)
def test_every_declared_input_is_an_argument_of_the_pinned_provider_sdks(plans, stack):
    for record in plans[stack].records:
        if record.type.startswith(("shoestring:", "pulumi:")):
            continue
        resource_class = _sdk_class(record.type)
        arguments = {to_camel(p) for p in inspect.signature(resource_class._internal_init).parameters} - {"__self__", "resourceName", "opts"}
        assert set(record.inputs) <= arguments, f"{record.type} {record.name}: {set(record.inputs) - arguments}"


@pytest.mark.parametrize("stack", CLUSTER_STACKS)
def test_the_kubeconfig_output_is_secret(plans, stack):
    assert plans[stack].outputs["kubeconfig"] == offline.SECRET


def _sdk_class(type_token: str) -> type:
    """`gcp:container/nodePool:NodePool` -> pulumi_gcp.container.NodePool;
    `kubernetes:networking.k8s.io/v1:NetworkPolicy` -> pulumi_kubernetes.networking.v1.NetworkPolicy."""
    package, module, name = type_token.split(":")
    group, _, version = module.partition("/")
    built_in = group in ("core", "apps", "networking.k8s.io", "scheduling.k8s.io")
    if package == "kubernetes" and not built_in:
        return importlib.import_module("pulumi_kubernetes.apiextensions").CustomResource  # a CRD's kind
    if package == "kubernetes":
        path = f"pulumi_kubernetes.{group.split('.')[0]}.{version}"
    else:
        path = f"pulumi_{package}.{group}"
    return getattr(importlib.import_module(path), name)
