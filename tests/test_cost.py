"""Cost: the estimator against figures computed by hand from program/prices.yaml, budgets that
stop a stack, and the same rules in the CrossGuard policy pack."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pulumi_policy import PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs

from program.components import DefaultPool, GpuPool, MonthlyBudget, ZonalCluster
from program.components.gpu_pool import GpuPoolSettings
from program.components.node_pool import DefaultPoolSettings
from program import capacity, catalog, config, cost, names
from shoestring import offline
from shoestring.__main__ import cli
from helpers import pool_args, zonal_cluster

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "policies"))
import guardrails  # noqa: E402  (policies/guardrails.py, the policy pack's validation functions)

HOURS = 730
NODES = {"cluster": "lab", "project": "acme", "zone": "us-central1-a", "service_account": "nodes@acme.iam.gserviceaccount.com"}

# Catalog figures, us-central1 (program/prices.yaml).
N1_STANDARD_1 = 0.04749975
E2_MEDIUM_SPOT = 0.020106
G2_STANDARD_4 = 0.706832255
PD_STANDARD = 0.04
PD_BALANCED = 0.10
NODE_IP, SPOT_NODE_IP = 0.005, 0.0025
FIRST_FIVE_RULES, EXTRA_RULE = 0.025, 0.01


def priced(program, stack="test") -> cost.Estimate:
    return cost.estimate(stack, offline.declare(program, stack=stack).records)


def cluster(free_tier: bool) -> ZonalCluster:
    labels = {names.STACK_LABEL: "lab", names.FREE_TIER_LABEL: str(free_tier).lower()}
    return zonal_cluster(zone="us-central1-a", labels=labels)


def line(estimate: cost.Estimate, item: str) -> cost.Line:
    [found] = [x for x in estimate.lines if x.item == item]
    return found


class TestEstimator:
    def test_a_free_tier_zonal_cluster_with_three_n1_standard_1_nodes(self):
        def blog_sized() -> None:
            cluster(free_tier=True)
            DefaultPool("default-pool", pool_args(DefaultPoolSettings, NODES | {"machine_type": "n1-standard-1", "min_nodes": 3, "max_nodes": 3}))

        estimate = priced(blog_sized)
        assert line(estimate, "GKE management fee").idle_monthly == 0
        # 3 nodes x $0.04749975/h x 730 h, less N1's 30% sustained-use discount for a full month.
        assert line(estimate, "default-pool nodes").idle_monthly == pytest.approx(3 * N1_STANDARD_1 * HOURS * 0.70)
        assert line(estimate, "default-pool boot disks").idle_monthly == pytest.approx(3 * 30 * PD_STANDARD)
        assert line(estimate, "default-pool node IPs").idle_monthly == pytest.approx(3 * NODE_IP * HOURS)
        assert estimate.idle_monthly_usd == 87.37  # 72.82 + 3.60 + 10.95

    def test_a_second_cluster_in_the_billing_account_pays_the_management_fee(self):
        estimate = priced(lambda: cluster(free_tier=False))
        assert line(estimate, "GKE management fee").idle_monthly == pytest.approx(0.10 * HOURS)  # $73.00

    def test_a_regional_cluster_never_gets_the_free_tier_and_runs_nodes_in_three_zones(self):
        records = offline.declare(
            lambda: (cluster(free_tier=True), DefaultPool("default-pool", pool_args(DefaultPoolSettings, NODES | {"machine_type": "n1-standard-1"}))), stack="test"
        ).records
        regional = [_relocated(r, "us-central1") for r in records]
        estimate = cost.estimate("test", regional)
        assert line(estimate, "GKE management fee").idle_monthly == pytest.approx(73.0)
        assert line(estimate, "default-pool nodes").idle_monthly == pytest.approx(3 * N1_STANDARD_1 * HOURS * 0.70)

    def test_a_scale_to_zero_l4_pool_costs_nothing_idle_and_its_node_hours_when_used(self):
        gpu = NODES | {"machine_type": "g2-standard-4", "accelerator": "nvidia-l4"}

        def stack() -> None:
            GpuPool("gpu-pool", pool_args(GpuPoolSettings, gpu))
            MonthlyBudget("test-budget", {"monthly_usd": 100, "expected_gpu_hours": 40})

        estimate = priced(stack)
        assert estimate.idle_monthly_usd == 0
        # One L4 node: the g2-standard-4 (GPU bundled), its external IP and its 100 GB pd-balanced disk, per hour.
        node_hour = G2_STANDARD_4 + NODE_IP + 100 * PD_BALANCED / HOURS
        assert estimate.burst_hourly_usd == pytest.approx(node_hour, abs=1e-4)
        assert estimate.expected_monthly_usd == pytest.approx(40 * node_hour, abs=0.01)  # $29.02

    def test_a_warm_gpu_node_costs_its_machine_and_its_disk_all_month(self):
        warm = NODES | {"machine_type": "g2-standard-4", "accelerator": "nvidia-l4", "min_nodes": 1, "max_nodes": 2}
        estimate = priced(lambda: GpuPool("gpu-pool", pool_args(GpuPoolSettings, warm)))
        # G2 has no sustained-use discount: ($0.706832255 + $0.005 IP)/h x 730 h + 100 GB x $0.10 (pd-balanced).
        month = (G2_STANDARD_4 + NODE_IP) * HOURS + 100 * PD_BALANCED
        assert estimate.idle_monthly_usd == pytest.approx(month, abs=0.01)  # $529.64
        assert estimate.ceiling_monthly_usd == pytest.approx(2 * month, abs=0.01)

    def test_a_spot_default_pool_gets_spot_prices_and_no_sustained_use_discount(self):
        estimate = priced(lambda: DefaultPool("default-pool", pool_args(DefaultPoolSettings, NODES | {"min_nodes": 2, "spot": True})))
        assert line(estimate, "default-pool nodes").idle_monthly == pytest.approx(2 * E2_MEDIUM_SPOT * HOURS)

    def test_a_resource_it_cannot_price_is_listed_as_not_priced_never_as_zero(self):
        records = [offline.Record("gcp:sql/databaseInstance:DatabaseInstance", "db", None, "urn:db", {})]
        estimate = cost.estimate("test", records)
        assert estimate.not_priced == ["gcp:sql/databaseInstance:DatabaseInstance db"]
        assert estimate.lines[0].idle_monthly is None

    def test_a_gpu_the_catalog_cannot_price_makes_the_pool_not_priced(self):
        t4 = NODES | {"machine_type": "n1-standard-4", "accelerator": "nvidia-tesla-t4"}
        estimate = priced(lambda: GpuPool("gpu-pool", pool_args(GpuPoolSettings, t4)))
        assert estimate.not_priced == ["gpu-pool nodes"]

    def test_a_stack_in_another_stacks_cluster_pays_no_fee_and_says_whose_cluster_and_what_it_requests(self, plans):
        estimate = cost.estimate("staging", plans["staging"].records, plans["prod"].records)
        shared = line(estimate, "shared cluster")
        assert "runs in prod's cluster, no management fee" in shared.detail
        # blog-staging's frontend (100m, 128Mi) and backend (200m, 256Mi); ml-staging's worker at 0 replicas.
        # Quotas: blog-staging 2 vCPU, 4 GiB; ml-staging 4 vCPU, 16 GiB for its apps plus its batches at
        # full parallelism (embed at 2 in staging, eval at 1; 2 vCPU and 8 GiB a pod).
        assert "its pods request 0.3 vCPU and 0.38 GiB at rest (its quotas allow up to 12 vCPU and 44 GiB)" in shared.detail
        # They fit beside prod's pods on prod's one on-demand and one Spot node: nothing added.
        assert "they fit in the room prod's nodes have at rest" in shared.detail
        # Its only charges: the one Secret Manager secret its backend reads, one version at $0.06,
        # and ml-staging's own 50 GiB bucket at $0.02/GiB-month.
        assert estimate.idle_monthly_usd == pytest.approx(0.06 + 1.00)
        assert "1 secret(s) the apps read (blog-staging-db-url)" in line(estimate, "Secret Manager").detail
        assert "Standard storage in us-central1, 50 GiB declared at $0.02/GiB-month" in line(estimate, "Bucket replace-with-your-project-id-ml-staging-data").detail

    def test_node_allocatable_follows_gkes_reservations(self):
        from program import catalog

        assert capacity.node_allocatable(catalog.machine("us-central1", "e2-medium")) == pytest.approx((0.94, 4 - 1 - 100 / 1024))
        cpu, memory = capacity.node_allocatable(catalog.machine("us-central1", "e2-standard-4"))
        assert cpu == pytest.approx(4 - 0.06 - 0.01 - 0.01)
        assert memory == pytest.approx(16 - (1 + 0.8 + 0.8) - 100 / 1024)


class TestPricedAsGoogleBills:
    """Forwarding rules, node addresses and certificates are billed per project, not per resource."""

    def test_the_gateway_prices_at_one_forwarding_rule_minimum(self, plans):
        # Ports 80 and 443 are two global rules: both within the project's first five, $0.025/h together.
        entry = line(cost.estimate("prod", plans["prod"].records), "public entry (Gateway)")
        assert entry.idle_monthly == pytest.approx(FIRST_FIVE_RULES * HOURS)  # $18.25

    @pytest.mark.parametrize(
        ("services", "monthly"),
        [(1, FIRST_FIVE_RULES * HOURS), (5, FIRST_FIVE_RULES * HOURS), (6, (FIRST_FIVE_RULES + EXTRA_RULE) * HOURS), (20, (FIRST_FIVE_RULES + 15 * EXTRA_RULE) * HOURS)],
    )
    def test_load_balancer_services_price_at_the_minimum_plus_each_rule_beyond_five(self, services, monthly):
        records = [cluster_record()] + [load_balancer(f"app{i}") for i in range(services)]
        [rules] = [x for x in cost.estimate("test", records).lines if x.item.startswith("load balancers")]
        assert rules.idle_monthly == pytest.approx(monthly)  # 1-5: $18.25, 6: $25.55, 20: $127.75
        assert "us-central1 forwarding rule" in rules.detail

    def test_a_stack_in_another_stacks_cluster_pays_only_what_its_rules_add_to_the_projects(self):
        host = [cluster_record()] + [load_balancer(f"host{i}") for i in range(4)]
        guest = [load_balancer("guest0"), load_balancer("guest1")]
        [rules] = [x for x in cost.estimate("guest", guest, host).lines if x.item.startswith("load balancers")]
        # The host's 4 rules and the guest's 2 make 6: the guest adds one rule beyond five.
        assert rules.idle_monthly == pytest.approx(EXTRA_RULE * HOURS)  # $7.30

    def test_a_public_node_pool_adds_one_external_ip_per_node_and_private_nodes_none(self):
        on_demand = priced(lambda: DefaultPool("default-pool", pool_args(DefaultPoolSettings, NODES | {"min_nodes": 2, "max_nodes": 4})))
        assert line(on_demand, "default-pool node IPs").idle_monthly == pytest.approx(2 * NODE_IP * HOURS)  # $7.30
        assert line(on_demand, "default-pool node IPs").ceiling_monthly == pytest.approx(4 * NODE_IP * HOURS)
        spot = priced(lambda: DefaultPool("default-pool", pool_args(DefaultPoolSettings, NODES | {"min_nodes": 2, "spot": True})))
        assert line(spot, "default-pool node IPs").idle_monthly == pytest.approx(2 * SPOT_NODE_IP * HOURS)  # $3.65

        records = offline.declare(lambda: DefaultPool("default-pool", pool_args(DefaultPoolSettings, NODES | {"min_nodes": 2})), stack="test").records
        private = [cluster_record(privateClusterConfig={"enablePrivateNodes": True}), *records]
        assert not [x for x in cost.estimate("test", private).lines if x.item.endswith("node IPs")]

    def test_private_nodes_trade_each_nodes_ip_for_cloud_nats_per_node_rate_and_its_one_address(self, plans):
        raw = config.read_stack_files("prod")[0] | {"shoestring:privateNodes": "true"}
        private = cost.estimate("prod", offline.run("prod", config=raw).records)
        public = cost.estimate("prod", plans["prod"].records)
        assert not [x for x in private.lines if x.item.endswith("node IPs")]
        # prod at rest: two on-demand and one Spot node. NAT: 3 × $0.0014/h + one NAT IP at $0.005/h.
        assert line(private, "Cloud NAT").idle_monthly == pytest.approx((3 * 0.0014 + 0.005) * HOURS)  # $6.72
        assert sum(x.idle_monthly for x in public.lines if x.item.endswith("node IPs")) == pytest.approx((2 * NODE_IP + SPOT_NODE_IP) * HOURS)  # $9.13
        assert {r.item: r.per_gib for r in private.rates}["Cloud NAT data processed"] == 0.045
        assert line(private, "Cloud NAT").burst_hourly == 0.0014  # a GPU node behind the NAT

    def test_certificates_are_free_up_to_the_projects_allowance(self, plans):
        certificates = line(cost.estimate("staging", plans["staging"].records, plans["prod"].records), "TLS certificates")
        assert certificates.idle_monthly == 0
        assert "2 in the project, free up to 100" in certificates.detail

    def test_usage_it_cannot_know_is_shown_as_a_rate_never_as_zero(self, plans):
        rates = {rate.item: rate.per_gib for rate in cost.estimate("prod", plans["prod"].records).rates}
        assert rates == {"load balancer data processed": 0.008, "internet egress": 0.12}

    def test_n2d_gets_its_sustained_use_discount_and_t2d_none(self):
        assert catalog.sustained_use_discount("n2d-standard-2") == 0.20
        assert catalog.sustained_use_discount("t2d-standard-2") == 0.0
        assert catalog.sustained_use_discount("c2-standard-4") == 0.20

    def test_a_shared_core_machine_counts_by_the_share_it_is_billed_for(self):
        assert catalog.machine("us-central1", "e2-medium").billed_vcpus == 1
        assert catalog.machine("us-central1", "e2-medium").vcpus == 2  # what GKE's allocatable is computed from


class TestCatalogAge:
    def test_a_catalog_older_than_ninety_days_warns_with_its_data_date_and_the_fix(self):
        dated = catalog.data_date()
        assert catalog.staleness_warning(dated + datetime.timedelta(days=90)) is None
        warning = catalog.staleness_warning(dated + datetime.timedelta(days=91))
        assert warning.startswith(f"the price catalog's data is from {dated} (91 days old, more than 90)")
        assert "make prices" in warning

    def test_make_cost_prints_the_warning(self):
        result = CliRunner().invoke(cli, ["cost", "--stack", "dev"])
        stale = catalog.staleness_warning(datetime.date.today())
        assert (stale is not None) == ("price catalog's data is from" in result.output)


class TestBudgets:
    def test_every_shipped_stack_is_within_its_budget(self, plans):
        for stack, plan in plans.items():
            estimate = cost.estimate(stack, plan.records)
            assert estimate.budget_usd is not None, f"{stack} has no budget"
            assert cost.over_budget(estimate) is None

    def test_a_budget_below_the_estimate_names_the_budget_the_estimate_and_the_largest_items(self):
        estimate = _with_budget_of("prod", 50)
        message = cost.over_budget(estimate)
        expected = estimate.expected_monthly_usd
        assert f"stack prod: expected ${expected:,.2f}/month exceeds its budget of $50.00/month by ${expected - 50:,.2f}" in message
        largest = sorted((x for x in estimate.lines if x.idle_monthly), key=lambda x: -x.idle_monthly)[:3]
        assert "Largest line items: " + "; ".join(f"{x.item} ${x.idle_monthly:,.2f}" for x in largest) in message
        gpu = estimate.expected_gpu_hours * estimate.burst_hourly_usd
        assert f"GPU burst 40 h × ${estimate.burst_hourly_usd:,.4f}/h = ${gpu:,.2f}" in message

    def test_raising_the_budget_passes(self):
        estimate = _with_budget_of("prod", 50)
        assert cost.over_budget(_with_budget_of("prod", estimate.expected_monthly_usd + 1)) is None

    def test_make_plan_fails_over_budget_too(self, tmp_path):
        copy = tmp_path / "shoestring"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".tools", ".git", "__pycache__", ".pytest_cache"))
        stack_file = copy / "stacks" / "Pulumi.prod.yaml"
        stack_file.write_text(re.sub(r"shoestring:budget: \d+", "shoestring:budget: 50", stack_file.read_text()))
        completed = subprocess.run([sys.executable, "-m", "shoestring", "plan", "--stack", "prod"], cwd=copy, capture_output=True, text=True)
        assert completed.returncode == 1
        expected = _with_budget_of("prod", 50).expected_monthly_usd
        assert f"stack prod: expected ${expected:,.2f}/month exceeds its budget of $50.00/month" in completed.stderr

    def test_a_billing_account_declares_a_cloud_billing_budget_alerting_at_50_90_and_100_percent(self):
        args = {"monthly_usd": 160, "expected_gpu_hours": 40, "billing_account": "01ABCD-23EF45-6789AB", "quota_project": "acme", "project_number": "123456789012"}
        plan = offline.declare(lambda: MonthlyBudget("prod-budget", args), stack="test")
        [budget] = plan.of_type("gcp:billing/budget:Budget")
        # No currency: Google takes the billing account's own, and refuses any other.
        assert budget.inputs["amount"] == {"specifiedAmount": {"units": "160"}}
        assert [t["thresholdPercent"] for t in budget.inputs["thresholdRules"]] == [0.5, 0.9, 1.0]

    def test_the_cloud_billing_budget_alerts_on_list_spend_and_counts_the_free_tier_credit_the_estimate_counts(self):
        plan = offline.run("prod", config={**config.read_stack_files("prod")[0], "shoestring:billingAccount": "01ABCD-23EF45-6789AB"})
        [budget] = plan.of_type("gcp:billing/budget:Budget")
        assert budget.inputs["budgetFilter"]["creditTypesTreatment"] == "EXCLUDE_ALL_CREDITS"
        # prod's budget of 108 (stacks/Pulumi.prod.yaml) plus the free cluster's $73.00 fee, which the estimate prices at $0.
        assert budget.inputs["amount"] == {"specifiedAmount": {"units": "181"}}

    def test_the_budgets_currency_is_the_stacks_setting_and_the_plan_says_what_it_compares(self):
        raw = {**config.read_stack_files("dev")[0], "shoestring:billingAccount": "01ABCD-23EF45-6789AB", "shoestring:budgetCurrency": "EUR"}
        plan = offline.run("dev", config=raw)
        [budget] = plan.of_type("gcp:billing/budget:Budget")
        assert budget.inputs["amount"] == {"specifiedAmount": {"currencyCode": "EUR", "units": "120"}}
        assert any("Google alerts at 120 EUR a month" in note for note in plan.notes)

    def test_the_cloud_billing_budget_counts_the_whole_gcp_project_by_its_number(self):
        """A label filter missed what carries no label of ours: the Gateway's forwarding rules, NAT, secrets."""
        plan = offline.run("prod", config={**config.read_stack_files("prod")[0], "shoestring:billingAccount": "01ABCD-23EF45-6789AB"})
        [budget] = plan.of_type("gcp:billing/budget:Budget")
        assert budget.inputs["budgetFilter"]["projects"] == ["projects/000000000000"]
        assert any("its number is stood in for offline" in note for note in plan.notes)

    def test_no_billing_account_no_cloud_billing_budget_and_the_plan_says_so(self, plans):
        assert not plans["prod"].of_type("gcp:billing/budget:Budget")
        assert any("no Cloud Billing budget" in note and "shoestring:billingAccount" in note for note in plans["prod"].notes)


