"""ClusterNetwork: the cluster's own VPC and subnet, and Cloud NAT when its nodes are private."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

from program.names import COMPUTE_NAME, fit

PODS_RANGE = "pods"
SERVICES_RANGE = "services"


class ClusterNetworkArgs(TypedDict):
    project: str
    region: str
    """Region of the subnet: the cluster's zone's region."""
    nodes_cidr: NotRequired[str]
    """Primary range, one address per node. Default ``10.0.0.0/24``."""
    pods_cidr: NotRequired[str]
    """Secondary range for Pods; GKE gives each node a /24 of it. Default ``10.4.0.0/16`` (256 nodes)."""
    services_cidr: NotRequired[str]
    """Secondary range for ClusterIP Services. Default ``10.8.0.0/20``."""
    cloud_nat: NotRequired[bool]
    """Give nodes without external IPs a way out to the internet (image pulls from ghcr.io,
    Docker Hub; outbound API calls) through Cloud NAT. Billed per VM-hour, per NAT IP-hour and
    per GiB processed. Default ``False``."""


class ClusterNetwork(pulumi.ComponentResource):
    """A custom-mode VPC with one subnet, so the cluster never lands on the project's ``default``
    network, whose auto-created rules admit SSH and RDP from 0.0.0.0/0. The program declares no
    firewall rule: a custom VPC denies all ingress implicitly, and GKE adds the rules its control
    plane, nodes and load-balancer health checks need itself
    (cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules)."""

    network: pulumi.Output[str]
    subnetwork: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:network:ClusterNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project, region = args["project"], args["region"]
        gcp_name = fit(name, COMPUTE_NAME)
        network = gcp.compute.Network(
            name,
            name=gcp_name,
            project=project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-{region}",
            name=gcp_name,
            project=project,
            region=region,
            network=network.id,
            ip_cidr_range=args.get("nodes_cidr", "10.0.0.0/24"),
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=args.get("pods_cidr", "10.4.0.0/16")),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE, ip_cidr_range=args.get("services_cidr", "10.8.0.0/20")),
            ],
            # Google APIs (Artifact Registry, Secret Manager, logging) without an external IP; free.
            private_ip_google_access=True,
            opts=child,
        )
        if args.get("cloud_nat", False):
            router = gcp.compute.Router(f"{name}-router", name=fit(f"{name}-router", COMPUTE_NAME), project=project, region=region, network=network.id, opts=child)
            gcp.compute.RouterNat(
                f"{name}-nat",
                name=fit(f"{name}-nat", COMPUTE_NAME),
                project=project,
                region=region,
                router=router.name,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                opts=child,
            )
        self.network = network.id
        self.subnetwork = subnet.id
        self.register_outputs({"network": self.network, "subnetwork": self.subnetwork})
