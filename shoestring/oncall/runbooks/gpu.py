"""`on-call gpu`: no forgotten GPU. The GPU nodes running now, what holds each, and what each has
cost this month; a GPU node is forgotten (exit 1, with what keeps it) only once the autoscaler
would have removed it: without a GPU pod for longer than scale-down-unneeded-time, and past
scale-down-delay-after-add since the cluster's last scale-up (shoestring/oncall/scaling.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from shoestring.oncall import scaling
from shoestring.oncall.runbook import runbook
from shoestring.oncall.session import Session


@runbook(1, subject="cluster")
def gpu(session: Session) -> None:
    """List the GPU nodes, what holds each and their cost this month; an idle one kept past the scale-down delay is a problem."""
    session.step("GPU nodes: what runs on each, what holds it, its cost this month", lambda: _nodes(session))


def _nodes(session: Session) -> None:
    stack = session.target.stack
    now = datetime.now(UTC)
    every_node = session.call(session.kube.core.list_node).items
    nodes = [n for n in every_node if scaling.is_gpu_node(n)]
    # The autoscaler's last scale-up, as the newest node's creation: it removes nothing for
    # scale-down-delay-after-add after one (scaling.SCALE_DOWN_DELAY_AFTER_ADD).
    cooldown_ends = max((n.metadata.creation_timestamp or now for n in every_node), default=now) + scaling.SCALE_DOWN_DELAY_AFTER_ADD
    if not nodes:
        session.ok("no GPU node runs: the GPU pool is at zero")
        session.success = "no GPU node runs — nothing to do."
        return
    pods = session.call(session.kube.core.list_pod_for_all_namespaces).items
    budgets = session.call(session.kube.policy.list_pod_disruption_budget_for_all_namespaces).items
    delay = scaling.SCALE_DOWN_UNNEEDED
    total = 0.0
    for node in sorted(nodes, key=lambda n: n.metadata.name):
        name = node.metadata.name
        created = node.metadata.creation_timestamp or now
        hourly = scaling.node_hourly(node, stack)
        month = scaling.hours(now - max(created, scaling.month_start(now))) * hourly if hourly else None
        total += month or 0.0
        labels = node.metadata.labels or {}
        what = (
            f"node {name} ({labels.get(scaling.INSTANCE_TYPE_LABEL, '?')}, {'Spot' if labels.get(scaling.SPOT_LABEL) == 'true' else 'on demand'}, "
            f"{labels.get(scaling.ZONE_LABEL, 'zone ?')}), up {scaling.duration(now - created)}, "
            + (f"${month:,.2f} this month at ${hourly:.4f}/h" if month is not None else "not priced (machine type not in the catalog)")
        )
        on = [p for p in pods if p.spec.node_name == name]
        gpu_pods = [p for p in on if scaling.gpu_requests(p)]
        working = [p for p in gpu_pods if p.status.phase not in ("Succeeded", "Failed")]
        if working:
            session.info(f"{what}: GPU pod {', '.join(f'{p.metadata.namespace}/{p.metadata.name}' for p in working)}")
            continue
        if any(t.key == scaling.TO_BE_DELETED_TAINT for t in ((node.spec.taints if node.spec else None) or [])):
            session.ok(f"{what}: no GPU pod, and the autoscaler is removing it")
            continue
        idle_since = max([created, *(_ended(p) or created for p in gpu_pods)])
        idle = now - idle_since
        held = scaling.holders(node, on, budgets)
        if idle <= delay:
            session.ok(f"{what}: no GPU pod for {scaling.duration(idle)}; the autoscaler removes it after {int(delay.total_seconds() // 60)} min unneeded")
            continue
        if now <= cooldown_ends:
            session.ok(
                f"{what}: no GPU pod for {scaling.duration(idle)}; the cluster scaled up {scaling.duration(now - cooldown_ends + scaling.SCALE_DOWN_DELAY_AFTER_ADD)} "
                f"ago and the autoscaler removes no node for {int(scaling.SCALE_DOWN_DELAY_AFTER_ADD.total_seconds() // 60)} min after a scale-up "
                "(scale-down-delay-after-add)"
            )
            continue
        reason = (
            "kept by " + "; ".join(held) if held
            else "nothing on-call can see keeps it: the autoscaler's noScaleDown log says why"
        )
        session.problem(
            f"{what}: no GPU pod for {scaling.duration(idle)}, longer than the {int(delay.total_seconds() // 60)} min scale-down delay: {reason}",
            next_command=f"kubectl describe node {name}" if held else scaling.autoscaler_log(stack, scaling.NO_SCALE_DOWN),
        )
    session.info(f"{len(nodes)} GPU node{'s' if len(nodes) != 1 else ''}: ${total:,.2f} so far this month")


def _ended(pod) -> datetime | None:
    """When a finished GPU pod's last container ended (the node has had no GPU work since)."""
    times = [s.state.terminated.finished_at for s in pod.status.container_statuses or [] if s.state and s.state.terminated and s.state.terminated.finished_at]
    return max(times, default=None)
