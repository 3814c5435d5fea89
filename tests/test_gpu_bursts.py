"""GPU bursts (issue 19): batch work with an end, a GPU pool that reaches tens of nodes across
zones on the free zonal control plane, GPU quota in the plan, and bursts priced before they run."""

from __future__ import annotations

import dataclasses
import json

import pytest
from helpers import plan_in_process
from click.testing import CliRunner

from program import capacity, catalog, config, cost, definitions, quota
from shoestring import diff, offline, render
from shoestring.__main__ import cli
from program.config import ConfigError
from program.definitions import App, Batch, Project

CRON_JOB = "kubernetes:batch/v1:CronJob"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NODE_POOL = "gcp:container/nodePool:NodePool"
IMAGE, TAG = "ghcr.io/acme/ml-worker", "51d0c7e8f9a2"


def cron_job(plan: offline.Plan, name: str) -> offline.Record:
    [found] = [r for r in plan.of_type(CRON_JOB) if r.name == name]
    return found


def batch(**fields) -> Batch:
    return Batch(**({"name": "embed", "image": IMAGE, "tag": TAG, "command": ("python", "-m", "ml.embed"), "repository": "https://github.com/acme/ml", "max_hours": 2} | fields))


def stack_with(stack: str, edit) -> dict[str, str]:
    """The stack's flat config with ``edit`` applied to its parsed objects (gpuPool, projects...)."""
    raw = config.read_stack_files(stack)[0]
    objects = {key: json.loads(raw[f"shoestring:{key}"]) for key in ("gpuPool", "projects") if f"shoestring:{key}" in raw}
    edit(objects)
    return raw | {f"shoestring:{key}": json.dumps(value) for key, value in objects.items()}


def refused(stack: str, edit) -> str:
    with pytest.raises(ConfigError) as raised:
        config.load(stack, stack_with(stack, edit), definitions.discover())
    return str(raised.value)


# 1. Batch work in a project definition.


