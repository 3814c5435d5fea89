"""Project: one namespace per project, isolated by default, with its identity and internal services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from program.names import PROJECT_LABEL as PROJECT_GCP_LABEL
from program.names import workload_account_id
from program.definitions import CONTAINER_MINIMUM
from program.components.batch import Batch, BatchArgs, BatchSpec
from program.components.bucket import ProjectBucket
from program.components.internal_service import GPU_RESOURCE, AppSpec, InternalService, InternalServiceArgs
from program.components.pod_security import default_account_without_token
from program.components.public_entry import GOOGLE_FRONT_END_RANGES, PUBLIC_LABEL

PROJECT_LABEL = "shoestring.dev/project"
ENVIRONMENT_LABEL = "shoestring.dev/environment"


class QuotaArgs(TypedDict):
    cpu: str
    """Total CPU requests of the namespace's pods."""
    memory: str
    """Total memory requests."""
    pods: int
    gpus: NotRequired[int]
    """GPUs the namespace may request. Default 0: no GPU node can be woken from this namespace."""
    load_balancers: NotRequired[int]
    """LoadBalancer Services allowed (each is a billed forwarding rule). Default 0."""
    node_ports: NotRequired[int]
    """NodePort Services allowed. Default 0."""


class EntrySpec(TypedDict):
    kind: Literal["gateway", "tunnel"]
    namespace: str
    """Namespace of the Gateway or of the tunnel connector."""


class BucketSpec(TypedDict):
    name: str
    """The definition's short name (a DNS label), naming the component."""
    bucket: str
    """Global bucket name: the stack's own (program/names.py bucket_name), or the existing one's."""
    role: str
    size_gib: int
    external: bool
    """An existing bucket, granted on and not declared."""


class ProjectArgs(TypedDict):
    project: str
    """Project name, as defined in projects/."""
    environment: str
    """The stack deploying it, e.g. ``prod``."""
    namespace: str
    """Namespace name: the project's, with the environment appended in a shared cluster."""
    quota: QuotaArgs
    apps: Sequence[AppSpec]
    """The project's apps, each an InternalService in the namespace."""
    batches: NotRequired[Sequence[BatchSpec]]
    """The project's batch work, each a Batch (a CronJob) in the namespace. Default none."""
    pod_security: Literal["restricted", "baseline"]
    """Pod Security Admission level enforced on the namespace (the definition's ``pod_security``)."""
    gcp_project: NotRequired[str]
    """GCP project of the cluster; needed with ``gcp_roles``."""
    workload_identity_pool: NotRequired[pulumi.Input[str]]
    """The cluster's Workload Identity pool (``PROJECT.svc.id.goog``); needed with ``gcp_roles``.
    Pass the cluster's own output where the cluster is declared in the same program: the pool
    exists only once a Workload Identity cluster does, and binding a member of it before then
    fails with "Identity Pool does not exist" (terraform-google-kubernetes-engine#916)."""
    buckets: NotRequired[Sequence[BucketSpec]]
    """Cloud Storage buckets the project's identity uses, each a ProjectBucket in ``region``
    (granted on the bucket alone). Default none."""
    region: NotRequired[str]
    """Region of the cluster, where the project's buckets are; needed with ``buckets``."""
    gcp_roles: NotRequired[Sequence[str]]
    """Roles for a GCP service account bound to the namespace's Kubernetes one through Workload
    Identity. Default none: no GCP service account is created."""
    reviewed_gcp_roles: NotRequired[Sequence[str]]
    """Those of ``gcp_roles`` beyond PROJECT_ROLES that the stack file lists after review
    (``reviewedGcpRoles``). Recorded on the component, where the rule over records
    (shoestring/ownership_rules.py) reads them. Default none."""
    default_requests: NotRequired[Mapping[str, str]]
    """LimitRange default requests per container. Default ``cpu: 100m, memory: 128Mi``."""
    default_limits: NotRequired[Mapping[str, str]]
    """LimitRange default limits per container. Default ``cpu: 500m, memory: 256Mi``."""
    secret_values: NotRequired[Mapping[str, pulumi.Input[str]]]
    """Secret id to its value (a Pulumi secret, from the stack's ``secretValues``), written as the
    secret's version. A secret without one is declared empty: its apps' rollouts are not awaited.
    Default none."""
    gcp_labels: NotRequired[Mapping[str, str]]
    """GCP labels for the project's GCP resources (its secrets), e.g. the stack's."""
    public_entry: NotRequired[EntrySpec]
    """The cluster's shared public entry, for apps with ``public``. Required when any app has it."""


