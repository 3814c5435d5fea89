"""From the validated stack config to each component's typed args: pure data, no resources."""

from __future__ import annotations

import math

import pulumi

from program.components import AppSpec, DefaultPoolArgs, GpuPoolArgs, MonthlyBudgetArgs, ProjectArgs, SpotPoolArgs, ZonalCluster, ZonalClusterArgs
from program.components.batch import BatchSpec
from program.components.compute_class import COMPUTE_CLASS_KEY, GPU_COMPUTE_CLASS, GpuComputeClassArgs
from program.components.gpu_pool import GpuPool, GpuQuota
from program.components.project import BucketSpec
from program.components.network import ClusterNetwork, ClusterNetworkArgs
from program.components.project_apis import ProjectApisArgs
from program.components.scheduling import ClusterCapacity, scheduled_after
from program.components.node_pool import POOL_LABEL, PoolArgs
from program.components.public_entry import CLOUDFLARED_REPOSITORY, ENTRY_NAMESPACE, HostCertificatesArgs, TunnelEntryArgs, entry_resource_name
from program import apis, capacity, catalog, config, quota
from program.config import ProjectInstance, StackConfig
from program.components.internal_service import tolerates_spot
from program.names import BATCH_PRIORITY, ENTRY_PRIORITY, FREE_TIER_LABEL, STACK_LABEL, USER_FACING_PRIORITY, bucket_name
from program.definitions import App, Batch


def project_apis(cfg: StackConfig) -> ProjectApisArgs:
    """The APIs this stack's resources are created through (program/apis.py checks the list
    against what the stack declares)."""
    needed = {"iam.googleapis.com", "cloudresourcemanager.googleapis.com"} if any(p.definition.gcp_roles for p in cfg.deployed) else set()
    if any(p.buckets for p in cfg.deployed):
        needed |= {"iam.googleapis.com", "storage.googleapis.com"}
    if any(app.secrets for project in cfg.deployed for app in project.apps):
        needed |= {"iam.googleapis.com", "secretmanager.googleapis.com"}
    if needed:
        # Each of those is a GCP identity its pods reach through Workload Identity (program/apis.py).
        needed.add(apis.IAM_CREDENTIALS)
    if cfg.owns_cluster:
        # The cluster, its network and node pools; its nodes' service account and their roles;
        # Binary Authorization, which the cluster enforces; Workload Identity's token minting.
        needed |= {"container.googleapis.com", "compute.googleapis.com", "iam.googleapis.com", "cloudresourcemanager.googleapis.com", "binaryauthorization.googleapis.com", apis.IAM_CREDENTIALS}
        if cfg.secret_manager:
            needed.add("secretmanager.googleapis.com")
        if cfg.dns.provider == "cloud-dns":
            needed.add(apis.CLOUD_DNS)
    if cfg.cluster_owner.public_entry == "gateway" and (cfg.owns_cluster or public_hosts(cfg)):
        needed.add("certificatemanager.googleapis.com")  # the certificate map (and the address: compute)
    if cloud_billing_budget(cfg):
        needed.add("billingbudgets.googleapis.com")
    return {"project": cfg.gcp_project, "apis": sorted(needed)}


def network(cfg: StackConfig) -> ClusterNetworkArgs:
    return {"project": cfg.gcp_project, "region": cfg.region, "cloud_nat": cfg.private_nodes}


def cluster(cfg: StackConfig, network: ClusterNetwork) -> ZonalClusterArgs:
    args: ZonalClusterArgs = {
        "project": cfg.gcp_project,
        "zone": cfg.zone,
        "network": network,
        "settings": cfg,
        "allowed_images": allowed_images(cfg),
        "gateway_api": cfg.public_entry == "gateway",
        # Visible in the console and in billing exports, and read by the cost estimate.
        "labels": {STACK_LABEL: cfg.stack, FREE_TIER_LABEL: str(cfg.free_tier).lower()},
    }
    if cfg.secret_manager:
        args["secret_manager"] = True
    return args


