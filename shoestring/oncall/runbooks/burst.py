"""`on-call burst PROJECT/BATCH`: start an on-demand run of a batch, after printing what it costs,
follow it to its end, and see the GPU nodes scale away.

The run is created from the batch's CronJob as the cluster holds it — its ``jobTemplate``, as
`kubectl create job --from=cronjob/<batch>` does — with only ``parallelism`` overridden (never
``completions``: the shards are the work, and each pod reads ``SHARD_COUNT``). That template is
what `pulumi up` applied from the definition (program/components/batch.py builds it, the same builders as
an app's pods): one fact in one place, and nothing here can build a Job the program would not.
Its price comes from the same plan and estimate as `make cost` (program/cost.py), its node
count from the capacity model (program/capacity.py)."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import click

from program import capacity, cost, names
from program.config import ConfigError
from program.names import CLUSTER
from shoestring import offline
from shoestring.oncall import scaling
from shoestring.oncall.runbook import FiniteFloat, runbook
from shoestring.oncall.session import CannotCheck, Session, Target

INSTANTIATE_ANNOTATION = "cronjob.kubernetes.io/instantiate"
"""What `kubectl create job --from=cronjob/…` marks its Job with (value ``manual``)."""
BURST_LABEL = "shoestring.dev/burst-of"
JOB_NAME = names.NameConstraint(
    "Indexed Job name",
    names.KUBERNETES_LABEL_NAME.pattern,
    1,
    57,
    # The Job's name is its pods' `job-name` label value (at most 63), and an Indexed Job's pods are
    # named and host-named `<job>-<index>-…`: 6 characters are left for `-<index>` up to 99,999.
    "kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode",
)


@dataclass(frozen=True)
class Rung:
    """One GPU pool the run's pods may land on, as the plan declares it, priced per node-hour."""

    pool: str
    spot: bool
    max_nodes: int
    hourly: float
    """One node while it runs: machine, GPUs, boot disk, external IP (and Cloud NAT's share)."""
    declared: bool = True
    """False for the other provisioning of a one-pool stack, priced for comparison only."""


@dataclass(frozen=True)
class Price:
    """What a run costs, from the stack's plan and estimate: the GPU nodes it needs and each rung."""

    pods: int
    nodes: int
    """GPU nodes the pods need, packed by the capacity model."""
    pods_per_node: int
    unplaced: int
    """Pods beyond the GPU pool's ceiling: they would wait for a node that never comes."""
    machine: str
    rungs: tuple[Rung, ...]
    """The declared GPU pools, Spot first (then the comparison rung of a one-pool stack)."""
    max_hours: float
    budget: float | None
    expected: float
    """The stack's expected monthly estimate (expectedGpuHours and scheduled runs included)."""

    @property
    def hourly(self) -> float:
        """One node of the first rung, where the run starts."""
        return self.rungs[0].hourly

    @property
    def billed_hours(self) -> float:
        """A node's billed hours at most: max_hours plus its boot and scale-down (program/cost.py)."""
        return cost.burst_billed_hours(self.max_hours)

    def ceiling_on(self, rung: Rung) -> float:
        return self.nodes * self.billed_hours * rung.hourly

    @property
    def ceiling(self) -> float:
        """The run landing entirely on its dearest declared rung."""
        return max(self.ceiling_on(r) for r in self.rungs if r.declared)