class TestCostCommand:
    def test_json_has_the_figures_and_the_lines(self):
        result = CliRunner().invoke(cli, ["cost", "--stack", "dev", "--json"])
        assert result.exit_code == 0, result.output
        body = json.loads(result.output)
        assert {"idle_monthly_usd", "burst_hourly_usd", "expected_monthly_usd", "lines"} <= set(body)
        assert body["lines"][0]["item"] == "GKE management fee"

    def test_all_stacks_warns_when_two_stacks_of_one_billing_account_claim_the_free_cluster(self):
        free = cost.Estimate("a", "us-central1", [cost.Line("GKE management fee", "free", 0.0)])
        also_free = cost.Estimate("b", "us-central1", [cost.Line("GKE management fee", "free", 0.0)])
        paying = cost.Estimate("c", "us-central1", [cost.Line("GKE management fee", "fee", 73.0)])
        [warning] = cost.free_tier_claims([(free, "01ABCD-23EF45-6789AB"), (also_free, "01ABCD-23EF45-6789AB"), (paying, "01ABCD-23EF45-6789AB")])
        assert warning.startswith("stacks a, b all claim the free zonal cluster of billing account 01ABCD-23EF45-6789AB")
        assert cost.free_tier_claims([(free, "01ABCD-23EF45-6789AB"), (also_free, "999999-999999-999999")]) == []

    def test_the_shipped_stacks_claim_the_free_cluster_once(self):
        result = CliRunner().invoke(cli, ["cost", "--stack", "all", "--json"])
        assert result.exit_code == 0, result.output
        assert not [w for w in json.loads(result.output)["warnings"] if "free zonal cluster" in w]


