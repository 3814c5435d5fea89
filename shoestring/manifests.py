"""Kubernetes objects of a plan as the manifests the provider would apply, for validators and scanners."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from shoestring.offline import SECRET, Plan

CUSTOM_RESOURCE_GROUPS = ("gateway.networking.k8s.io/", "networking.gke.io/", "cloud.google.com/")
"""The Gateway API's and GKE's own CRDs (its Gateway policies, ComputeClass): Kubernetes' schemas do not know them."""
PARTIAL_PATCHES = ("kubernetes:apps/v1:DeploymentPatch",)
"""Patches that set one field of an object someone else owns — GKE's kube-dns Deployments scaled
to zero (program/components/cluster_dns.py, ``spec.replicas`` only): not whole objects, so not
manifests; tests/test_capacity.py checks exactly what they send."""


def of(plan: Plan) -> list[dict]:
    """Every Kubernetes object the plan declares, as a manifest (apiVersion, kind, metadata, spec...).
    A secret field the offline plan cannot see stands as one placeholder key, so the object keeps
    its schema's shape. A ``*Patch`` (Server-Side Apply of an existing object) is rendered as the
    object it applies: the program's patches — a Namespace's labels, a ServiceAccount's
    automountServiceAccountToken — need nothing but a name to be whole, valid objects, so the
    validators check exactly what the API server receives."""
    return [
        {key: ({"offline-plan": "secret value not shown"} if value == SECRET else value) for key, value in record.inputs.items()}
        for record in plan.records
        if record.type.startswith("kubernetes:") and "kind" in record.inputs and record.type not in PARTIAL_PATCHES
    ]


def is_custom_resource(manifest: dict) -> bool:
    return manifest["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS)


def write(plan: Plan, directory: Path, custom_resources: bool = False) -> list[Path]:
    """One file per object (the validators report by file), named kind-namespace-name: the core
    objects as YAML, or with ``custom_resources`` the Gateway API and GKE objects as JSON."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for manifest in of(plan):
        if is_custom_resource(manifest) != custom_resources:
            continue
        metadata = manifest["metadata"]
        stem = f"{manifest['kind'].lower()}-{metadata.get('namespace', 'cluster')}-{metadata['name']}"
        path = directory / (f"{stem}.json" if custom_resources else f"{stem}.yaml")
        path.write_text(json.dumps(manifest, sort_keys=True) if custom_resources else yaml.safe_dump(manifest, sort_keys=True, allow_unicode=True))
        paths.append(path)
    return paths
