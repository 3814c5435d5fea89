"""ZonalCluster: a zonal, free-tier-eligible GKE cluster with secure, cheap defaults."""

from __future__ import annotations

import pulumi
import pytest
from helpers import CLUSTER, IAM_MEMBER, SERVICE_ACCOUNT, only, zonal_cluster

from program.components.cluster import NODE_ROLES
from shoestring import offline


@pytest.fixture(scope="module")
def plan() -> offline.Plan:
    def program() -> None:
        cluster = zonal_cluster()
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
        cluster = zonal_cluster()
        pulumi.export("kubeconfig", cluster.kubeconfig)
        cluster.kubeconfig.apply(lambda text: captured.setdefault("kubeconfig", text))

    plan = offline.declare(program, stack="test")
    assert plan.outputs["kubeconfig"] == offline.SECRET
    assert "command: gke-gcloud-auth-plugin" in captured["kubeconfig"]
    # The DNS-based endpoint (IAM-gated), not the IP endpoint, which is off.
    assert "server: https://gke-0ff11e.us-central1-a.gke.goog" in captured["kubeconfig"]
    assert "certificate-authority-data" not in captured["kubeconfig"]
    provider = only(plan, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == offline.SECRET


def test_protect_passed_to_the_component_reaches_every_child():
    plan = offline.declare(
        lambda: zonal_cluster(opts=pulumi.ResourceOptions(protect=True)),
        stack="test",
    )
    assert all(r.protect for r in plan.records)


def test_the_cluster_has_a_vpc_of_its_own_with_no_firewall_rule_and_private_google_access(plan):
    [network] = plan.of_type("gcp:compute/network:Network")
    [subnet] = plan.of_type("gcp:compute/subnetwork:Subnetwork")
    assert network.inputs["autoCreateSubnetworks"] is False
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert {r["rangeName"] for r in subnet.inputs["secondaryIpRanges"]} == {"pods", "services"}
    assert plan.of_type("gcp:compute/firewall:Firewall") == []
    cluster = only(plan, CLUSTER).inputs
    assert (cluster["network"], cluster["subnetwork"]) == ("lab-id", "lab-europe-west1-id")  # the ids the mocks give them
    assert cluster["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    assert plan.of_type("gcp:compute/routerNat:RouterNat") == []  # public nodes need no NAT


def test_the_control_plane_is_reached_only_through_its_iam_gated_dns_endpoint(plan):
    endpoints = only(plan, CLUSTER).inputs["controlPlaneEndpointsConfig"]
    assert endpoints["dnsEndpointConfig"]["allowExternalTraffic"] is True
    assert endpoints["ipEndpointsConfig"] == {"enabled": False}
    assert "masterAuthorizedNetworksConfig" not in only(plan, CLUSTER).inputs


def test_the_cis_controls_that_cost_nothing_are_on(plan):
    inputs = only(plan, CLUSTER).inputs
    assert inputs["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": False}}
    assert inputs["enableLegacyAbac"] is False
    assert inputs["enableIntranodeVisibility"] is True
    assert inputs["securityPostureConfig"]["mode"] == "BASIC"
    assert inputs["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    assert "authenticatorGroupsConfig" not in inputs  # only with a configured group


def test_authorized_networks_turn_the_ip_endpoints_on_for_those_networks_only():
    plan = offline.declare(lambda: zonal_cluster(control_plane={"authorized_networks": ["203.0.113.0/24"], "rbac_security_group": "gke-security-groups@example.com"}), stack="test")
    inputs = only(plan, CLUSTER).inputs
    assert inputs["controlPlaneEndpointsConfig"]["ipEndpointsConfig"] == {"enabled": True}
    assert inputs["masterAuthorizedNetworksConfig"] == {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}], "gcpPublicCidrsAccessEnabled": False}
    assert inputs["authenticatorGroupsConfig"] == {"securityGroup": "gke-security-groups@example.com"}


def test_private_nodes_get_no_external_ip_and_reach_out_through_cloud_nat():
    def program() -> None:
        from program.components import ClusterNetwork, ZonalCluster
        from program.components.cluster import ClusterSettings

        network = ClusterNetwork("lab", {"project": "acme", "region": "europe-west1", "cloud_nat": True})
        ZonalCluster("lab", {"project": "acme", "zone": "europe-west1-b", "network": network, "settings": ClusterSettings(private_nodes=True)})

    plan = offline.declare(program, stack="test")
    assert only(plan, CLUSTER).inputs["privateClusterConfig"] == {"enablePrivateNodes": True}
    [nat] = plan.of_type("gcp:compute/routerNat:RouterNat")
    assert nat.inputs["natIpAllocateOption"] == "AUTO_ONLY"
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