class TestBatch:
    def test_an_on_demand_batch_is_a_suspended_cronjob_whose_every_run_ends(self, plans):
        spec = cron_job(plans["prod"], "ml-embed").inputs["spec"]
        assert spec["suspend"] is True and spec["concurrencyPolicy"] == "Forbid"
        job = spec["jobTemplate"]["spec"]
        assert (job["parallelism"], job["completions"], job["completionMode"]) == (20, 200, "Indexed")
        assert job["activeDeadlineSeconds"] == 2 * 3600  # max_hours
        assert job["ttlSecondsAfterFinished"] == 24 * 3600
        pod = job["template"]["spec"]
        [container] = pod["containers"]
        assert container["command"] == ["python", "-m", "ml.embed"]
        assert "ports" not in container and "livenessProbe" not in container and "readinessProbe" not in container
        assert {"name": "SHARD_COUNT", "value": "200"} in container["env"]

    def test_a_preemption_is_not_a_failure_and_retries_count_only_the_batchs_own_code(self, plans):
        job = cron_job(plans["prod"], "ml-embed").inputs["spec"]["jobTemplate"]["spec"]
        # podFailurePolicy is refused by the API server unless pods never restart in place.
        assert job["template"]["spec"]["restartPolicy"] == "Never"
        ignore, fail = job["podFailurePolicy"]["rules"]
        assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
        assert fail == {"action": "FailJob", "onExitCodes": {"containerName": "embed", "operator": "In", "values": [126, 127]}}
        assert job["backoffLimit"] == 20  # retries: failures of ml.embed over all 200 shards
        assert (job["backoffLimitPerIndex"], job["maxFailedIndexes"]) == (2, 0)  # a shard retried twice, then the run fails

    def test_a_scheduled_one_shard_batch_has_the_same_policy_with_its_default_three_retries(self, plans):
        job = cron_job(plans["prod"], "ml-eval").inputs["spec"]["jobTemplate"]["spec"]
        assert (job["backoffLimit"], job["backoffLimitPerIndex"], job["maxFailedIndexes"], job["completions"]) == (3, 2, 0, 1)

    def test_a_scheduled_batch_is_a_cronjob_that_runs_on_it_one_run_at_a_time(self, plans):
        spec = cron_job(plans["prod"], "ml-eval").inputs["spec"]
        assert spec["schedule"] == "0 4 * * 1" and spec["timeZone"] == "Etc/UTC"
        assert spec["suspend"] is False and spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] == 3600

    def test_its_pods_are_built_as_a_gpu_apps_are_with_the_projects_workload_identity(self, plans):
        pod = cron_job(plans["prod"], "ml-embed").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        [worker] = [d for d in plans["prod"].of_type(DEPLOYMENT) if d.name == "ml-worker"]
        app_pod = worker.inputs["spec"]["template"]["spec"]
        for key in ("securityContext", "tolerations", "nodeSelector", "serviceAccountName", "automountServiceAccountToken", "volumes"):
            assert pod[key] == app_pod[key], key
        assert pod["containers"][0]["securityContext"] == app_pod["containers"][0]["securityContext"]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert pod["serviceAccountName"] == "workload"  # bound to ml's GCP account through Workload Identity

    def test_the_shipped_ml_project_bursts_to_20_l4_nodes_in_prod(self, plans):
        job = cron_job(plans["prod"], "ml-embed").inputs["spec"]["jobTemplate"]["spec"]
        assert job["parallelism"] * int(job["template"]["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"]) == 20

    def test_a_stack_lowers_a_batchs_parallelism_where_its_pool_is_smaller(self, plans):
        assert cron_job(plans["dev"], "ml-embed").inputs["spec"]["jobTemplate"]["spec"]["parallelism"] == 1
        assert cron_job(plans["staging"], "ml-staging-embed").inputs["spec"]["jobTemplate"]["spec"]["parallelism"] == 2

    def test_a_definition_refuses_a_batch_without_an_end_or_with_a_bad_schedule(self):
        assert batch(schedule="0 4 * * 1").shards == 1
        with pytest.raises(ValueError, match="max_hours"):
            Batch(name="embed", image=IMAGE, tag=TAG, command=("x",), repository="https://github.com/acme/r")
        with pytest.raises(ValueError, match="the hour field '25' is not valid"):
            batch(schedule="0 25 * * *")
        with pytest.raises(ValueError, match="completions .3. is below parallelism .4."):
            batch(parallelism=4, completions=3)

    def test_a_batch_may_not_share_a_name_with_an_app_whose_service_would_select_its_pods(self):
        app = App(name="embed", image=IMAGE, tag=TAG, port=8080, repository="https://github.com/acme/r")
        Project(name="ml", apps=(app,), batches=(batch(name="other"),))
        with pytest.raises(ValueError, match="repeated: \\['embed'\\]"):
            Project(name="ml", apps=(app,), batches=(batch(),))

    @pytest.mark.parametrize(
        ("schedule", "runs"),
        [("0 4 * * 1", 52 / 12), ("@daily", 365 / 12), ("*/15 * * * *", 4 * 24 * 365 / 12), ("0 0 1 * *", 1.0), ("0 0 31 2 *", 0.0)],
    )
    def test_a_schedule_runs_as_often_as_cron_says(self, schedule, runs):
        assert capacity.cron_runs_per_month(schedule) == pytest.approx(runs, abs=0.01)


# 3. Capacity to reach tens of nodes on the free control plane.


