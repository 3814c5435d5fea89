"""The shared public entry: one Gateway (or a $0 tunnel) for every public app, never a load
balancer per service, with the projects' isolation admitting exactly the entry's traffic."""

from __future__ import annotations

import json
import runpy

import pytest
from helpers import only

from program import config, cost, definitions
from shoestring import offline
from program.config import ConfigError

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
CERTIFICATE = "gcp:certificatemanager/certificate:Certificate"
MAP_ENTRY = "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry"
ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
SERVICE = "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
TUNNEL_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def run(stack: str, changes: dict[str, str], secret_keys: list[str] | None = None) -> offline.Plan:
    raw = config.read_stack_files(stack)[0] | changes
    return offline.declare(
        lambda: runpy.run_path(str(offline.ROOT / "__main__.py"), run_name="__main__"), stack=stack, config=raw, secret_keys=secret_keys or []
    )


def problems(stack: str, changes: dict[str, str], secret_keys: tuple[str, ...] = ()) -> str:
    raw = config.read_stack_files(stack)[0] | changes
    with pytest.raises(ConfigError) as raised:
        config.load(stack, raw, definitions.discover(), secret_keys=secret_keys)
    return str(raised.value)


def projects(stack: str, **apps) -> str:
    """The stack's shoestring:projects with some apps' settings replaced."""
    settings = json.loads(config.read_stack_files(stack)[0]["shoestring:projects"])
    for key, value in apps.items():
        project, app = key.split("__")
        settings.setdefault(project, {}).setdefault("apps", {})[app] = value
    return json.dumps(settings)


class TestGateway:
    def test_prods_blog_frontend_is_public_through_one_gateway_with_certificates_and_a_static_ip(self, plans):
        plan = plans["prod"]
        gateway = only(plan, GATEWAY)
        assert gateway.inputs["spec"]["gatewayClassName"] == "gke-l7-global-external-managed"
        routes = {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type(ROUTE)}
        assert set(routes) == {"frontend", "https-redirect"}
        assert routes["frontend"]["spec"]["hostnames"] == ["blog.example.com"]
        assert routes["frontend"]["spec"]["parentRefs"] == [{"name": "shoestring", "namespace": "shoestring-entry", "sectionName": "https"}]
        assert [c.inputs["managed"]["domains"] for c in plan.of_type(CERTIFICATE)] == [["blog.example.com"]]
        assert only(plan, MAP_ENTRY).inputs["hostname"] == "blog.example.com"
        assert only(plan, ADDRESS).inputs["name"] == "shoestring-prod-entry"
        assert {s.inputs["spec"]["type"] for s in plan.of_type(SERVICE)} == {"ClusterIP"}

    def test_the_gateway_serves_https_with_the_certificate_map_and_redirects_http(self, plans):
        gateway = only(plans["prod"], GATEWAY).inputs
        assert gateway["metadata"]["annotations"] == {"networking.gke.io/certmap": "shoestring-prod-entry"}
        listeners = {l["name"]: l for l in gateway["spec"]["listeners"]}
        assert (listeners["https"]["protocol"], listeners["https"]["port"]) == ("HTTPS", 443)
        redirect = next(r for r in plans["prod"].of_type(ROUTE) if r.inputs["metadata"]["name"] == "https-redirect").inputs
        assert redirect["spec"]["rules"][0]["filters"] == [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]

    def test_routes_are_admitted_only_from_namespaces_labelled_for_the_entry(self, plans):
        https = only(plans["prod"], GATEWAY).inputs["spec"]["listeners"][0]
        assert https["allowedRoutes"]["namespaces"] == {"from": "Selector", "selector": {"matchLabels": {"shoestring.dev/public-entry": "true"}}}
        labelled = {
            r.inputs["metadata"]["name"]
            for r in plans["prod"].of_type("kubernetes:core/v1:Namespace")
            if r.inputs["metadata"]["labels"].get("shoestring.dev/public-entry") == "true"
        }
        assert labelled == {"blog"}

    def test_the_cluster_has_the_gateway_api_and_the_outputs_say_which_dns_records_to_create(self, plans):
        cluster = only(plans["prod"], "gcp:container/cluster:Cluster").inputs
        assert cluster["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
        [record] = plans["prod"].outputs["dns_records"]
        assert (record["name"], record["type"]) == ("blog.example.com", "A")
        assert "public_ip" in plans["prod"].outputs

    def test_staging_attaches_its_own_host_to_prods_gateway_with_its_own_certificate(self, plans):
        plan = plans["staging"]
        assert not plan.of_type(GATEWAY) and not plan.of_type(ADDRESS)
        [route] = plan.of_type(ROUTE)
        assert route.inputs["metadata"]["namespace"] == "blog-staging"
        assert route.inputs["spec"]["hostnames"] == ["staging.blog.example.com"]
        assert only(plan, MAP_ENTRY).inputs["map"] == "shoestring-prod-entry"

    def test_a_new_public_app_adds_its_route_health_check_and_certificate_and_no_forwarding_rule(self, plans):
        before = plans["prod"]
        after = run("prod", {"shoestring:projects": projects("prod", blog__backend={"replicas": 3, "hosts": ["api.example.com"]})})
        added = sorted(r.type for r in after.records if r.urn not in {b.urn for b in before.records})
        assert added == sorted([ROUTE, "kubernetes:networking.gke.io/v1:HealthCheckPolicy", CERTIFICATE, MAP_ENTRY])
        assert only(after, GATEWAY).inputs == only(before, GATEWAY).inputs
        entry = next(line for line in cost.estimate("prod", after.records).lines if line.item == "public entry (Gateway)")
        assert entry.idle_monthly == pytest.approx(18.25)

    def test_the_entry_costs_one_forwarding_rule_minimum_in_make_cost(self, plans):
        entry = next(line for line in cost.estimate("prod", plans["prod"].records).lines if line.item == "public entry (Gateway)")
        # Ports 80 and 443: two global rules, within the project's first five at $0.025/h x 730 h together.
        assert entry.idle_monthly == pytest.approx(0.025 * 730)
        assert "2 global forwarding rules (Gateway port 80, Gateway port 443)" in entry.detail
        assert "as LoadBalancer Services they would be 1 regional rule = $18.25 with no TLS" in entry.detail

    def test_isolation_admits_the_load_balancer_to_the_public_apps_port_only(self, plans):
        policy = next(p for p in plans["prod"].of_type(POLICY) if p.inputs["metadata"]["name"] == "allow-public-entry").inputs
        assert policy["metadata"]["namespace"] == "blog"
        assert policy["spec"]["podSelector"] == {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": ["frontend"]}]}
        [rule] = policy["spec"]["ingress"]
        assert rule["from"] == [{"ipBlock": {"cidr": "35.191.0.0/16"}}, {"ipBlock": {"cidr": "130.211.0.0/22"}}]
        assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
        ml_policies = {p.inputs["metadata"]["name"] for p in plans["prod"].of_type(POLICY) if p.inputs["metadata"]["namespace"] == "ml"}
        assert "allow-public-entry" not in ml_policies


TUNNEL = {"shoestring:publicEntry": "tunnel", "shoestring:tunnelId": TUNNEL_ID, "shoestring:tunnelCredentials": '{"AccountTag": "x"}'}


@pytest.fixture(scope="module")
def tunnel_plan() -> offline.Plan:
    return run("prod", TUNNEL, secret_keys=["shoestring:tunnelCredentials"])


class TestTunnel:
    def test_no_google_load_balancing_resource_is_declared(self, tunnel_plan):
        types = {r.type for r in tunnel_plan.records}
        assert not types & {GATEWAY, ROUTE, CERTIFICATE, MAP_ENTRY, ADDRESS}
        assert "gatewayApiConfig" not in only(tunnel_plan, "gcp:container/cluster:Cluster").inputs
        assert not [line for line in cost.estimate("prod", tunnel_plan.records).lines if "forwarding" in line.detail]  # no entry line at all

    def test_the_connector_routes_the_same_hosts_to_the_same_internal_services(self, tunnel_plan):
        config_map = only(tunnel_plan, "kubernetes:core/v1:ConfigMap").inputs
        settings = json.loads(config_map["data"]["config.yaml"])
        assert settings["tunnel"] == TUNNEL_ID
        assert settings["ingress"] == [
            {"hostname": "blog.example.com", "path": "^/", "service": "http://frontend.blog.svc.cluster.local:8080"},
            {"service": "http_status:404"},
        ]
        [record] = tunnel_plan.outputs["dns_records"]
        assert record == {"name": "blog.example.com", "type": "CNAME", "value": f"{TUNNEL_ID}.cfargotunnel.com"}

    def test_the_credentials_are_read_as_a_secret(self, tunnel_plan):
        secret = only(tunnel_plan, "kubernetes:core/v1:Secret")
        assert secret.inputs["stringData"] == offline.SECRET

    def test_isolation_admits_the_connectors_namespace_only(self, tunnel_plan):
        policy = next(p for p in tunnel_plan.of_type(POLICY) if p.inputs["metadata"]["name"] == "allow-public-entry").inputs
        assert policy["spec"]["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shoestring-entry"}}}]

    def test_a_tunnel_without_its_secret_is_refused(self):
        message = problems("prod", {"shoestring:publicEntry": "tunnel", "shoestring:tunnelId": TUNNEL_ID})
        assert "shoestring:tunnelCredentials = None: publicEntry: tunnel needs the tunnel's credentials file as a secret" in message

    def test_credentials_in_plain_text_are_refused(self):
        message = problems("prod", TUNNEL)
        assert "shoestring:tunnelCredentials is in plain text: set it with `pulumi config set --secret tunnelCredentials ...`" in message


