"""Kubernetes objects of a plan as the manifests the provider would apply, for validators and scanners."""

from __future__ import annotations

from pathlib import Path

import yaml

from shoestring.offline import Plan


def of(plan: Plan) -> list[dict]:
    """Every Kubernetes object the plan declares, as a manifest (apiVersion, kind, metadata, spec...)."""
    return [record.inputs for record in plan.records if record.type.startswith("kubernetes:") and "kind" in record.inputs]


def write(plan: Plan, directory: Path) -> list[Path]:
    """One file per object (checkov and kubernetes-validate report by file), named kind-namespace-name."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for manifest in of(plan):
        metadata = manifest["metadata"]
        path = directory / f"{manifest['kind'].lower()}-{metadata.get('namespace', 'cluster')}-{metadata['name']}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=True, allow_unicode=True))
        paths.append(path)
    return paths