@runbook(
    5,
    click.option("--parallelism", type=click.IntRange(min=1), default=None, help="Pods at once, up to the parallelism the stack declares (its ceiling)."),
    click.option("--dry-run", is_flag=True, help="Print what the run would cost and stop: nothing is created."),
    click.option("--max-cost", type=FiniteFloat(min=0), default=None, metavar="USD", help="Refuse a run whose ceiling (nodes × billed hours × $/h, on its dearest declared GPU pool) is above this."),
    click.option("--detach", is_flag=True, help="Start the run and return at once, without following it."),
    click.option("--timeout", type=click.IntRange(min=1), default=None, help="Seconds to follow the run (default: its max_hours, after which it is stopped anyway)."),
    click.option("--force", is_flag=True, help=(
        "Start a run although one of the batch is active: only when that run works on other input (its code reads, say, another date's "
        "data), since both run the same shard indices and share the GPU pool and quota."
    )),
    subject="batch",
)
def burst(session: Session, parallelism: int | None, dry_run: bool, max_cost: float | None, detach: bool, timeout: int | None, force: bool) -> None:
    """Start an on-demand run of a batch from its CronJob, after printing its cost; follow it until it ends and its GPU nodes go."""
    target = session.target
    batch = target.batch
    declared = batch.parallelism
    if parallelism is not None and parallelism > declared:
        raise CannotCheck(
            f"refused: --parallelism {parallelism} is above {declared}, the parallelism {target.environment} declares for "
            f"{target.project.name}/{batch.name} (the namespace's quota and the GPU pool are sized for it); raise it in "
            f"stacks/Pulumi.{target.environment}.yaml (shoestring:projects.{target.project.name}.batches.{batch.name}.parallelism) and "
            f"`pulumi up` first. Nothing was created"
        )
    pods = parallelism or declared
    if dry_run:
        session.assume_yes = True  # it only looks: nothing to confirm
    priced: list[Price] = []
    refused: list[bool] = []
    job: list[str] = []
    started = datetime.now(UTC)

    def cost_step() -> None:
        price = _price(target, pods)
        priced.append(price)
        _print_price(session, target, price)
        if max_cost is not None and price.ceiling > max_cost:
            worst = max(r.hourly for r in price.rungs if r.declared)
            fits = int(max_cost // (price.billed_hours * worst)) * price.pods_per_node if worst else 0
            session.problem(
                f"refused: the run's ceiling ${price.ceiling:,.2f} is above --max-cost ${max_cost:,.2f}; nothing was created"
                + (f"; --parallelism {fits} fits it" if 0 < fits < pods else ""),
                next_command=f"on-call burst {target.project.name}/{batch.name} --parallelism {fits} --dry-run" if 0 < fits < pods else None,
            )
            refused.append(True)

    def start() -> None:
        name = _start(session, target, pods)
        job.append(name)
        nonlocal started
        started = datetime.now(UTC)
        session.ok(f"started Job {target.namespace}/{name}: {pods} pods at once, {batch.shards} shards, stopped after {batch.max_hours:g} h")
        session.suggest(f"kubectl -n {target.namespace} get job/{name} -w")

    session.step("Cost: nodes, $/h, the ceiling and the budget left", cost_step)
    if dry_run or refused:
        if dry_run and not refused:
            session.success = "dry run — nothing was created."
        return
    def one_at_a_time() -> None:
        active = active_runs(session, target)
        if not active:
            session.ok(f"no run of {batch.name} is active")
            return
        named = ", ".join(f"{target.namespace}/{j.metadata.name} ({(j.status.active or 0) if j.status else 0} pods active)" for j in active)
        if force:
            session.info(f"[yellow]--force: starting beside the active run{'s' if len(active) != 1 else ''} {named}; both run the same shards[/yellow]")
            return
        session.problem(
            f"refused: {named} of {batch.name} is still running; a second run would repeat the same shards and compete for the GPU pool and "
            f"its quota. Follow it (`kubectl -n {target.namespace} get job/{active[0].metadata.name} -w`), or stop it (its pods go with it), "
            "or pass --force if the new run works on other input. Nothing was created",
            next_command=f"kubectl -n {target.namespace} delete job/{active[0].metadata.name}",
        )
        refused.append(True)

    session.step(f"One run at a time: is a run of {batch.name} active?", one_at_a_time)
    if refused:
        return
    session.step(f"Start a run of {batch.name} from its CronJob", start, changes=True)
    if not job:
        return
    if detach:
        session.success = f"started Job {job[0]} (--detach: not followed)."
        return
    follow_for = timeout if timeout is not None else int(batch.max_hours * 3600) + 600
    ended: list[bool] = []
    session.step("Follow the run: pods, scale-up, GPU nodes, cost so far", lambda: ended.append(_follow(session, target, job[0], priced[0], started, follow_for)))
    if ended and ended[0]:
        session.step("Scale-down: are the GPU nodes going away?", lambda: scale_down(session))


def _price(target: Target, pods: int) -> Price:
    """Nodes, $/h and budget for ``pods`` pods of the batch, from the stack's plan (as `make cost`)."""
    env = target.environment
    try:
        plan = offline.run(env)
        host = offline.run(plan.host_stack).records if plan.host_stack else None
    except (ConfigError, offline.PlanFailed) as e:
        raise CannotCheck(f"the {env} stack cannot be planned, so the run cannot be priced: {e}") from None
    estimate = cost.estimate(env, plan.records, host)
    cluster = host if host is not None else plan.records
    cron = [r for r in plan.of_type(cost.CRON_JOB) if r.inputs.get("metadata", {}).get("name") == target.batch.name
            and r.inputs.get("metadata", {}).get("namespace") == target.namespace]
    gpu_pools = cost._gpu_pools(cluster)
    if not cron or not gpu_pools:
        raise CannotCheck(f"the {env} plan declares no CronJob {target.namespace}/{target.batch.name} or no GPU pool to run it on")
    pool = gpu_pools[0]
    # The run's pods as the capacity model sees a Deployment of them: the CronJob's pod template.
    template = cron[0].inputs["spec"]["jobTemplate"]["spec"]["template"]
    shape = dataclasses.replace(cron[0], type=capacity.DEPLOYMENT, inputs={"metadata": cron[0].inputs["metadata"], "spec": {"replicas": pods, "template": template}})
    placement = capacity.place(capacity.pools_of([pool], estimate.region), capacity.pods_of([shape]))
    clusters = [r for r in cluster if r.type == CLUSTER]
    private = any(cost.private_nodes(c) for c in clusters)
    # The estimate's burst rate of a one-pool stack is its node and whatever else grows with it (Cloud NAT).
    extra = estimate.burst_hourly_usd - _rung(pool, clusters, estimate.region, private).hourly if host is None and len(gpu_pools) == 1 else 0.0

    def priced(record, declared: bool = True) -> Rung:
        return dataclasses.replace(_rung(record, clusters, estimate.region, private), hourly=_rung(record, clusters, estimate.region, private).hourly + extra,
                                   declared=declared)

    rungs = [priced(p) for p in sorted(gpu_pools, key=lambda p: not p.inputs["nodeConfig"].get("spot"))]
    if len(gpu_pools) == 1:
        node = pool.inputs["nodeConfig"]
        other = dataclasses.replace(pool, inputs=pool.inputs | {"nodeConfig": node | {"spot": not node.get("spot")}})
        rungs.append(priced(other, declared=False))
    return Price(
        pods=pods, nodes=len(placement.nodes), pods_per_node=max((len(n.pods) for n in placement.nodes), default=1),
        unplaced=len(placement.unschedulable), machine=pool.inputs["nodeConfig"].get("machineType", ""), rungs=tuple(rungs),
        max_hours=target.batch.max_hours, budget=estimate.budget_usd, expected=estimate.expected_monthly_usd,
    )


def _rung(pool, clusters, region: str, private: bool) -> Rung:
    [line] = cost._node_pool(pool, cost._location_of(pool, clusters), region, private, None)
    _, max_nodes = capacity.pool_bounds({"location": cost._location_of(pool, clusters)} | pool.inputs)
    return Rung(pool=pool.name, spot=bool(pool.inputs["nodeConfig"].get("spot")), max_nodes=max_nodes, hourly=line.burst_hourly)


def _print_price(session: Session, target: Target, price: Price) -> None:
    batch = target.batch
    session.info(
        f"{price.pods} pods × {batch.gpus} GPU, {batch.resources.cpu} vCPU, {batch.resources.memory}: {price.nodes} {price.machine} GPU node"
        f"{'s' if price.nodes != 1 else ''} ({price.pods_per_node} pod{'s' if price.pods_per_node != 1 else ''} per node, by the capacity model)"
    )
    if price.unplaced:
        session.problem(f"{price.unplaced} of the {price.pods} pods fit on no GPU node within the pool's ceiling: they would wait until the run's deadline")
    overhead = f"{price.max_hours:g} h (max_hours) + {cost.NODE_BOOT_MINUTES} min boot + {cost.SCALE_DOWN_UNNEEDED_MINUTES} min scale-down"
    session.info(f"each node is billed from its boot to its removal: at most {overhead} = {price.billed_hours:.2f} h, its boot disk and external IP with it")
    for number, rung in enumerate(price.rungs, 1):
        kind = "Spot" if rung.spot else "on demand"
        where = f"rung {number}: pool {rung.pool} ({kind}, up to {rung.max_nodes} nodes)" if rung.declared else f"{kind} instead (not declared)"
        session.info(
            f"{where}: ${rung.hourly:.4f}/h a node, ${price.nodes * rung.hourly:,.2f}/h while it runs; ceiling if the burst lands entirely on it: "
            f"{price.nodes} nodes × {price.billed_hours:.2f} h × ${rung.hourly:.4f}/h = ${price.ceiling_on(rung):,.2f}"
        )
    if price.budget is None:
        session.info(f"budget: the {target.environment} stack declares none (shoestring:budget)")
        return
    left = price.budget - price.expected
    after = left - price.ceiling
    line = (
        f"budget: ${price.budget:,.2f}/month; the stack's expected ${price.expected:,.2f}/month (its expectedGpuHours included) leaves "
        f"${left:,.2f}; after this run at its ceiling, " + (f"${after:,.2f}" if after >= 0 else f"${-after:,.2f} over budget")
    )
    session.info(f"[bold red]{line}[/bold red]" if after < 0 else line)


def active_runs(session: Session, target: Target) -> list:
    """The batch's Jobs that have not finished: any Job of its CronJob (the controller's, `kubectl
    create job --from`'s and on-call's all name it in ownerReferences) or labelled by on-call,
    without a ``Complete`` or ``Failed`` condition, and not being deleted. ``concurrencyPolicy:
    Forbid`` only stops the CronJob controller from starting one beside another of its own."""
    batch = target.batch.name
    jobs = session.call(session.kube.batch.list_namespaced_job, target.namespace).items
    ours = [
        j for j in jobs
        if any(o.kind == "CronJob" and o.name == batch for o in j.metadata.owner_references or [])
        or (j.metadata.labels or {}).get(BURST_LABEL) == batch
    ]
    return [
        j for j in sorted(ours, key=lambda j: j.metadata.name)
        if j.metadata.deletion_timestamp is None
        and not any(c.type in ("Complete", "Failed") and c.status == "True" for c in ((j.status.conditions if j.status else None) or []))
    ]


def job_name(batch: str, now: float) -> str:
    """``<batch>-<unix time>``, as README's `kubectl create job <batch>-$(date +%s)` names a run."""
    return names.fit(f"{batch}-{int(now)}", JOB_NAME)


def _start(session: Session, target: Target, pods: int) -> str:
    """Create the run from the live CronJob's jobTemplate, with ``parallelism`` overridden."""
    batch = target.batch
    live = session.call(session.kube.batch.read_namespaced_cron_job, batch.name, target.namespace, missing_ok=True)
    if live is None:
        raise CannotCheck(f"no CronJob {target.namespace}/{batch.name} in the cluster: is the {target.environment} stack deployed (`pulumi up`)? Nothing was created")
    template = session.kube.api.sanitize_for_serialization(live.spec.job_template)
    spec = template["spec"]
    images = [c.get("image", "") for c in spec["template"]["spec"].get("containers", [])]
    if not any(image.endswith(f":{batch.tag}") for image in images):
        session.info(f"[yellow]the cluster's CronJob runs {', '.join(images)}, not the tag {target.environment} declares ({batch.tag}): `pulumi up` to converge[/yellow]")
    name = job_name(batch.name, time.time())
    metadata = template.get("metadata") or {}
    spec["parallelism"] = pods
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": target.namespace,
            "labels": {**(metadata.get("labels") or {}), BURST_LABEL: batch.name},
            "annotations": {**(metadata.get("annotations") or {}), INSTANTIATE_ANNOTATION: "manual"},
            # As kubectl sets it (kubernetes/kubectl pkg/cmd/create/create_job.go, createJobFromCronJob, since
            # kubernetes/kubernetes#124883): the CronJob as controller — its history and garbage collection
            # see the run — and no blockOwnerDeletion, which the API server admits only from an identity
            # allowed to update cronjobs/finalizers (OwnerReferencesPermissionEnforcement; #124882).
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "CronJob", "name": live.metadata.name, "uid": live.metadata.uid, "controller": True,
            }] if live.metadata.uid else [],
        },
        "spec": spec,
    }
    session.call(session.kube.batch.create_namespaced_job, target.namespace, manifest)
    return name


