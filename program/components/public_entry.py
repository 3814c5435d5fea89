"""The cluster's one way in from the internet, shared by every public app of every project.

GatewayEntry: a GKE Gateway (one global external Application Load Balancer) with a reserved IP,
Google-managed certificates from Certificate Manager and an HTTP→HTTPS redirect; each public app
attaches its own HTTPRoute from its own namespace. HostCertificates: the certificates of one
stack's hosts, in the Gateway's certificate map. TunnelEntry: a Cloudflare Tunnel connector that
dials out, so no Google load balancer exists at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from program.names import CERTIFICATE_MANAGER_NAME, STACK_LABEL, fit
from program.components.pod_security import default_account_without_token, restricted_container, restricted_pod

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_CLASS = "gke-l7-global-external-managed"
GATEWAY_NAME = "shoestring"
ENTRY_NAMESPACE = "shoestring-entry"
PUBLIC_LABEL = "shoestring.dev/public-entry"
"""Namespace label the Gateway admits HTTPRoutes from; set on project namespaces with public apps."""
GOOGLE_FRONT_END_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
"""Where a global external Application Load Balancer's proxies and health checks reach pods from."""
# Pinned by digest: a tag on Docker Hub can be re-pushed. The digest of 2025.11.1 as other
# repositories pin it (the same value in two unrelated projects' manifests). Written with its
# registry, docker.io, as the Binary Authorization allow-list names it (registry/path/to/image).
CLOUDFLARED_REPOSITORY = "docker.io/cloudflare/cloudflared"
CLOUDFLARED_IMAGE = f"{CLOUDFLARED_REPOSITORY}:2025.11.1@sha256:89ee50efb1e9cb2ae30281a8a404fed95eb8f02f0a972617526f8c5b417acae2"


def entry_resource_name(stack: str) -> str:
    """Name of the Gateway's GCP address and certificate map, after the stack that owns the cluster;
    stacks in that cluster find the map by it."""
    return fit(f"shoestring-{stack}-entry", CERTIFICATE_MANAGER_NAME)


def certificate_name(host: str) -> str:
    """A host's certificate and map entry: its name with dots as dashes (a name must start with a
    letter, so a host that starts with a digit gets a prefix), cut to fit with a hash."""
    slug = host.replace(".", "-")
    return fit(slug if slug[0].isalpha() else f"host-{slug}", CERTIFICATE_MANAGER_NAME)


def restricted_namespace(name: str, labels: Mapping[str, str], opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    """A namespace enforcing Pod Security `restricted` and denying all ingress, like every
    project's: the Gateway object needs no pod traffic, and cloudflared only dials out."""
    namespace = k8s.core.v1.Namespace(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            labels={**labels, "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"},
        ),
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny-ingress",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny-ingress", namespace=namespace.metadata.name),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress"]),
        opts=opts,
    )
    default_account_without_token(f"{name}-default-account", namespace.metadata.name, opts)
    return namespace


class GatewayEntryArgs(TypedDict):
    project: str
    """GCP project of the load balancer, address and certificate map."""
    stack: str
    """The stack that owns the cluster; names the GCP resources."""


class GatewayEntry(pulumi.ComponentResource):
    """One Gateway for the whole cluster: HTTPS on 443 with the certificates in its map, port 80
    redirecting to HTTPS, and routes admitted only from namespaces labelled for the public entry."""

    address: pulumi.Output[str]
    certificate_map: pulumi.Output[str]
    """Name of the Certificate Manager map every stack's HostCertificates add their hosts to."""

    def __init__(self, name: str, args: GatewayEntryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:k8s:GatewayEntry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/part-of": "shoestring", "app.kubernetes.io/managed-by": "pulumi"}
        gcp_name = entry_resource_name(args["stack"])
        gcp_labels = {STACK_LABEL: args["stack"]}
        address = gcp.compute.GlobalAddress(f"{name}-ip", name=gcp_name, project=args["project"], labels=gcp_labels, opts=child)
        certificate_map = gcp.certificatemanager.CertificateMap(
            f"{name}-certificates", name=gcp_name, project=args["project"], labels=gcp_labels, opts=child
        )
        namespace = restricted_namespace(ENTRY_NAMESPACE, labels, child)
        k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=GATEWAY_NAME,
                namespace=namespace.metadata.name,
                labels=labels,
                # GKE attaches the Certificate Manager map to the load balancer's HTTPS proxy.
                annotations={"networking.gke.io/certmap": certificate_map.name},
            ),
            spec={
                "gatewayClassName": GATEWAY_CLASS,
                "addresses": [{"type": "NamedAddress", "value": address.name}],
                "listeners": [
                    {
                        "name": "https",
                        "protocol": "HTTPS",
                        "port": 443,
                        "allowedRoutes": {
                            "kinds": [{"kind": "HTTPRoute"}],
                            "namespaces": {"from": "Selector", "selector": {"matchLabels": {PUBLIC_LABEL: "true"}}},
                        },
                    },
                    {
                        "name": "http",
                        "protocol": "HTTP",
                        "port": 80,
                        "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}], "namespaces": {"from": "Same"}},
                    },
                ],
            },
            opts=child,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-https-redirect",
            api_version=GATEWAY_API,
            kind="HTTPRoute",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="https-redirect", namespace=namespace.metadata.name, labels=labels),
            spec={
                "parentRefs": [{"name": GATEWAY_NAME, "sectionName": "http"}],
                "rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}],
            },
            opts=child,
        )
        self.address = address.address
        self.certificate_map = certificate_map.name
        self.register_outputs({"address": self.address, "certificate_map": self.certificate_map})


