"""Which property changes the providers apply by destroying and recreating the resource.

The one place this list is kept. Each entry names the resource type, the property path (as the
plan records it, camelCase, dots for nesting; a path also covers everything below it) and why,
with its source. The offline diff marks a change under any of them as a **replace**; a real
`pulumi preview` is the final word, and this list should follow the pinned providers.
"""

from __future__ import annotations

from program.names import CLUSTER, DEPLOYMENT, NODE_POOL

# pulumi-gcp 10.x wraps terraform-provider-google 7.x; "ForceNew" below is that provider's schema.
REPLACE_ON_CHANGE: dict[str, dict[str, str]] = {
    CLUSTER: {
        "name": "ForceNew: a cluster cannot be renamed",
        "location": "ForceNew: a cluster cannot move between zones or regions",
        "project": "ForceNew",
        "network": "ForceNew (google_container_cluster docs)",
        "subnetwork": "ForceNew (google_container_cluster docs)",
        "networkingMode": "ForceNew (google_container_cluster docs)",
        "ipAllocationPolicy": "ForceNew: GoogleCloudPlatform/magic-modules, terraform-provider-google#6761",
        "datapathProvider": "ForceNew since GoogleCloudPlatform/magic-modules#6657: Dataplane V2 is immutable",
        "enableAutopilot": "ForceNew (google_container_cluster docs)",
        "privateClusterConfig": "turning private nodes on replaces the cluster (hashicorp/terraform-provider-google#20495, open "
        "since provider 6.12): recreate it, or move its pools to private nodes one by one",
    },
    NODE_POOL: {
        "name": "ForceNew: a node pool cannot be renamed",
        "cluster": "ForceNew: a node pool cannot move between clusters",
        "location": "ForceNew: a node pool cannot move to another location",
        "project": "ForceNew",
        "initialNodeCount": "pulumi-gcp NodePool docs: 'Changing this will force recreation of the resource'",
        "nodeConfig.guestAccelerators": "ForceNew: GKE cannot change a pool's accelerator type or count in place "
        "(GoogleCloudPlatform/magic-modules#18493; driver version too, terraform-provider-google#23248)",
        "nodeConfig.spot": "ForceNew (node_config schema)",
        "nodeConfig.serviceAccount": "ForceNew (node_config schema)",
        "nodeConfig.oauthScopes": "ForceNew (node_config schema)",
        "nodeConfig.shieldedInstanceConfig": "ForceNew (node_config schema)",
        # machineType, diskType and diskSizeGb are updated in place since terraform-provider-google
        # 6.8 (GoogleCloudPlatform/magic-modules#9575): GKE then replaces the nodes by a rolling upgrade.
    },
    "gcp:serviceaccount/account:Account": {
        "accountId": "ForceNew: the account's email is derived from it",
        "project": "ForceNew",
    },
    "kubernetes:*": {
        "metadata.name": "a Kubernetes object cannot be renamed: pulumi-kubernetes replaces it",
        "metadata.namespace": "a Kubernetes object cannot change namespace: pulumi-kubernetes replaces it",
    },
    DEPLOYMENT: {
        "spec.selector": "immutable in apps/v1: pulumi-kubernetes replaces the Deployment",
    },
    "kubernetes:core/v1:Service": {
        "spec.clusterIP": "immutable: pulumi-kubernetes replaces the Service",
    },
}

# In place, but the nodes are recreated: worth a warning in review.
ROLLING_NODE_REPLACEMENT: dict[str, str] = {
    "nodeConfig.machineType": "GKE replaces every node of the pool by a rolling upgrade",
    "nodeConfig.diskType": "GKE replaces every node of the pool by a rolling upgrade",
    "nodeConfig.diskSizeGb": "GKE replaces every node of the pool by a rolling upgrade",
}


def replacement_reason(resource_type: str, path: str) -> str | None:
    """Why changing ``path`` of a ``resource_type`` replaces the resource, or None if it does not."""
    rules = dict(REPLACE_ON_CHANGE.get(resource_type, {}))
    if resource_type.startswith("kubernetes:"):
        rules |= REPLACE_ON_CHANGE["kubernetes:*"]
    for prefix, reason in rules.items():
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            return reason
    return None


def rolling_reason(resource_type: str, path: str) -> str | None:
    if resource_type != NODE_POOL:
        return None
    return ROLLING_NODE_REPLACEMENT.get(path)
