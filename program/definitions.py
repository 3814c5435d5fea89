"""Project definitions: what a project runs, written once in ``projects/<name>.yaml``.

A definition says what never changes between environments — apps, images, ports, probes, the
repository and branch each app is built from, its one-off bootstrap job. What does change per
environment (replicas, image tags, whether the project runs there at all) comes from the stack
config (``shoestring:projects``, checked in program/config/). The Pulumi program and the
on-call CLI both read these same definitions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from program import capacity, project_files

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
CREDENTIAL_WORDS = {"PASSWORD", "PASSWD", "PASS", "PWD", "TOKEN", "SECRET", "KEY", "APIKEY", "CREDENTIAL", "PRIVATE", "PAT"}
"""Words of an env name that say its value is a credential, alone or plural (API_KEYS, GITHUB_PAT)."""
CREDENTIAL_PARTS = ("PASSWORD", "PASSWD", "TOKEN", "SECRET", "CREDENTIAL", "APIKEY", "PRIVATEKEY")
"""Long enough to mean a credential inside a word, too (DBPASSWORD, GITHUBTOKEN)."""
# Values that are credentials whatever their name: a URL with a password (scheme://user:pass@host),
# a PEM private key, and tokens whose issuers give them a fixed prefix so they can be recognized:
# GitHub's (docs.github.com authentication/keeping-your-account-and-data-secure/about-authentication-to-github
# "GitHub's token formats": ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), AWS access key ids (AKIA…,
# docs.aws.amazon.com IAM "Unique identifiers"), Google API keys (AIza…), Slack's (xox[abpr]-).
CREDENTIAL_VALUE = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:[^/@\s]+@|-----BEGIN [A-Z ]*PRIVATE KEY-----|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|xox[abpr]-[A-Za-z0-9-]{10,})"
)
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
PLAIN_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A plain env name: a shell's identifier. Kubernetes accepts more (any printable ASCII but '=', with
RelaxedEnvironmentVariableValidation: k8s.io/apimachinery pkg/util/validation/validation.go IsEnvVarName),
but a name with '-', '.' or ' ' cannot be read as $NAME by the app's shell or entrypoint."""
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
COMMIT_TAG = re.compile(r"^[0-9a-f]{7,40}(@sha256:[0-9a-f]{64})?$")


def check_commit_tag(tag: str) -> str:
    """Images are tagged by the git commit they were built from, so `on-call check-health` can
    compare what runs with its branch: a moving tag (latest, v1) says nothing of which commit runs."""
    if not COMMIT_TAG.fullmatch(tag):
        raise ValueError(
            f"{tag!r} is not a commit sha; tag the image with the commit it was built from (7 to 40 lowercase hex characters, "
            "e.g. 9c4e1f2a7b3d), and pin its digest after it (9c4e1f2a7b3d@sha256:<64 hex>) so the registry cannot serve other bytes"
        )
    return tag
# What `on-call` hands `git ls-remote`/`git fetch`: an https or ssh URL, or scp-like git@host:path.
# Nothing else reaches git: a value starting with '-' would be read as an option
# (`--upload-pack=<command>` runs a command), and ext::/file:: transports run or read locally.
GIT_REPOSITORY = re.compile(r"^(https://|ssh://[A-Za-z0-9._-]+@)[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/-]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~][A-Za-z0-9._~/-]*$")


def check_repository(repository: str) -> str:
    if not GIT_REPOSITORY.fullmatch(repository):
        raise ValueError(
            f"{repository!r} is not a Git repository URL on-call can hand to git: use https://host/owner/repo "
            "(or ssh://git@host/owner/repo, git@host:owner/repo); nothing else, so no value can become a git option or command"
        )
    return repository


def check_secrets(secrets: dict[str, str]) -> dict[str, str]:
    """App secrets, from a definition or a stack's override: environment-style names, each a
    Secret Manager secret id (which reaches IAM and the SecretProviderClass)."""
    for name, secret in secrets.items():
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"secrets key {name!r} is not an environment-style name (A-Z, 0-9, _)")
        if not SECRET_ID.fullmatch(secret):
            raise ValueError(f"secrets[{name!r}] = {secret!r} is not a Secret Manager secret id (letters, digits, - and _, up to 255)")
    return secrets


