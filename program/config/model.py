"""The stack's settings as one typed model: what a stack file may say, with each key's type,
default, bounds and description. The cluster's and each pool's settings are their components'
(program/components/*.py); this composes them with the projects' per-stack values."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from program.components.cluster import ClusterSettings
from program.components.gpu_pool import GpuPoolSettings
from program.components.node_pool import DefaultPoolSettings
from program.components.spot_pool import SpotPoolSettings
from program import catalog, definitions
from program.definitions import App, Batch, Bucket, Project
from program.settings import Settings, held_model


PROJECT = "shoestring"


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


class BucketSettings(Settings):
    """`shoestring:projects.<project>.buckets.<bucket>` — a bucket's values in this stack."""

    size_gib: int | None = Field(default=None, ge=1, le=definitions.MAX_BUCKET_GIB)
    """Expected size in GiB in this stack (default: the definition's), priced a month."""
    external: str | None = None
    """An existing bucket this stack grants on instead of declaring its own (default: the definition's)."""

    @field_validator("external")
    @classmethod
    def _external(cls, bucket: str | None) -> str | None:
        return definitions.check_external_bucket(bucket)


class ProjectSettings(Settings):
    """`shoestring:projects.<project>` — a project's per-environment values."""

    enabled: bool = True
    """Whether the project runs in this stack at all."""
    apps: dict[str, AppSettings] = {}
    """Per-app values in this stack, by the app's name in the definition (object; keys below)."""
    batches: dict[str, BatchSettings] = {}
    """Per-batch values in this stack, by the batch's name in the definition (object; keys below)."""
    buckets: dict[str, BucketSettings] = {}
    """Per-bucket values in this stack, by the bucket's name in the definition (object; keys below)."""
    reviewed_gcp_roles: list[str] = []
    """GCP roles beyond the allow-list (program/definitions.py PROJECT_ROLES) that this
    stack grants the project after review, e.g. [roles/storage.admin]. `make diff` lists them first."""

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
    buckets: dict[str, Bucket] = {}
    """The project's buckets with this stack's values applied."""
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
    channel, not this, picks the cluster's version: GKE accepts only versions the channel offers, so
    this must be one of them (program/config/release_channels.py)."""
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
    budget_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """ISO 4217 code of the billing account's currency, for the Cloud Billing budget (e.g. EUR); Google
    refuses any other than the account's. Unset: omitted, and the account's own is used. The plan's
    estimate and `budget` checks stay in the catalog's US dollars."""
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
    """Every image repository the definitions in projects/ name (apps, bootstrap jobs, batches), for the
    Binary Authorization allow-list: all of them, so stacks in this cluster are admitted too."""
    """Some project definition names Secret Manager secrets: the cluster runs GKE's add-on for them."""
    secret_values: tuple[str, ...] = ()
    """Secret ids the stack gives a value (`secretValues`), written as their first version; the
    values stay secrets in the SDK's config store, read where the version is declared."""
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
        return None if self.gpu_pool is None else self.gpu_pool.node_zone(self.zone)

    @property
    def gpu_zones(self) -> list[str]:
        """The zones the GPU pool's nodes may run in."""
        return [] if self.gpu_pool is None else self.gpu_pool.node_zones(self.zone)

    @field_validator("zone")
    @classmethod
    def _zone_not_region(cls, zone: str | None) -> str | None:
        return zone if zone is None else check_zone(zone)


def check_zone(zone: str) -> str:
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


RESOLVED = {"stack", "gcp_project", "host", "deployed", "secret_manager", "images", "secret_values", "notices"}
"""StackConfig's fields that load() resolves, not keys of a stack file."""
TOP_LEVEL = {to_camel(name) for name in StackConfig.model_fields if name not in RESOLVED}
STRUCTURED = {to_camel(name) for name, field in StackConfig.model_fields.items() if name not in RESOLVED and held_model(field.annotation)[0]}
"""Keys whose values are objects of settings (JSON in Pulumi's flat config)."""