class TestGuardrails:
    def test_two_apps_on_the_same_host_and_path_are_refused_naming_both(self):
        message = problems("prod", {"shoestring:projects": projects("prod", blog__backend={"hosts": ["blog.example.com"]})})
        assert "shoestring:projects = 'blog.example.com/': is claimed by both blog/frontend and blog/backend" in message

    def test_a_staging_host_that_prod_already_answers_on_is_refused(self):
        message = problems("staging", {"shoestring:projects": projects("staging", blog__frontend={"hosts": ["blog.example.com"]})})
        assert "is claimed by both blog/frontend (prod) and blog-staging/frontend" in message

    def test_a_public_app_in_a_stack_without_an_entry_stays_internal_and_says_so(self):
        """A host added once in a definition must not break the stacks whose cluster has no way in."""
        raw = {**config.read_stack_files("dev")[0], "shoestring:projects": projects("dev", blog__frontend={"hosts": ["dev.blog.example.com"]})}
        cfg = config.load("dev", raw, definitions.discover())
        [blog] = [p for p in cfg.deployed if p.name == "blog"]
        assert all(app.public is None for app in blog.apps)
        assert "blog/frontend: public in its definition, internal in this stack, whose cluster has no public entry (publicEntry: none)" in cfg.notices

    def test_a_host_that_is_not_a_dns_name_is_refused(self):
        message = problems("prod", {"shoestring:projects": projects("prod", blog__frontend={"hosts": ["Blog_Site"]})})
        assert "shoestring:projects = 'Blog_Site': blog/frontend's public host is not a valid DNS name" in message