class TestPoolAcrossZones:
    def test_prods_gpu_pool_spans_the_zones_that_offer_l4_with_a_total_ceiling_and_location_policy_any(self, plans):
        [pool] = [r for r in plans["prod"].of_type(NODE_POOL) if r.name == "gpu-pool"]
        offering = catalog.accelerator_zones("us-central1", "nvidia-l4")
        assert len(pool.inputs["nodeLocations"]) >= 2 and set(pool.inputs["nodeLocations"]) <= set(offering)
        assert pool.inputs["autoscaling"]["locationPolicy"] == "ANY"
        assert pool.inputs["autoscaling"]["totalMaxNodeCount"] >= 20 and pool.inputs["autoscaling"]["totalMinNodeCount"] == 0

    def test_the_cluster_stays_zonal_and_the_estimate_still_counts_it_free(self, plans):
        [cluster] = plans["prod"].of_type("gcp:container/cluster:Cluster")
        assert catalog.ZONE_PATTERN.match(cluster.inputs["location"])
        [fee] = [line for line in cost.estimate("prod", plans["prod"].records).lines if line.item == "GKE management fee"]
        assert fee.idle_monthly == 0.0

    def test_a_zone_that_does_not_offer_the_accelerator_is_refused(self):
        assert config.load("prod", config.read_stack_files("prod")[0], definitions.discover()).gpu_zones == ["us-central1-a", "us-central1-b", "us-central1-c"]
        message = refused("prod", lambda o: o["gpuPool"].update(zones=["us-central1-a", "us-central1-f"]))
        assert "shoestring:gpuPool.zones = 'us-central1-f': does not offer nvidia-l4; the zones of us-central1 that do are us-central1-a, us-central1-b, us-central1-c" in message

    def test_zone_and_zones_together_are_refused(self):
        message = refused("prod", lambda o: o["gpuPool"].update(zone="us-central1-b"))
        assert "gpuPool.zones" in message and "keep one" in message


# 3b. A priced fallback ladder when Spot is out in every zone.

COMPUTE_CLASS = "kubernetes:cloud.google.com/v1:ComputeClass"


