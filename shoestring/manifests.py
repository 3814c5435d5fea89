"""Kubernetes objects of a plan as the manifests the provider would apply, for validators and scanners."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from shoestring.offline import Plan

GATEWAY_API_GROUP = "gateway.networking.k8s.io/"


def of(plan: Plan) -> list[dict]:
    """Every Kubernetes object the plan declares, as a manifest (apiVersion, kind, metadata, spec...)."""
    return [record.inputs for record in plan.records if record.type.startswith("kubernetes:") and "kind" in record.inputs]


def is_gateway_api(manifest: dict) -> bool:
    """Gateway API objects are CRDs: Kubernetes' own schemas do not know them."""
    return manifest["apiVersion"].startswith(GATEWAY_API_GROUP)


def write(plan: Plan, directory: Path, gateway_api: bool = False) -> list[Path]:
    """One file per object (the validators report by file), named kind-namespace-name: the core
    objects as YAML, or with ``gateway_api`` the Gateway API objects as JSON."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for manifest in of(plan):
        if is_gateway_api(manifest) != gateway_api:
            continue
        metadata = manifest["metadata"]
        stem = f"{manifest['kind'].lower()}-{metadata.get('namespace', 'cluster')}-{metadata['name']}"
        path = directory / (f"{stem}.json" if gateway_api else f"{stem}.yaml")
        path.write_text(json.dumps(manifest, sort_keys=True) if gateway_api else yaml.safe_dump(manifest, sort_keys=True, allow_unicode=True))
        paths.append(path)
    return paths
