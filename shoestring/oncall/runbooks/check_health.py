"""`on-call check-health`: is the app up, rolled out, running the commit its stack declares and
its branch's latest, and — for GPU apps — getting its GPU node? An app at rest by design (0
replicas) is healthy; a GPU pod waiting on a scale-up the autoscaler triggered is "waiting"."""

from __future__ import annotations

from datetime import UTC, datetime

from kubernetes.client import V1Pod

from shoestring.oncall import commits, scaling
from shoestring.oncall.runbook import runbook
from shoestring.oncall.session import CannotCheck, Session
from shoestring.release import Image

WAITING_PROBLEMS = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "CreateContainerError"}


@runbook(4)
def check_health(session: Session) -> None:
    """Check an app's uptime, rollout, deployed commit against its branch, and GPU scale-up."""
    pods: list[V1Pod] = []
    session.step("Uptime: are the pods ready, and since when?", lambda: pods.extend(_uptime(session)))
    session.step("Rollout: desired, updated and ready replicas", lambda: _rollout(session))
    session.step("Deployed commit against the branch's latest", lambda: _commit(session, pods))
    session.step("GPU: waiting for the GPU pool to scale up?", lambda: _gpu(session, pods))


def _uptime(session: Session) -> list[V1Pod]:
    target = session.target
    listed = session.call(session.kube.core.list_namespaced_pod, target.namespace, label_selector=target.selector)
    # The server applies the selector; checking the label again costs nothing and guards the verdict.
    pods = [p for p in listed.items if (p.metadata.labels or {}).get("app.kubernetes.io/name") == target.app.name]
    if not pods:
        if target.app.replicas == 0:
            session.ok(f"no pods: {target.app.name} is declared with 0 replicas in {target.environment}")
        else:
            session.problem(f"no pods of {target.app.name} in {target.namespace}; `pulumi up` the stack, or see the Deployment's events")
        return pods
    now = datetime.now(UTC)
    stable_since: datetime | None = None
    ready = 0
    for pod in pods:
        name = pod.metadata.name
        statuses = pod.status.container_statuses or []
        restarts = sum(s.restart_count for s in statuses)
        if pod.status.phase == "Pending" and not statuses:
            if target.app.gpus:  # expected while the GPU pool scales up from zero: step 4 looks closer
                session.info(f"pod {name} is pending for a GPU node: {_scheduling_reason(pod)}")
            else:
                session.problem(f"pod {name} is pending: {_scheduling_reason(pod)}")
            continue
        unmounted = _secret_without_a_version(session, pod) if target.app.secrets else None
        if unmounted is not None:
            session.problem(
                f"pod {name} cannot start: secret {unmounted} has no version its volume can mount (the stack declares the secret, "
                f"never its value); add one: printf %s \"$VALUE\" | gcloud secrets versions add {unmounted} --data-file=- --project {target.gcp_project}",
                next_command=f"kubectl -n {target.namespace} describe pod/{name}",
            )
            continue
        crashing = [s for s in statuses if s.state and s.state.waiting and s.state.waiting.reason in WAITING_PROBLEMS]
        if crashing:
            session.problem(*_why_waiting(target, name, crashing[0], restarts, _last_exit(statuses)))
            continue
        conditions = {c.type: c for c in pod.status.conditions or []}
        if conditions.get("Ready") and conditions["Ready"].status == "True":
            ready += 1
            for moment in (conditions["Ready"].last_transition_time, *_restart_times(statuses)):
                if moment is not None and (stable_since is None or moment > stable_since):
                    stable_since = moment
            session.info(f"pod {name}: ready, {restarts} restart{'s' if restarts != 1 else ''}")
        else:
            session.problem(
                f"pod {name} is {pod.status.phase} but not ready; check its readiness probe ({target.app.health_path})",
                next_command=f"kubectl -n {target.namespace} describe pod/{name}",
            )
    if ready == len(pods):
        minutes = int((now - stable_since).total_seconds() // 60) if stable_since else 0
        session.ok(f"{ready}/{len(pods)} pods ready; stable for {minutes} minutes (since a pod last became ready or restarted)")
    return pods


def _secret_without_a_version(session: Session, pod: V1Pod) -> str | None:
    """The app's secret a pod stuck in ContainerCreating fails to mount (its FailedMount events
    name it: the add-on finds no version to read), if that is what holds it."""
    statuses = pod.status.container_statuses or []
    if not any(s.state and s.state.waiting and s.state.waiting.reason == "ContainerCreating" for s in statuses):
        return None
    events = session.call(session.kube.core.list_namespaced_event, pod.metadata.namespace, field_selector=f"involvedObject.name={pod.metadata.name}")
    failed = [e.message or "" for e in events.items if e.reason == "FailedMount"]
    return next((secret for secret in sorted(session.target.app.secrets.values()) if any(f"secrets/{secret}/" in m or f"secrets/{secret} " in m for m in failed)), None)


def _why_waiting(target, pod: str, status, restarts: int, last_exit: str) -> tuple[str, str]:
    """What a container waiting in a bad state needs, and the command that shows more: a crash
    loop its previous logs; a pull error the image and the registry's answer (there are no logs)."""
    reason, message = status.state.waiting.reason, " ".join((status.state.waiting.message or "").split())
    describe = f"kubectl -n {target.namespace} describe pod/{pod}"
    if reason in ("ImagePullBackOff", "ErrImagePull"):
        return (
            f"pod {pod} is {reason}: it cannot pull image {status.image}" + (f" ({message})" if message else "")
            + "; check that this tag was pushed (did the image build run for the commit?) and that the nodes may pull from its "
            "registry; its events show each attempt",
            describe,
        )
    if reason in ("CreateContainerConfigError", "CreateContainerError"):
        return f"pod {pod} is {reason}: its container cannot be created" + (f" ({message})" if message else "") + "; its events say why", describe
    oom = "OOMKilled" in last_exit
    advice = (
        f"it ran out of memory: raise memory_limit (now {target.app.resources.memory_limit}) in projects/{target.project.name}.py"
        if oom else "read its previous logs"
    )
    return (
        f"pod {pod} is {reason} ({restarts} restarts{'; last exit: ' + last_exit if last_exit else ''}); {advice}",
        f"kubectl -n {target.namespace} logs pod/{pod} --previous",
    )


def _rollout(session: Session) -> None:
    target = session.target
    deployment = session.call(session.kube.apps.read_namespaced_deployment, target.app.name, target.namespace, missing_ok=True)
    if deployment is None:
        raise CannotCheck(f"no Deployment {target.namespace}/{target.app.name} in the cluster; is the {target.environment} stack deployed?")
    desired = deployment.spec.replicas or 0
    status = deployment.status
    updated, ready = status.updated_replicas or 0, status.ready_replicas or 0
    session.info(f"desired {desired}, updated {updated}, ready {ready}, available {status.available_replicas or 0}")
    progressing = next((c for c in status.conditions or [] if c.type == "Progressing"), None)
    rollout = f"kubectl -n {target.namespace} rollout status deployment/{target.app.name}"
    if desired == 0:
        session.ok(f"at rest: {target.app.name} is scaled to 0 replicas, nothing runs")
    elif progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        session.problem(f"the rollout is stuck: {progressing.message}; roll back or fix the new pods", next_command=f"kubectl -n {target.namespace} rollout undo deployment/{target.app.name}")
    elif (status.observed_generation or 0) < (deployment.metadata.generation or 0) or updated < desired:
        session.waiting(f"a rollout is in progress: {updated}/{desired} replicas updated, {ready} ready")
        session.suggest(rollout)
    elif ready < desired and target.app.gpus:
        session.info(f"{ready}/{desired} replicas ready: GPU pods wait for a GPU node (step 4 looks at the scale-up)")
    elif ready < desired:
        session.problem(f"{ready}/{desired} replicas ready", next_command=f"kubectl -n {target.namespace} describe deployment/{target.app.name}")
    else:
        session.ok("rolled out: every replica is updated and ready")


def _commit(session: Session, pods: list[V1Pod]) -> None:
    """Three things that should be one: the image that runs, the image the stack declares, and
    its branch's latest commit — and which one is out of step: the cluster drifted from the stack
    (another repository, commit or digest runs), or the stack is behind its branch."""
    target = session.target
    app = target.app
    running = sorted({c.image for p in pods if p.status.phase == "Running" for c in p.spec.containers if c.name == app.name})
    declared = Image.parse(app.reference)
    where = _declared_in(target)
    if not running and app.replicas == 0:
        session.ok(f"at rest: nothing runs; {where} declares {declared.commit} for when it does")
    for image in running:
        ran = Image.parse(image)
        if not commits.is_commit(ran.commit):
            session.problem(f"running tag {ran.commit!r}, which is not a commit sha: which commit runs cannot be told; tag images by their commit")
        elif ran != declared:
            differs = [part for part in ("repository", "commit", "digest") if getattr(ran, part) != getattr(declared, part)]
            session.problem(
                f"the cluster drifted from the stack: running {image}, but {where} declares {declared} (the {' and '.join(differs)} "
                f"differ{'s' if len(differs) == 1 else ''}); `pulumi up` the stack to converge (`pulumi refresh` shows what was changed outside it)",
                next_command=f"pulumi preview --refresh --stack {target.environment}",
            )
    if not commits.is_commit(declared.commit):
        session.problem(f"{where} declares tag {declared.commit!r}, which is not a commit sha; declare the commit the image was built from")
        return
    try:
        latest = commits.branch_head(app.repository, app.branch)
    except commits.RefusedRepository as e:
        session.cannot_check(f"{e}; git was not run. Fix repository: of {app.name} in projects/{target.project.name}.yaml")
        return
    except commits.GitError as e:
        session.cannot_check(f"cannot read the latest commit of {app.branch} from {app.repository} ({e}); check the network, or credentials for a private repository")
        return
    if commits.same_commit(declared.commit, latest):
        session.ok(f"{where} declares {declared.commit}, the latest commit of {app.branch}" + (", and it runs" if running == [str(declared)] else ""))
        return
    newer = commits.which_is_newer(app.repository, app.branch, declared.commit, latest) or "cannot tell which is newer"
    if not running and app.replicas == 0:
        session.info(f"when it next runs, it runs {declared.commit}; {app.branch} is at {latest[:12]} ({newer.replace('the deployed commit', 'the declared commit')})")
        return
    runs = f"running {', '.join(Image.parse(i).commit for i in running)}; " if running else ""
    session.problem(
        f"{runs}{where} declares {declared.commit} but {app.branch} is at {latest[:12]}: {newer.replace('the deployed commit', 'the declared commit')}; "
        f"the stack is behind its branch: release the build of {latest[:12]} "
        f"(`python -m shoestring release {target.project.name}/{app.name} --tag {latest[:12]}@sha256:<digest> --stack {target.environment}`), "
        "or check the app's release workflow"
    )


def _declared_in(target) -> str:
    """The file the stack's tag for the app comes from: its stack file's override, or the definition."""
    settings = target.stack.projects.get(target.project.name) if target.stack is not None else None
    override = settings.apps.get(target.app.name) if settings is not None else None
    if override is not None and override.tag is not None:
        return f"stacks/Pulumi.{target.environment}.yaml"
    return f"{target.project.name}'s definition in projects/"


def _gpu(session: Session, pods: list[V1Pod]) -> None:
    """A GPU app's pods that wait: for a scale-up the autoscaler triggered (waiting), or for what
    holds them — quota, stockout, the pool's ceiling, no toleration or selector, the namespace's
    quota, an image (shoestring/oncall/scaling.py). A GPU workload that is down is never healthy."""
    target = session.target
    if not target.app.gpus:
        session.info("not a GPU app: nothing to check")
        return
    pending = [p for p in pods if p.status.phase == "Pending"]
    if not pending and len(pods) >= target.app.replicas:
        session.ok("no pod is waiting for a GPU node")
        return
    events = scaling.events_by_object(session, target.namespace)
    # The namespace's ResourceQuota refuses the ReplicaSet's pods before there is any pod to look at.
    refusal = scaling.quota_refusal([e for name, found in events.items() if name.startswith(f"{target.app.name}-") for e in found])
    if refusal is not None:
        refusal.report(session)
    elif not pending:
        session.ok("no pod is waiting for a GPU node")
    now = datetime.now(UTC)
    for pod in pending:
        scaling.why_pending(pod, events.get(pod.metadata.name, []), target.stack, now, lambda: scaling.gpu_nodes_up(session)).report(session)


def _scheduling_reason(pod: V1Pod) -> str:
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return f"{condition.reason}: {condition.message}"
    return "not scheduled yet"


def _last_exit(statuses) -> str:
    for status in statuses:
        terminated = status.last_state.terminated if status.last_state else None
        if terminated is not None:
            return f"{terminated.reason or 'exited'} with code {terminated.exit_code}"
    return ""


def _restart_times(statuses):
    for status in statuses:
        terminated = status.last_state.terminated if status.last_state else None
        if terminated is not None:
            yield terminated.finished_at
