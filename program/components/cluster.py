"""ZonalCluster: a GKE Standard cluster in one zone, its node identity and a Kubernetes provider."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Literal, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pydantic import Field, field_validator

from program.names import GKE_NAME, fit, node_account_id
from program.settings import Settings, authorized_networks_too_wide
from program.components.network import PODS_RANGE, SERVICES_RANGE, ClusterNetwork
from program.components.node_pool import CLOUD_PLATFORM_SCOPE

# The predefined role GKE documents for node service accounts (logs, metrics, metadata), plus
# image pulls from Artifact Registry. Nothing else: workloads get their own identities.
NODE_ROLES = ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader")


class ControlPlaneSettings(Settings):
    """`shoestring:controlPlane` — who reaches the Kubernetes API, and how."""

    authorized_networks: list[str] = []
    """CIDRs allowed to the control plane's IP endpoints. Empty (the default) turns the IP
    endpoints off: kubectl, Pulumi and on-call reach the cluster through its DNS-based endpoint,
    which Google's front end admits only with IAM permission `container.clusters.connect` (CIS GKE
    5.6.3, 5.6.4). List networks only for a client that cannot use the DNS endpoint; together they
    may admit at most a /16's worth of IPv4 addresses (a /48's of IPv6), counted over their union."""
    rbac_security_group: str | None = Field(default=None, pattern=r"^gke-security-groups@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
    """Google Groups for RBAC (CIS GKE 5.8.2): `gke-security-groups@<your domain>`, the Google
    Workspace group whose member groups RoleBindings may name. Needs a Workspace or Cloud Identity domain."""

    @field_validator("authorized_networks")
    @classmethod
    def _cidrs(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network)
            except ValueError:
                raise ValueError(f"{network!r} is not a CIDR block; write e.g. 203.0.113.0/24") from None
        # Coverage is computed over the union, so no split of 0.0.0.0/0 gets through (CIS GKE 5.6.3).
        if too_wide := authorized_networks_too_wide(networks):
            raise ValueError(f"these networks {too_wide}")
        return networks


class DnsSettings(Settings):
    """`shoestring:dns` — who answers the pods' DNS queries."""

    provider: Literal["kube-dns", "cloud-dns"] = "kube-dns"
    """`kube-dns` (GKE Standard's default: two kube-dns pods of 265m each and their autoscaler on
    the on-demand pool) or `cloud-dns`: Cloud DNS for GKE in cluster scope answers them, and the
    stack scales GKE's kube-dns and its autoscaler to zero (they keep running otherwise). Cloud DNS
    bills the pods' queries and the cluster's private zone (`make cost`'s "Cloud DNS" line); the
    scope cannot be changed afterwards (cloud.google.com/kubernetes-engine/docs/how-to/cloud-dns)."""
    queries_per_second: float = Field(default=0, ge=0, le=100_000)
    """With `cloud-dns`: the pods' DNS queries a second, averaged over the month, that the
    estimate prices at Cloud DNS's per-million rate. Measure it before relying on it (each call
    to another service by name is a query; a pod's resolver caches nothing)."""


class ClusterSettings(Settings):
    """The cluster's own settings: top-level keys of the stack that owns it."""

    deletion_protection: bool = True
    """GKE deletion protection and Pulumi `protect` on the cluster."""
    binary_authorization: Literal["enforce", "dryRun"] = "enforce"
    """What the GCP project's Binary Authorization policy does with an image outside its allow-list
    (the repositories the definitions in projects/ name, cloudflared with a tunnel, GKE's system
    images): `enforce` blocks the pod; `dryRun` admits it and writes the denial to Cloud Audit
    Logs only, for a throwaway cluster trying other images (CIS GKE 4.5.1, 5.1.4)."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    """GKE release channel the cluster follows; GKE upgrades the control plane and nodes within it."""
    control_plane: ControlPlaneSettings = ControlPlaneSettings()
    """Access to the Kubernetes API (object; keys below)."""
    dns: DnsSettings = DnsSettings()
    """The cluster's DNS provider (object; keys below)."""
    private_nodes: bool = False
    """Nodes without external IPs (CIS GKE 5.6.5), reaching the internet through Cloud NAT:
    $0.0014 per node-hour and $0.005 per NAT IP-hour, against the $0.005 (Spot $0.0025) each
    node's external IP costs, plus $0.045 per GiB the NAT processes (image pulls included).
    `make cost` shows both; the custom VPC's firewall admits no ingress either way."""


