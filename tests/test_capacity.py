"""Capacity: the nodes each pool runs at rest, from the pods the stacks declare and GKE's own,
packed as the scheduler and the autoscaler would — and a prod that survives losing its Spot nodes."""

from __future__ import annotations

import copy
import dataclasses
import json
import runpy

import pytest

from program import capacity, catalog, config, cost, names
from shoestring import offline

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
    def test_a_pool_runs_the_nodes_its_pods_need_when_that_is_above_its_minimum(self):
        # dev on e2-medium: each Spot node leaves 0.94 - 0.435 (DaemonSets) = 0.505 vCPU; GKE's
        # cluster pods (0.651, kube-dns 2 x 265m) and blog's frontend and backend (300m) need three.
        small = run("dev", defaultPool=json.dumps({"machineType": "e2-medium", "maxNodes": 3, "spot": True}))
        placement = capacity.at_rest(small.records, "us-central1")
        assert placement.nodes_of("default-pool") == 3
        nodes = line(cost.estimate("dev", small.records), "default-pool nodes")
        assert "3 × e2-medium, Spot" in nodes.detail and "the pods' requests need 3, above its minimum of 1" in nodes.detail
        assert nodes.idle_monthly == pytest.approx(3 * catalog.machine("us-central1", "e2-medium").spot_hourly * HOURS)

    def test_a_stack_in_anothers_cluster_pays_for_the_nodes_its_requests_add(self, plans):
        # Six staging backends (200m each) spread across on-demand and Spot: the three on on-demand
        # no longer fit beside GKE's pods and prod's on its two e2-small, so the autoscaler adds another.
        busy = run("staging", projects=with_apps("staging", blog__backend={"replicas": 6}))
        shared = line(cost.estimate("staging", busy.records, plans["prod"].records), "shared cluster")
        assert shared.detail.endswith("they add 1 × e2-small in default-pool ($17.08/month each) to prod's nodes at rest")
        default_pool = next(r for r in plans["prod"].records if r.name == "default-pool" and r.type == capacity.NODE_POOL)
        assert shared.idle_monthly == pytest.approx(cost.node_monthly(default_pool, "us-central1", private_nodes=False))
        # The e2-small on-demand, its 30 GB pd-standard disk and its address.
        assert shared.idle_monthly == pytest.approx((0.016752855 + 0.005) * HOURS + 30 * 0.04)

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
        one_node = json.dumps({"machineType": "e2-standard-2", "maxNodes": 1, "spot": True})
        crowded = run("dev", defaultPool=one_node, projects=with_apps("dev", blog__backend={"replicas": 7, "tag": "0a7d3e5b1c9f"}))
        notes = cost.estimate("dev", crowded.records).notes
        assert any(note.startswith("a pod of blog/backend (0.2 vCPU") and "fits on no pool even at its maximum" in note for note in notes)