class Project(pulumi.ComponentResource):
    """A namespace that admits no traffic from other namespaces, bounded by a quota, whose pods
    run as the project's own ServiceAccount, with one InternalService per app and one Batch per batch."""

    namespace: pulumi.Output[str]
    service_dns_names: dict[str, pulumi.Output[str]]
    """App name to ``<app>.<namespace>.svc.cluster.local``."""

    def __init__(self, name: str, args: ProjectArgs, opts: pulumi.ResourceOptions | None = None):
        reviewed = list(args.get("reviewed_gcp_roles", ()))
        # What the stack file (platform-reviewed) lets this project reach beyond its own resources,
        # recorded where the rules over records (shoestring/ownership_rules.py) read it.
        external = sorted(b["bucket"] for b in args.get("buckets", ()) if b["external"])
        recorded = {**({"reviewedGcpRoles": reviewed} if reviewed else {}), **({"externalBuckets": external} if external else {})}
        super().__init__("shoestring:k8s:Project", name, recorded or None, opts)
        child = pulumi.ResourceOptions(parent=self)
        level = args["pod_security"]
        labels = {
            "app.kubernetes.io/part-of": args["project"],
            "app.kubernetes.io/managed-by": "pulumi",
            PROJECT_LABEL: args["project"],
            ENVIRONMENT_LABEL: args["environment"],
        }

        public_apps = [app for app in args["apps"] if "public" in app]
        entry = args.get("public_entry")
        namespace = k8s.core.v1.Namespace(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args["namespace"],
                labels={
                    **labels,
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                    # The shared Gateway admits routes from namespaces carrying this label only.
                    **({PUBLIC_LABEL: "true"} if public_apps and entry and entry["kind"] == "gateway" else {}),
                },
            ),
            opts=child,
        )
        ns = namespace.metadata.name
        default_account_without_token(f"{name}-default-account", ns, child)

        def metadata(object_name: str, annotations: Mapping[str, pulumi.Input[str]] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels, annotations=annotations)

        # Isolation: deny all ingress, then admit what comes from this same namespace.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny-ingress",
            metadata=metadata("default-deny-ingress"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress"]),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-same-namespace",
            metadata=metadata("allow-same-namespace"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())])],
            ),
            opts=child,
        )
        if public_apps and entry:
            self._admit_public_entry(name, public_apps, entry, metadata, child)
        quota = args["quota"]
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=metadata("project-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": quota["cpu"],
                    "requests.memory": quota["memory"],
                    "pods": str(quota["pods"]),
                    "services.loadbalancers": str(quota.get("load_balancers", 0)),
                    "services.nodeports": str(quota.get("node_ports", 0)),
                    f"requests.{GPU_RESOURCE}": str(quota.get("gpus", 0)),
                }
            ),
            opts=child,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=metadata("container-defaults"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        # The API server refuses a container asking for less (kubernetes.io/docs/concepts/policy/limit-range:
                        # "minimum and maximum resource usage constraints"): no container of the namespace requests next to nothing.
                        min=dict(CONTAINER_MINIMUM),
                        default_request=dict(args.get("default_requests", {"cpu": "100m", "memory": "128Mi"})),
                        default=dict(args.get("default_limits", {"cpu": "500m", "memory": "256Mi"})),
                    )
                ]
            ),
            opts=child,
        )

        workload_annotations = None
        roles = list(args.get("gcp_roles", ()))
        secrets = sorted({resource for app in args["apps"] for resource in app.get("secrets", {}).values()})
        readable: dict[str, list[pulumi.Resource]] = {}
        if roles or secrets or args.get("buckets"):
            email, readable = self._gcp_identity(name, args, roles, secrets, child)
            workload_annotations = {"iam.gke.io/gcp-service-account": email}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-workload",
            metadata=metadata("workload", workload_annotations),
            automount_service_account_token=False,
            opts=child,
        )

        self.service_dns_names = {}
        for app in args["apps"]:
            app_secrets = sorted(set(app.get("secrets", {}).values()))
            service = InternalService(
                f"{name}-{app['name']}",
                InternalServiceArgs(
                    **app,
                    namespace=ns,
                    labels=labels,
                    service_account=account.metadata.name,
                    secrets_ready=[ready for resource in app_secrets for ready in readable.get(resource, [])],
                    await_rollout=all(resource.rsplit("/", 1)[-1] in args.get("secret_values", {}) for resource in app_secrets),
                    **({"gateway_namespace": entry["namespace"]} if entry and entry["kind"] == "gateway" else {}),
                ),
                opts=child,
            )
            self.service_dns_names[app["name"]] = service.dns_name
        for batch in args.get("batches", ()):
            Batch(f"{name}-{batch['name']}", BatchArgs(**batch, namespace=ns, labels=labels, service_account=account.metadata.name), opts=child)
        self.namespace = ns
        self.register_outputs({"namespace": self.namespace, "service_dns_names": self.service_dns_names})

    @staticmethod
    def _admit_public_entry(name: str, apps: Sequence[AppSpec], entry: EntrySpec, metadata, child: pulumi.ResourceOptions) -> None:
        """Ingress to the public apps' ports from the entry only: the load balancer's proxies and
        health checks (gateway), or the connector's namespace (tunnel)."""
        if entry["kind"] == "gateway":
            sources = [k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)) for cidr in GOOGLE_FRONT_END_RANGES]
        else:
            sources = [
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": entry["namespace"]})
                )
            ]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-public-entry",
            metadata=metadata("allow-public-entry"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_expressions=[
                        k8s.meta.v1.LabelSelectorRequirementArgs(
                            key="app.kubernetes.io/name", operator="In", values=sorted(app["name"] for app in apps)
                        )
                    ]
                ),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=sources,
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=app["port"], protocol="TCP") for app in apps],
                    )
                ],
            ),
            opts=child,
        )

    def _gcp_identity(
        self, name: str, args: ProjectArgs, roles: list[str], secrets: list[str], child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], dict[str, list[pulumi.Resource]]]:
        """A GCP service account with only the project's roles, and read access to exactly the
        secrets its apps name, usable by the namespace's pods. Returns its email, and for each
        secret what a pod mounting it needs first: the grant to read it, and its version where
        the stack gives one."""
        gcp_project = args["gcp_project"]
        account = gcp.serviceaccount.Account(
            f"{name}-workload",
            account_id=workload_account_id(args["namespace"]),
            display_name=f"Workloads of {args['namespace']}",
            project=gcp_project,
            opts=child,
        )
        member = account.email.apply(lambda email: f"serviceAccount:{email}")
        for role in roles:
            gcp.projects.IAMMember(f"{name}-{role.split('/')[-1]}", project=gcp_project, role=role, member=member, opts=child)
        for spec in args.get("buckets", ()):
            ProjectBucket(
                f"{name}-{spec['name']}",
                {
                    "bucket": spec["bucket"],
                    "project": gcp_project,
                    "location": args["region"],
                    "role": spec["role"],
                    "member": member,
                    "size_gib": spec["size_gib"],
                    "labels": {**args.get("gcp_labels", {}), PROJECT_GCP_LABEL: args["project"]},
                    "external": spec["external"],
                },
                opts=child,
            )
        readable: dict[str, list[pulumi.Resource]] = {}
        values = args.get("secret_values", {})
        for resource in secrets:
            secret_project, secret_id = resource.split("/")[1], resource.rsplit("/", 1)[-1]
            # Kept when the stack is destroyed, so that a destroy never deletes a value someone
            # stored (docs/going-live.md "Secrets").
            secret = gcp.secretmanager.Secret(
                f"{name}-{secret_id}",
                project=secret_project,
                secret_id=secret_id,
                replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
                labels={**args.get("gcp_labels", {}), PROJECT_GCP_LABEL: args["project"]},
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            readable[resource] = [
                gcp.secretmanager.SecretIamMember(
                    f"{name}-reads-{secret_id}",
                    project=secret_project,
                    secret_id=secret.secret_id,
                    role="roles/secretmanager.secretAccessor",
                    member=member,
                    opts=child,
                )
            ]
            if secret_id in values:
                # The value from the stack's config, a secret in state as in the stack file
                # (secret_data is a secret output of the provider). Kept with the secret on destroy.
                readable[resource].append(
                    gcp.secretmanager.SecretVersion(
                        f"{name}-{secret_id}-value",
                        secret=secret.id,
                        secret_data=pulumi.Output.secret(values[secret_id]),
                        opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                    )
                )
        gcp.serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=pulumi.Output.concat("serviceAccount:", args["workload_identity_pool"], f"[{args['namespace']}/workload]"),
            opts=child,
        )
        return account.email, readable