class ZonalClusterArgs(TypedDict):
    project: str
    """GCP project ID that owns the cluster."""
    zone: str
    """Zone of the control plane and, by default, of every node pool, e.g. ``us-central1-a``."""
    network: ClusterNetwork
    """The VPC and subnet the nodes join (ClusterNetwork), never the project's ``default``."""
    settings: ClusterSettings
    """What the stack declares of the cluster (release channel, access, Binary Authorization...)."""
    secret_manager: NotRequired[bool]
    """Run GKE's Secret Manager add-on, which mounts Secret Manager secrets into pods as files.
    Default ``False``."""
    allowed_images: NotRequired[Sequence[str]]
    """Image repositories (``ghcr.io/acme/blog-frontend``) the project's Binary Authorization
    policy admits, any tag or digest; every other image is denied, but GKE's system images, which
    Google's system policy admits. Default none."""
    gateway_api: NotRequired[bool]
    """Install the Gateway API's standard channel, for a shared Gateway. Default ``False``."""
    labels: NotRequired[Mapping[str, str]]
    """GCP resource labels of the cluster; GKE copies them to its nodes and disks, so billing
    reports and budgets can filter by them."""
    maintenance_recurrence: NotRequired[str]
    """RFC 5545 recurrence of the maintenance window. Default weekends, ``FREQ=WEEKLY;BYDAY=SA,SU``."""
    maintenance_start: NotRequired[str]
    """First maintenance window start (RFC 3339, UTC). Default ``2024-01-06T03:00:00Z``."""
    maintenance_end: NotRequired[str]
    """First maintenance window end. Default ``2024-01-06T11:00:00Z``: 8 h a day, which keeps
    the 48 h in 32 days GKE requires."""