class TestFallbackLadder:
    def test_prod_declares_a_compute_class_that_tries_its_spot_pool_then_its_on_demand_pool_and_nothing_else(self, plans):
        [compute_class] = plans["prod"].of_type(COMPUTE_CLASS)
        spec = compute_class.inputs["spec"]
        assert spec["priorities"] == [{"nodepools": ["gpu-pool"]}, {"nodepools": ["gpu-pool-on-demand"]}]
        assert spec["whenUnsatisfiable"] == "DoNotScaleUp"  # explicit: its default changed in GKE 1.33
        assert spec["activeMigration"] == {"optimizeRulePriority": False}  # running shards are never moved
        assert spec["nodePoolAutoCreation"] == {"enabled": False}  # no pool outside the priced ladder
        pools = {p.inputs.get("name"): p for p in plans["prod"].of_type(NODE_POOL)}  # the CPU pools are auto-named
        spot, on_demand = pools["gpu-pool"], pools["gpu-pool-on-demand"]
        assert spot.inputs["nodeConfig"]["spot"] is True and on_demand.inputs["nodeConfig"]["spot"] is False
        for pool in (spot, on_demand):
            assert pool.inputs["autoscaling"]["totalMaxNodeCount"] == 20 and pool.inputs["autoscaling"]["totalMinNodeCount"] == 0
            assert pool.inputs["nodeLocations"] == ["us-central1-a", "us-central1-b", "us-central1-c"]
            assert pool.inputs["nodeConfig"]["labels"]["cloud.google.com/compute-class"] == compute_class.inputs["metadata"]["name"]
        assert set(compute_class.dependencies) >= {spot.urn, on_demand.urn}

    def test_a_stack_without_a_fallback_has_a_one_rung_class(self, plans):
        [compute_class] = plans["dev"].of_type(COMPUTE_CLASS)
        assert compute_class.inputs["spec"]["priorities"] == [{"nodepools": ["gpu-pool"]}]

    @pytest.mark.parametrize(("stack", "name"), [("prod", "ml-embed"), ("prod", "ml-eval"), ("staging", "ml-staging-embed")])
    def test_gpu_batch_pods_select_the_class_only_and_tolerate_its_taint(self, plans, stack, name):
        pod = cron_job(plans[stack], name).inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        # GKE refuses a pod that selects a ComputeClass and also cloud.google.com/gke-spot or gke-accelerator.
        assert pod["nodeSelector"] == {"cloud.google.com/compute-class": "shoestring-gpu"}
        assert {"key": "cloud.google.com/compute-class", "operator": "Equal", "value": "shoestring-gpu", "effect": "NoSchedule"} in pod["tolerations"]

    def test_each_rung_is_priced_and_the_on_demand_rung_costs_nothing_until_used(self, plans):
        estimate = cost.estimate("prod", plans["prod"].records)
        lines = {line.item: line for line in estimate.lines}
        spot, on_demand = lines["gpu-pool GPU nodes"], lines["gpu-pool-on-demand GPU nodes"]
        # program/prices.yaml, us-central1 (29's 2026-08-27 prices): g2-standard-4 Spot $0.423956/h + a Spot node's
        # external IP $0.0025/h + its 100 GB pd-balanced boot disk ($0.10/GB-month / 730 h) = $0.4402/h.
        assert spot.burst_hourly == pytest.approx(0.423956 + 0.0025 + 100 * 0.10 / 730, abs=1e-4) and "Spot" in spot.detail
        assert on_demand.idle_monthly == 0.0 and on_demand.burst_hourly == 0.0
        assert "a burst entirely on it costs 20 × $0.7255 = $14.5106/h, not in the expected figure" in on_demand.detail
        # The expected figure and the burst ceiling are the Spot rung's alone.
        assert estimate.burst_hourly_usd == pytest.approx(spot.burst_hourly, abs=1e-4)
        assert estimate.gpu_ceiling.nodes == 20
        assert (
            "GPU fallback: gpu-pool-on-demand GPU nodes $0.7255/h per node when Spot is out in every zone; a burst entirely on it $14.5106/h"
            in render.cost_summary(estimate)
        )

    def test_a_fallback_on_an_on_demand_pool_or_above_the_spot_ceiling_is_refused(self):
        message = refused("prod", lambda o: o["gpuPool"].update(spot=False))
        assert "onDemandFallback falls back from Spot, but the pool is on demand already (spot: false); remove onDemandFallback" in message
        message = refused("prod", lambda o: o["gpuPool"]["onDemandFallback"].update(maxNodes=21))
        assert "onDemandFallback.maxNodes (21) is above maxNodes (20)" in message and "set onDemandFallback.maxNodes to at most 20" in message

    def test_every_release_channel_a_stack_may_choose_runs_a_gke_version_with_compute_classes(self):
        import typing

        from program.components import compute_class
        from program.components.cluster import ClusterSettings

        channels = typing.get_args(ClusterSettings.model_fields["release_channel"].annotation)
        assert channels and all(compute_class.channel_has_compute_classes(channel) for channel in channels)

    def test_a_channel_that_still_offers_1_30_would_fail_the_version_rule(self, monkeypatch):
        from program.components import compute_class

        monkeypatch.setitem(compute_class.OLDEST_MINOR_OFFERED, "STABLE", "1.30")
        assert not compute_class.channel_has_compute_classes("STABLE")


# 4. Quota as part of the plan.


