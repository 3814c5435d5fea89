"""ClusterDns: Cloud DNS for GKE answering the pods' queries, and GKE's kube-dns scaled to zero."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s

from program.components.pod_security import PATCH_FORCE

# GKE's own Deployments in kube-system (kubectl -n kube-system get deployments): the autoscaler
# sets kube-dns's replicas from the cluster's size, so it goes to zero first.
KUBE_DNS_AUTOSCALER = "kube-dns-autoscaler"
KUBE_DNS = "kube-dns"


class ClusterDnsArgs(TypedDict):
    queries_per_second: float
    """The pods' DNS queries a second over the month, priced by the estimate (DnsSettings)."""


class ClusterDns(pulumi.ComponentResource):
    """With Cloud DNS as the cluster's provider, GKE's kube-dns "continues to run in the cluster"
    until "the kube-dns Deployment and autoscaler" are scaled to zero
    (cloud.google.com/kubernetes-engine/docs/how-to/cloud-dns, "Limitations"): both are patched
    (Server-Side Apply of the existing objects, ``spec.replicas`` only) to 0, the autoscaler
    first, so it cannot scale kube-dns back up. Its record carries the declared query rate, which
    the estimate prices; the capacity estimate reads the patches and packs neither pod."""

    def __init__(self, name: str, args: ClusterDnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:gke:ClusterDns", name, {"provider": "cloud-dns", "queriesPerSecond": args["queries_per_second"]}, opts)
        child = pulumi.ResourceOptions(parent=self)
        autoscaler = scaled_to_zero(f"{name}-{KUBE_DNS_AUTOSCALER}", KUBE_DNS_AUTOSCALER, child)
        scaled_to_zero(f"{name}-{KUBE_DNS}", KUBE_DNS, pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[autoscaler])))
        self.register_outputs({})


def scaled_to_zero(name: str, deployment: str, opts: pulumi.ResourceOptions) -> k8s.apps.v1.DeploymentPatch:
    return k8s.apps.v1.DeploymentPatch(
        name,
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(name=deployment, namespace="kube-system", annotations=PATCH_FORCE),
        spec=k8s.apps.v1.DeploymentSpecPatchArgs(replicas=0),
        opts=opts,
    )
