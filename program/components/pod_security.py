"""The security contexts that let a pod run under Pod Security `restricted`, shared by every
workload Shoestring declares; the `default` ServiceAccount patch every namespace gets; and the
`default` namespace itself, locked."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

RUN_AS_USER = 10001  # a high UID that collides with no user of the node


def restricted_pod() -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_USER,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_container() -> k8s.core.v1.SecurityContextArgs:
    """Non-root, no privilege escalation, no capabilities, read-only root filesystem."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}
# Server-Side Apply patches take the fields they set from any other manager (a `kubectl label` or
# `kubectl patch` by hand) instead of failing the update on the conflict: the declared value wins.
PATCH_FORCE = {"pulumi.com/patchForce": "true"}


def default_account_without_token(name: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> k8s.core.v1.ServiceAccountPatch:
    """The namespace's ``default`` ServiceAccount, which Kubernetes creates with the namespace,
    patched so that no pod mounts its API token by default (CIS GKE 4.1.4: kube-bench fails every
    default account whose automountServiceAccountToken is not false). A Server-Side Apply patch of
    the existing object: declaring it would be a create the API server refuses ("already exists")."""
    return k8s.core.v1.ServiceAccountPatch(
        name,
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(name="default", namespace=namespace, annotations=PATCH_FORCE),
        automount_service_account_token=False,
        opts=opts,
    )


class LockedDefaultNamespace(pulumi.ComponentResource):
    """The cluster's ``default`` namespace, which exists before Pulumi runs and which no project
    uses: Pod Security ``restricted`` enforced (CIS GKE 4.2.1), a NetworkPolicy denying all ingress
    and egress (4.3.2), and its default ServiceAccount without a token (4.1.4). The namespace and
    the account are patched (Server-Side Apply), never created; the NetworkPolicy is a new object.
    Only the stack that owns the cluster declares it."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shoestring:k8s:LockedDefaultNamespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.NamespacePatch(
            name,
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(name="default", labels=POD_SECURITY_LABELS, annotations=PATCH_FORCE),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="default-deny", namespace=namespace.metadata.name),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
            opts=child,
        )
        default_account_without_token(f"{name}-default-account", namespace.metadata.name, child)
        self.namespace = namespace.metadata.name
        self.register_outputs({"namespace": self.namespace})