def allowed_images(cfg: StackConfig) -> list[str]:
    """The image repositories the cluster's Binary Authorization policy admits: every one a
    definition in projects/ names (so a stack in this cluster is admitted too), and the tunnel's
    connector when the cluster runs one. GKE's own images are the Google-maintained system policy's."""
    return sorted({*cfg.images, *([CLOUDFLARED_REPOSITORY] if cfg.public_entry == "tunnel" else [])})


def cloud_billing_budget(cfg: StackConfig) -> bool:
    """Whether the stack declares a Cloud Billing budget: a cluster's stack with a budget and a
    billing account (a stack in another's cluster is inside that cluster's budget)."""
    return bool(cfg.billing_account and cfg.owns_cluster and cfg.budget is not None)


def budget(cfg: StackConfig, project_number: pulumi.Input[str] | None) -> MonthlyBudgetArgs:
    args: MonthlyBudgetArgs = {"monthly_usd": cfg.budget, "expected_gpu_hours": cfg.expected_gpu_hours}
    if cfg.hours_per_month is not None:
        args["hours_per_month"] = cfg.hours_per_month
    if not cfg.owns_cluster:
        args["host_stack"] = cfg.host_stack
    if cloud_billing_budget(cfg):
        args |= {"billing_account": cfg.billing_account, "quota_project": cfg.gcp_project, "project_number": project_number}
        if cfg.budget_currency is not None:
            args["currency"] = cfg.budget_currency
        if cfg.free_tier:
            # The estimate prices the free cluster's fee at $0; the alert sees it at list price, with
            # the free-tier credit (GKE pricing: "$74.40 in monthly credits per billing account")
            # not subtracted (cloud.google.com/kubernetes-engine/pricing#cluster_management_fee_and_free_tier).
            fee = catalog.gke_management_fee_hourly() * catalog.HOURS_PER_MONTH
            args["counted_credits_usd"] = min(fee, catalog.gke_free_tier_monthly_credit())
    return args


def default_pool(cfg: StackConfig, on: ZonalCluster) -> DefaultPoolArgs:
    return _nodes_of(cfg, on) | {"settings": cfg.default_pool}


def spot_pool(cfg: StackConfig, on: ZonalCluster) -> SpotPoolArgs:
    return _nodes_of(cfg, on) | {"settings": cfg.spot_pool}


def gpu_pool(cfg: StackConfig, on: ZonalCluster) -> GpuPoolArgs:
    # The GPU nodes' own part: the other pools' share moves with their sizes, and is in make plan's check.
    burst = [
        {"metric": need.metric, "needed": need.figure(need.burst) + (" + the other pools'" if need.needed > need.burst else ""),
         "declared": None if need.declared is None else need.figure(need.declared)}
        for need in quota.burst_needs(cfg)
    ]
    return _nodes_of(cfg, on) | {"settings": cfg.gpu_pool, "burst_quota": burst, **({"quota": gpu_quota(cfg)} if cfg.gpu_pool.quota is not None else {})}


def gpu_compute_class(pool: GpuPool) -> GpuComputeClassArgs:
    return {"rungs": pool.rungs, "depends_on": pool.pools}


def _nodes_of(cfg: StackConfig, on: ZonalCluster) -> PoolArgs:
    return {"cluster": on.name, "project": cfg.gcp_project, "zone": cfg.zone, "service_account": on.node_service_account}


def gpu_quota(cfg: StackConfig) -> GpuQuota:
    """The quota the pool's GPUs count against, as the stack declares it."""
    gpu = cfg.gpu_pool
    spot_on_preemptible = gpu.spot and gpu.quota.preemptible > 0  # without preemptible quota, Spot counts against on-demand
    return {
        "metric": catalog.gpu_quota_metric(gpu.accelerator, spot_on_preemptible),
        "limit": gpu.quota.preemptible if spot_on_preemptible else gpu.quota.on_demand,
        "all_regions": gpu.quota.all_regions,
    }


def workload_identity_pool(cfg: StackConfig) -> str:
    """The pool of a cluster another stack declared (and so created already): its project's."""
    return f"{cfg.cluster_owner.gcp_project}.svc.id.goog"


def host_stack_reference(cfg: StackConfig) -> str:
    """Fully qualified name of the stack whose cluster this stack uses (org/project/stack)."""
    if "/" in cfg.host_stack:
        return cfg.host_stack
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{cfg.host_stack}"