def _follow(session: Session, target: Target, name: str, price: Price, started: datetime, timeout: int) -> bool:
    """Progress of the run until it ends (True), a cause holds it (a problem), or ``timeout``."""
    namespace = target.namespace
    deadline = time.monotonic() + timeout
    last = ""
    noted: set[str] = set()
    while True:
        now = datetime.now(UTC)
        job = session.call(session.kube.batch.read_namespaced_job, name, namespace, missing_ok=True)
        if job is None:
            session.problem(f"Job {name} is gone (deleted while it ran?)")
            return False
        pods = [p for p in session.call(session.kube.core.list_namespaced_pod, namespace, label_selector=f"job-name={name}").items
                if (p.metadata.labels or {}).get("job-name") == name]
        nodes = [n for n in session.call(session.kube.core.list_node).items if scaling.is_gpu_node(n)]
        status = job.status
        since = (status.start_time if status else None) or started
        # Cost so far: the GPU nodes up now, each since it came or the run started, whichever is later.
        spent = sum(scaling.hours(now - max(since, n.metadata.creation_timestamp or since)) for n in nodes) * price.hourly
        elapsed = scaling.duration(now - since)
        conditions = {c.type: c for c in (status.conditions or []) if c.status == "True"} if status else {}
        done = (status.succeeded or 0) if status else 0
        if "Complete" in conditions:
            retried = _retried(pods, price)
            session.success = f"run {name} succeeded: {done} of {target.batch.shards} shards in {elapsed}, ~${spent:,.2f} of GPU nodes{retried and '; ' + retried}."
            session.ok(f"succeeded: {done}/{target.batch.shards} shards, {elapsed}, cost so far ~${spent:,.2f}")
            if retried:
                session.info(retried)
            return True
        if "Failed" in conditions:
            failed = conditions["Failed"]
            why = (
                f"it reached its deadline of {target.batch.max_hours:g} h (activeDeadlineSeconds) with {done}/{target.batch.shards} shards done"
                if failed.reason == "DeadlineExceeded" else f"{failed.reason}: {failed.message}"
            )
            session.problem(
                f"run {name} failed: {why}; cost so far ~${spent:,.2f} ({elapsed})",
                next_command=f"kubectl -n {namespace} logs job/{name} --tail 50",
            )
            return True
        pending = [p for p in pods if p.status.phase == "Pending"]
        running = [p for p in pods if p.status.phase == "Running"]
        events = scaling.events_by_object(session, namespace)
        refusal = scaling.quota_refusal(events.get(name, []))
        if refusal is not None and not pods:
            refusal.report(session)
            session.suggest(f"kubectl -n {namespace} delete job/{name}")
            return False
        findings = [scaling.why_pending(p, events.get(p.metadata.name, []), target.stack, now, lambda: len(nodes)) for p in sorted(pending, key=lambda p: p.metadata.name)]
        problems = [f for f in findings if f.kind == "problem"]
        if problems:
            session.info(f"{elapsed}: {len(pending)} pods pending, {len(running)} running, GPU nodes {len(nodes)}/{price.nodes}, ~${spent:,.2f} so far")
            problems[0].report(session)
            session.suggest(f"kubectl -n {namespace} delete job/{name}")
            session.info(f"the run was left in place: it stops by itself at its deadline ({target.batch.max_hours:g} h), and a GPU node that never came costs nothing")
            return False
        triggered = any(f.stage == "scale-up" for f in findings)
        for finding in findings:
            # What the autoscaler met on the way (a zone out of capacity, tried elsewhere), said once.
            note = re.sub(r"^pod \S+ ", "", finding.message)
            if finding.stage == "scale-up" and note.startswith("waits:") and note not in noted:
                session.info(note)
                noted.add(note)
        stage = (
            "running" if running and not pending
            else f"nodes up {len(nodes)}/{price.nodes}" if nodes
            else "scale-up triggered" if triggered
            else "pods pending"
        )
        line = f"{stage}: {len(pending)} pending, {len(running)} running, {done}/{target.batch.shards} shards done, GPU nodes {len(nodes)}/{price.nodes}"
        if line != last:
            session.info(f"{elapsed}: {line}; ~${spent:,.2f} so far")
            last = line
        if time.monotonic() > deadline:
            session.waiting(f"run {name} still runs after {timeout} s of following ({line}); it stops by itself at its deadline")
            session.suggest(f"kubectl -n {namespace} get job/{name} -w")
            return False
        time.sleep(float(os.environ.get("ON_CALL_POLL_SECONDS", "10")))