class TestQuota:
    def test_a_quota_below_the_ceiling_is_refused_naming_the_quota_and_the_request(self):
        message = refused("prod", lambda o: o["gpuPool"]["quota"].update(preemptible=8))
        assert "shoestring:gpuPool.quota.preemptible = 8: PREEMPTIBLE_NVIDIA_L4_GPUS in us-central1 is 8, below the pool's ceiling" in message
        assert "--quota-id=PREEMPTIBLE-NVIDIA-L4-GPUS-per-project-region --preferred-value=20 --dimensions=region=us-central1" in message
        assert "or lower gpuPool.maxNodes to 8" in message

    def test_the_global_gpu_quota_is_checked_too(self):
        message = refused("prod", lambda o: o["gpuPool"]["quota"].update(allRegions=0))
        assert "shoestring:gpuPool.quota.allRegions = 0: GPUS_ALL_REGIONS is 0" in message
        assert "--quota-id=GPUS-ALL-REGIONS-per-project --preferred-value=20`" in message

    def test_spot_nodes_without_preemptible_quota_count_against_the_on_demand_quota(self):
        message = refused("prod", lambda o: o["gpuPool"].update(quota={"onDemand": 4, "allRegions": 20}))
        assert "shoestring:gpuPool.quota.onDemand = 4: NVIDIA_L4_GPUS in us-central1 is 4" in message
        raw = stack_with("prod", lambda o: o["gpuPool"].update(quota={"onDemand": 20, "allRegions": 20}))
        config.load("prod", raw, definitions.discover())

    def test_without_a_declared_quota_the_plan_warns_what_the_ceiling_needs(self):
        raw = stack_with("prod", lambda o: o["gpuPool"].pop("quota"))
        cfg = config.load("prod", raw, definitions.discover())
        assert any("gpuPool.quota is not declared: the GPU pool's ceiling needs 20 PREEMPTIBLE_NVIDIA_L4_GPUS" in n for n in cfg.notices)

    def test_make_plan_names_every_metric_a_full_burst_draws_on_besides_its_gpus(self, plans):
        [line] = [line for record in plans["prod"].of_type("shoestring:gke:GpuPool") for line in render._SUMMARIES[record.type](record.inputs)]
        assert line == (
            "a full burst needs G2_CPUS 80 (96 declared) · CPUS_ALL_REGIONS 80 + the other pools' (128 declared) · SSD_TOTAL_GB 2,000 GB "
            "(4,096 GB declared) · IN_USE_ADDRESSES 20 + the other pools' (32 declared)"
        )

    def test_an_ssd_quota_below_the_bursts_boot_disks_is_refused_naming_the_2000_gb_needed_and_the_request(self):
        message = refused("prod", lambda o: o["gpuPool"]["quota"].update(ssdTotalGb=500))
        assert "shoestring:gpuPool.quota.ssdTotalGb = 500: SSD_TOTAL_GB in us-central1 is 500 GB, below the 2,000 GB a full GPU burst needs (20 × g2-standard-4 nodes)" in message
        assert "--quota-id=SSD-TOTAL-GB-per-project-region --preferred-value=2000 --dimensions=region=us-central1" in message

    def test_the_cpu_and_address_quotas_count_the_other_pools_at_their_ceilings_too(self):
        message = refused("prod", lambda o: o["gpuPool"]["quota"].update(cpus=40, cpusAllRegions=80, inUseAddresses=20))
        assert "gpuPool.quota.cpus = 40: G2_CPUS in us-central1 is 40, below the 80 a full GPU burst needs" in message
        # Prod as 29 reshaped it (stacks/Pulumi.prod.yaml): 20 × g2-standard-4 (4 vCPUs) = 80, plus the default pool at
        # maxNodes 4 × e2-small (2 vCPUs in program/prices.yaml) = 8 and the Spot pool at maxNodes 3 × n2d-standard-2 = 6:
        # 94 vCPUs, 14 of them the other pools'; one address a node: 20 + 4 + 3 = 27.
        assert "gpuPool.quota.cpusAllRegions = 80: CPUS_ALL_REGIONS is 80, below the 94 a full GPU burst needs (20 × g2-standard-4 nodes, 14 of it the other pools' at their maxNodes)" in message
        assert "gpuPool.quota.inUseAddresses = 20: IN_USE_ADDRESSES in us-central1 is 20, below the 27" in message
        assert "--quota-id=CPUS-ALL-REGIONS-per-project --preferred-value=94`" in message

    def test_with_preemptible_cpus_granted_spot_nodes_draw_on_them_and_only_the_on_demand_rung_on_the_series_metric(self):
        raw = stack_with("prod", lambda o: o["gpuPool"]["quota"].update(preemptibleCpus=100))
        needs = {n.metric: n.needed for n in quota.burst_needs(config.load("prod", raw, definitions.discover()))}
        assert needs["PREEMPTIBLE_CPUS"] == 80 + 3 * 2  # the GPU nodes and the Spot CPU pool at its ceiling
        assert needs["G2_CPUS"] == 80  # the on-demand rung may hold all 20 nodes
        message = refused("prod", lambda o: o["gpuPool"]["quota"].update(preemptibleCpus=50))
        assert "gpuPool.quota.preemptibleCpus = 50: PREEMPTIBLE_CPUS in us-central1 is 50, below the 86" in message

    def test_private_nodes_hold_no_external_address(self):
        raw = stack_with("prod", lambda o: None) | {"shoestring:privateNodes": "true"}
        assert "IN_USE_ADDRESSES" not in {n.metric for n in quota.burst_needs(config.load("prod", raw, definitions.discover()))}

    def test_an_undeclared_metric_is_a_warning_naming_it_and_the_figure(self):
        raw = stack_with("prod", lambda o: o["gpuPool"]["quota"].pop("ssdTotalGb"))
        cfg = config.load("prod", raw, definitions.discover())
        assert any(n.startswith("gpuPool.quota does not declare ssdTotalGb (2,000 GB SSD_TOTAL_GB in us-central1): what a full GPU burst needs") for n in cfg.notices)

    def test_the_on_demand_rung_is_checked_against_the_regular_gpu_quota(self):
        message = refused("prod", lambda o: o["gpuPool"]["quota"].update(onDemand=5))
        assert "gpuPool.quota.onDemand = 5: NVIDIA_L4_GPUS in us-central1 is 5, below the on-demand fallback rung's 20 GPUs" in message

    def test_every_namespace_quota_admits_its_batches_at_full_parallelism(self, plans):
        [quota] = [r for r in plans["prod"].of_type("kubernetes:core/v1:ResourceQuota") if r.name == "ml-quota"]
        hard = quota.inputs["spec"]["hard"]
        # The apps' 4 vCPU, 16Gi, 20 pods, plus embed (20 × 2 vCPU, 8Gi) and eval (1 × 2 vCPU, 8Gi).
        assert (hard["requests.cpu"], hard["requests.memory"], hard["pods"], hard["requests.nvidia.com/gpu"]) == ("46", "184Gi", "41", "20")

    def test_a_batch_wider_than_its_namespaces_gpu_quota_is_refused_naming_the_figure(self):
        message = refused("prod", lambda o: o["projects"]["ml"].update(batches={"embed": {"parallelism": 30}}))
        assert "shoestring:projects.ml.batches.embed = 'parallelism=30': at full parallelism asks for 30 GPUs (30 pods × 1)" in message
        assert "namespace ml's ResourceQuota admits 20" in message
        assert "Raise gpuPool.maxNodes to 30, or set shoestring:projects.ml.batches.embed.parallelism to 20 or less" in message

    @pytest.mark.parametrize(
        ("edit", "named"),
        [
            (lambda o: o["gpuPool"]["quota"].update(preemptible=8), "PREEMPTIBLE-NVIDIA-L4-GPUS-per-project-region --preferred-value=20"),
            (lambda o: o["projects"]["ml"].update(batches={"embed": {"parallelism": 30}}), "admits 20"),
        ],
        ids=["quota-below-ceiling", "batch-beyond-namespace-quota"],
    )
    def test_make_plan_exits_1_on_either(self, monkeypatch, edit, named):
        real = offline.read_stack_files

        def read(stack, *args, **kwargs):
            raw, secrets, notes = real(stack, *args, **kwargs)
            return (stack_with(stack, edit) if stack == "prod" else raw), secrets, notes

        monkeypatch.setattr(offline, "read_stack_files", read)
        plan_in_process(monkeypatch)
        result = CliRunner().invoke(cli, ["plan", "--stack", "prod"])
        assert result.exit_code == 1
        assert named in result.output