class ZonalCluster(pulumi.ComponentResource):
    """A zonal GKE Standard cluster: free of the management fee for one cluster per billing account.

    The default node pool is removed: pools are declared separately (DefaultPool, GpuPool) so they
    can change without touching the cluster. Nodes run as a dedicated least-privilege service
    account, never the Compute Engine default one.
    """

    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_service_account: pulumi.Output[str]
    workload_identity_pool: pulumi.Output[str]
    """``PROJECT.svc.id.goog``, as the cluster reports it: depending on it orders a Workload
    Identity binding after the cluster that creates the pool."""
    provider: k8s.Provider
    """Kubernetes provider for the cluster; it waits for the image policy, so no pod is created
    before the policy that admits its image."""
    image_policy: gcp.binaryauthorization.Policy

    def __init__(self, name: str, args: ZonalClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:gke:ZonalCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project, zone, settings = args["project"], args["zone"], args["settings"]

        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=node_account_id(name),
            display_name=f"GKE nodes of {name}",
            project=project,
            opts=child,
        )
        for role in NODE_ROLES:
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('/')[1]}",
                project=project,
                role=role,
                member=node_account.email.apply(lambda email: f"serviceAccount:{email}"),
                opts=child,
            )

        cluster = gcp.container.Cluster(
            name,
            name=fit(name, GKE_NAME),
            project=project,
            location=zone,
            resource_labels=args.get("labels"),
            remove_default_node_pool=True,
            initial_node_count=1,
            # The default pool lives for a moment before removal; even then it runs as our account.
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_account.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
            ),
            deletion_protection=settings.deletion_protection,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=settings.release_channel),
            # No min_master_version: within a release channel GKE accepts only the versions the
            # channel offers, and a pinned minor the channel has dropped fails the next update
            # (cloud.google.com/kubernetes-engine/docs/release-notes: "Available minor versions").
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{project}.svc.id.goog"
            ),
            enable_shielded_nodes=True,
            network=args["network"].network,
            subnetwork=args["network"].subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE, services_secondary_range_name=SERVICES_RANGE
            ),
            # Each control below costs nothing; docs/security.md "Security" maps them to CIS GKE 1.9 and
            # shoestring/cis_gke.py checks them in `make plan` and the policy pack.
            control_plane_endpoints_config=_control_plane_endpoints(settings.control_plane.authorized_networks),
            master_authorized_networks_config=_authorized_networks(settings.control_plane.authorized_networks),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(enable_private_nodes=True) if settings.private_nodes else None,
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(issue_client_certificate=False)
            ),
            enable_legacy_abac=False,
            enable_intranode_visibility=True,
            security_posture_config=gcp.container.ClusterSecurityPostureConfigArgs(mode="BASIC", vulnerability_mode="VULNERABILITY_DISABLED"),
            # Enforces the project's Binary Authorization policy, declared below (a project's
            # default policy admits every image: cloud.google.com/binary-authorization/docs/setting-up).
            binary_authorization=gcp.container.ClusterBinaryAuthorizationArgs(evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE"),
            secret_manager_config=gcp.container.ClusterSecretManagerConfigArgs(enabled=True) if args.get("secret_manager") else None,
            # Cloud DNS for GKE answers Pod and Service names "without requiring a cluster-hosted
            # DNS provider"; cluster scope: the records resolve inside this cluster only, all its
            # pods need (cloud.google.com/kubernetes-engine/docs/how-to/cloud-dns). kube-dns itself
            # is scaled to zero by ClusterDns (program/components/cluster_dns.py).
            dns_config=gcp.container.ClusterDnsConfigArgs(cluster_dns="CLOUD_DNS", cluster_dns_scope="CLUSTER_SCOPE")
            if settings.dns.provider == "cloud-dns"
            else None,
            authenticator_groups_config=gcp.container.ClusterAuthenticatorGroupsConfigArgs(security_group=settings.control_plane.rbac_security_group)
            if settings.control_plane.rbac_security_group
            else None,
            gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel="CHANNEL_STANDARD") if args.get("gateway_api") else None,
            # Dataplane V2 enforces NetworkPolicy without the Calico add-on's extra pods.
            datapath_provider="ADVANCED_DATAPATH",
            # System logs and metrics only: they fit Cloud Logging's and Monitoring's free allotments;
            # workload logs and Managed Prometheus are billed per GiB and per sample.
            logging_config=gcp.container.ClusterLoggingConfigArgs(enable_components=["SYSTEM_COMPONENTS"]),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS"],
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=False),
            ),
            maintenance_policy=gcp.container.ClusterMaintenancePolicyArgs(
                recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
                    start_time=args.get("maintenance_start", "2024-01-06T03:00:00Z"),
                    end_time=args.get("maintenance_end", "2024-01-06T11:00:00Z"),
                    recurrence=args.get("maintenance_recurrence", "FREQ=WEEKLY;BYDAY=SA,SU"),
                )
            ),
            # Removes idle nodes sooner than the default profile: idle nodes are the bill.
            cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(
                autoscaling_profile="OPTIMIZE_UTILIZATION"
            ),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["nodeConfig", "initialNodeCount"]),
        )

        self.name = cluster.name
        self.endpoint = cluster.control_plane_endpoints_config.apply(lambda config: config.dns_endpoint_config.endpoint)
        self.node_service_account = node_account.email
        self.workload_identity_pool = cluster.workload_identity_config.apply(lambda config: config.workload_pool)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, self.endpoint).apply(lambda parts: _kubeconfig(*parts))
        )
        self.image_policy = _image_policy(name, project, args.get("allowed_images", ()), settings.binary_authorization, child)
        self.provider = k8s.Provider(
            f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.image_policy])
        )
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "node_service_account": self.node_service_account,
                "workload_identity_pool": self.workload_identity_pool,
            }
        )