def _retried(pods, price: Price) -> str:
    """The run's pods that failed and were run again: preempted ones — a pod the kubelet or a
    controller disrupted carries the ``DisruptionTarget`` condition (kubernetes.io/docs/concepts/
    workloads/pods/disruptions/#pod-disruption-conditions), which the batch's podFailurePolicy
    ignores — and those whose code failed (counted against its retries); with the node-hours the
    preempted pods had run, redone."""
    preempted, failed = [], []
    for pod in pods:
        if pod.status.phase != "Failed":
            continue
        disruption = next((c for c in pod.status.conditions or [] if c.type == "DisruptionTarget" and c.status == "True"), None)
        (preempted if disruption is not None else failed).append((pod, disruption))
    if not preempted and not failed:
        return ""
    lost = sum(scaling.hours(d.last_transition_time - p.status.start_time) for p, d in preempted if d.last_transition_time and p.status.start_time)
    reasons = ", ".join(sorted({d.reason for _, d in preempted if d.reason}))
    said = []
    if preempted:
        said.append(
            f"{len(preempted)} shard{'s' if len(preempted) != 1 else ''} preempted (DisruptionTarget{': ' + reasons if reasons else ''}) and run again, "
            f"{lost:.2f} node-hours of work redone (~${lost * price.hourly:,.2f})"
        )
    if failed:
        said.append(f"{len(failed)} pod{'s' if len(failed) != 1 else ''} failed in the batch's code and {'were' if len(failed) != 1 else 'was'} retried")
    return "; ".join(said)