def certificate_map_name(cfg: StackConfig) -> str:
    """The Gateway's certificate map, named after the stack that owns the cluster."""
    return entry_resource_name(cfg.cluster_owner.stack)


def public_hosts(cfg: StackConfig) -> list[str]:
    return sorted({host for host, _, _ in config.public_routes(cfg.deployed)})


def host_certificates(cfg: StackConfig, certificate_map: pulumi.Input[str]) -> HostCertificatesArgs:
    return {"project": cfg.gcp_project, "certificate_map": certificate_map, "hosts": public_hosts(cfg), "stack": cfg.stack}


def tunnel(cfg: StackConfig, room: ClusterCapacity) -> TunnelEntryArgs:
    routes = []
    for instance in cfg.deployed:
        for app in instance.apps:
            if app.public is None:
                continue
            service = f"http://{app.name}.{instance.namespace}.svc.cluster.local:{app.port}"
            routes += [{"hostname": host, "path": app.public.path, "service": service} for host in app.public.hosts]
    return {
        "namespace": ENTRY_NAMESPACE,
        "tunnel_id": cfg.tunnel_id,
        "credentials": pulumi.Config().require_secret("tunnelCredentials"),
        "routes": routes,
        "priority_class": ENTRY_PRIORITY,
        "scheduled_after": scheduled_after(room, ENTRY_PRIORITY, ["default"]),
    }


def project(cfg: StackConfig, deployed: ProjectInstance, workload_identity_pool: pulumi.Input[str], room: ClusterCapacity | None = None) -> ProjectArgs:
    """``room``: the PriorityClasses and pools this stack declares (None in another's cluster)."""
    definition = deployed.definition
    gpu = cfg.cluster_owner.gpu_pool
    uses_gpus = any(work.gpus for work in (*deployed.apps, *deployed.batches))
    # Every batch at full parallelism on top of what the apps may ask: a burst is admitted whole.
    batch_cpu = sum(b.parallelism * capacity.parse_cpu(b.resources.cpu) for b in deployed.batches)
    batch_memory = sum(b.parallelism * capacity.parse_gib(b.resources.memory) for b in deployed.batches)
    return {
        "project": definition.name,
        "environment": cfg.stack,
        "namespace": deployed.namespace,
        "pod_security": definition.pod_security,
        "gcp_project": cfg.gcp_project,
        "gcp_roles": definition.gcp_roles,
        "reviewed_gcp_roles": deployed.reviewed_gcp_roles,
        "buckets": buckets(cfg, deployed),
        "region": cfg.region,
        "workload_identity_pool": workload_identity_pool,
        "gcp_labels": {STACK_LABEL: cfg.stack},
        "secret_values": secret_values(cfg, deployed),
        "quota": {
            "cpu": _plus_cpu(definition.quota_cpu, batch_cpu),
            "memory": _plus_memory(definition.quota_memory, batch_memory),
            "pods": definition.quota_pods + sum(b.parallelism for b in deployed.batches),
            # Up to the whole GPU pool, and nothing at all for a project without GPU work.
            "gpus": gpu.gpus if uses_gpus else 0,
            "load_balancers": sum(app.service_type == "LoadBalancer" for app in deployed.apps),
            "node_ports": sum(app.service_type == "NodePort" for app in deployed.apps),
        },
        "apps": [app_spec(cfg, app, room) for app in deployed.apps],
        "batches": [batch_spec(cfg, batch, room) for batch in deployed.batches],
        **({"public_entry": {"kind": entry, "namespace": ENTRY_NAMESPACE}} if (entry := cfg.cluster_owner.public_entry) != "none" else {}),
    }


def buckets(cfg: StackConfig, deployed: ProjectInstance) -> list[BucketSpec]:
    """The project's buckets in this stack: its own, named for the GCP project and the namespace,
    or the existing ones it names as external."""
    return [
        {
            "name": name,
            "bucket": bucket.external or bucket_name(cfg.gcp_project, deployed.namespace, name),
            "role": bucket.role,
            "size_gib": bucket.size_gib,
            "external": bucket.external is not None,
        }
        for name, bucket in sorted(deployed.buckets.items())
    ]


