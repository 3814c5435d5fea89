"""CIS GKE Benchmark 1.9 rules (shoestring/cis_gke.py): each passes the shipped prod cluster,
node pool or network and fails it with one field changed, expecting exactly that rule's
violation — the way pulumi/compliance-policies tests its rules."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from helpers import CLUSTER, NODE_POOL

from shoestring import cis_gke

FIREWALL = cis_gke.FIREWALL
# A rule like the ones GKE adds for load-balancer health checks (Google's probe ranges only).
HEALTH_CHECKS = {"network": "shoestring-prod", "direction": "INGRESS", "sourceRanges": ["35.191.0.0/16", "130.211.0.0/22"], "allows": [{"protocol": "tcp"}]}


def shipped(plans, type_: str, name: str) -> dict:
    if type_ == FIREWALL:
        return copy.deepcopy(HEALTH_CHECKS)
    return copy.deepcopy(next(r for r in plans["prod"].records if r.type == type_ and r.name == name).inputs)


def at(path: str, value):
    def change(inputs: dict) -> None:
        *parents, last = path.split(".")
        node = inputs
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


CASES = [
    ("cluster-dedicated-network", CLUSTER, at("network", "default"),
     "the cluster is on the project's default network, whose auto-created rules admit SSH and RDP from 0.0.0.0/0; give it a VPC of its own"),
    ("no-firewall-open-to-internet", FIREWALL, at("sourceRanges", ["0.0.0.0/0"]), "admits ingress from 0.0.0.0/0; admit only the ranges that need it"),
    ("vpc-native-cluster", CLUSTER, at("networkingMode", "ROUTES"), "the cluster is routes-based; set networkingMode VPC_NATIVE with an ipAllocationPolicy (alias IPs)"),
    ("control-plane-not-public", CLUSTER, at("controlPlaneEndpointsConfig.ipEndpointsConfig.enabled", True),
     "the control plane's IP endpoints admit every address; turn them off (use the DNS-based endpoint) or list authorized networks"),
    ("intranode-visibility", CLUSTER, at("enableIntranodeVisibility", False), "intranode visibility is off; set enableIntranodeVisibility"),
    ("no-client-certificate", CLUSTER, at("masterAuth.clientCertificateConfig.issueClientCertificate", True),
     "a client certificate may be issued (a credential that cannot be revoked); set issueClientCertificate false"),
    ("no-legacy-abac", CLUSTER, at("enableLegacyAbac", True), "legacy ABAC authorization is on; turn it off"),
    ("security-posture", CLUSTER, at("securityPostureConfig.mode", "DISABLED"), "security posture is DISABLED; set mode BASIC (free)"),
    ("binary-authorization", CLUSTER, at("binaryAuthorization.evaluationMode", "DISABLED"),
     "Binary Authorization is DISABLED; set evaluationMode PROJECT_SINGLETON_POLICY_ENFORCE"),
    ("shielded-nodes", CLUSTER, at("enableShieldedNodes", False), "shielded nodes are off; set enableShieldedNodes"),
    ("workload-identity", CLUSTER, at("workloadIdentityConfig", {}), "Workload Identity is off; set workloadIdentityConfig.workloadPool to PROJECT.svc.id.goog"),
    ("release-channel", CLUSTER, at("releaseChannel.channel", "UNSPECIFIED"), "release channel is UNSPECIFIED; follow RAPID, REGULAR or STABLE"),
    ("system-logging-and-monitoring", CLUSTER, at("loggingConfig.enableComponents", []),
     "system components are not logged and monitored; enable SYSTEM_COMPONENTS in loggingConfig and monitoringConfig"),
    ("no-kubernetes-alpha", CLUSTER, at("enableKubernetesAlpha", True), "Kubernetes alpha features are on (an alpha cluster expires after 30 days); turn them off"),
    ("no-default-compute-service-account", NODE_POOL, at("nodeConfig.serviceAccount", "default"),
     "nodes run as the Compute Engine default service account (Editor on the project); give them a dedicated one"),
    ("gke-metadata-server", NODE_POOL, at("nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA"),
     "workload metadata mode is GCE_METADATA; set GKE_METADATA so pods cannot read the node's credentials"),
    ("cos-containerd-nodes", NODE_POOL, at("nodeConfig.imageType", "UBUNTU_CONTAINERD"), "node image is UBUNTU_CONTAINERD; use COS_CONTAINERD (GKE's default)"),
    ("node-auto-repair", NODE_POOL, at("management.autoRepair", False), "node auto-repair is off; turn it on"),
    ("node-auto-upgrade", NODE_POOL, at("management.autoUpgrade", False), "node auto-upgrade is off; turn it on"),
    ("node-integrity-monitoring", NODE_POOL, at("nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring", False),
     "integrity monitoring is off on shielded nodes; turn it on"),
    ("node-secure-boot", NODE_POOL, at("nodeConfig.shieldedInstanceConfig.enableSecureBoot", False), "secure boot is off on shielded nodes; set enableSecureBoot"),
]
NAMES = {CLUSTER: "shoestring-prod", NODE_POOL: "default-pool", FIREWALL: "health-checks"}


@pytest.mark.parametrize(("rule", "type_", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_passes_the_shipped_resource_and_fails_it_with_one_field_changed(plans, rule, type_, change, message):
    inputs = shipped(plans, type_, NAMES[type_])
    assert [r.name for r in cis_gke.RULES if r.check(type_, inputs)] == []
    change(inputs)
    assert {r.name: r.check(type_, inputs) for r in cis_gke.RULES if r.check(type_, inputs)} == {rule: [message]}


def test_every_rule_has_a_case():
    assert [c[0] for c in CASES] == [r.name for r in cis_gke.RULES]


def test_authorized_networks_pass_only_when_they_name_networks_and_shut_out_google_cloud(plans):
    inputs = shipped(plans, CLUSTER, "shoestring-prod")
    at("controlPlaneEndpointsConfig.ipEndpointsConfig.enabled", True)(inputs)
    at("masterAuthorizedNetworksConfig", {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}], "gcpPublicCidrsAccessEnabled": False})(inputs)
    assert cis_gke.control_plane_not_public(inputs) is None
    at("masterAuthorizedNetworksConfig.cidrBlocks", [{"cidrBlock": "0.0.0.0/1"}, {"cidrBlock": "128.0.0.0/1"}])(inputs)
    assert cis_gke.control_plane_not_public(inputs) == (
        "authorized networks together admit 4,294,967,296 IPv4 addresses to the control plane (0.0.0.0/0: the whole internet); "
        "at most 65,536 (a /16's worth) may be authorized: list only your own networks, or none to reach the cluster through "
        "its DNS-based endpoint alone"
    )


def test_every_shipped_stack_passes_every_cis_rule(plans):
    for stack, plan in plans.items():
        assert cis_gke.violations(plan.records) == [], stack



def test_every_control_names_rules_that_exist_and_every_zero_cost_control_passes_in_the_shipped_stacks(plans):
    from shoestring import security

    known = {r.name for r in cis_gke.RULES + security.RULES} | {"namespaces-have-network-policies", "default-service-accounts-without-token", "binary-authorization-policy"}
    assert {name for c in cis_gke.CONTROLS for name in c.enforced_by} <= known
    table = cis_gke.markdown({stack: (plan.records, plan.host_stack) for stack, plan in plans.items()})
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if cells[-1] == "$0":
            # Dry run is dev's choice in its stack file (binaryAuthorization: dryRun), and says so.
            assert all(s.startswith("pass") or s.endswith("cluster") or s == cis_gke.DRY_RUN for s in cells[2:-2]), row


def test_a_broken_rule_shows_as_a_failure_in_the_table(plans):
    records = [r for r in plans["dev"].records]
    cluster = next(r for r in records if r.type == CLUSTER)
    broken = [type(cluster)(**{**cluster.__dict__, "inputs": {**cluster.inputs, "enableLegacyAbac": True}}) if r is cluster else r for r in records]
    row = next(line for line in cis_gke.markdown({"dev": (broken, None)}).splitlines() if line.startswith("| 5.8.3 "))
    assert row == "| 5.8.3 | Legacy ABAC disabled | **fail** | `no-legacy-abac` | $0 |"


# Binary Authorization (CIS GKE 4.5.1, 5.1.4): the policy the cluster enforces is declared, its
# allow-list derived from the definitions, and the image-policy rule holds it to the pods' images.
IMAGE_POLICY = cis_gke.IMAGE_POLICY
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _with(records, type_: str, change):
    """The records with every record of ``type_`` given ``change`` (a function of its copied inputs)."""
    changed = []
    for record in records:
        if record.type == type_:
            inputs = copy.deepcopy(record.inputs)
            change(inputs)
            record = type(record)(**{**record.__dict__, "inputs": inputs})
        changed.append(record)
    return changed


def test_prods_image_policy_admits_only_the_repositories_the_definitions_name(plans):
    from program import definitions

    defined = definitions.discover().values()
    repositories = {app.image for project in defined for app in project.apps} | {
        app.bootstrap.image for project in defined for app in project.apps if app.bootstrap and app.bootstrap.image
    } | {batch.image for project in defined for batch in project.batches}
    [policy] = plans["prod"].of_type(IMAGE_POLICY)
    assert [p["namePattern"] for p in policy.inputs["admissionWhitelistPatterns"]] == [f"{r}{s}*" for r in sorted(repositories) for s in (":", "@")]
    assert policy.inputs["globalPolicyEvaluationMode"] == "ENABLE"  # GKE's own images, by Google's system policy
    assert policy.inputs["defaultAdmissionRule"] == {"evaluationMode": "ALWAYS_DENY", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG"}
    [dev] = plans["dev"].of_type(IMAGE_POLICY)
    assert dev.inputs["defaultAdmissionRule"]["enforcementMode"] == "DRYRUN_AUDIT_LOG_ONLY"  # binaryAuthorization: dryRun
    assert plans["staging"].of_type(IMAGE_POLICY) == []  # a project singleton: only a cluster's owner declares it
    # Every Kubernetes object goes through the provider, and the provider waits for the policy.
    [provider] = plans["prod"].of_type("pulumi:providers:kubernetes")
    assert policy.urn in provider.dependencies


def test_the_tunnels_connector_is_admitted_only_where_a_tunnel_runs(plans):
    from test_public_entry import TUNNEL, run

    from program.components.public_entry import CLOUDFLARED_IMAGE, CLOUDFLARED_REPOSITORY

    assert CLOUDFLARED_IMAGE.startswith(CLOUDFLARED_REPOSITORY + ":")
    [gateway] = plans["prod"].of_type(IMAGE_POLICY)
    assert f"{CLOUDFLARED_REPOSITORY}:*" not in [p["namePattern"] for p in gateway.inputs["admissionWhitelistPatterns"]]
    plan = run("prod", TUNNEL, secret_keys=["shoestring:tunnelCredentials"])
    [tunnel] = plan.of_type(IMAGE_POLICY)
    assert f"{CLOUDFLARED_REPOSITORY}:*" in [p["namePattern"] for p in tunnel.inputs["admissionWhitelistPatterns"]]
    assert cis_gke.image_policy(plan.records) == []


def test_allow_list_patterns_match_as_binary_authorization_matches_them():
    image = "ghcr.io/acme/blog-frontend:9c4e1f2a7b3d@sha256:" + "0" * 64
    assert cis_gke.admits("ghcr.io/acme/blog-frontend*", image)
    assert not cis_gke.admits("ghcr.io/acme/blog-frontend*", "ghcr.io/acme/blog-frontend/sidecar:1")
    assert cis_gke.admits("ghcr.io/acme/**", "ghcr.io/acme/blog-frontend/sidecar:1")
    assert not cis_gke.admits("ghcr.io/acme/blog-backend*", image)


def without_pattern(inputs):
    inputs["admissionWhitelistPatterns"] = [p for p in inputs["admissionWhitelistPatterns"] if "blog-frontend" not in p["namePattern"]]


POLICY_CASES = [
    ("default rule allows", IMAGE_POLICY, at("defaultAdmissionRule.evaluationMode", "ALWAYS_ALLOW"),
     f"{IMAGE_POLICY} shoestring-prod-image-policy", "the default rule is ALWAYS_ALLOW, which admits images off the allow-list; set evaluationMode ALWAYS_DENY"),
    ("no system policy", IMAGE_POLICY, at("globalPolicyEvaluationMode", "DISABLE"),
     f"{IMAGE_POLICY} shoestring-prod-image-policy", "GKE's system images are not admitted by Google's system policy; set globalPolicyEvaluationMode ENABLE"),
    ("a whole registry", IMAGE_POLICY, at("admissionWhitelistPatterns", [{"namePattern": "ghcr.io/**"}]),
     f"{IMAGE_POLICY} shoestring-prod-image-policy", "allows ghcr.io/**, a whole registry or tree; allow single repositories (<registry>/<path>:* and @*)"),
    ("an image off the list", IMAGE_POLICY, without_pattern,
     f"{DEPLOYMENT} blog-frontend", "runs ghcr.io/acme/blog-frontend:9c4e1f2a7b3d@sha256:03add99eadf5b71fa26a01a230a9674cd5c8d2048ac4123b66cd1aeadc3353c0, "
     "which the Binary Authorization policy does not admit; name its repository in a definition (projects/), from which the allow-list is derived"),
]


@pytest.mark.parametrize(("case", "type_", "change", "resource", "message"), POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_the_image_policy_rule_passes_prod_and_fails_it_with_one_field_changed(plans, case, type_, change, resource, message):
    records = plans["prod"].records
    assert cis_gke.image_policy(records) == []
    assert [(v.resource, v.message) for v in cis_gke.image_policy(_with(records, type_, change))] == [(resource, message)]


def test_a_cluster_enforcing_a_policy_nobody_declares_is_refused(plans):
    records = [r for r in plans["prod"].records if r.type != IMAGE_POLICY]
    [violation] = cis_gke.image_policy(records)
    assert str(violation) == (
        f"binary-authorization-policy: {CLUSTER} shoestring-prod: enforces the project's Binary Authorization policy, which the stack "
        "does not declare, and a project's default policy admits every image; declare a gcp.binaryauthorization.Policy (program/components/cluster.py)"
    )


def test_a_repositorys_patterns_admit_its_tags_and_digests_and_not_a_sibling_repository():
    patterns = ["ghcr.io/acme/blog:*", "ghcr.io/acme/blog@*"]
    assert any(cis_gke.admits(p, "ghcr.io/acme/blog:9c4e1f2a7b3d@sha256:" + "0" * 64) for p in patterns)
    assert any(cis_gke.admits(p, "ghcr.io/acme/blog@sha256:" + "0" * 64) for p in patterns)
    assert not any(cis_gke.admits(p, "ghcr.io/acme/blog-evil:1") for p in patterns)
    assert cis_gke.admits("ghcr.io/acme/blog*", "ghcr.io/acme/blog-evil:1")  # what a bare trailing * admits


def test_a_pattern_that_admits_sibling_repositories_is_refused(plans):
    [policy] = plans["prod"].of_type(IMAGE_POLICY)
    loose = dataclasses.replace(policy, inputs={**policy.inputs, "admissionWhitelistPatterns": [{"namePattern": "ghcr.io/acme/blog-frontend*"}]})
    found = [v.message for v in cis_gke.image_policy([loose])]
    assert "allows ghcr.io/acme/blog-frontend*, which admits every sibling repository sharing its beginning; allow ghcr.io/acme/blog-frontend:* and ghcr.io/acme/blog-frontend@*" in found


def test_an_image_only_a_batch_runs_is_on_the_allow_list():
    from program import config, definitions

    ml = definitions.discover()["ml"]
    batch_only = ml.model_copy(update={"batches": (ml.batches[0].model_copy(update={"image": "ghcr.io/acme/ml-embedder"}),)})
    cfg = config.load("prod", config.read_stack_files("prod")[0], {**definitions.discover(), "ml": batch_only})
    assert "ghcr.io/acme/ml-embedder" in cfg.images