class TestPolicyPack:
    """The CrossGuard validation functions, called with pulumi_policy's own argument types."""

    def violations(self, validate, args) -> list[str]:
        found: list[str] = []
        validate(args, lambda message, urn=None: found.append(message))
        return found

    def stack_args(self, records) -> StackValidationArgs:
        return StackValidationArgs(resources=[_policy_resource(r) for r in records])

    def test_the_budget_policy_passes_a_stack_within_budget(self, plans):
        assert self.violations(guardrails.monthly_budget, self.stack_args(plans["prod"].records)) == []

    def test_the_budget_policy_fails_a_stack_over_budget_with_the_estimators_message(self, plans):
        records = [_with_budget(r, 50) for r in plans["prod"].records]
        [message] = self.violations(guardrails.monthly_budget, self.stack_args(records))
        expected = cost.estimate("prod", records).expected_monthly_usd
        assert message == cost.over_budget(cost.estimate("prod", records))
        assert message.startswith(f"stack prod: expected ${expected:,.2f}/month exceeds its budget of $50.00/month")

    def test_a_regional_cluster_is_refused(self, plans):
        [cluster] = [r for r in plans["prod"].records if r.type == "gcp:container/cluster:Cluster"]
        assert self.violations(guardrails.zonal_cluster_only, _resource_args(cluster)) == []
        [message] = self.violations(guardrails.zonal_cluster_only, _resource_args(_relocated(cluster, "us-central1")))
        assert "not a zone: a regional cluster pays the $73.00/month management fee" in message

    def test_a_warm_gpu_pool_is_refused_with_its_idle_cost(self, plans):
        [pool] = [r for r in plans["prod"].records if r.name == "gpu-pool" and r.type.startswith("gcp:")]
        assert self.violations(guardrails.gpu_pools_scale_to_zero, _resource_args(pool)) == []
        warm = _replace_inputs(pool, autoscaling={"totalMinNodeCount": 1, "totalMaxNodeCount": 2, "locationPolicy": "ANY"})
        [message] = self.violations(guardrails.gpu_pools_scale_to_zero, _resource_args(warm))
        assert message == "GPU node pool gpu-pool keeps 1 node(s) warm: $321.31/month while idle. Set its minimum to 0."

    def test_a_load_balancer_service_is_flagged(self, plans):
        [service] = [r for r in plans["prod"].records if r.name == "blog-frontend" and r.type == "kubernetes:core/v1:Service"]
        assert self.violations(guardrails.no_load_balancer_services, _resource_args(service)) == []
        balanced = _replace_inputs(service, spec=service.inputs["spec"] | {"type": "LoadBalancer"})
        [message] = self.violations(guardrails.no_load_balancer_services, _resource_args(balanced))
        assert "a regional forwarding rule of its own, up to $18.25/month for the project's first five together and $7.30 for each beyond" in message


