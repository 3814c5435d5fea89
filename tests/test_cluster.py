"""ZonalCluster: a zonal, free-tier-eligible GKE cluster with secure, cheap defaults."""

from __future__ import annotations

import pulumi
import pytest
from helpers import CLUSTER, IAM_MEMBER, SERVICE_ACCOUNT, only

from components import ZonalCluster
from components.cluster import NODE_ROLES
from shoestring import offline


@pytest.fixture(scope="module")
def plan() -> offline.Plan:
    def program() -> None:
        cluster = ZonalCluster("lab", {"project": "acme", "zone": "europe-west1-b"})
        pulumi.export("kubeconfig", cluster.kubeconfig)

    return offline.declare(program, stack="test")


def test_the_cluster_lives_in_one_zone_so_the_free_tier_covers_it(plan):
    assert only(plan, CLUSTER).inputs["location"] == "europe-west1-b"


def test_the_default_node_pool_is_removed_so_pools_are_managed_separately(plan):
    inputs = only(plan, CLUSTER).inputs
    assert inputs["removeDefaultNodePool"] is True
    assert inputs["initialNodeCount"] == 1
    assert {"initialNodeCount", "nodeConfig"} <= set(only(plan, CLUSTER).ignore_changes)


def test_workload_identity_shielded_nodes_and_dataplane_v2_are_on(plan):
    inputs = only(plan, CLUSTER).inputs
    assert inputs["workloadIdentityConfig"] == {"workloadPool": "acme.svc.id.goog"}
    assert inputs["enableShieldedNodes"] is True
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"  # enforces NetworkPolicy
    assert inputs["networkingMode"] == "VPC_NATIVE"


def test_it_follows_a_release_channel_with_a_maintenance_window(plan):
    inputs = only(plan, CLUSTER).inputs
    assert inputs["releaseChannel"] == {"channel": "REGULAR"}
    window = inputs["maintenancePolicy"]["recurringWindow"]
    assert window["recurrence"] == "FREQ=WEEKLY;BYDAY=SA,SU"
    assert (window["startTime"], window["endTime"]) == ("2024-01-06T03:00:00Z", "2024-01-06T11:00:00Z")


def test_logging_and_monitoring_stay_within_the_free_allotments(plan):
    inputs = only(plan, CLUSTER).inputs
    assert inputs["loggingConfig"] == {"enableComponents": ["SYSTEM_COMPONENTS"]}
    assert inputs["monitoringConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS"]
    assert inputs["monitoringConfig"]["managedPrometheus"] == {"enabled": False}


def test_the_autoscaler_removes_idle_nodes_promptly(plan):
    assert only(plan, CLUSTER).inputs["clusterAutoscaling"] == {"autoscalingProfile": "OPTIMIZE_UTILIZATION"}


def test_deletion_protection_is_on_unless_a_stack_turns_it_off(plan):
    assert only(plan, CLUSTER).inputs["deletionProtection"] is True


def test_nodes_run_as_a_dedicated_account_with_only_the_node_roles(plan):
    account = only(plan, SERVICE_ACCOUNT)
    assert account.inputs["accountId"] == "lab-nodes"
    assert sorted(m.inputs["role"] for m in plan.of_type(IAM_MEMBER)) == sorted(NODE_ROLES)
    node_config = only(plan, CLUSTER).inputs["nodeConfig"]
    assert node_config["serviceAccount"] == "offline-plan@example.iam.gserviceaccount.com"  # the account's email
    assert node_config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_the_kubeconfig_is_a_secret_that_authenticates_with_the_gcloud_plugin():
    captured: dict[str, str] = {}

    def program() -> None:
        cluster = ZonalCluster("lab", {"project": "acme", "zone": "europe-west1-b"})
        pulumi.export("kubeconfig", cluster.kubeconfig)
        cluster.kubeconfig.apply(lambda text: captured.setdefault("kubeconfig", text))

    plan = offline.declare(program, stack="test")
    assert plan.outputs["kubeconfig"] == offline.SECRET
    assert "command: gke-gcloud-auth-plugin" in captured["kubeconfig"]
    assert "server: https://203.0.113.10" in captured["kubeconfig"]
    provider = only(plan, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == offline.SECRET


def test_protect_passed_to_the_component_reaches_every_child():
    plan = offline.declare(
        lambda: ZonalCluster("lab", {"project": "acme", "zone": "europe-west1-b"}, pulumi.ResourceOptions(protect=True)),
        stack="test",
    )
    assert all(r.protect for r in plan.records)