class HostCertificatesArgs(TypedDict):
    project: str
    certificate_map: pulumi.Input[str]
    """Name of the Gateway's certificate map (it may belong to another stack)."""
    hosts: Sequence[str]
    stack: str
    """The stack declaring the certificates, for their GCP label."""


class HostCertificates(pulumi.ComponentResource):
    """A Google-managed certificate per host, each entered in the Gateway's certificate map.

    Load balancer authorization: the certificate is issued once the host's DNS record points at
    the Gateway's address, so there is nothing else to set up."""

    hosts: list[str]

    def __init__(self, name: str, args: HostCertificatesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:gke:HostCertificates", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for host in args["hosts"]:
            slug = certificate_name(host)
            certificate = gcp.certificatemanager.Certificate(
                f"{name}-{slug}",
                name=slug,
                project=args["project"],
                managed=gcp.certificatemanager.CertificateManagedArgs(domains=[host]),
                labels={STACK_LABEL: args["stack"]},
                opts=child,
            )
            gcp.certificatemanager.CertificateMapEntry(
                f"{name}-{slug}",
                name=slug,
                project=args["project"],
                map=args["certificate_map"],
                hostname=host,
                labels={STACK_LABEL: args["stack"]},
                certificates=[certificate.id],
                opts=child,
            )
        self.hosts = list(args["hosts"])
        self.register_outputs({"hosts": self.hosts})


class TunnelRoute(TypedDict):
    hostname: str
    service: str
    """In-cluster URL, e.g. http://frontend.blog.svc.cluster.local:8080."""
    path: NotRequired[str]


class TunnelEntryArgs(TypedDict):
    namespace: str
    tunnel_id: str
    credentials: pulumi.Input[str]
    """The tunnel's credentials file (JSON), a secret."""
    routes: Sequence[TunnelRoute]
    priority_class: str
    """PriorityClass of the connector: above every app's, so none can preempt the only public entry."""
    scheduled_after: NotRequired[Sequence[pulumi.Resource]]
    """The PriorityClass and node pool the connector needs, which its Deployment waits for
    (scheduling.py). Default none."""


class TunnelEntry(pulumi.ComponentResource):
    """A cloudflared connector that dials out to Cloudflare and routes host names to in-cluster
    services: no Google load balancer, no address, no certificate (Cloudflare's edge ends TLS)."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: TunnelEntryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:k8s:TunnelEntry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": "cloudflared", "app.kubernetes.io/part-of": "shoestring", "app.kubernetes.io/managed-by": "pulumi"}
        namespace = restricted_namespace(args["namespace"], labels, child)
        ns = namespace.metadata.name

        def metadata(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels)

        # The connector only dials out: the namespace's default-deny-ingress policy admits nothing to it.
        secret = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=metadata("tunnel-credentials"),
            string_data={"credentials.json": args["credentials"]},
            opts=child,
        )
        ingress = [
            {"hostname": route["hostname"], "path": f"^{route.get('path', '/')}", "service": route["service"]}
            for route in args["routes"]
        ] + [{"service": "http_status:404"}]
        config_yaml = pulumi.Output.json_dumps(
            {"tunnel": args["tunnel_id"], "credentials-file": "/etc/cloudflared/credentials/credentials.json", "ingress": ingress}
        )
        config = k8s.core.v1.ConfigMap(f"{name}-config", metadata=metadata("cloudflared"), data={"config.yaml": config_yaml}, opts=child)
        # cloudflared reads its files once, at start: a digest of each in the pod template makes a
        # change to the routes or the credentials roll the connector. The credentials' digest is
        # not secret (SHA-256 of a file holding a 32-byte random secret reveals nothing of it).
        restart_on = {
            "shoestring.dev/config-sha256": config_yaml.apply(_sha256),
            "shoestring.dev/credentials-sha256": pulumi.Output.unsecret(pulumi.Output.from_input(args["credentials"]).apply(_sha256)),
        }
        k8s.apps.v1.Deployment(
            f"{name}-cloudflared",
            metadata=metadata("cloudflared"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": "cloudflared"}),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations=restart_on),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        priority_class_name=args["priority_class"],
                        security_context=restricted_pod(),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="cloudflared",
                                image=CLOUDFLARED_IMAGE,
                                image_pull_policy="Always",
                                args=["tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:2000", "--config", "/etc/cloudflared/config/config.yaml", "run"],
                                ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=2000)],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "256Mi"}
                                ),
                                readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/ready", port="metrics")),
                                liveness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/ready", port="metrics")),
                                security_context=restricted_container(),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(name="config", mount_path="/etc/cloudflared/config", read_only=True),
                                    k8s.core.v1.VolumeMountArgs(name="credentials", mount_path="/etc/cloudflared/credentials", read_only=True),
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config.metadata.name)),
                            k8s.core.v1.VolumeArgs(name="credentials", secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=secret.metadata.name)),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.get("scheduled_after", ())) or None),
        )
        self.namespace = ns
        self.register_outputs({"namespace": self.namespace})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
