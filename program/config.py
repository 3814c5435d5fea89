"""The stack's configuration, typed and validated: the one place bad input is caught.

Pulumi hands a program its stack config as flat ``namespace:key`` strings (structured values as
JSON). :func:`load` turns them into a frozen :class:`StackConfig` or raises ONE
:class:`ConfigError` that names every bad key, the value it had and how to fix it — before the
program declares a single resource.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pulumi
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from program.settings import Settings, held_model, model_at, nested
from components.cluster import ClusterSettings
from components.gpu_pool import GpuPoolSettings
from components.node_pool import DefaultPoolSettings
from components.public_entry import ENTRY_NAMESPACE
from components.spot_pool import SpotPoolSettings
from program import capacity, catalog, definitions
from program.definitions import App, Batch, Project
from program.names import is_reserved

PROJECT = "shoestring"
ROOT = Path(__file__).resolve().parent.parent
# Keys that only a stack owning a cluster may set. (freeTier, deletionProtection, releaseChannel and
# kubernetesVersion reach every stack with their Pulumi.yaml defaults, so they cannot be told apart.)
CLUSTER_KEYS = ("zone", "defaultPool", "spotPool", "gpuPool", "publicEntry", "controlPlane", "privateNodes", "binaryAuthorization")


STACK_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$")


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the message lists each problem with its key, value and fix.

    A RunError, so `pulumi preview` prints the message alone, without a traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(
            f"stack configuration has {len(problems)} {noun}:\n" + "\n".join(f"  - {p}" for p in problems)
        )


class AppSettings(Settings):
    """`shoestring:projects.<project>.apps.<app>` — what differs per environment."""

    replicas: int | None = Field(default=None, ge=0, le=definitions.MAX_REPLICAS)
    """Replica count in this stack (default: the definition's)."""
    tag: str | None = None
    """Image tag (git commit sha) deployed in this stack (default: the definition's)."""
    hosts: list[str] | None = None
    """Public host names in this stack, replacing the definition's; [] keeps the app private here."""
    secrets: dict[str, str] | None = None
    """Secret Manager secret ids in this stack, replacing the definition's (same names): a stack
    sharing a GCP project with another must read its own secrets, not the other's."""

    @field_validator("tag")
    @classmethod
    def _commit_tag(cls, tag: str | None) -> str | None:
        return None if tag is None else definitions.check_commit_tag(tag)

    @field_validator("secrets")
    @classmethod
    def _secret_ids(cls, secrets: dict[str, str] | None) -> dict[str, str] | None:
        return None if secrets is None else definitions.check_secrets(secrets)


class BatchSettings(Settings):
    """`shoestring:projects.<project>.batches.<batch>` — what differs per environment."""

    tag: str | None = None
    """Image tag (git commit sha) in this stack (default: the definition's)."""
    parallelism: int | None = Field(default=None, ge=1, le=definitions.MAX_PARALLELISM)
    """Pods at once in this stack (default: the definition's), e.g. 1 where the GPU pool holds one node."""

    @field_validator("tag")
    @classmethod
    def _commit_tag(cls, tag: str | None) -> str | None:
        return None if tag is None else definitions.check_commit_tag(tag)


class ProjectSettings(Settings):
    """`shoestring:projects.<project>` — a project's per-environment values."""

    enabled: bool = True
    """Whether the project runs in this stack at all."""
    apps: dict[str, AppSettings] = {}
    batches: dict[str, BatchSettings] = {}
    bucket_roles: dict[str, str] | None = None
    """Cloud Storage buckets the project's identity uses in this stack, replacing the
    definition's: each stack its own data (two stacks may not be granted one bucket)."""
    reviewed_gcp_roles: list[str] = []
    """GCP roles beyond the allow-list (program/definitions.py PROJECT_ROLES) that this
    stack grants the project after review, e.g. [roles/storage.admin]. `make diff` lists them first."""

    @field_validator("bucket_roles")
    @classmethod
    def _buckets(cls, bucket_roles: dict[str, str] | None) -> dict[str, str] | None:
        return None if bucket_roles is None else definitions.check_bucket_roles(bucket_roles)

    @field_validator("reviewed_gcp_roles")
    @classmethod
    def _roles(cls, roles: list[str]) -> list[str]:
        return list(definitions.check_project_roles(tuple(roles)))


class ProjectInstance(BaseModel):
    """A project as this stack deploys it: its definition, namespace and resolved apps."""

    model_config = ConfigDict(frozen=True)

    definition: Project
    namespace: str
    apps: tuple[App, ...]
    batches: tuple[Batch, ...] = ()
    bucket_roles: dict[str, str] = {}
    """Bucket to role, as this stack grants them (the stack's override, or the definition's)."""
    reviewed_gcp_roles: tuple[str, ...] = ()
    """Roles beyond the allow-list this stack grants after review."""

    @property
    def name(self) -> str:
        return self.definition.name


class StackConfig(ClusterSettings):
    """Everything one stack declares, validated."""

    stack: str
    """The Pulumi stack name (not a config key)."""
    gcp_project: str
    """`gcp:project`, the GCP project ID (required)."""
    zone: str | None = None
    """Zone of the cluster, e.g. `us-central1-a` (required unless hostStack is set). A zone, not a
    region: only a zonal cluster is covered by the free tier. Changing it recreates the cluster."""
    host_stack: str | None = None
    """Run this stack's projects in another stack's cluster instead of owning one, e.g. `prod` or
    `acme/shoestring/prod`. Namespaces get the stack name appended (`blog-staging`)."""
    free_tier: bool = False
    """This stack's cluster claims the billing account's one free zonal cluster. Set it on one stack."""
    kubernetes_version: str = Field(default="1.34", pattern=r"^1\.\d+$")
    """Kubernetes minor version the manifests are validated against (`make test`). The release
    channel, not this, picks the cluster's version: GKE accepts only versions the channel offers."""
    default_pool: DefaultPoolSettings = DefaultPoolSettings()
    """The always-on CPU pool (object; keys below)."""
    spot_pool: SpotPoolSettings | None = None
    """A Spot CPU pool beside it (object; keys below): apps with 2+ replicas spread across both, so
    losing every Spot node leaves each a replica on the default pool. Omit for none."""
    gpu_pool: GpuPoolSettings | None = None
    """The scale-to-zero GPU pool (object; keys below). Omit for no GPU pool."""
    projects: dict[str, ProjectSettings] = {}
    """Per-environment values of the projects defined in projects/ (object; keys below)."""
    public_entry: Literal["gateway", "tunnel", "none"] = "gateway"
    """The cluster's one way in from the internet: a shared GKE Gateway with Google-managed TLS
    (one load balancer for every public app), a Cloudflare Tunnel connector ($0 of Google
    networking), or none. A stack in another stack's cluster uses that cluster's entry."""
    tunnel_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")
    """Cloudflare Tunnel ID, with publicEntry: tunnel."""
    budget: float | None = Field(default=None, ge=0, le=1_000_000)
    """Monthly budget in USD. `make plan`, `make cost`, the tests and the policy pack fail when the
    expected monthly estimate exceeds it."""
    expected_gpu_hours: float = Field(default=0, ge=0, le=744)
    """Hours a month a GPU node is expected to run (GPU node-hours), for the expected estimate."""
    hours_per_month: float | None = Field(default=None, gt=0, le=catalog.HOURS_PER_MONTH)
    """Hours a month the stack exists, for a part-time stack brought up for an experiment and
    destroyed after (e.g. dev: 60). The estimate and the budget count those hours, with the
    always-on figure (730 h) beside it. Unset: always on."""
    billing_account: str | None = Field(default=None, pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
    """Cloud Billing account ID (XXXXXX-XXXXXX-XXXXXX). When set, the stack declares a Cloud Billing
    budget alerting at 50/90/100%; stacks with the same account share one free zonal cluster."""

    # Resolved by load(), not set in config.
    host: StackConfig | None = None
    deployed: tuple[ProjectInstance, ...] = ()
    secret_manager: bool = False
    images: tuple[str, ...] = ()
    """Every image repository the definitions in projects/ name (apps and bootstrap jobs), for the
    Binary Authorization allow-list: all of them, so stacks in this cluster are admitted too."""
    """Some project definition names Secret Manager secrets: the cluster runs GKE's add-on for them."""
    notices: tuple[str, ...] = ()
    """Accepted choices that cost money, for the program to report (e.g. an opted-in LoadBalancer)."""

    @property
    def owns_cluster(self) -> bool:
        return self.host_stack is None

    @property
    def cluster_owner(self) -> StackConfig:
        """The stack whose cluster this stack's projects run in (itself, or its host)."""
        return self.host if self.host is not None else self

    @property
    def region(self) -> str:
        return catalog.region_of(self.cluster_owner.zone)

    @property
    def gpu_zone(self) -> str | None:
        if self.gpu_pool is None:
            return None
        return self.gpu_pool.zone or self.zone

    @property
    def gpu_zones(self) -> list[str]:
        """The zones the GPU pool's nodes may run in."""
        return [] if self.gpu_pool is None else self.gpu_pool.node_zones(self.zone)

    @field_validator("zone")
    @classmethod
    def _zone_not_region(cls, zone: str | None) -> str | None:
        return zone if zone is None else _check_zone(zone)


def _check_zone(zone: str) -> str:
    if catalog.REGION_PATTERN.fullmatch(zone):
        fee = catalog.gke_management_fee_hourly()
        raise ValueError(
            f"{zone} is a region; a zone is needed, e.g. {zone}-a. Only a zonal cluster is covered by "
            f"the free tier: a regional cluster is billed the ${fee:.2f}/h management fee (~${fee * catalog.HOURS_PER_MONTH:.0f}/month) and "
            "runs every node pool in three zones, tripling the node bill"
        )
    if not catalog.ZONE_PATTERN.fullmatch(zone):
        raise ValueError(f"{zone!r} is not a zone name; use one such as us-central1-a")
    known = catalog.zones(catalog.region_of(zone))
    if known and zone not in known:
        raise ValueError(f"{catalog.region_of(zone)} has no zone {zone}; its zones are {', '.join(known)} (program/zones.yaml)")
    return zone


# Checks that need the catalog or more than one key; each returns (key, value, message) triples.


def _catalog_problems(cfg: StackConfig) -> list[tuple[str, Any, str]]:
    problems: list[tuple[str, Any, str]] = []
    region = cfg.region
    if region not in catalog.regions():
        return [("zone", cfg.zone, f"region {region} is not in the price catalog; use one of {catalog.regions()}")]
    known = catalog.machine_types(region)
    if cfg.default_pool.machine_type not in known:
        problems.append(
            ("defaultPool.machineType", cfg.default_pool.machine_type, f"not a priced machine type in {region}; use one of {known}")
        )
    else:
        problems += _disk_problems("defaultPool", cfg.default_pool.machine_type, cfg.default_pool.disk_type)
    spot = cfg.spot_pool
    if spot is not None and spot.machine_type not in known:
        problems.append(("spotPool.machineType", spot.machine_type, f"not a priced machine type in {region}; use one of {known}"))
    elif spot is not None:
        problems += _disk_problems("spotPool", spot.machine_type, spot.disk_type)
    gpu = cfg.gpu_pool
    if gpu is None:
        return problems
    if gpu.zone is not None:
        try:
            _check_zone(gpu.zone)
        except ValueError as e:
            problems.append(("gpuPool.zone", gpu.zone, str(e)))
        else:
            if catalog.region_of(gpu.zone) != region:
                problems.append(
                    ("gpuPool.zone", gpu.zone, f"must be in the cluster's region {region} (a zonal cluster can place pools only in its own region)")
                )
    accelerators = catalog.accelerator_types(region)
    if gpu.accelerator not in accelerators:
        problems.append(
            ("gpuPool.accelerator", gpu.accelerator, f"not in the price catalog for {region} (program/prices.yaml), so no "
             f"estimate could price it; use one of {accelerators}, or add its prices to the catalog")
        )
        return problems
    offered_in = catalog.accelerator_zones(region, gpu.accelerator)
    gpu_zone = cfg.gpu_zone
    if gpu.zones:
        problems += _gpu_zones_problems(cfg, offered_in)
    elif offered_in is not None and gpu_zone not in offered_in:
        key, fix = ("gpuPool.zone", "set gpuPool.zone to one of them") if gpu.zone else ("zone", "set gpuPool.zone to one of them (a pool may run in another zone of the cluster's region)")
        problems.append(
            (key, gpu_zone, f"does not offer {gpu.accelerator}; the zones of {region} that do are {', '.join(offered_in) or 'none'} "
             f"(program/zones.yaml): {fix}" if offered_in else f"no zone of {region} offers {gpu.accelerator}; choose another accelerator")
        )
    family = catalog.gpu_machine_family(gpu.accelerator)
    if not gpu.machine_type.startswith(family + "-"):
        problems.append(
            ("gpuPool.machineType", gpu.machine_type, f"cannot carry {gpu.accelerator}; it needs a {family}-* machine type, e.g. {_example(known, family)}")
        )
    elif gpu.machine_type not in known:
        problems.append(("gpuPool.machineType", gpu.machine_type, f"not a priced machine type in {region}; use one of {known}"))
    else:
        problems += _disk_problems("gpuPool", gpu.machine_type, gpu.disk_type)
        bundled = catalog.machine(region, gpu.machine_type).bundled_gpus
        if bundled and gpu.accelerator_count != bundled:
            problems.append(
                ("gpuPool.acceleratorCount", gpu.accelerator_count,
                 f"{gpu.machine_type} comes with exactly {bundled} {gpu.accelerator}; set acceleratorCount: {bundled} or pick a larger {family} machine type")
            )
        elif gpu.min_nodes > 0 and not gpu.keep_warm:
            problems.append(
                ("gpuPool.minNodes", gpu.min_nodes,
                 f"a GPU pool must scale to zero: {gpu.min_nodes} warm {gpu.machine_type} node(s) with {gpu.accelerator} "
                 f"cost {_warm_cost(region, gpu)} even when idle. Set minNodes: 0, or set gpuPool.keepWarm: true to pay for it")
            )
    if gpu.quota is not None:
        problems += _gpu_quota_problems(cfg)
    return problems


def _gpu_zones_problems(cfg: StackConfig, offered_in: list[str] | None) -> list[tuple[str, Any, str]]:
    gpu, region = cfg.gpu_pool, cfg.region
    if gpu.zone is not None:
        return [("gpuPool.zones", gpu.zones, f"is set beside gpuPool.zone {gpu.zone}; keep one: zones: [{gpu.zone}] is the same pool")]
    problems = []
    for zone in gpu.zones:
        if catalog.region_of(zone) != region or zone not in catalog.zones(region):
            problems.append(("gpuPool.zones", zone, f"is not a zone of the cluster's region {region}; its zones are {', '.join(catalog.zones(region))}"))
        elif offered_in is not None and zone not in offered_in:
            problems.append(
                ("gpuPool.zones", zone, f"does not offer {gpu.accelerator}; the zones of {region} that do are {', '.join(offered_in) or 'none'} (program/zones.yaml)")
            )
    if len(set(gpu.zones)) != len(gpu.zones):
        problems.append(("gpuPool.zones", gpu.zones, "lists a zone twice; list each once"))
    return problems


def _gpu_quota_problems(cfg: StackConfig) -> list[tuple[str, Any, str]]:
    """The pool's ceiling against the quota the stack declares: a burst beyond the quota leaves
    nodes that GKE cannot create, and pods Pending, while the plan would say the ceiling is there."""
    gpu, region = cfg.gpu_pool, cfg.region
    needed = gpu.gpus
    ceiling = f"maxNodes {gpu.max_nodes} × acceleratorCount {gpu.accelerator_count} = {needed} {gpu.accelerator} GPUs"
    problems = []
    quota = gpu.quota
    regional = catalog.gpu_quota_metric(gpu.accelerator, gpu.spot)
    if gpu.spot and quota.preemptible == 0:
        # Without preemptible quota, Spot VMs count against the on-demand quota.
        regional, has, key = catalog.gpu_quota_metric(gpu.accelerator, False), quota.on_demand, "gpuPool.quota.onDemand"
    else:
        has, key = (quota.preemptible, "gpuPool.quota.preemptible") if gpu.spot else (quota.on_demand, "gpuPool.quota.onDemand")
    if has < needed:
        problems.append((key, has, f"{regional} in {region} is {has}, below the pool's ceiling ({ceiling}): nodes beyond it are never created. "
                         f"{quota_request(cfg.gcp_project, regional, needed, region)}; or lower gpuPool.maxNodes to {has // gpu.accelerator_count}"))
    if quota.all_regions < needed:
        problems.append(("gpuPool.quota.allRegions", quota.all_regions,
                         f"GPUS_ALL_REGIONS is {quota.all_regions}, below the pool's ceiling ({ceiling}); a new project has 0. "
                         f"{quota_request(cfg.gcp_project, 'GPUS_ALL_REGIONS', needed, None)}"))
    return problems


def quota_request(project: str, metric: str, value: int, region: str | None) -> str:
    """How to ask Google for ``value`` of a Compute Engine quota: the Cloud Quotas API's gcloud
    command (cloud.google.com/sdk/gcloud/reference/quotas/preferences/create), or the console."""
    quota_id = metric.replace("_", "-") + ("-per-project-region" if region else "-per-project")
    dimensions = f" --dimensions=region={region}" if region else ""
    return (
        f"Request {value} with `gcloud quotas preferences create --service=compute.googleapis.com --project={project} "
        f"--quota-id={quota_id} --preferred-value={value}{dimensions}` or on the console's Quotas page "
        f"(console.cloud.google.com/iam-admin/quotas, filter {metric}), then set the granted figure here"
    )


def _disk_problems(pool: str, machine_type: str, disk_type: str) -> list[tuple[str, Any, str]]:
    offered = catalog.boot_disk_types(machine_type)
    if disk_type in offered:
        return []
    family = machine_type.split("-", 1)[0].upper()
    return [
        (f"{pool}.diskType", disk_type,
         f"{machine_type} cannot boot from {disk_type}: {family} machines offer {', '.join(offered)}, and GKE would fail to "
         f"create the pool's nodes when they are needed. Set {pool}.diskType: {offered[0]}")
    ]


def _warm_cost(region: str, gpu: GpuPoolSettings) -> str:
    try:
        node = catalog.node_hourly(region, gpu.machine_type, gpu.spot, [(gpu.accelerator, gpu.accelerator_count)]) * catalog.HOURS_PER_MONTH
        disk = gpu.disk_size_gb * catalog.disk_monthly_per_gb(region, gpu.disk_type)
    except catalog.UnknownPrice as e:
        return f"an amount the price catalog cannot tell ({e.args[0]})"
    return f"${gpu.min_nodes * (node + disk):,.2f}/month"


def _example(known: list[str], family: str) -> str:
    return next((m for m in known if m.startswith(family + "-")), f"{family}-standard-4")


# Loading.

_RESOLVED = {"stack", "gcp_project", "host", "deployed", "secret_manager", "images", "notices"}
_TOP_LEVEL = {to_camel(name) for name in StackConfig.model_fields if name not in _RESOLVED}
_STRUCTURED = {to_camel(name) for name, field in StackConfig.model_fields.items() if name not in _RESOLVED and held_model(field.annotation)[0]}
"""Keys whose values are objects of settings (JSON in Pulumi's flat config)."""
_SECRETS = {"tunnelCredentials"}
"""Secret settings: checked for presence and secrecy here, never kept in the typed config."""
TUNNEL_CREDENTIALS = f"{PROJECT}:tunnelCredentials"

StackReader = Callable[[str], Mapping[str, str]]


def from_pulumi() -> StackConfig:
    """The running stack's config, from the SDK's config store."""
    try:
        defined = definitions.discover()
    except definitions.DefinitionError as e:
        raise ConfigError(e.problems) from None
    raw, secret_keys = sdk_config()
    return load(pulumi.get_stack(), raw, defined, secret_keys=secret_keys)


def sdk_config() -> tuple[dict[str, str], set[str]]:
    """Every config value the SDK holds, and which are secrets: what ``pulumi.Config`` reads.

    The store is filled by ``pulumi.runtime.set_all_config`` (unit tests, Automation API inline
    programs) and, under it, by the PULUMI_CONFIG variable the language host sets for `pulumi up`.
    All of it is read, not key by key, so that a mistyped key is reported rather than ignored."""
    raw = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    secret_keys = set(pulumi.runtime.get_config_secret_keys_env()) | {key for key in raw if pulumi.runtime.is_config_secret(key)}
    return raw, secret_keys


def load(
    stack: str,
    raw: Mapping[str, str],
    defined: Mapping[str, Project] | None = None,
    read_stack: StackReader | None = None,
    secret_keys: Collection[str] = (),
) -> StackConfig:
    """Validate a stack's flat Pulumi config (``{"shoestring:zone": "us-central1-a", ...}``).

    ``defined`` are the project definitions (projects/*.py); ``read_stack`` returns another
    stack's flat config, for a stack that runs in that stack's cluster.
    """
    defined = {} if defined is None else defined
    read_stack = read_stack or (lambda name: read_stack_files(name)[0])
    problems: list[str] = []
    values: dict[str, Any] = {"stack": stack}

    project = raw.get("gcp:project")
    if not project:
        problems.append(
            f"gcp:project is missing: add `gcp:project: <your-project-id>` under `config:` in stacks/Pulumi.{stack}.yaml "
            f"(or run `pulumi config set gcp:project <your-project-id> --stack {stack}`)"
        )
    if not STACK_NAME.fullmatch(stack):
        problems.append(
            f"stack name {stack!r} becomes part of GCP and Kubernetes names (cluster shoestring-{stack}, namespaces <project>-{stack}); "
            "name the stack with lowercase letters, digits and '-', starting with a letter, at most 20 characters"
        )
    values["gcpProject"] = project or ""

    for full_key, text in sorted(raw.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        if key in _SECRETS:
            if full_key not in secret_keys:
                problems.append(f"{full_key} is in plain text: set it with `pulumi config set --secret {key} ...`")
            continue
        if key not in _TOP_LEVEL | _SECRETS:
            problems.append(f"{full_key} is not a Shoestring setting{_did_you_mean(key, _TOP_LEVEL | _SECRETS)}")
            continue
        values[key] = _parse(key, text, problems)

    host_stack = values.get("hostStack")
    if host_stack is None and "zone" not in values:
        problems.append(f"{PROJECT}:zone is missing: set it with `pulumi config set zone us-central1-a`")
    if host_stack is not None:
        problems.extend(
            f"{PROJECT}:{key} is set, but this stack runs in {host_stack}'s cluster and declares none of its own; remove it"
            for key in CLUSTER_KEYS
            if key in values
        )
        if values.get("freeTier") == "true":
            problems.append(f"{PROJECT}:freeTier = 'true': this stack runs in {host_stack}'s cluster and has none to claim the free tier with; remove it")
    if problems:
        raise ConfigError(problems)

    try:
        cfg = StackConfig.model_validate(values)
    except ValidationError as e:
        raise ConfigError([_describe(err) for err in e.errors()]) from None

    host = _load_host(cfg, defined, read_stack) if cfg.host_stack else None
    cfg = cfg.model_copy(update={"host": host})
    later = _catalog_problems(cfg) if cfg.owns_cluster else []
    deployed, project_problems = _resolve_projects(cfg, defined)
    later += project_problems + _entry_problems(cfg, deployed, TUNNEL_CREDENTIALS in raw)
    if later:
        raise ConfigError([f"{PROJECT}:{key} = {value!r}: {message}" for key, value, message in later])
    uses_secrets = any(app.secrets for project in defined.values() for app in project.apps)
    images = sorted({image for project in defined.values() for app in project.apps for image in (app.image, app.bootstrap and app.bootstrap.image) if image})
    return cfg.model_copy(update={"deployed": deployed, "secret_manager": uses_secrets, "images": tuple(images), "notices": _notices(cfg, deployed, defined)})


def _notices(cfg: StackConfig, deployed: tuple[ProjectInstance, ...], defined: Mapping[str, Project]) -> tuple[str, ...]:
    first_five = catalog.forwarding_rules_hourly(cfg.region, 1) * catalog.HOURS_PER_MONTH
    beyond = (catalog.forwarding_rules_hourly(cfg.region, 6) - catalog.forwarding_rules_hourly(cfg.region, 5)) * catalog.HOURS_PER_MONTH
    notices = [
        f"{instance.namespace}/{app.name} is a LoadBalancer Service (opted in): a regional forwarding rule, "
        f"${first_five:,.2f}/month for the project's first five together and ${beyond:,.2f} for each beyond, before traffic"
        for instance in deployed
        for app in instance.apps
        if app.service_type == "LoadBalancer"
    ]
    if cfg.cluster_owner.public_entry == "none":
        internal = [
            f"{instance.namespace}/{app.name}"
            for instance in deployed
            for app in instance.apps
            if (defined_app := next((a for a in defined[instance.name].apps if a.name == app.name), None)) is not None and defined_app.public is not None
        ]
        if internal:
            notices.append(f"{', '.join(internal)}: public in its definition, internal in this stack, whose cluster has no public entry (publicEntry: none)")
    for instance in deployed:
        for secret in sorted({secret for app in instance.apps for secret in app.secrets.values()}):
            notices.append(
                f"secret {secret} ({instance.namespace}) is declared without a value: its apps wait for one. Add it once with "
                f"`printf %s \"$VALUE\" | gcloud secrets versions add {secret} --data-file=- --project {cfg.gcp_project}` (docs/going-live.md \"Going live\")"
            )
    gpu = cfg.gpu_pool
    if cfg.owns_cluster and gpu is not None and gpu.quota is None:
        needed = gpu.gpus
        notices.append(
            f"gpuPool.quota is not declared: the GPU pool's ceiling needs {needed} {catalog.gpu_quota_metric(gpu.accelerator, gpu.spot)} in "
            f"{cfg.region} and {needed} GPUS_ALL_REGIONS, which a new project has 0 of. Check the console's Quotas page and declare "
            "what you have (gpuPool.quota): make plan then refuses a ceiling beyond it"
        )
    if cfg.owns_cluster and cfg.budget is not None and not cfg.billing_account:
        notices.append(
            f"no Cloud Billing budget: the ${cfg.budget:,.2f}/month budget is checked by make plan and the policy pack only; set "
            "shoestring:billingAccount for Google to alert at 50/90/100% of it (docs/going-live.md \"Going live\")"
        )
    return tuple(notices)


def _load_host(cfg: StackConfig, defined: Mapping[str, Project], read_stack: StackReader) -> StackConfig:
    name = cfg.host_stack.rsplit("/", 1)[-1]
    where = f"{PROJECT}:hostStack = {cfg.host_stack!r}"
    try:
        raw = read_stack(name)
    except FileNotFoundError as e:
        raise ConfigError([f"{where}: {e}"]) from None
    try:
        host = load(name, raw, defined, read_stack)
    except ConfigError as e:
        raise ConfigError([f"{where}: stack {name} is not valid: {p}" for p in e.problems]) from None
    if not host.owns_cluster:
        raise ConfigError([f"{where}: {name} runs in {host.host_stack}'s cluster itself; name the stack that owns a cluster"])
    return host


def _resolve_projects(cfg: StackConfig, defined: Mapping[str, Project]) -> tuple[tuple[ProjectInstance, ...], list]:
    problems: list[tuple[str, Any, str]] = []
    for name in cfg.projects:
        if name not in defined:
            problems.append((f"projects.{name}", None, f"no project {name!r} is defined in projects/{_did_you_mean(name, set(defined))}"))
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
                problems.append((f"projects.{name}.apps.{app_name}", None, f"project {name} has no app {app_name!r}{_did_you_mean(app_name, set(apps_by_name))}"))
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
                problems.append((f"projects.{name}.batches.{batch_name}", None, f"project {name} has no batch {batch_name!r}{_did_you_mean(batch_name, set(batches_by_name))}"))
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
                 f"clusters); a bucket role goes in bucket_roles, or, after review, list them under shoestring:projects.{name}.reviewedGcpRoles "
                 f"in stacks/Pulumi.{cfg.stack}.yaml")
            )
        buckets = settings.bucket_roles if settings.bucket_roles is not None else project.bucket_roles
        deployed.append(
            ProjectInstance(
                definition=project, namespace=namespace, apps=tuple(apps), batches=tuple(batches), bucket_roles=buckets,
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
             f"beyond it would never start; set {', '.join(f'{key}={needed[key]}' for key in short)} or more in projects/{name}.py, or lower the replicas")
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


DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def public_routes(deployed: tuple[ProjectInstance, ...]) -> list[tuple[str, str, str]]:
    """(host, path, "namespace/app") for every public app, in declaration order."""
    return [
        (host, app.public.path, f"{instance.namespace}/{app.name}")
        for instance in deployed
        for app in instance.apps
        if app.public is not None
        for host in app.public.hosts
    ]


def _entry_problems(cfg: StackConfig, deployed: tuple[ProjectInstance, ...], has_tunnel_credentials: bool) -> list:
    problems: list[tuple[str, Any, str]] = []
    routes = public_routes(deployed)
    entry = cfg.cluster_owner.public_entry
    for host, _, app in routes:
        if not DNS_NAME.fullmatch(host):
            problems.append(("projects", host, f"{app}'s public host is not a valid DNS name: lowercase letters, digits, '-' and dots, e.g. blog.example.com"))
    claimed: dict[tuple[str, str], str] = {}
    if cfg.host is not None:  # the host stack's apps answer on the same shared entry
        claimed = {(host, path): f"{app} ({cfg.host.stack})" for host, path, app in public_routes(cfg.host.deployed)}
    for host, path, app in routes:
        other = claimed.setdefault((host, path), app)
        if other != app:
            problems.append(("projects", f"{host}{path}", f"is claimed by both {other} and {app}; give one of them another host or path"))
    # A host belongs to the first namespace that routes it: another project may not take a path
    # of it (blog.example.com/admin under the blog's blog.example.com).
    hosts: dict[str, tuple[str, str]] = {}
    for host, path, app in [*(public_routes(cfg.host.deployed) if cfg.host is not None else []), *routes]:
        owner, owner_path = hosts.setdefault(host, (app, path))
        if owner.split("/")[0] != app.split("/")[0] and path != owner_path:
            problems.append(("projects", f"{host}{path}", f"is under {host}, which {owner} serves: a project may not route paths of another's host; give {app} a host of its own"))
    if routes and not cfg.owns_cluster and entry == "tunnel":
        problems.append(
            ("hostStack", cfg.host_stack, f"{cfg.cluster_owner.stack}'s cluster uses a tunnel, whose routes only that stack declares; "
             "make this stack's apps private (hosts: []) or give the cluster a gateway")
        )
    if cfg.owns_cluster and entry == "tunnel":
        if cfg.tunnel_id is None:
            problems.append(("tunnelId", None, "publicEntry: tunnel needs the tunnel's ID: `pulumi config set tunnelId <uuid>`"))
        if not has_tunnel_credentials:
            problems.append(
                ("tunnelCredentials", None, "publicEntry: tunnel needs the tunnel's credentials file as a secret: "
                 "`pulumi config set --secret tunnelCredentials \"$(cat <tunnel-id>.json)\"`")
            )
    return problems


def host_stack_of(stack: str, root: Path = ROOT) -> str | None:
    """The stack whose cluster ``stack`` runs in, as its stack file names it (short name), if any."""
    host = read_stack_files(stack, root)[0].get(f"{PROJECT}:hostStack")
    return host.rsplit("/", 1)[-1] if host else None


def stack_names(directory: Path) -> list[str]:
    """The stacks that have a config file (Pulumi.<stack>.yaml) in ``directory``."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml"))


def read_stack_files(stack: str, root: Path = ROOT) -> tuple[dict[str, str], list[str], list[str]]:
    """The flat config the Pulumi CLI would hand the program for ``stack``: project defaults from
    Pulumi.yaml, overlaid by stacks/Pulumi.<stack>.yaml, every value a string (objects as JSON).

    Returns the config, the keys that are secrets, and notes on what was stood in for (an
    encrypted secret cannot be read without the stack's key).
    """
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    name = project["name"]
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    notes: list[str] = []
    for key, declaration in (project.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            config[_qualified(name, key)] = _as_config_string(declaration["default"])
    directory = root / project.get("stackConfigDir", ".")
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack config {path.relative_to(root)}; stacks: {', '.join(stack_names(directory))}")
    for key, value in _stack_file(path, root).items():
        key = _qualified(name, key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.append(key)
            notes.append(f"{key} is an encrypted secret; the offline plan uses a stand-in value")
            value = "offline-stand-in-secret"
        config[key] = _as_config_string(value)
    return config, secret_keys, notes


class StackFileError(ConfigError):
    """A stack file that is not a Pulumi stack config: not YAML, empty, or a key given twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads it (Go's yaml.v3): a key given twice is an error, never a
    silent overwrite (appending a second `shoestring:projects:` would drop the first)."""

    def compose_node(self, parent, index):  # noqa: ANN001 — PyYAML's signature
        # An alias (*name) is refused: a few nested ones expand to billions of values, and the
        # plan would hang reading them ("billion laughs"). A stack file needs none.
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"YAML alias *{event.anchor} is not allowed in a stack file; write the value out", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice (first on line {seen[key] + 1}); merge the two into one", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _stack_file(path: Path, root: Path) -> dict[str, Any]:
    """The ``config:`` map of a stack file, or one StackFileError naming the file and the line."""
    where = path.relative_to(root)
    try:
        document = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 — a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise StackFileError([f"{where}{line}: {e.problem or e.context}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        what = "is empty" if document is None else "has no `config:` map"
        raise StackFileError([f"{where}:1: the stack file {what}; it needs `config:` with at least `gcp:project` (see docs/projects.md \"Stacks\")"])
    return document["config"]


def _qualified(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _as_config_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _parse(key: str, text: str, problems: list[str]) -> Any:
    if key not in _STRUCTURED:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        problems.append(f"{PROJECT}:{key} = {text!r}: must be an object of settings (see docs/configuration.md \"Configuration\")")
        return None


def _describe(err: dict) -> str:
    location = [str(part) for part in err["loc"]]
    key = f"{PROJECT}:" + ".".join(location)
    if err["type"] == "extra_forbidden":
        known = _known_fields(location[:-1])
        return f"{key} is not a known setting{_did_you_mean(location[-1], known)}"
    if err["type"] == "missing":
        return f"{key} is required"
    message = err["msg"].removeprefix("Value error, ")
    return f"{key} = {err['input']!r}: {message}"


def _known_fields(parent: list[str]) -> set[str]:
    if not parent:
        return _TOP_LEVEL
    model = model_at(StackConfig, parent)
    return set() if model is None else {to_camel(name) for name in model.model_fields}


def _did_you_mean(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else "."
    return f"{hint} Known settings: {', '.join(sorted(known))}"


def reference_markdown() -> str:
    """The configuration reference table in docs/configuration.md, generated from the models above."""
    rows = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]

    def add(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if name in _RESOLVED:
                continue
            key = prefix + to_camel(name)
            default = "(required)" if field.is_required() else f"`{json.dumps(field.default) if not isinstance(field.default, BaseModel) else '{}'}`"
            kind = _type_name(field.annotation)
            description = " ".join((field.description or "").split())
            rows.append(f"| `{key}` | {kind} | {default} | {description} |")

    rows.append("| `gcp:project` | string | (required) | GCP project ID the stack deploys into. |")
    for path, model in nested(StackConfig):
        add(model, f"{PROJECT}:" + "".join(f"{part}." for part in path))
    return "\n".join(rows) + "\n"


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " \\| ".join(f"`{v}`" for v in get_args(annotation))
    if get_origin(annotation) is list:
        return "list"
    optional = [a for a in get_args(annotation) if a is not type(None)]
    if len(optional) == 1:
        annotation = optional[0]
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(annotation, "object")
