"""Batch: work that runs to an end — a CronJob whose Jobs burst to the GPU pool and come back to zero."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from program.components.internal_service import PLACEMENT_ANNOTATION, ContainerResources, scratch_space, workload_container, workload_pod

NEVER = "0 0 31 2 *"
"""February 31st: the schedule of a batch that runs only on demand (the CronJob is also suspended)."""
FINISHED_TTL_SECONDS = 24 * 3600
"""A finished Job and its pods are deleted a day later: time to read their logs, then nothing is left."""
RUNS_KEPT = 10
"""Finished runs of each outcome the CronJob keeps (its history limits), so that the TTL, not the
history, deletes them: the CronJob controller prunes every finished Job it controls beyond the
limits (kubernetes pkg/controller/cronjob/cronjob_controllerv2.go, getJobsToBeReconciled and
cleanupFinishedJobs) — manual runs too, which `kubectl create job --from` and `on-call burst` create
with the CronJob as controller (kubernetes/kubernetes#118530, #124883). With a limit of 1, a second
run's end deleted the first's logs at once."""
STARTING_DEADLINE_SECONDS = 3600
"""A scheduled run that could not start within an hour of its time (controller down, the previous
run still going) is skipped rather than started late, on top of the next one."""
SHARD_COUNT_ENV = "SHARD_COUNT"
SHARD_RETRIES = 2
"""Times one shard's code may fail and be retried (``backoffLimitPerIndex``) before the shard is
marked failed — and with it the run (``maxFailedIndexes: 0``): a run missing a shard is not a result."""
BUG_EXIT_CODES = (126, 127)
"""Exit codes that fail the run at once (``FailJob``): the shell's "found but not executable" and
"command not found" (POSIX, Shell Command Language 2.8.2 Exit Status) — the image or the command is
wrong, every shard would fail alike, and retrying them bills GPU hours for nothing."""
DISRUPTION_CONDITION = "DisruptionTarget"
"""The condition Kubernetes puts on a pod it is about to delete for a reason that is not the pod's own
fault: preemption by the scheduler, eviction, the taint manager, the pod GC of a vanished node, or
the kubelet's graceful node shutdown — which is how a Spot VM's preemption reaches a pod
(kubernetes.io/docs/concepts/workloads/pods/disruptions/#pod-disruption-conditions;
cloud.google.com/kubernetes-engine/docs/concepts/spot-vms#termination)."""


class BatchSpec(TypedDict):
    """What a batch is, wherever it runs."""

    name: str
    """Name of the CronJob (a DNS label); its Jobs are ``<name>-<time>``."""
    image: str
    """Full image reference, tag included."""
    command: Sequence[str]
    resources: ContainerResources
    parallelism: int
    """Pods a run keeps going at once."""
    completions: int
    """Shards of a run; each pod reads its own from ``JOB_COMPLETION_INDEX`` (0 to completions - 1)."""
    max_hours: float
    """A run is stopped after this long, finished or not (``activeDeadlineSeconds``)."""
    retries: int
    """Failures of the batch's own code a run survives, over all its shards (``backoffLimit``); a pod
    stopped by a disruption — a Spot preemption — is not one (the pod failure policy ignores it)."""
    schedule: NotRequired[str]
    """Cron schedule in UTC. Absent: the CronJob is suspended, a template that
    ``kubectl create job <name>-<suffix> --from=cronjob/<name>`` runs on demand."""
    env: NotRequired[Mapping[str, str]]
    gpus: NotRequired[int]
    """GPUs per pod. Above 0 the pods tolerate the GPU taint and select ``gpu_node_selector``."""
    gpu_node_selector: NotRequired[Mapping[str, str]]
    placement: NotRequired[str]
    """Human-readable pool and machine the pods land on, recorded as an annotation."""
    priority_class: NotRequired[str]
    """PriorityClass of its pods: batch work waits when capacity is short (program/components/priority.py)."""
    scheduled_after: NotRequired[Sequence[pulumi.Resource]]
    """The PriorityClass and node pools its pods need, which the CronJob waits for (scheduling.py). Default none."""


class BatchArgs(BatchSpec):
    namespace: pulumi.Input[str]
    labels: Mapping[str, str]
    """Labels every object carries (project, environment)."""
    service_account: NotRequired[pulumi.Input[str]]
    """Kubernetes ServiceAccount the pods run as: the project's, bound to its GCP identity."""


class Batch(pulumi.ComponentResource):
    """A CronJob whose every run ends: Indexed completions, a deadline, deletion a day after it
    finishes, at most one run at a time, and retries that count only failures of its own code:
    a pod that fails is replaced (``restartPolicy: Never``), a preempted one without counting
    against ``retries``, each shard at most SHARD_RETRIES times.

    The pods are built as an InternalService's are (program/components/internal_service.py): Pod Security
    ``restricted``, the project's ServiceAccount, GPU toleration, pool selector and GPU limits.
    """

    def __init__(self, name: str, args: BatchArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:k8s:Batch", name, None, opts)
        batch = args["name"]
        labels = {**args["labels"], "app.kubernetes.io/name": batch, "app.kubernetes.io/component": "batch"}
        annotations = {PLACEMENT_ANNOTATION: args["placement"]} if "placement" in args else None
        mounts, volumes = scratch_space()
        container = workload_container(
            args,
            mounts=mounts,
            env_extra=[k8s.core.v1.EnvVarArgs(name=SHARD_COUNT_ENV, value=str(args["completions"]))],
            command=list(args["command"]),
        )
        job = k8s.batch.v1.JobSpecArgs(
            parallelism=args["parallelism"],
            completions=args["completions"],
            completion_mode="Indexed",
            # backoffLimitPerIndex, maxFailedIndexes and a podFailurePolicy need Indexed completions and
            # restartPolicy Never: the API server refuses them otherwise (kubernetes/kubernetes
            # pkg/apis/batch/validation/validation.go, validateJobSpec: "requires indexed completion
            # mode", "only \"Never\" is supported when podFailurePolicy is specified"). backoffLimit
            # still bounds the run's failures over all shards; failures the policy ignores count
            # against neither (kubernetes.io/docs/concepts/workloads/controllers/job/#pod-failure-policy,
            # #backoff-limit-per-index).
            backoff_limit=args["retries"],
            backoff_limit_per_index=min(SHARD_RETRIES, args["retries"]),
            max_failed_indexes=0,
            pod_failure_policy=k8s.batch.v1.PodFailurePolicyArgs(
                rules=[
                    # First match wins: a disruption is never a failure, whatever the exit code.
                    k8s.batch.v1.PodFailurePolicyRuleArgs(
                        action="Ignore",
                        on_pod_conditions=[k8s.batch.v1.PodFailurePolicyOnPodConditionsPatternArgs(type=DISRUPTION_CONDITION, status="True")],
                    ),
                    k8s.batch.v1.PodFailurePolicyRuleArgs(
                        action="FailJob",
                        on_exit_codes=k8s.batch.v1.PodFailurePolicyOnExitCodesRequirementArgs(
                            container_name=batch, operator="In", values=list(BUG_EXIT_CODES)
                        ),
                    ),
                ]
            ),
            active_deadline_seconds=round(args["max_hours"] * 3600),
            ttl_seconds_after_finished=FINISHED_TTL_SECONDS,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations=annotations),
                spec=workload_pod(args, container, volumes, restart_policy="Never", priority_class_name=args.get("priority_class")),
            ),
        )
        scheduled = "schedule" in args
        cron_job = k8s.batch.v1.CronJob(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=batch, namespace=args["namespace"], labels=labels, annotations=annotations),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=args["schedule"] if scheduled else NEVER,
                time_zone="Etc/UTC",
                suspend=not scheduled,
                concurrency_policy="Forbid",
                starting_deadline_seconds=STARTING_DEADLINE_SECONDS,
                successful_jobs_history_limit=RUNS_KEPT,
                failed_jobs_history_limit=RUNS_KEPT,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=job),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.get("scheduled_after", ())) or None),
        )
        self.name = cron_job.metadata.name
        self.register_outputs({"name": self.name})
