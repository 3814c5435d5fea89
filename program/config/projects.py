"""The projects a stack deploys: each definition in projects/ with the stack's values applied,
its namespace, and the checks that need both (quota, GPU ceiling, batches, namespaces)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from program.components.gpu_pool import GpuPoolSettings
from program.components.public_entry import ENTRY_NAMESPACE
from program import capacity, definitions
from program.config.errors import did_you_mean
from program.config.model import AppSettings, BatchSettings, ProjectInstance, ProjectSettings, StackConfig
from program.config.stack_files import ROOT, stack_names
from program.definitions import App, Batch, Project
from program.names import is_reserved


def resolve_projects(cfg: StackConfig, defined: Mapping[str, Project]) -> tuple[tuple[ProjectInstance, ...], list]:
    problems: list[tuple[str, Any, str]] = []
    for name in cfg.projects:
        if name not in defined:
            problems.append((f"projects.{name}", None, f"no project {name!r} is defined in projects/{did_you_mean(name, set(defined))}"))
    owner = cfg.cluster_owner
    gpu = owner.gpu_pool
    deployed: list[ProjectInstance] = []
    for name, project in defined.items():
        settings = cfg.projects.get(name, ProjectSettings())
        if not settings.enabled:
            continue
        apps_by_name = {app.name: app for app in project.apps}
        for app_name in settings.apps:
            if app_name not in apps_by_name:
                problems.append((f"projects.{name}.apps.{app_name}", None, f"project {name} has no app {app_name!r}{did_you_mean(app_name, set(apps_by_name))}"))
        apps = []
        for app in project.apps:
            override = settings.apps.get(app.name, AppSettings())
            update = {k: v for k, v in (("replicas", override.replicas), ("tag", override.tag), ("secrets", override.secrets)) if v is not None}
            if override.hosts is not None:
                update["public"] = definitions.Public(hosts=tuple(override.hosts), path=app.public.path if app.public else "/") if override.hosts else None
            elif app.public is not None and not cfg.owns_cluster:
                # A stack in another's cluster answers on its own hosts: staging.blog.example.com,
                # so a host added once in a definition works in every stack.
                update["public"] = app.public.model_copy(update={"hosts": tuple(f"{cfg.stack}.{host}" for host in app.public.hosts)})
            if owner.public_entry == "none" and update.get("public", app.public) is not None:
                update["public"] = None
            apps.append(app.model_copy(update=update))
            if app.gpus and gpu is None:
                problems.append(
                    (f"projects.{name}.apps.{app.name}", f"gpus={app.gpus}",
                     f"asks for GPUs, but {owner.stack}'s cluster has no GPU pool: add shoestring:gpuPool to {owner.stack}, "
                     f"or set projects.{name}.enabled: false in this stack")
                )
            elif app.gpus and gpu is not None and app.gpus > gpu.accelerator_count:
                problems.append(
                    (f"projects.{name}.apps.{app.name}", f"gpus={app.gpus}",
                     f"asks for {app.gpus} GPUs per pod, but a {gpu.machine_type} node carries {gpu.accelerator_count}")
                )
        batches = []
        batches_by_name = {batch.name: batch for batch in project.batches}
        for batch_name in settings.batches:
            if batch_name not in batches_by_name:
                problems.append((f"projects.{name}.batches.{batch_name}", None, f"project {name} has no batch {batch_name!r}{did_you_mean(batch_name, set(batches_by_name))}"))
        for batch in project.batches:
            override = settings.batches.get(batch.name, BatchSettings())
            update = {k: v for k, v in (("tag", override.tag), ("parallelism", override.parallelism)) if v is not None}
            if "parallelism" in update and batch.completions is not None and batch.completions < update["parallelism"]:
                problems.append((f"projects.{name}.batches.{batch.name}.parallelism", update["parallelism"], f"is above the batch's {batch.completions} completions; lower it"))
            batches.append(batch.model_copy(update=update))
        problems += _quota_problems(name, project, apps, gpu)
        problems += _batch_problems(name, batches, gpu, owner.stack)
        namespace = name if cfg.owns_cluster else f"{name}-{cfg.stack}"
        if len(namespace) > 63:
            problems.append((f"projects.{name}", namespace, f"namespace {namespace} is {len(namespace)} characters; Kubernetes allows 63: shorten the project's or the stack's name"))
        if is_reserved(namespace) or namespace == ENTRY_NAMESPACE:
            owner_of = "the shared public entry" if namespace == ENTRY_NAMESPACE else "Kubernetes or GKE"
            problems.append((f"projects.{name}", namespace, f"namespace {namespace} belongs to {owner_of}; rename the project in its definition (projects/)"))
        taken = next((s for s in stack_names(ROOT / "stacks") if name.endswith(f"-{s}")), None)
        if taken is not None:
            # In a shared cluster, stack <s>'s namespaces are <project>-<s>: this one would be another
            # stack's namespace, with its identity, and destroying either stack would delete it.
            problems.append(
                (f"projects.{name}", name, f"ends in -{taken}, the suffix of stack {taken}'s namespaces in a shared cluster "
                 f"({name.removesuffix('-' + taken)}-{taken} is project {name.removesuffix('-' + taken)} in {taken}); rename the project")
            )
        if cfg.host is not None and namespace in {instance.namespace for instance in cfg.host.deployed}:
            problems.append((f"projects.{name}", namespace, f"namespace {namespace} is {cfg.host.stack}'s already, in the cluster both use; rename the project"))
        unreviewed = [role for role in project.gcp_roles if role not in definitions.PROJECT_ROLES and role not in settings.reviewed_gcp_roles]
        if unreviewed:
            problems.append(
                (f"projects.{name}", f"gcp_roles={unreviewed}",
                 f"beyond the roles a project may hold (program/definitions.py PROJECT_ROLES: none administers IAM, projects, networks or "
                 f"clusters); a bucket role goes in buckets, or, after review, list them under shoestring:projects.{name}.reviewedGcpRoles "
                 f"in stacks/Pulumi.{cfg.stack}.yaml")
            )
        for bucket_name in settings.buckets:
            if bucket_name not in project.buckets:
                problems.append((f"projects.{name}.buckets.{bucket_name}", None, f"project {name} has no bucket {bucket_name!r}{did_you_mean(bucket_name, set(project.buckets))}"))
        buckets = {
            bucket_name: bucket.model_copy(update={k: v for k, v in settings.buckets[bucket_name].model_dump().items() if v is not None})
            if bucket_name in settings.buckets else bucket
            for bucket_name, bucket in project.buckets.items()
        }
        deployed.append(
            ProjectInstance(
                definition=project, namespace=namespace, apps=tuple(apps), batches=tuple(batches), buckets=buckets,
                reviewed_gcp_roles=tuple(r for r in settings.reviewed_gcp_roles if r in project.gcp_roles),
            )
        )
    owners: dict[str, str] = {}
    for instance in deployed:
        for secret in sorted({secret for app in instance.apps for secret in app.secrets.values()}):
            owner = owners.setdefault(secret, instance.name)
            if owner != instance.name:
                problems.append(
                    (f"projects.{instance.name}", secret, f"secret {secret} belongs to project {owner} in this stack; a secret is read by one "
                     "project only: give this project its own secret")
                )
    return tuple(deployed), problems


def _quota_problems(name: str, project: Project, apps: list[App], gpu: GpuPoolSettings | None) -> list[tuple[str, Any, str]]:
    """What the project's apps ask for, rollouts included, against its ResourceQuota: a quota
    that is too small admits not one pod beyond it, and the plan would be "within budget"."""
    wanted = {"quota_cpu": 0.0, "quota_memory": 0.0, "quota_pods": 0}
    for app in apps:
        # Rolling updates add 25% (rounded up) surge pods; GPU and whole-node apps surge none.
        pods = app.replicas + (0 if app.gpus or app.whole_node else -(-app.replicas // 4))
        wanted["quota_cpu"] += pods * capacity.parse_cpu(app.resources.cpu)
        wanted["quota_memory"] += pods * capacity.parse_gib(app.resources.memory)
        wanted["quota_pods"] += pods
    given = {"quota_cpu": capacity.parse_cpu(project.quota_cpu), "quota_memory": capacity.parse_gib(project.quota_memory), "quota_pods": project.quota_pods}
    needed = {"quota_cpu": f'"{math.ceil(wanted["quota_cpu"] * 10) / 10:g}"', "quota_memory": f'"{math.ceil(wanted["quota_memory"] * 10) / 10:g}Gi"', "quota_pods": str(wanted["quota_pods"])}
    short = [key for key in wanted if wanted[key] > given[key] + 1e-9]
    problems = []
    if short:
        problems.append(
            (f"projects.{name}", ", ".join(f"{key}={getattr(project, key)!r}" for key in short),
             "its apps ask for more than its ResourceQuota admits in this stack (replicas plus a rollout's surge pods), so pods "
             f"beyond it would never start; set {', '.join(f'{key}: {needed[key]}' for key in short)} or more in projects/{name}.yaml, or lower the replicas")
        )
    gpus = sum(app.replicas * app.gpus for app in apps)
    if gpu is not None and gpus > gpu.gpus:
        problems.append(
            (f"projects.{name}", f"{gpus} GPUs", f"its apps ask for {gpus} GPUs at once, and the GPU pool holds "
             f"{gpu.gpus} at most (gpuPool.maxNodes {gpu.max_nodes} × {gpu.accelerator_count}); raise gpuPool.maxNodes or lower the replicas")
        )
    return problems


def _batch_problems(name: str, batches: list[Batch], gpu: GpuPoolSettings | None, owner: str) -> list[tuple[str, Any, str]]:
    """Each batch at full parallelism against the GPU pool: the namespace's ResourceQuota admits
    every batch's pods (program_args adds them), but its GPUs stop at the pool's ceiling, and a
    burst beyond it would leave pods Pending while the plan promised them."""
    problems: list[tuple[str, Any, str]] = []
    for batch in batches:
        key = f"projects.{name}.batches.{batch.name}"
        if batch.gpus and gpu is None:
            problems.append((key, f"gpus={batch.gpus}", f"asks for GPUs, but {owner}'s cluster has no GPU pool: add shoestring:gpuPool to {owner}, or set projects.{name}.enabled: false in this stack"))
        elif batch.gpus and batch.gpus > gpu.accelerator_count:
            problems.append((key, f"gpus={batch.gpus}", f"asks for {batch.gpus} GPUs per pod, but a {gpu.machine_type} node carries {gpu.accelerator_count}"))
    if gpu is None:
        return problems
    ceiling = gpu.gpus
    for batch in batches:
        wanted = batch.parallelism * batch.gpus
        if batch.gpus and wanted > ceiling:
            problems.append(
                (f"projects.{name}.batches.{batch.name}", f"parallelism={batch.parallelism}",
                 f"at full parallelism asks for {wanted} GPUs ({batch.parallelism} pods × {batch.gpus}), "
                 f"but namespace {name}'s ResourceQuota admits {ceiling}: the GPU pool's ceiling (gpuPool.maxNodes {gpu.max_nodes} × {gpu.accelerator_count}) — "
                 f"pods beyond it would never start. Raise gpuPool.maxNodes to {-(-wanted // gpu.accelerator_count)}, "
                 f"or set shoestring:projects.{name}.batches.{batch.name}.parallelism to {ceiling // batch.gpus} or less in this stack")
            )
    return problems