PROJECT_ROLES = {
    "roles/logging.logWriter": "write log entries",
    "roles/monitoring.metricWriter": "write metrics",
    "roles/cloudtrace.agent": "write traces",
    "roles/cloudprofiler.agent": "write profiles",
    "roles/errorreporting.writer": "report errors",
    "roles/pubsub.publisher": "publish to topics",
    "roles/pubsub.subscriber": "consume subscriptions",
    "roles/cloudsql.client": "connect to Cloud SQL instances",
    "roles/datastore.user": "read and write Firestore/Datastore",
    "roles/bigquery.jobUser": "run BigQuery jobs",
    "roles/aiplatform.user": "call Vertex AI",
}
"""GCP roles a project's identity may hold on the whole GCP project: each acts on data or
telemetry, and none can administer IAM, projects, networks or clusters, nor read every bucket.
A role beyond these needs a reviewed opt-in in the stack file (`reviewedGcpRoles`), which `make
diff` shows first."""
BUCKET_ROLES = {
    "roles/storage.objectViewer": "read objects",
    "roles/storage.objectCreator": "create objects",
    "roles/storage.objectUser": "read, create and delete objects",
}
"""Cloud Storage roles, granted on a bucket of the project (`buckets`), never on the
GCP project, where they would reach every bucket in it (a Pulumi state bucket included)."""
ROLE_NAME = re.compile(r"roles/[A-Za-z0-9_.]+")


def check_project_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    for role in roles:
        if not ROLE_NAME.fullmatch(role):
            raise ValueError(f"gcp_roles: {role!r} is not a predefined GCP role (roles/<service>.<role>)")
        if role in BUCKET_ROLES:
            raise ValueError(f"gcp_roles: {role} on the GCP project reaches every bucket in it; grant it on your bucket: buckets={{'<name>': Bucket(role={role!r})}}")
    return roles


def check_bucket_role(role: str) -> str:
    if role not in BUCKET_ROLES:
        raise ValueError(f"{role!r} is not one of {sorted(BUCKET_ROLES)}")
    return role


def check_external_bucket(bucket: str | None) -> str | None:
    # cloud.google.com/storage/docs/buckets#naming (names without dots: 3-63 characters).
    if bucket is not None and not re.fullmatch(r"[a-z0-9][-a-z0-9_]{1,61}[a-z0-9]", bucket):
        raise ValueError(f"external: {bucket!r} is not a Cloud Storage bucket name (3-63 lowercase letters, digits, '-' and '_')")
    return bucket