class TestShippedProd:
    """Half the seed's cost, at least its capacity, and every app still served without Spot."""

    def test_expected_cost_is_at_most_105_24_dollars_at_the_2026_08_27_prices_with_the_seeds_capacity(self, plans):
        # $111.29 at the 2026-07-30 Spot prices, $118.39 at 2026-08-27's with the same shape; Cloud
        # DNS and two e2-small on demand bring it to $104.24 (issue 29). The seed's was $146.04.
        # ml's declared 50 GiB bucket (issue 26) adds $1.00 (50 x $0.020/GiB-month): $105.24. Issue 29
        # asks <= $105, but `python -m shoestring advise --stack prod` finds no cheaper shape that keeps
        # the guarantees (prod ships its cheapest row), so the bound stated is the honest one.
        estimate = cost.estimate("prod", plans["prod"].records)
        assert estimate.expected_monthly_usd <= 105.24
        nodes = capacity.at_rest(plans["prod"].records, "us-central1").nodes
        # The seed's 3 x n1-standard-1; shared-core machines count by the share they are billed for.
        assert sum(n.pool.machine.billed_vcpus for n in nodes) >= 3
        assert sum(n.pool.machine.memory_gb for n in nodes) >= 11.25

    def test_every_app_with_replicas_to_spare_keeps_one_on_on_demand_capacity(self, plans):
        placement = capacity.at_rest(plans["prod"].records, "us-central1")
        for owner in ("blog/frontend", "blog/backend"):
            assert [n for n in placement.on(owner) if not n.pool.spot], f"{owner} has no replica on on-demand nodes"
            assert [n for n in placement.on(owner) if n.pool.spot], f"{owner} does not use the Spot pool"

    def test_the_on_demand_pool_alone_holds_a_replica_of_every_app_and_every_system_pod(self, plans):
        records = plans["prod"].records
        on_demand = [p for p in capacity.pools_of(records, "us-central1") if not p.spot and not p.gpus]
        apps = {p.owner: p for p in capacity.pods_of(records) if not p.gpus}
        system = capacity.system_pods(capacity.cluster_addons(records), capacity.scaled_to_zero(records))[1]
        alone = capacity.place([_at_minimum(p) for p in on_demand], [*apps.values(), *system])
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
        # unhealthyPodEvictionPolicy: AlwaysAllow (program/components/internal_service.py, 1b090fc): a pod that never got
        # ready does not block the drain; the one ready replica is what minAvailable keeps.
        assert budgets == {
            name: {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}, "unhealthyPodEvictionPolicy": "AlwaysAllow"}
            for name in ("frontend", "backend")
        }

    def test_only_the_cpu_pools_carry_the_capacity_label_the_spread_counts(self, plans):
        labels = {r.name: r.inputs["nodeConfig"]["labels"] for r in plans["prod"].of_type(capacity.NODE_POOL)}
        assert labels["default-pool"]["shoestring.dev/capacity"] == "on-demand"
        assert labels["spot-pool"]["shoestring.dev/capacity"] == "spot"
        assert "shoestring.dev/capacity" not in labels["gpu-pool"]


def _at_minimum(pool: capacity.Pool) -> capacity.Pool:
    """The pool held at its minimum: what runs before the autoscaler adds anything."""
    return dataclasses.replace(pool, max_nodes=pool.min_nodes)


USER_FACING = ("blog/frontend", "blog/backend", "blog-staging/frontend", "blog-staging/backend")


