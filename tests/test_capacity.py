"""Capacity: the nodes each pool runs at rest, from the pods the stacks declare and GKE's own,
packed as the scheduler and the autoscaler would — and a prod that survives losing its Spot nodes."""

from __future__ import annotations

import json
import runpy

import pytest

from shoestring import capacity, catalog, config, cost, offline

HOURS = 730


def run(stack: str, **changes: str) -> offline.Plan:
    raw = config.read_stack_files(stack)[0] | {f"shoestring:{k}": v for k, v in changes.items()}
    return offline.declare(lambda: runpy.run_path(str(offline.ROOT / "__main__.py"), run_name="__main__"), stack=stack, config=raw)


def with_apps(stack: str, **apps: dict) -> str:
    settings = json.loads(config.read_stack_files(stack)[0]["shoestring:projects"])
    for key, value in apps.items():
        project, app = key.split("__")
        settings[project]["apps"][app] = value
    return json.dumps(settings)


def line(estimate: cost.Estimate, item: str) -> cost.Line:
    [found] = [x for x in estimate.lines if x.item == item]
    return found


class TestAtRest:
    def test_a_pool_runs_the_nodes_its_pods_need_when_that_is_above_its_minimum(self, plans):
        # dev: one e2-medium Spot node leaves 0.94 - 0.315 (DaemonSets) = 0.625 vCPU; kube-dns
        # (2 x 260m) and blog's frontend and backend (300m) need more: a second node, all month.
        placement = capacity.at_rest(plans["dev"].records, "us-central1")
        assert placement.nodes_of("default-pool") == 2
        nodes = line(cost.estimate("dev", plans["dev"].records), "default-pool nodes")
        assert "2 × e2-medium, Spot" in nodes.detail and "the pods' requests need 2, above its minimum of 1" in nodes.detail
        assert nodes.idle_monthly == pytest.approx(2 * catalog.machine("us-central1", "e2-medium").spot_hourly * HOURS)

    def test_a_stack_in_anothers_cluster_pays_for_the_nodes_its_requests_add(self, plans):
        # Four staging backends (200m each) spread across on-demand and Spot: the two on on-demand
        # no longer fit beside prod's pods on its one e2-medium, so the autoscaler adds another.
        busy = run("staging", projects=with_apps("staging", blog__backend={"replicas": 4}))
        shared = line(cost.estimate("staging", busy.records, plans["prod"].records), "shared cluster")
        assert shared.detail.endswith("they add 1 × e2-medium in default-pool ($29.31/month each) to prod's nodes at rest")
        default_pool = next(r for r in plans["prod"].records if r.name == "default-pool" and r.type == capacity.NODE_POOL)
        assert shared.idle_monthly == pytest.approx(cost.node_monthly(default_pool, "us-central1", private_nodes=False))
        # The e2-medium on-demand, its 30 GB pd-standard disk and its address.
        assert shared.idle_monthly == pytest.approx((0.03350571 + 0.005) * HOURS + 30 * 0.04)

    def test_a_container_without_requests_takes_its_namespaces_limit_range_default(self):
        records = [
            offline.Record("kubernetes:core/v1:LimitRange", "defaults", None, "urn:lr", {
                "metadata": {"namespace": "shop"},
                "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "150m", "memory": "64Mi"}}]},
            }),
            offline.Record(capacity.DEPLOYMENT, "web", None, "urn:web", {
                "metadata": {"namespace": "shop", "name": "web"},
                "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web"}]}}},
            }),
        ]
        assert [(p.owner, p.cpu, p.memory) for p in capacity.pods_of(records)] == [("shop/web", 0.15, 0.0625)] * 2

    def test_a_pod_that_fits_nowhere_is_named_in_the_estimate(self, plans):
        crowded = run("dev", projects=with_apps("dev", blog__backend={"replicas": 7, "tag": "0a7d3e5b1c9f"}))
        notes = cost.estimate("dev", crowded.records).notes
        assert any(note.startswith("a pod of blog/backend (0.2 vCPU") and "fits on no pool even at its maximum" in note for note in notes)


class TestShippedProd:
    """Half the seed's cost, at least its capacity, and every app still served without Spot."""

    def test_expected_cost_is_at_most_90_dollars_with_the_seeds_capacity(self, plans):
        estimate = cost.estimate("prod", plans["prod"].records)
        assert estimate.expected_monthly_usd <= 90
        nodes = capacity.at_rest(plans["prod"].records, "us-central1").nodes
        # The seed's 3 x n1-standard-1; shared-core machines count by the share they are billed for.
        assert sum(n.pool.machine.billed_vcpus for n in nodes) >= 3
        assert sum(n.pool.machine.memory_gb for n in nodes) >= 11.25

    def test_every_app_with_replicas_to_spare_keeps_one_on_on_demand_capacity(self, plans):
        placement = capacity.at_rest(plans["prod"].records, "us-central1")
        for owner in ("blog/frontend", "blog/backend"):
            assert [n for n in placement.on(owner) if not n.pool.spot], f"{owner} has no replica on on-demand nodes"
            assert [n for n in placement.on(owner) if n.pool.spot], f"{owner} does not use the Spot pool"

    def test_the_on_demand_pool_alone_holds_a_replica_of_every_app_and_the_busiest_system_pod(self, plans):
        records = plans["prod"].records
        on_demand = [p for p in capacity.pools_of(records, "us-central1") if not p.spot and not p.gpus]
        apps = {p.owner: p for p in capacity.pods_of(records) if not p.gpus}
        dns = max(capacity.system_pods()[1], key=lambda p: p.cpu)
        alone = capacity.place([_at_minimum(p) for p in on_demand], [*apps.values(), dns])
        assert alone.unschedulable == []

    def test_apps_spread_across_capacity_types_and_keep_one_replica_through_drains(self, plans):
        [frontend] = [r for r in plans["prod"].records if r.type == capacity.DEPLOYMENT and r.name == "blog-frontend"]
        [spread] = frontend.inputs["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert spread == {
            "maxSkew": 1,
            "topologyKey": "shoestring.dev/capacity",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "frontend"}},
        }
        budgets = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plans["prod"].of_type("kubernetes:policy/v1:PodDisruptionBudget")}
        assert budgets == {
            "frontend": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "frontend"}}},
            "backend": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "backend"}}},
        }

    def test_only_the_cpu_pools_carry_the_capacity_label_the_spread_counts(self, plans):
        labels = {r.name: r.inputs["nodeConfig"]["labels"] for r in plans["prod"].of_type(capacity.NODE_POOL)}
        assert labels["default-pool"]["shoestring.dev/capacity"] == "on-demand"
        assert labels["spot-pool"]["shoestring.dev/capacity"] == "spot"
        assert "shoestring.dev/capacity" not in labels["gpu-pool"]


def _at_minimum(pool: capacity.Pool) -> capacity.Pool:
    """The pool held at its minimum: what runs before the autoscaler adds anything."""
    return capacity.Pool(pool.name, pool.machine, pool.spot, pool.min_nodes, pool.min_nodes, pool.labels, pool.taints, pool.gpus)
