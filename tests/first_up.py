"""A first `pulumi up` on a new GCP project, played over the RegisterResource requests the SDK
sent Pulumi's official mocks (shoestring/offline.py records them, and their order).

When each registration runs is the engine's: as soon as the SDK sends it, and the SDK sends it
once its dependencies, its parent and its provider have completed (pulumi 3.272.0
pulumi/runtime/resource.py:212 and :244 and :266; program/apis.py cites the engine). So a resource
can count on another existing only when that one is among its transitive dependencies: anything
else may still be in flight, or not started, whatever order the mocks happened to answer in.
Over that relation, Google's and Kubernetes' rules are played, each cited where it is written.
Nothing here is what Shoestring's tooling does; it is a test's model of the systems it deploys to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from program import apis
from program.records import Record

SYSTEM_PRIORITY_CLASSES = {"system-cluster-critical", "system-node-critical"}
"""Created by the API server itself (kubernetes/kubernetes pkg/apis/scheduling/v1/helpers.go SystemPriorityClasses)."""
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:CronJob", "kubernetes:batch/v1:Job")
SECRET_PROVIDER_CLASS = "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET = "gcp:secretmanager/secret:Secret"
BUCKET = "gcp:storage/bucket:Bucket"
SKIP_AWAIT = "pulumi.com/skipAwait"


@dataclass(frozen=True)
class Refusal:
    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.resource}: {self.message}"


class FirstUp:
    """One stack's first `up`: its records, and what exists already (a host stack's resources)."""

    def __init__(self, records: Sequence[Record], existing: Iterable[Record] = ()):
        self.records = list(records)
        self.by_urn = {r.urn: r for r in self.records}
        self.existing = list(existing)
        self._before: dict[str, set[str]] = {}

    def before(self, record: Record) -> list[Record]:
        """What has completed, for certain, when ``record`` is registered: its dependencies, parent
        and provider, and theirs — and whatever existed before this `up`."""
        if record.urn not in self._before:
            found: set[str] = set()
            pending = [*record.dependencies, *filter(None, (record.parent, record.provider))]
            while pending:
                urn = pending.pop()
                if urn in found or urn not in self.by_urn:
                    continue
                found.add(urn)
                r = self.by_urn[urn]
                pending += [*r.dependencies, *filter(None, (r.parent, r.provider))]
            self._before[record.urn] = found
        return [self.by_urn[u] for u in self._before[record.urn]] + self.existing

    def refusals(self) -> list[Refusal]:
        found: list[Refusal] = []
        for record in self.records:
            for rule in RULES:
                found += rule(self, record)
        return found


def _at(record: Record) -> str:
    return f"{record.type} {record.name}"


def service_disabled(up: FirstUp, record: Record) -> list[Refusal]:
    """A request to an API that is off in the project fails 403 with reason SERVICE_DISABLED
    (googleapis/googleapis google/api/error_reason.proto: "The request is calling a disabled
    service for a consumer"), which the provider does not retry (terraform-provider-google
    google/transport/error_retry_predicates.go retries 403s only for named quota and IAM races)."""
    project = record.inputs.get("project")
    enabled = {(r.inputs.get("service"), r.inputs.get("project")) for r in up.before(record) if r.type == apis.SERVICE}
    return [
        Refusal("SERVICE_DISABLED", _at(record), f"403 {api} has not been used in project {project} before or it is disabled")
        for api in sorted(apis.needed_by(record.type, record.inputs))
        if not any(api == service and project in (None, in_project) for service, in_project in enabled)
    ]


def bucket_not_found(up: FirstUp, record: Record) -> list[Refusal]:
    """An IAM grant on a bucket that does not exist: 404 "The specified bucket does not exist"
    (cloud.google.com/storage/docs/json_api/v1/status-codes#404-not-found)."""
    if record.type != "gcp:storage/bucketIAMMember:BucketIAMMember":
        return []
    bucket = record.inputs.get("bucket")
    if any(r.type == BUCKET and bucket in (r.inputs.get("name"), r.name) for r in up.before(record)):
        return []
    return [Refusal("404", _at(record), f"The specified bucket does not exist: {bucket}")]


def identity_pool_missing(up: FirstUp, record: Record) -> list[Refusal]:
    """A Workload Identity member (``serviceAccount:PROJECT.svc.id.goog[ns/ksa]``) names a pool that
    exists only once a Workload Identity cluster of PROJECT does: before, "Error 400: Identity Pool
    does not exist (PROJECT.svc.id.goog)" (terraform-google-modules/terraform-google-kubernetes-engine#916)."""
    member = str(record.inputs.get("member", ""))
    if record.type != "gcp:serviceaccount/iAMMember:IAMMember" or ".svc.id.goog[" not in member:
        return []
    pool = member.removeprefix("serviceAccount:").split("[", 1)[0]
    pools = {(r.inputs.get("workloadIdentityConfig") or {}).get("workloadPool") for r in up.before(record) if r.type == "gcp:container/cluster:Cluster"}
    # Offline, the pool is the cluster's output, stood in for by its input (project.svc.id.goog).
    if pool in pools:
        return []
    return [Refusal("400", _at(record), f"Identity Pool does not exist ({pool})")]


def _pod(record: Record) -> dict:
    spec = record.inputs.get("spec") or {}
    template = spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec.get("template") or {}
    return template.get("spec") or {}


def rollout_times_out(up: FirstUp, record: Record) -> list[Refusal]:
    """pulumi-kubernetes awaits a Deployment's rollout and fails it when not ready after 10 minutes
    unless annotated ``pulumi.com/skipAwait: "true"``
    (pulumi.com/registry/packages/kubernetes/api-docs/apps/v1/deployment/, "Deployment
    rollout"). A pod whose Secret Manager volume names ``…/versions/latest`` of a secret with no
    version cannot mount it (the GKE Secret Manager add-on reads the version:
    cloud.google.com/secret-manager/docs/secret-manager-managed-csi-component), so it never gets ready."""
    if record.type != "kubernetes:apps/v1:Deployment" or ((record.inputs.get("metadata") or {}).get("annotations") or {}).get(SKIP_AWAIT) == "true":
        return []
    before = up.before(record)
    classes = {
        (v.get("csi") or {}).get("volumeAttributes", {}).get("secretProviderClass") for v in _pod(record).get("volumes") or [] if v.get("csi")
    }
    wanted = [
        secret["resourceName"].split("/")[3]
        for r in before
        if r.type == SECRET_PROVIDER_CLASS and r.inputs["metadata"]["name"] in classes and r.inputs["metadata"]["namespace"] == record.inputs["metadata"]["namespace"]
        for secret in json.loads(r.inputs["spec"]["parameters"]["secrets"])
    ]
    # A version declared anywhere in the stack is written in seconds, well inside the await; the
    # volume mount is retried until then (kubelet retries a failed MountVolume.SetUp).
    everything = [*up.records, *up.existing]
    secrets = {r.urn: r.inputs.get("secretId") for r in everything if r.type == SECRET}
    valued = {secrets.get(d) for r in everything if r.type == SECRET_VERSION for d in r.dependencies}
    return [
        Refusal("timeout", _at(record), f"the rollout was not ready after 10m: secret {secret} has no version, so the pods' secrets volume cannot mount")
        for secret in sorted(set(wanted) - valued)
    ]


def priority_class_missing(up: FirstUp, record: Record) -> list[Refusal]:
    """The Priority admission plugin refuses a pod naming a PriorityClass that does not exist:
    "no PriorityClass with name %v was found" (kubernetes/kubernetes
    plugin/pkg/admission/priority/admission.go). The object is accepted; its pods are not."""
    if record.type not in WORKLOADS:
        return []
    named = _pod(record).get("priorityClassName")
    if named is None or named in SYSTEM_PRIORITY_CLASSES:
        return []
    if any(r.type == "kubernetes:scheduling.k8s.io/v1:PriorityClass" and r.inputs["metadata"]["name"] == named for r in up.before(record)):
        return []
    return [Refusal("Forbidden", _at(record), f"pods forbidden: no PriorityClass with name {named} was found")]


RULES = (service_disabled, bucket_not_found, identity_pool_missing, rollout_times_out, priority_class_missing)