# Helpers.


def cluster_record(**inputs) -> offline.Record:
    return offline.Record("gcp:container/cluster:Cluster", "lab", None, "urn:lab", {"location": "us-central1-a"} | inputs)


def load_balancer(name: str) -> offline.Record:
    inputs = {"metadata": {"namespace": "shop", "name": name}, "spec": {"type": "LoadBalancer"}}
    return offline.Record("kubernetes:core/v1:Service", name, None, f"urn:{name}", inputs)


def _relocated(record: offline.Record, location: str) -> offline.Record:
    if "location" not in record.inputs:
        return record
    inputs = {k: v for k, v in record.inputs.items() if k != "nodeLocations"} | {"location": location}
    return offline.Record(record.type, record.name, record.parent, record.urn, inputs)


def _replace_inputs(record: offline.Record, **inputs) -> offline.Record:
    return offline.Record(record.type, record.name, record.parent, record.urn, record.inputs | inputs)


def _with_budget(record: offline.Record, monthly_usd: float) -> offline.Record:
    if record.type != "shoestring:cost:MonthlyBudget":
        return record
    return _replace_inputs(record, monthlyUsd=monthly_usd)


def _policy_resource(record: offline.Record) -> PolicyResource:
    options = PolicyResourceOptions(
        protect=record.protect, ignore_changes=list(record.ignore_changes), delete_before_replace=None,
        aliases=[], additional_secret_outputs=[], custom_timeouts=None, parent=None,
    )
    return PolicyResource(record.type, record.inputs, record.urn, record.name, options, None, None, [], {})