def scale_down(session: Session) -> None:
    """The GPU nodes after a run: going away, or what keeps each (a pod, a PodDisruptionBudget,
    a safe-to-evict annotation)."""
    nodes = [n for n in session.call(session.kube.core.list_node).items if scaling.is_gpu_node(n)]
    if not nodes:
        session.ok("no GPU node is left: the pool is back at zero")
        return
    pods = session.call(session.kube.core.list_pod_for_all_namespaces).items
    budgets = session.call(session.kube.policy.list_pod_disruption_budget_for_all_namespaces).items
    going = []
    for node in nodes:
        on = [p for p in pods if p.spec.node_name == node.metadata.name]
        gpu_pods = [p for p in on if scaling.gpu_requests(p) and p.status.phase not in ("Succeeded", "Failed")]
        if gpu_pods:
            session.info(f"node {node.metadata.name} runs GPU pod {gpu_pods[0].metadata.namespace}/{gpu_pods[0].metadata.name}: it stays while that runs")
            continue
        held = [h for h in scaling.holders(node, on, budgets) if "which runs there" not in h]
        if held:
            session.problem(f"GPU node {node.metadata.name} has no GPU work but is kept by {'; '.join(held)}: it is billed until that goes",
                            next_command=f"kubectl describe node {node.metadata.name}")
        else:
            going.append(node.metadata.name)
    if going:
        session.ok(
            f"{len(going)} GPU node{'s' if len(going) != 1 else ''} ({', '.join(going)}) hold nothing: the autoscaler removes "
            f"{'each' if len(going) != 1 else 'it'} after {int(scaling.SCALE_DOWN_UNNEEDED.total_seconds() // 60)} min unneeded"
        )


def readme_sample(batch: str = "ml/embed", environment: str = "prod") -> str:
    """README's `on-call burst --dry-run` sample, as the CLI prints it (`python -m shoestring docs`).
    A dry run sends no request, so a kubeconfig naming no reachable server is enough."""
    import tempfile
    from pathlib import Path

    from click.testing import CliRunner

    from shoestring.oncall.cli import cli

    with tempfile.TemporaryDirectory() as directory:
        kubeconfig = Path(directory) / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: docs\nclusters: [{name: docs, cluster: {server: 'https://127.0.0.1:9'}}]\n"
            "users: [{name: docs, user: {token: none}}]\ncontexts: [{name: docs, context: {cluster: docs, user: docs}}]\n"
        )
        result = CliRunner().invoke(cli, ["burst", batch, "--dry-run", "--env", environment, "--kubeconfig", str(kubeconfig)])
    if result.exit_code != 0:
        raise RuntimeError(f"on-call burst --dry-run failed: {result.output}")
    return f"```console\n$ on-call burst {batch} --dry-run --env {environment}\n{result.output}```\n"