# Bursts priced before they run (issue 19 items 1, 4, 6).


def with_replicas(records: list[offline.Record], name: str, replicas: int) -> list[offline.Record]:
    return [
        dataclasses.replace(r, inputs=r.inputs | {"spec": r.inputs["spec"] | {"replicas": replicas}}) if r.type == DEPLOYMENT and r.name == name else r
        for r in records
    ]


def with_gpu_ceiling(records: list[offline.Record], nodes: int, quota: int) -> list[offline.Record]:
    def edit(r: offline.Record) -> offline.Record:
        if r.type == NODE_POOL and r.name == "gpu-pool":
            return dataclasses.replace(r, inputs=r.inputs | {"autoscaling": r.inputs["autoscaling"] | {"totalMaxNodeCount": nodes}})
        if r.type == cost.GPU_POOL_COMPONENT:
            return dataclasses.replace(r, inputs=r.inputs | {"quota": r.inputs["quota"] | {"limit": quota}})
        return r

    return [edit(r) for r in records]


class TestPricedBursts:
    def test_a_scheduled_batchs_gpu_hours_are_in_the_expected_estimate_and_make_cost(self, plans):
        estimate = cost.estimate("prod", plans["prod"].records)
        [line] = [line for line in estimate.lines if line.item == "batch ml/eval"]
        assert line.scheduled_gpu_hours == pytest.approx(52 / 12)  # weekly, one node, at most 1 h
        assert line.scheduled_monthly == pytest.approx(52 / 12 * estimate.burst_hourly_usd, abs=0.001)
        assert estimate.expected_monthly_usd == pytest.approx(estimate.idle_monthly_usd + 40 * estimate.burst_hourly_usd + line.scheduled_monthly, abs=0.01)
        output = CliRunner().invoke(cli, ["cost", "--stack", "prod"], terminal_width=300).output
        assert "batch ml/eval" in output and "4.3 GPU node-hours" in output

    def test_an_on_demand_batch_adds_nothing_of_its_own(self, plans):
        [line] = [line for line in cost.estimate("prod", plans["prod"].records).lines if line.item == "batch ml/embed"]
        assert (line.idle_monthly, line.scheduled_monthly) == (0.0, 0.0)
        assert "on demand" in line.detail

    def test_a_stack_in_another_stacks_cluster_prices_its_schedule_at_the_hosts_gpu_pool(self, plans):
        estimate = cost.estimate("staging", plans["staging"].records, plans["prod"].records)
        assert estimate.scheduled_gpu_hours == pytest.approx(4.3)

    def test_a_gpu_deployment_with_replicas_shows_its_always_on_cost_in_make_plan(self, plans):
        assert cost.estimate("prod", plans["prod"].records).always_on_gpu == []
        records = with_replicas(plans["prod"].records, "ml-worker", 1)
        [always_on] = cost.estimate("prod", records).always_on_gpu
        assert (always_on.owner, always_on.nodes, always_on.monthly) == ("ml/worker", 1, 321.31)
        assert "always-on GPU: ml/worker at 1 replica keeps 1 × g2-standard-4 GPU node up all month: $321.31/month" in render.cost_summary(cost.estimate("prod", records))

    def test_make_diff_shows_an_always_on_gpu_deployment(self, plans):
        before = plans["prod"].records
        [stack] = diff.compare({"prod": before}, {"prod": with_replicas(before, "ml-worker", 1)})
        assert "**Always-on GPU**: ml/worker at 1 replica keeps 1 × g2-standard-4 GPU node up all month: $321.31/month, in the idle figure" in stack.money

    def test_make_diff_shows_a_new_burst_ceiling_with_the_quota_and_the_node_hours_the_budget_leaves(self, plans):
        after = plans["prod"].records
        [stack] = diff.compare({"prod": with_gpu_ceiling(after, 2, 2)}, {"prod": after})
        [burst] = [m for m in stack.money if m.startswith("**Maximum GPU burst")]
        assert "(2 → 20 GPU nodes)" in burst
        assert "the declared quota PREEMPTIBLE_NVIDIA_L4_GPUS = 20 admits it" in burst
        left = cost.estimate("prod", after).budget_gpu_hours()
        assert f"leaves {left:,.1f} GPU node-hours a month beyond the expected 40" in burst

    def test_make_diff_says_when_the_declared_quota_admits_fewer_nodes_than_the_ceiling(self, plans):
        before = plans["prod"].records
        [stack] = diff.compare({"prod": before}, {"prod": with_gpu_ceiling(before, 20, 8)})
        [burst] = [m for m in stack.money if m.startswith("**Maximum GPU burst")]
        assert "the declared quota PREEMPTIBLE_NVIDIA_L4_GPUS = 8 admits 8 nodes only" in burst