def _resource_args(record: offline.Record) -> ResourceValidationArgs:
    resource = _policy_resource(record)
    return ResourceValidationArgs(resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, None)


def _with_budget_of(stack: str, budget: float) -> cost.Estimate:
    raw = config.read_stack_files(stack)[0] | {"shoestring:budget": str(budget)}
    return cost.estimate(stack, offline.run(stack, config=raw).records)


class TestEstimatesAtTheEdges:
    """Issue 21 item 4: a guest's GPU burst, a part-time stack, and Spot prices that move."""

    def test_a_stack_in_anothers_cluster_prices_its_gpu_burst_on_the_hosts_pool(self, plans):
        staging = cost.estimate("staging", plans["staging"].records, plans["prod"].records)
        prod = cost.estimate("prod", plans["prod"].records)
        burst = line(staging, "GPU burst on the host's pool")
        assert burst.idle_monthly == 0 and "prod's gpu-pool" in burst.detail
        # One g2-standard-4 Spot node, its 100 GB pd-balanced disk and its address: prod's own rate.
        assert staging.burst_hourly_usd == prod.burst_hourly_usd == pytest.approx(0.423956 + SPOT_NODE_IP + 100 * PD_BALANCED / HOURS, abs=1e-4)
        assert staging.ceiling_monthly_usd > 100  # both GPU nodes all month, not $0.06

    def test_a_guest_without_gpu_work_has_no_burst_on_the_hosts_pool(self, plans):
        without_gpus = [r for r in plans["staging"].records if not (r.type == capacity.DEPLOYMENT and r.name.startswith("ml"))]
        staging = cost.estimate("staging", without_gpus, plans["prod"].records)
        assert not [x for x in staging.lines if x.item == "GPU burst on the host's pool"] and staging.burst_hourly_usd == 0

    def test_a_part_time_stack_is_priced_for_its_hours_with_the_always_on_figure_beside_it(self, plans):
        dev = cost.estimate("dev", plans["dev"].records)
        assert dev.hours_per_month == 60
        assert dev.idle_monthly_usd == pytest.approx(dev.always_on_idle_monthly_usd * 60 / HOURS, abs=0.01)
        # Its weekly batch fires only while the stack exists: its scheduled cost for 60 of 730 hours.
        assert dev.expected_monthly_usd == pytest.approx(dev.idle_monthly_usd + 10 * dev.burst_hourly_usd + dev.scheduled_monthly_usd * 60 / HOURS, abs=0.01)
        assert dev.always_on_expected_monthly_usd > 100 > 20 > dev.expected_monthly_usd

    def test_a_stack_without_hours_per_month_is_priced_always_on(self, plans):
        prod = cost.estimate("prod", plans["prod"].records)
        assert prod.hours_per_month is None and prod.idle_monthly_usd == prod.always_on_idle_monthly_usd

    def test_every_machines_spot_price_sits_inside_the_years_range(self):
        for region in catalog.regions():
            for name in catalog.machine_types(region):
                machine = catalog.machine(region, name)
                assert machine.spot_range is not None, f"{region} {name}"
                low, high = machine.spot_range
                assert low <= machine.spot_hourly <= high, f"{region} {name}"

    def test_where_spot_dominates_make_cost_shows_the_years_range(self, plans):
        dev = cost.estimate("dev", plans["dev"].records)
        low, high = dev.expected_range_usd
        assert dev.spot_share > 0.5 and low < dev.expected_monthly_usd <= high
        # e2-standard-2 Spot in us-central1 fell to $0.026792/h on 2026-01-01 (Cyclenerd a8a2405).
        assert "Spot is 98% of its machine bill" in render_spot(dev) and f"${low:,.2f}–${high:,.2f}" in render_spot(dev)

    def test_where_spot_is_a_minority_no_range_is_shown(self, plans):
        # prod at 2026-08-27's prices: its Spot node and GPU bursts are 62% of its machine bill.
        prod = cost.estimate("prod", plans["prod"].records)
        assert prod.spot_share > 0.5 and render_spot(prod).startswith("Spot is 62% of its machine bill")
        staging = cost.estimate("staging", plans["staging"].records, plans["prod"].records)
        assert staging.spot_share < 0.5 and render_spot(staging) == ""

    def test_make_cost_all_prices_stagings_burst_and_devs_hours(self):
        result = CliRunner().invoke(cli, ["cost", "--stack", "all", "--json"])
        stacks = {s["stack"]: s for s in json.loads(result.output)["stacks"]}
        assert stacks["staging"]["burst_hourly_usd"] > 0
        assert stacks["dev"]["hours_per_month"] == 60
        assert stacks["dev"]["expected_monthly_usd"] < stacks["dev"]["always_on_expected_monthly_usd"]


def render_spot(estimate: cost.Estimate) -> str:
    from shoestring import render

    return render.spot_range(estimate)