class TestSystemPodsNeverDependOnSpot:
    """Issue 21: a preemption must not take cluster DNS, or the last replica of an app, with it."""

    def test_prods_spot_pool_carries_gkes_no_schedule_spot_taint(self, plans):
        [spot] = [r for r in plans["prod"].of_type(capacity.NODE_POOL) if r.name == "spot-pool"]
        assert {"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NO_SCHEDULE"} in spot.inputs["nodeConfig"]["taints"]

    def test_every_system_pod_that_runs_is_placed_on_the_default_pool(self, plans):
        placement = capacity.at_rest(plans["prod"].records, "us-central1", plans["staging"].records)
        system = {p.owner for p in capacity.system_pods(stopped=capacity.scaled_to_zero(plans["prod"].records))[1]}
        assert "kube-system/metrics-server" in system and "kube-system/konnectivity-agent" in system
        for owner in system:
            assert {n.pool.name for n in placement.on(owner)} == {"default-pool"}, owner

    def test_kube_dns_packs_two_replicas_on_the_default_pool_until_cloud_dns_scales_it_to_zero(self, plans):
        kube_dns = run("prod", dns=json.dumps({"provider": "kube-dns"}), defaultPool=json.dumps({"machineType": "e2-standard-2", "minNodes": 1, "maxNodes": 3}))
        placement = capacity.at_rest(kube_dns.records, "us-central1", plans["staging"].records)
        assert [n.pool.name for n in placement.nodes for p in n.pods if p.owner == "kube-system/kube-dns"] == ["default-pool", "default-pool"]
        assert not capacity.scaled_to_zero(kube_dns.records)
        shipped = capacity.at_rest(plans["prod"].records, "us-central1", plans["staging"].records)
        assert capacity.scaled_to_zero(plans["prod"].records) == {"kube-dns", "kube-dns-autoscaler"}
        assert not [p for n in shipped.nodes for p in n.pods if p.owner in ("kube-system/kube-dns", "kube-system/kube-dns-autoscaler")]

    def test_under_cloud_dns_the_autoscaler_goes_to_zero_before_kube_dns(self, plans):
        # GKE: "kube-dns continues to run" until "the kube-dns Deployment and autoscaler" are scaled
        # to zero (cloud.google.com/kubernetes-engine/docs/how-to/cloud-dns); the autoscaler would
        # scale kube-dns back up, so the kube-dns patch waits for it.
        [cluster] = plans["prod"].of_type("gcp:container/cluster:Cluster")
        assert cluster.inputs["dnsConfig"] == {"clusterDns": "CLOUD_DNS", "clusterDnsScope": "CLUSTER_SCOPE"}
        patches = {r.inputs["metadata"]["name"]: r for r in plans["prod"].of_type(capacity.DEPLOYMENT_PATCH)}
        assert {name: (r.inputs["metadata"]["namespace"], r.inputs["spec"]) for name, r in patches.items()} == {
            "kube-dns": ("kube-system", {"replicas": 0}),
            "kube-dns-autoscaler": ("kube-system", {"replicas": 0}),
        }
        assert patches["kube-dns-autoscaler"].urn in patches["kube-dns"].dependencies

    def test_every_figure_of_a_system_pod_names_its_source(self):
        figures = catalog.gke_system_pods()
        pods = [*figures["per_node"].values(), *figures["per_cluster"].values(), *(p for addon in figures["per_node_with"].values() for p in addon.values())]
        assert pods and all(p.get("source") for p in pods)

    def test_the_secret_manager_drivers_daemonset_is_counted_only_where_the_cluster_turns_it_on(self, plans):
        assert capacity.cluster_addons(plans["prod"].records) == {"secret_manager"}
        bare = capacity.system_pods()[0][0]
        assert capacity.system_pods({"secret_manager"})[0][0] == pytest.approx(bare + 0.12)  # 70m + 50m

    def test_only_apps_that_declare_spot_and_have_a_replica_to_spare_tolerate_it(self, plans):
        tolerant = {
            f"{r.inputs['metadata']['namespace']}/{r.inputs['metadata']['name']}"
            for stack in ("prod", "staging")
            for r in plans[stack].of_type(capacity.DEPLOYMENT)
            if any(t.get("key") == "cloud.google.com/gke-spot" for t in r.inputs["spec"]["template"]["spec"].get("tolerations") or [])
        }
        # prod's blog apps run 3 replicas and declare spot; staging's run one each, kept on-demand.
        assert tolerant == {"blog/frontend", "blog/backend"}

    def test_when_the_spot_node_is_gone_every_user_facing_app_keeps_a_ready_replica_on_demand(self, plans):
        gone = capacity.without_spot(plans["prod"].records, "us-central1", plans["staging"].records, grow=False)
        assert all(not n.pool.spot for n in gone.nodes)
        for owner in USER_FACING:
            assert [n for n in gone.on(owner) if n.pool.on_demand_cpu], f"{owner} lost every replica"
        assert not [p for p in gone.unschedulable if p.owner.startswith("kube-system/")]

    def test_with_no_spot_in_the_zone_the_default_pool_grows_and_only_lower_priorities_wait(self, plans):
        drought = capacity.without_spot(plans["prod"].records, "us-central1", plans["staging"].records, grow=True)
        for owner in USER_FACING:
            assert drought.on(owner), f"{owner} has no replica"
        waiting = {p.priority for p in drought.unschedulable}
        assert not waiting or max(waiting) < names.PRIORITY_VALUES[names.USER_FACING_PRIORITY]
        assert drought.nodes_of("default-pool") <= 4

    def test_when_capacity_is_short_batch_waits_and_user_facing_runs(self):
        machine = catalog.machine("us-central1", "e2-standard-2")
        pool = capacity.Pool("default-pool", machine, False, 1, 1, {}, frozenset(), 0)
        free = pool.allocatable[0]
        batch = capacity.Pod("ml/worker", free * 0.8, 0.1, priority=names.PRIORITY_VALUES[names.BATCH_PRIORITY])
        web = capacity.Pod("blog/frontend", free * 0.5, 0.1, priority=names.PRIORITY_VALUES[names.USER_FACING_PRIORITY])
        assert capacity.place([pool], [batch, web]).unschedulable == [batch]
        # Without PriorityClasses the larger batch pod would be placed first, and the web app wait.
        assert capacity.place([pool], [dataclasses.replace(batch, priority=0), dataclasses.replace(web, priority=0)]).unschedulable[0].owner == "blog/frontend"

    def test_apps_name_their_priority_class_user_facing_above_batch(self, plans):
        classes = {r.inputs["metadata"]["name"]: r.inputs for r in plans["prod"].of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
        assert classes[names.USER_FACING_PRIORITY]["value"] > classes[names.BATCH_PRIORITY]["value"]
        assert classes[names.BATCH_PRIORITY]["preemptionPolicy"] == "Never"
        named = {r.inputs["metadata"]["name"]: r.inputs["spec"]["template"]["spec"].get("priorityClassName") for r in plans["prod"].of_type(capacity.DEPLOYMENT)}
        assert named == {"frontend": names.USER_FACING_PRIORITY, "backend": names.USER_FACING_PRIORITY, "worker": names.BATCH_PRIORITY}


class TestHeadroomFloor:
    def test_shipped_prod_keeps_the_floor_free_on_its_on_demand_pool(self, plans):
        assert cost.headroom_problems("prod", plans["prod"].records, plans["staging"].records) == []

    def test_a_pool_below_the_floor_is_named_with_the_node_that_fixes_it_and_its_price(self, plans):
        # The frontend at 315m: its on-demand replica still fits on prod's two e2-small, with 0.09 of
        # their 1.01 allocatable vCPU left over.
        crowded = _raise_requests(plans["prod"].records, "blog-frontend", "315m")
        [problem] = cost.headroom_problems("prod", crowded, plans["staging"].records)
        assert "default-pool (on-demand e2-small) keeps 0.09 of 1.01 vCPU" in problem and "below the 10% headroom floor" in problem
        assert "Raise its minNodes to 3: 1 more e2-small at $17.08/month" in problem

    def test_make_plan_fails_below_the_floor(self, plans, monkeypatch):
        from click.testing import CliRunner

        from helpers import plan_in_process

        from shoestring import __main__ as cli_module

        def crowded(stack: str, plan: offline.Plan) -> offline.Plan:
            return dataclasses.replace(plan, records=_raise_requests(plan.records, "blog-frontend", "315m")) if stack == "prod" else plan

        plan_in_process(monkeypatch, crowded)
        result = CliRunner().invoke(cli_module.cli, ["plan", "--stack", "prod"])
        assert result.exit_code == 1
        assert "error: capacity: stack prod: default-pool (on-demand e2-small)" in result.output

    def test_make_plan_says_how_many_more_default_sized_apps_fit_before_a_node_is_added(self, plans):
        # Two: a third single-replica app at 100m/128Mi leaves prod's two e2-small below the floor.
        room = cost.default_apps_that_fit(plans["prod"].records, plans["staging"].records)
        assert room.startswith("room: 2 more apps at the default requests (100m CPU, 128Mi, 1 replica)")
        records = plans["prod"].records
        app = capacity.Pod("new/app", 0.1, 128 / 1024, priority=names.PRIORITY_VALUES[names.USER_FACING_PRIORITY])
        assert capacity.room_for(records, "us-central1", app, plans["staging"].records) == 2
        # Declared for real: two stay on the two nodes with the floor kept; a third adds a node or breaks the floor.
        two, three = [*records, *_apps("new", 2)], [*records, *_apps("new", 3)]
        assert capacity.at_rest(two, "us-central1", plans["staging"].records).nodes_of("default-pool") == 2
        assert not cost.headroom_problems("prod", two, plans["staging"].records)
        grown = capacity.at_rest(three, "us-central1", plans["staging"].records).nodes_of("default-pool") == 3
        assert grown or cost.headroom_problems("prod", three, plans["staging"].records)


def _apps(namespace: str, count: int) -> list:
    """``count`` single-replica Deployments at the definitions' default requests."""
    return [
        offline.Record(capacity.DEPLOYMENT, f"{namespace}-app-{i}", None, f"urn:{namespace}-{i}", {
            "metadata": {"namespace": namespace, "name": f"app-{i}"},
            "spec": {"replicas": 1, "template": {"spec": {"priorityClassName": names.USER_FACING_PRIORITY, "containers": [{"name": "app", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}},
        })
        for i in range(count)
    ]


def _raise_requests(records, deployment: str, cpu: str) -> list:
    """The records with one Deployment's containers asking for ``cpu`` each."""
    raised = []
    for record in records:
        if record.type == capacity.DEPLOYMENT and record.name == deployment:
            spec = copy.deepcopy(record.inputs)
            for container in spec["spec"]["template"]["spec"]["containers"]:
                container["resources"]["requests"]["cpu"] = cpu
            record = dataclasses.replace(record, inputs=spec)
        raised.append(record)
    return raised
