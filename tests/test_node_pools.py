"""DefaultPool, SpotPool and GpuPool: an always-on CPU pool, Spot capacity beside it, and GPU
nodes that exist only while needed."""

from __future__ import annotations

import pytest
from helpers import NODE_POOL, only, pool_args

from program.components import DefaultPool, GpuPool, SpotPool
from program.components.gpu_pool import GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE, GpuPoolSettings
from program.components.node_pool import CAPACITY_LABEL, POOL_LABEL, DefaultPoolSettings
from program.components.spot_pool import SpotPoolSettings
from shoestring import offline

COMMON = {"cluster": "lab", "project": "acme", "zone": "us-central1-a", "service_account": "nodes@acme.iam.gserviceaccount.com"}


@pytest.fixture(scope="module")
def default_pool() -> dict:
    plan = offline.declare(lambda: DefaultPool("cpu", pool_args(DefaultPoolSettings, COMMON)), stack="test")
    return only(plan, NODE_POOL)


@pytest.fixture(scope="module")
def gpu_pool() -> offline.Record:
    args = COMMON | {"machine_type": "g2-standard-4", "accelerator": "nvidia-l4", "zones": ["us-central1-b"]}
    plan = offline.declare(lambda: GpuPool("gpu", pool_args(GpuPoolSettings, args)), stack="test")
    return only(plan, NODE_POOL)


class TestDefaultPool:
    def test_it_autoscales_from_one_node_with_cheap_defaults(self, default_pool):
        assert default_pool.inputs["autoscaling"] == {"minNodeCount": 1, "maxNodeCount": 3}
        node = default_pool.inputs["nodeConfig"]
        assert (node["machineType"], node["diskType"], node["diskSizeGb"], node["spot"]) == ("e2-medium", "pd-standard", 30, False)

    def test_its_initial_size_is_ignored_after_creation_so_the_pool_is_never_recreated_for_it(self, default_pool):
        assert default_pool.inputs["initialNodeCount"] == 1
        assert default_pool.ignore_changes == ("initialNodeCount",)

    def test_it_repairs_and_upgrades_itself(self, default_pool):
        assert default_pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}

    def test_it_takes_every_pod_no_taints(self, default_pool):
        assert "taints" not in default_pool.inputs["nodeConfig"]
        assert default_pool.inputs["nodeConfig"]["labels"] == {POOL_LABEL: "default", CAPACITY_LABEL: "on-demand"}


class TestSpotPool:
    def test_it_is_spot_capacity_labelled_as_such_that_may_scale_to_zero(self):
        pool = only(offline.declare(lambda: SpotPool("spot", pool_args(SpotPoolSettings, COMMON | {"machine_type": "n2d-standard-2"})), stack="test"), NODE_POOL)
        node = pool.inputs["nodeConfig"]
        assert (node["machineType"], node["spot"]) == ("n2d-standard-2", True)
        assert node["labels"] == {POOL_LABEL: "spot", CAPACITY_LABEL: "spot"}
        assert pool.inputs["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 3}
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}

    def test_it_repels_every_pod_that_does_not_tolerate_spot_so_system_pods_stay_on_demand(self):
        pool = only(offline.declare(lambda: SpotPool("spot", pool_args(SpotPoolSettings, COMMON)), stack="test"), NODE_POOL)
        # GKE's documented Spot taint (cloud.google.com/kubernetes-engine/docs/how-to/spot-vms).
        assert pool.inputs["nodeConfig"]["taints"] == [{"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NO_SCHEDULE"}]

    def test_nodes_use_the_given_account_the_metadata_server_and_shielded_vms(self, default_pool):
        node = default_pool.inputs["nodeConfig"]
        assert node["serviceAccount"] == COMMON["service_account"]
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}

    def test_spot_and_sizes_come_from_the_args(self):
        args = COMMON | {"machine_type": "e2-small", "min_nodes": 2, "max_nodes": 4, "spot": True, "disk_type": "pd-balanced"}
        pool = only(offline.declare(lambda: DefaultPool("cpu", pool_args(DefaultPoolSettings, args)), stack="test"), NODE_POOL)
        assert pool.inputs["autoscaling"] == {"minNodeCount": 2, "maxNodeCount": 4}
        assert pool.inputs["initialNodeCount"] == 2
        assert pool.inputs["nodeConfig"]["spot"] is True
        assert pool.inputs["nodeConfig"]["diskType"] == "pd-balanced"


class TestGpuPool:
    def test_it_scales_to_zero_and_starts_empty(self, gpu_pool):
        assert gpu_pool.inputs["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 1, "locationPolicy": "ANY"}
        assert "initialNodeCount" not in gpu_pool.inputs
        assert "nodeCount" not in gpu_pool.inputs

    def test_it_repels_pods_that_do_not_tolerate_the_gpu_taint_or_select_its_compute_class(self, gpu_pool):
        assert gpu_pool.inputs["nodeConfig"]["taints"] == [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
            {"key": "cloud.google.com/compute-class", "value": "shoestring-gpu", "effect": "NO_SCHEDULE"},
        ]

    def test_its_taint_is_exactly_the_one_gke_puts_on_gpu_nodes_so_the_two_never_fight(self):
        # GKE's own taint on GPU nodes is nvidia.com/gpu=present:NoSchedule.
        assert (GPU_TAINT_KEY, GPU_TAINT_VALUE, GPU_TAINT_EFFECT) == ("nvidia.com/gpu", "present", "NO_SCHEDULE")

    def test_it_carries_its_accelerator_with_an_explicit_driver(self, gpu_pool):
        node = gpu_pool.inputs["nodeConfig"]
        assert node["machineType"] == "g2-standard-4"
        assert node["guestAccelerators"] == [
            {"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}
        ]

    def test_it_carries_the_compute_class_label_and_its_gke_name_is_the_one_the_class_lists(self, gpu_pool):
        assert gpu_pool.inputs["nodeConfig"]["labels"] == {POOL_LABEL: "gpu", "cloud.google.com/compute-class": "shoestring-gpu"}
        assert gpu_pool.inputs["name"] == "gpu"

    def test_its_nodes_may_live_in_another_zone_of_the_region(self, gpu_pool):
        assert gpu_pool.inputs["location"] == "us-central1-a"
        assert gpu_pool.inputs["nodeLocations"] == ["us-central1-b"]

    def test_across_zones_its_bounds_are_totals_and_the_autoscaler_takes_any_zone_with_capacity(self):
        args = COMMON | {"machine_type": "g2-standard-4", "accelerator": "nvidia-l4", "max_nodes": 20,
                         "zones": ["us-central1-a", "us-central1-b", "us-central1-c"]}
        pool = only(offline.declare(lambda: GpuPool("gpu", pool_args(GpuPoolSettings, args)), stack="test"), NODE_POOL)
        assert pool.inputs["location"] == "us-central1-a"  # the control plane's zone: still a zonal cluster
        assert pool.inputs["nodeLocations"] == ["us-central1-a", "us-central1-b", "us-central1-c"]
        assert pool.inputs["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 20, "locationPolicy": "ANY"}

    def test_its_nodes_use_the_given_account_not_the_default_one(self, gpu_pool):
        assert gpu_pool.inputs["nodeConfig"]["serviceAccount"] == COMMON["service_account"]