def secret_values(cfg: StackConfig, deployed: ProjectInstance) -> dict[str, pulumi.Output[str]]:
    """The values the stack's ``secretValues`` gives the project's secrets, each still a secret."""
    read = {secret for app in deployed.apps for secret in app.secrets.values()}
    given = [secret for secret in cfg.secret_values if secret in read]
    if not given:
        return {}
    values = pulumi.Config().require_secret_object(config.SECRET_VALUES)
    return {secret: values.apply(lambda v, secret=secret: v[secret]) for secret in given}


def app_spec(cfg: StackConfig, app: App, room: ClusterCapacity | None) -> AppSpec:
    owner = cfg.cluster_owner
    on_spot = owner.spot_pool is not None and tolerates_spot(app.spot, app.replicas, app.gpus)
    spec: AppSpec = {
        "name": app.name,
        "image": app.reference,
        "port": app.port,
        "replicas": app.replicas,
        "health_path": app.health_path,
        "env": app.env,
        "resources": app.resources.model_dump(),
        "service_type": app.service_type,
        "whole_node": app.whole_node,
        "spot": app.spot,
        "priority_class": priority_class(app),
        "placement": f"default pool ({owner.default_pool.machine_type})"
        + (f" and Spot pool ({owner.spot_pool.machine_type})" if on_spot else ""),
        "scheduled_after": scheduled_after(room, priority_class(app), ["gpu"] if app.gpus else ["default", *(["spot"] if on_spot else [])]),
    }
    if app.public is not None:
        spec["public"] = {"hosts": list(app.public.hosts), "path": app.public.path}
    if app.secrets:
        spec["secrets"] = {name: f"projects/{cfg.gcp_project}/secrets/{secret}" for name, secret in app.secrets.items()}
    if app.gpus:
        # A whole-node app asks for every GPU the node carries, so nothing else can share it.
        spec |= _gpu_placement(cfg, owner.gpu_pool.accelerator_count if app.whole_node else app.gpus, app.whole_node)
    return spec


def _plus_cpu(quantity: str, extra: float) -> str:
    """A CPU quantity with ``extra`` vCPU added, unchanged when there is none."""
    if not extra:
        return quantity
    millis = round((capacity.parse_cpu(quantity) + extra) * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _plus_memory(quantity: str, extra_gib: float) -> str:
    if not extra_gib:
        return quantity
    mebibytes = math.ceil((capacity.parse_gib(quantity) + extra_gib) * 1024)
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def _gpu_placement(cfg: StackConfig, gpus: int, whole_node: bool = False) -> dict:
    gpu = cfg.cluster_owner.gpu_pool
    whole = ", whole node" if whole_node else ""
    return {
        "gpus": gpus,
        # The class only: GKE refuses a pod that selects a ComputeClass and also a node label the
        # class decides, such as cloud.google.com/gke-spot or gke-accelerator
        # (cloud.google.com/kubernetes-engine/docs/concepts/about-custom-compute-classes, "Request ComputeClasses in workloads").
        "gpu_node_selector": {COMPUTE_CLASS_KEY: GPU_COMPUTE_CLASS},
        "placement": f"GPU pool ({gpu.machine_type}, {gpus}× {gpu.accelerator}{whole})",
    }


def batch_spec(cfg: StackConfig, batch: Batch, room: ClusterCapacity | None) -> BatchSpec:
    spec: BatchSpec = {
        "name": batch.name,
        "image": batch.reference,
        "command": list(batch.command),
        "env": batch.env,
        "resources": batch.resources.model_dump(),
        "parallelism": batch.parallelism,
        "completions": batch.shards,
        "max_hours": batch.max_hours,
        "retries": batch.retries,
        "priority_class": BATCH_PRIORITY,
        "scheduled_after": scheduled_after(room, BATCH_PRIORITY, ["gpu" if batch.gpus else "default"]),
    }
    if batch.schedule is not None:
        spec["schedule"] = batch.schedule
    if batch.gpus:
        spec |= _gpu_placement(cfg, batch.gpus)
    return spec


def priority_class(app: App) -> str:
    """GPU work is batch (its pool scales from zero, and it retries); every other app is user-facing."""
    return BATCH_PRIORITY if app.gpus else USER_FACING_PRIORITY