MAX_REPLICAS = 100
"""The most replicas an app may ask for: a small team's service; a larger figure is most likely a typo."""
MAX_GPUS_PER_POD = 16
"""The most GPUs a node carries (a2-megagpu-16g), so the most one pod can ask for."""
MAX_QUOTA_PODS = 1000
# ASCII digits only, as Kubernetes parses quantities (apimachinery pkg/api/resource/quantity.go);
# Python's \d would also take other scripts' digits, which the API server refuses.
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$")
ZERO = re.compile(r"^0+(\.0+)?(m|Ki|Mi|Gi|Ti)?$")
# An image repository as distribution/reference parses one, without tag or digest: an optional
# registry host (with port), then path components of lowercase letters and digits joined by
# '.', '_', '__' or dashes (github.com/distribution/reference, regexp.go and reference.go).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
IMAGE_REPOSITORY = re.compile(rf"^(?:{_REGISTRY}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
MAX_REPOSITORY_PATH = 255


def check_image(image: str) -> str:
    """An image repository the registry and the kubelet accept; the tag comes from ``tag``."""
    last = image.rsplit("/", 1)[-1]
    if not image.strip():
        raise ValueError("the image is empty; give its repository, e.g. ghcr.io/acme/blog-frontend")
    if "@" in image or ":" in last:
        raise ValueError(f"{image!r} carries a tag or digest; give the repository alone (e.g. {image.split('@')[0].rsplit(':', 1)[0] if ':' in last else image.split('@')[0]}) and the commit in tag=")
    if not IMAGE_REPOSITORY.fullmatch(image):
        raise ValueError(
            f"{image!r} is not an image repository: a registry host, then path parts of lowercase letters and digits "
            "joined by '.', '_' or '-' (no spaces, no capitals), e.g. ghcr.io/acme/blog-frontend"
        )
    path = image.split("/", 1)[1] if "/" in image and ("." in image.split("/")[0] or ":" in image.split("/")[0]) else image
    if len(path) > MAX_REPOSITORY_PATH:
        raise ValueError(f"{image!r}: the repository path is {len(path)} characters; registries accept {MAX_REPOSITORY_PATH}")
    return image


class _Definition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def check_quantity(value: str) -> str:
    """A positive Kubernetes quantity of CPU or memory."""
    if not QUANTITY.fullmatch(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 250m, 1, 512Mi or 2Gi")
    if ZERO.fullmatch(value):
        # A container with no requests is BestEffort: the scheduler places it anywhere, it is the
        # first evicted, and the namespace's ResourceQuota counts nothing for it.
        raise ValueError(f"{value!r} is zero; give what the container needs at least, e.g. 50m CPU or 64Mi memory")
    return value


CONTAINER_MINIMUM = {"cpu": "10m", "memory": "16Mi"}
"""The least CPU and memory a container of a project's namespace may request or be limited to (its
LimitRange's min, program/components/project.py)."""


class Resources(_Definition):
    """Requests and limits of one container, in Kubernetes quantities."""

    cpu: str = "100m"
    """CPU request."""
    memory: str = "128Mi"
    """Memory request."""
    cpu_limit: str = "500m"
    memory_limit: str = "256Mi"

    @field_validator("cpu", "memory", "cpu_limit", "memory_limit")
    @classmethod
    def _quantity(cls, value: str, info: ValidationInfo) -> str:
        check_quantity(value)
        # Below the namespace's LimitRange minimum the API server's LimitRanger refuses every pod
        # ("minimum cpu usage per Container is 10m, but request is 1m": plugin/pkg/admission/limitranger/admission.go,
        # minConstraint), so the rollout would hang the first `pulumi up`.
        kind = "cpu" if info.field_name.startswith("cpu") else "memory"
        least = CONTAINER_MINIMUM[kind]
        below = capacity.parse_cpu(value) < capacity.parse_cpu(least) if kind == "cpu" else capacity.parse_gib(value) < capacity.parse_gib(least)
        if below:
            raise ValueError(f"{value!r} is below {least}, the least a container may ask for in a project's namespace (its LimitRange); give {least} or more")
        return value


class Bootstrap(_Definition):
    """A one-off job for an app, e.g. creating its database schema: `on-call bootstrap-database`."""

    command: tuple[str, ...]
    """Command run in the app's image (or ``image``), e.g. ("python", "-m", "blog.migrate")."""
    image: str | None = None
    """Image to run instead of the app's own (same tag)."""

    @field_validator("command")
    @classmethod
    def _command(cls, command: tuple[str, ...]) -> tuple[str, ...]:
        return _check_command(command)

    @field_validator("image")
    @classmethod
    def _image(cls, image: str | None) -> str | None:
        return None if image is None else check_image(image)


MAX_ROUTE_PATH = 1024
"""The longest path an HTTPRoute's match takes (gateway-api apis/v1/httproute_types.go:556)."""


class Public(_Definition):
    """Where the app answers from the internet, through the cluster's one shared public entry."""

    hosts: tuple[str, ...]
    """Host names, e.g. ("blog.example.com",). A stack may replace them (shoestring:projects)."""
    path: str = "/"
    """Path prefix routed to the app."""

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        # The path reaches an HTTPRoute and, with a tunnel, a regular expression in cloudflared's
        # config: plain URL path characters only, so it can be neither a pattern nor YAML.
        if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", path):
            raise ValueError(f"{path!r} must be a URL path: '/' then letters, digits and . _ ~ / -")
        # What the Gateway API's CEL rules refuse in an HTTPRoute's PathPrefix match, so the API server
        # would reject the route at `pulumi up` (kubernetes-sigs/gateway-api apis/v1/httproute_types.go,
        # HTTPPathMatch: lines 531-538 and Value's MaxLength=1024 at 556).
        refused = next((part for part in ("//", "/./", "/../") if part in path), None) or next((end for end in ("/..", "/.") if path.endswith(end)), None)
        if refused:
            raise ValueError(f"{path[:80]!r} contains {refused!r}, which the Gateway API refuses in a route path; write the path without it, e.g. /admin")
        if len(path) > MAX_ROUTE_PATH:
            raise ValueError(f"{path[:40]!r}… is {len(path)} characters; the Gateway API takes a route path of at most {MAX_ROUTE_PATH}")
        return path


class _Workload(_Definition):
    """What an app and a batch both are: a named image, built from a repository, with its container's needs."""

    name: str
    """DNS label, unique in the project: an app's Deployment and Service (other apps reach it at
    <name>.<namespace>.svc.cluster.local), a batch's CronJob."""
    image: str
    """Image repository without tag, e.g. ghcr.io/acme/blog-frontend. Images are tagged by git commit sha."""
    tag: str
    """Default image tag: the git commit sha, and best its digest after it (`sha@sha256:...`); a stack may override it."""
    repository: str
    """Git repository the image is built from (any host; `git ls-remote` must reach it)."""
    branch: str = "main"
    """Branch whose latest commit should be deployed."""
    resources: Resources = Resources()
    env: dict[str, str] = {}
    """Plain environment variables. A name that reads as a credential (PASSWORD, TOKEN, SECRET,
    KEY...) is refused: such values belong in Secret Manager."""
    gpus: int = Field(strict=True, default=0, ge=0, le=MAX_GPUS_PER_POD)
    """GPUs per pod. Above 0 the pod tolerates the GPU taint, selects the GPU pool and wakes it."""

    @field_validator("name")
    @classmethod
    def _dns_label(cls, name: str) -> str:
        return _check_dns_label(name)

    @field_validator("tag")
    @classmethod
    def _commit_tag(cls, tag: str) -> str:
        return check_commit_tag(tag)

    @field_validator("image")
    @classmethod
    def _image(cls, image: str) -> str:
        return check_image(image)

    @field_validator("repository")
    @classmethod
    def _repository(cls, repository: str) -> str:
        return check_repository(repository)

    @field_validator("branch")
    @classmethod
    def _branch(cls, branch: str) -> str:
        # git check-ref-format's rules, narrowed: no leading '-', no '..', no control characters or spaces.
        if not re.fullmatch(r"[A-Za-z0-9._/][A-Za-z0-9._/-]*", branch) or ".." in branch or branch.endswith((".", "/", ".lock")):
            raise ValueError(f"{branch!r} is not a branch name git accepts (letters, digits, '.', '_', '/', '-'; not starting with '-')")
        return branch

    @field_validator("env")
    @classmethod
    def _no_credentials(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            words = {word.removesuffix("S") for word in re.split(r"[^A-Z0-9]+", name.upper())}
            if words & CREDENTIAL_WORDS or any(part in name.upper().replace("_", "") for part in CREDENTIAL_PARTS):
                raise ValueError(
                    f"env {name} reads as a credential, and env is plain text in git; store it in Secret Manager "
                    f"(`gcloud secrets create ...`) and name it in secrets={{{name!r}: '<secret id>'}} instead"
                )
            if not PLAIN_ENV_NAME.fullmatch(name):
                raise ValueError(f"env name {name[:60]!r} is not a variable name: letters, digits and '_', not starting with a digit (no '=', '-', '.' or spaces)")
            if CREDENTIAL_VALUE.search(str(value)):
                raise ValueError(
                    f"env {name}'s value holds a credential (a password in a URL, a private key or an access token), and env is "
                    f"plain text in git; store the value in Secret Manager (`gcloud secrets create ...`) and name it in "
                    f"secrets={{{name!r}: '<secret id>'}} instead"
                )
        return env

    @property
    def commit(self) -> str:
        """The git commit the image was built from: the tag without its digest."""
        return self.tag.split("@", 1)[0]

    @property
    def reference(self) -> str:
        """The image as the pod spec names it, `<image>:<tag>`: what the cluster should run."""
        return f"{self.image}:{self.tag}"


class App(_Workload):
    """One internal service: a Deployment and its ClusterIP Service in the project's namespace."""

    port: int = Field(strict=True, ge=1, le=65535)
    """Container port; the Service exposes the same port."""
    replicas: int = Field(strict=True, default=1, ge=0, le=MAX_REPLICAS)
    """Default replica count; a stack may override it. 0 keeps the app declared but stopped."""
    health_path: str = "/healthz"
    """HTTP path of the readiness and liveness probes."""
    secrets: dict[str, str] = {}
    """Secrets from Google Secret Manager, by the name the app knows them by:
    `secrets={"DATABASE_URL": "blog-db-url"}` mounts the latest version of secret `blog-db-url`
    at /var/run/secrets/shoestring/DATABASE_URL (read-only, never in the environment) and sets
    `DATABASE_URL_FILE` to that path. The project's service account may read exactly these secrets."""
    whole_node: bool = Field(default=False, strict=True)
    """One pod per node, the bare-metal model: with GPUs it asks for every GPU the node carries;
    without, pods of whole-node apps never share a node."""
    spot: bool = Field(default=False, strict=True)
    """The app survives losing a pod at 30 seconds' notice (stateless), so its replicas may run on
    the cluster's Spot nodes: with two or more replicas, at least one stays on on-demand capacity.
    False keeps every replica on on-demand nodes."""
    public: Public | None = None
    """One line makes the app public: `public=Public(hosts=("blog.example.com",))`."""
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    """ClusterIP unless the project opts in to external services (a LoadBalancer costs a forwarding rule)."""
    bootstrap: Bootstrap | None = None

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, secrets: dict[str, str]) -> dict[str, str]:
        return check_secrets(secrets)


MAX_PARALLELISM = 100
"""The most pods a batch runs at once: tens of GPU nodes, with room (a pool holds at most 100)."""
MAX_COMPLETIONS = 10_000
MAX_BATCH_HOURS = 168.0
"""The longest a run may last: a week. Longer is most likely a typo that would bill a week of nodes."""
MAX_RETRIES = 100


class Batch(_Workload):
    """Work that runs to an end: a Kubernetes Job of ``parallelism`` pods (Indexed: each pod reads its
    shard from ``JOB_COMPLETION_INDEX``, of ``SHARD_COUNT``), a failed pod replaced, a preempted one too without counting as a failure, stopped at
    ``max_hours`` whatever happens, deleted a day after it finishes. With ``schedule`` it runs on it;
    without, ``kubectl create job <name>-<date> --from=cronjob/<name> -n <namespace>`` starts a run."""

    command: tuple[str, ...]
    """Command run in the image, e.g. ("python", "-m", "ml.embed")."""
    max_hours: float = Field(strict=True, gt=0, le=MAX_BATCH_HOURS)
    """Hours after which a run is stopped, finished or not (the Job's activeDeadlineSeconds): what a
    forgotten or stuck burst can cost at most. Also the run's length in the estimate of a schedule."""
    parallelism: int = Field(strict=True, default=1, ge=1, le=MAX_PARALLELISM)
    """Pods running at once: with one GPU each on one-GPU nodes, the nodes a run bursts to. A stack may lower it."""
    completions: int | None = Field(strict=True, default=None, ge=1, le=MAX_COMPLETIONS)
    """Shards of a run (Indexed completions); default ``parallelism``, one shard per pod."""
    retries: int = Field(strict=True, default=3, ge=0, le=MAX_RETRIES)
    """Failures of the batch's own code a run survives, over all its shards (backoffLimit); a Spot
    preemption or another disruption is not a failure (program/components/batch.py)."""
    schedule: str | None = None
    """Cron schedule in UTC, e.g. "0 3 * * 1" (Mondays 03:00); its GPU hours a month enter the estimate.
    None: the batch runs only when someone starts it."""

    @field_validator("command")
    @classmethod
    def _command(cls, command: tuple[str, ...]) -> tuple[str, ...]:
        return _check_command(command)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, schedule: str | None) -> str | None:
        if schedule is not None:
            capacity.cron_fields(schedule)
        return schedule

    @model_validator(mode="after")
    def _shards(self) -> Batch:
        if self.completions is not None and self.completions < self.parallelism:
            raise ValueError(f"completions ({self.completions}) is below parallelism ({self.parallelism}): the extra pods would have no shard; raise completions or lower parallelism")
        return self

    @property
    def shards(self) -> int:
        return self.parallelism if self.completions is None else self.completions


MAX_BUCKET_GIB = 100_000
"""The largest declared bucket size: 100 TiB, about $2,000 a month of Standard storage; more is most likely a typo."""


class Bucket(_Definition):
    """A Cloud Storage bucket the project's identity uses. Each stack deploying the project declares
    its own, named ``<GCP project>-<namespace>-<name>`` (program/names.py bucket_name), so no two
    stacks or teams can hold one name: Standard class in the cluster's region, uniform bucket-level
    access, public access prevention enforced, kept when the stack is destroyed. A stack file may
    name an existing bucket instead (``external``), granted on and not declared."""

    role: str
    """The identity's role on it, from BUCKET_ROLES (program/definitions.py), e.g. roles/storage.objectViewer."""
    size_gib: int = Field(default=1, ge=1, le=MAX_BUCKET_GIB, strict=True)
    """What it is expected to hold, in GiB: the estimate prices it at this size a month."""
    external: str | None = None
    """Name of an existing bucket to grant on instead of declaring one: set only by a stack file
    (``shoestring:projects.<project>.buckets.<bucket>.external``), refused in a definition
    (docs/going-live.md "Buckets" says what must exist first). Default none: the stack declares it."""

    @field_validator("role")
    @classmethod
    def _role(cls, role: str) -> str:
        return check_bucket_role(role)

    @field_validator("external")
    @classmethod
    def _external(cls, bucket: str | None) -> str | None:
        if bucket is not None:
            # A project file is its team's; an existing bucket may be anyone's (another team's data,
            # the Pulumi state), so only the platform-reviewed stack file may name one.
            raise ValueError(
                f"{bucket!r}: an existing bucket is named in the stack file, which the platform reviews, not in the project's definition: "
                "set shoestring:projects.<project>.buckets.<bucket>.external in stacks/Pulumi.<stack>.yaml"
            )
        return bucket


class Project(_Definition):
    """A project: its own namespace, quota, identity, apps and batches."""

    name: str
    """DNS label; the namespace's name (with the environment appended where a cluster is shared)."""
    apps: tuple[App, ...]
    batches: tuple[Batch, ...] = ()
    """Work that runs to an end, on a schedule or on demand (see Batch)."""
    pod_security: Literal["restricted", "baseline"] = "restricted"
    """Pod Security Admission level enforced on the namespace."""
    gcp_roles: tuple[str, ...] = ()
    """GCP roles the project's Workload Identity service account holds on the GCP project, from
    PROJECT_ROLES (program/definitions.py); none means no GCP account. Another role needs the
    stack's reviewed opt-in (`shoestring:projects.<project>.reviewedGcpRoles`)."""
    buckets: dict[str, Bucket] = {}
    """Cloud Storage buckets of the project, by a short name (a DNS label):
    `{"data": Bucket(role="roles/storage.objectViewer", size_gib=50)}`. Granted on the bucket only."""
    quota_cpu: str = "2"
    """Total CPU the namespace's apps may request; the ResourceQuota adds every batch at full parallelism."""
    quota_memory: str = "4Gi"
    """Total memory the namespace's apps may request; the ResourceQuota adds every batch at full parallelism."""
    quota_pods: int = Field(strict=True, default=20, ge=1, le=MAX_QUOTA_PODS)
    """Pods the namespace's apps may hold at once; the ResourceQuota adds every batch's parallelism."""
    external_services_opt_in: bool = Field(default=False, strict=True)
    """Allow NodePort and LoadBalancer Services; each LoadBalancer is a forwarding rule (~$18/month)."""

    @field_validator("name")
    @classmethod
    def _dns_label(cls, name: str) -> str:
        return _check_dns_label(name)

    @field_validator("gcp_roles")
    @classmethod
    def _roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        return check_project_roles(roles)

    @field_validator("buckets")
    @classmethod
    def _bucket_names(cls, buckets: dict[str, Bucket]) -> dict[str, Bucket]:
        for name in buckets:
            _check_dns_label(name)
        return buckets

    @field_validator("quota_cpu", "quota_memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        return check_quantity(value)

    @model_validator(mode="after")
    def _unique_apps_and_opt_in(self) -> Project:
        names = [app.name for app in self.apps] + [batch.name for batch in self.batches]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"app and batch names must be unique in a project (a Service selects pods by that name); repeated: {duplicates}")
        external = [app.name for app in self.apps if app.service_type != "ClusterIP"]
        if external and not self.external_services_opt_in:
            raise ValueError(
                f"apps {external} ask for a NodePort or LoadBalancer Service; internal services are ClusterIP. "
                "Set external_services_opt_in=True to accept it (a LoadBalancer is a forwarding rule, ~$18/month each), "
                "or keep ClusterIP and use the shared public entry"
            )
        return self


def _check_command(command: tuple[str, ...]) -> tuple[str, ...]:
    if not command or not command[0].strip():
        raise ValueError("the command is empty; give the program and its arguments, e.g. [python, -m, ml.embed]")
    return command


def _check_dns_label(name: str) -> str:
    if len(name) > 40 or not DNS_LABEL.fullmatch(name):
        raise ValueError(f"{name!r} must be a DNS label: lowercase letters, digits and '-', at most 40 characters")
    return name


class DefinitionError(ValueError):
    """Problems in projects/*.yaml, each naming the file, the line and the field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


PROJECTS = Path(__file__).resolve().parents[1] / "projects"
"""The project files: projects/<name>.yaml, beside program/ (the repository `pulumi up` runs from)."""
SCHEMA = "project.schema.json"
"""The JSON Schema of a project file, generated from Project (``make docs``) for editors."""


def discover(directory: Path = PROJECTS) -> dict[str, Project]:
    """Every project file of ``directory`` (``<name>.yaml``) validated as a Project, by name, sorted.

    A file is data and nothing else: nothing in ``directory`` is imported or run. A ``*.py`` there
    is refused, never read: before project files were data, one ran with the authority of whoever
    planned or deployed (their credentials included), which no rule over the records can see."""
    found: dict[str, Project] = {}
    problems: list[str] = []
    # Hidden files (an editor's swap file, .DS_Store) are no one's project.
    for path in sorted(p for p in directory.iterdir() if (p.is_file() or p.is_symlink()) and not p.name.startswith(".")):
        where = f"{directory.name}/{path.name}"
        if path.is_symlink():
            # A link reads whatever it points at, outside the repository too, and its review shows
            # only the link: a project file is the file itself.
            problems.append(f"{where}: a symbolic link; a project file is a regular file in {directory.name}/, written out")
            continue
        if path.suffix != ".yaml":
            if path.name != SCHEMA:
                problems.append(_not_data(where, path))
            continue
        try:
            document = project_files.read(path)
        except project_files.ProjectFileError as e:
            problems.append(f"{where}:{e.line}: {e}")
            continue
        if not isinstance(document.data, dict):
            problems.append(f"{where}:1: a project file is a map of fields (name:, apps:, ...), not a {type(document.data).__name__}; README \"Add a project\" shows one")
            continue
        try:
            project = Project.model_validate(document.data)
        except ValidationError as e:
            problems.extend(f"{where}:{document.line_of(err['loc'])}: {_describe(err)}" for err in e.errors())
            continue
        if project.name != path.stem:
            problems.append(f"{where}:{document.line_of(('name',))}: name = {project.name!r}: a project's file is named for it; rename the file {project.name}.yaml or set name: {path.stem}")
        elif project.name in found:
            problems.append(f"{where}: project name {project.name!r} is already defined by another file")
        else:
            found[project.name] = project
    if problems:
        raise DefinitionError(problems)
    return found


def _not_data(where: str, path: Path) -> str:
    if path.suffix == ".py":
        return (
            f"{where}: a project is a data file, and a Python file in projects/ is never run; write it as "
            f"projects/{path.stem}.yaml (README \"Add a project\"; `{SCHEMA}` gives editors its fields) and delete {path.name}"
        )
    if path.suffix == ".yml":
        return f"{where}: project files end in .yaml; rename it {path.stem}.yaml"
    return f"{where}: projects/ holds project files (<name>.yaml) and {SCHEMA} only; move it elsewhere"


def schema() -> dict:
    """The JSON Schema of a project file: Project's fields, their types, bounds and descriptions."""
    generated = Project.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **generated, "title": "Shoestring project (projects/<name>.yaml)"}


def _describe(err: dict) -> str:
    location = ".".join(str(part) for part in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return f"{location} is not a field of a project definition; {SCHEMA} and README \"Add a project\" list the fields"
    if err["type"] == "missing":
        return f"{location} is required; add `{err['loc'][-1]}: ...` (README \"Add a project\" shows each field)"
    if err["type"] == "string_type" and isinstance(err["input"], (int, float, bool)):
        return f"{location} = {err['input']!r}: YAML read this as a {type(err['input']).__name__}; write it in quotes (\"{err['input']}\")"
    return f"{location} = {err['input']!r}: {message}"