def _image_policy(name: str, project: str, repositories: Sequence[str], mode: str, opts: pulumi.ResourceOptions) -> gcp.binaryauthorization.Policy:
    """The project's one Binary Authorization policy, which the cluster enforces
    (PROJECT_SINGLETON_POLICY_ENFORCE): images of the listed repositories, and Google-maintained
    system images (globalPolicyEvaluationMode ENABLE), are admitted; every other image is denied.
    A repository is allowed as ``<repository>:*`` (any tag, with or without a digest after it) and
    ``<repository>@*`` (any digest): a trailing ``*`` matches any characters but ``/`` ("gcr.io/nginx*
    matches gcr.io/nginx@latest, but it does not match gcr.io/nginx/image", AdmissionWhitelistPattern
    name_pattern in cloud.google.com/dotnet/docs/reference/Google.Cloud.BinaryAuthorization.V1Beta1/latest/Google.Cloud.BinaryAuthorization.V1Beta1.AdmissionWhitelistPattern),
    so ``<repository>*`` alone would also admit ``<repository>-anything``, a sibling repository
    anyone able to push next to it could create. Without a declared policy the project's default
    admits every image."""
    return gcp.binaryauthorization.Policy(
        f"{name}-image-policy",
        project=project,
        description=f"Images the workloads of {name} may run; declared by Shoestring (shoestring/cis_gke.py checks it).",
        global_policy_evaluation_mode="ENABLE",
        admission_whitelist_patterns=[
            gcp.binaryauthorization.PolicyAdmissionWhitelistPatternArgs(name_pattern=f"{repository}{separator}*")
            for repository in repositories
            for separator in (":", "@")
        ],
        default_admission_rule=gcp.binaryauthorization.PolicyDefaultAdmissionRuleArgs(
            evaluation_mode="ALWAYS_DENY",
            enforcement_mode="DRYRUN_AUDIT_LOG_ONLY" if mode == "dryRun" else "ENFORCED_BLOCK_AND_AUDIT_LOG",
        ),
        opts=opts,
    )


def _control_plane_endpoints(authorized_networks: Sequence[str]) -> gcp.container.ClusterControlPlaneEndpointsConfigArgs:
    """The DNS-based endpoint, always; the IP endpoints only for listed networks. GKE's advice:
    "Use only the DNS-based endpoint to access your control plane"
    (cloud.google.com/kubernetes-engine/docs/concepts/network-isolation)."""
    return gcp.container.ClusterControlPlaneEndpointsConfigArgs(
        dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(allow_external_traffic=True),
        ip_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigIpEndpointsConfigArgs(enabled=bool(authorized_networks)),
    )


def _authorized_networks(networks: Sequence[str]) -> gcp.container.ClusterMasterAuthorizedNetworksConfigArgs | None:
    if not networks:
        return None
    return gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
        cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block=cidr) for cidr in networks],
        gcp_public_cidrs_access_enabled=False,
    )


def _kubeconfig(cluster_name: str, dns_endpoint: str) -> str:
    """A kubeconfig for the DNS-based endpoint that authenticates with gke-gcloud-auth-plugin: no
    long-lived credential in state. The endpoint presents a publicly trusted certificate, so no
    cluster CA is pinned (`gcloud container clusters get-credentials --dns-endpoint` writes the same)."""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {cluster_name}
  cluster:
    server: https://{dns_endpoint}
contexts:
- name: {cluster_name}
  context:
    cluster: {cluster_name}
    user: {cluster_name}
current-context: {cluster_name}
users:
- name: {cluster_name}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      # The same identity as the GCP provider: Application Default Credentials, not gcloud's
      # active account (kubernetes/cloud-provider-gcp#264 added the flag).
      args:
      - --use_application_default_credentials
      installHint: Install gke-gcloud-auth-plugin with `gcloud components install gke-gcloud-auth-plugin`.
      provideClusterInfo: true
"""
