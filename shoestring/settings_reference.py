"""What the settings models say, written out for people and for Pulumi: the configuration
reference table in docs/configuration.md and the typed config schema in Pulumi.yaml, both
generated from the models (program/config/model.py and the components' settings) by `make docs`.

The table's "Changing it" column is measured, not declared: each setting of the cluster and the
pools is changed alone on its component, declared under mocks, and the two declarations compared
as `make diff` compares them (shoestring/replacements.py, the one list of what the providers
replace), so the column cannot drift from what `make diff` warns of."""

from __future__ import annotations

import functools
import json
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from program.components.cluster import ClusterSettings, ZonalCluster
from program.components.gpu_pool import GpuPool, GpuPoolSettings
from program.components.network import ClusterNetwork
from program.components.node_pool import DefaultPool, DefaultPoolSettings
from program.components.spot_pool import SpotPool, SpotPoolSettings
from program.config.loading import CLUSTER_KEYS
from program.config.model import PROJECT, RESOLVED, StackConfig
from program.settings import nested
from shoestring import diff, offline


def reference_markdown() -> str:
    """The configuration reference table in docs/configuration.md."""
    rows = ["| Key | Type | Default | Changing it | Description |", "| --- | --- | --- | --- | --- |"]

    def add(model: type[BaseModel], prefix: str) -> None:
        # The stack's own model inherits the cluster's settings: measured on the cluster.
        effects = {name: effect for base in reversed(model.__mro__) if base in DECLARE for name, effect in changing_it(base).items()}
        for name, field in model.model_fields.items():
            if name in RESOLVED:
                continue
            key = prefix + to_camel(name)
            default = "(required)" if field.is_required() else f"`{json.dumps(field.default) if not isinstance(field.default, BaseModel) else '{}'}`"
            description = " ".join((field.description or "").split())
            rows.append(f"| `{key}` | {_type_name(field.annotation)} | {default} | {effects.get(name, '')} | {description} |")

    rows.append("| `gcp:project` | string | (required) | | GCP project ID the stack deploys into. |")
    for path, model in nested(StackConfig):
        add(model, f"{PROJECT}:" + "".join(f"{part}." for part in path))
    return "\n".join(rows) + "\n"


NODES = {"cluster": "reference", "project": "acme", "zone": "us-central1-a", "service_account": "nodes@acme.iam.gserviceaccount.com"}
DECLARE = {
    DefaultPoolSettings: lambda settings: DefaultPool("pool", NODES | {"settings": settings}),
    SpotPoolSettings: lambda settings: SpotPool("pool", NODES | {"settings": settings}),
    GpuPoolSettings: lambda settings: GpuPool("pool", NODES | {"settings": settings}),
    ClusterSettings: lambda settings: ZonalCluster(
        "reference", {"project": "acme", "zone": "us-central1-a", "network": ClusterNetwork("reference", {"project": "acme", "region": "us-central1"}), "settings": settings}
    ),
}
"""How to declare a component from its settings alone, to see what changing one does."""


@functools.cache
def changing_it(model: type[BaseModel]) -> dict[str, str]:
    """For each setting of a component's model: what changing it alone does to the cloud resources,
    as `make diff` would say it — "replaces the NodePool", "rolls every node", "in place"."""
    declare = DECLARE.get(model)
    if declare is None:
        return {}
    defaults = model()
    before = {r.urn: r for r in offline.declare(lambda: declare(defaults), stack="reference").records}
    effects = {}
    for name, field in model.model_fields.items():
        try:
            changed = model(**{name: _another(field, getattr(defaults, name))})
        except (ValidationError, TypeError):
            continue  # no simple other value (an object of settings): its own keys say
        after = offline.declare(lambda: declare(changed), stack="reference").records
        diffs = [d for r in after if r.urn in before and (d := diff.resource_change(before[r.urn], r)) is not None]
        replaced = sorted({d.type.rsplit(":", 1)[-1] for d in diffs if d.action == "replace"})
        if replaced:
            effects[name] = "replaces the " + ", ".join(replaced)
        elif any(d.reasons for d in diffs):
            effects[name] = "rolls every node"
        else:
            effects[name] = "in place" if diffs else "no cloud change"
    return effects


def _another(field: FieldInfo, value: Any) -> Any:
    """A value of the field's type other than ``value`` (the default)."""
    annotation = field.annotation
    options = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return next(v for v in get_args(annotation) if v != value)
    if annotation is bool:
        return not value
    if annotation is int:
        return value + 1
    if annotation is str or (value is None and options == [str]):
        return f"{value or 'us-central1'}-b"
    if get_origin(annotation) is list:
        return ["us-central1-b"]
    raise TypeError(annotation)


def pulumi_config_schema() -> str:
    """Pulumi.yaml's `config:` entries: every top-level setting Pulumi's project schema can type
    (string, integer, boolean; not objects, not numbers with a fraction) that has a default and
    may reach every stack. A key without a default would be required in every stack, and a key
    only a cluster's own stack may set (CLUSTER_KEYS) would reach the stacks in its cluster too
    (pulumi.com/docs/iac/concepts/projects/project-file/#config-options)."""
    entries = {}
    for name, field in StackConfig.model_fields.items():
        key, kind = to_camel(name), _pulumi_type(field.annotation)
        if name in RESOLVED or key in CLUSTER_KEYS or kind is None or field.is_required() or field.default is None:
            continue
        entries[key] = {"type": kind, "default": field.default, "description": " ".join((field.description or "").split())}
    text = yaml.safe_dump(entries, sort_keys=False, width=1_000, allow_unicode=True)
    return "".join(f"  {line}\n" for line in text.splitlines())


def _pulumi_type(annotation: Any) -> str | None:
    if get_origin(annotation) is Literal and all(isinstance(v, str) for v in get_args(annotation)):
        return "string"
    return {str: "string", int: "integer", bool: "boolean"}.get(annotation)


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " \\| ".join(f"`{v}`" for v in get_args(annotation))
    if get_origin(annotation) is list:
        return "list"
    optional = [a for a in get_args(annotation) if a is not type(None)]
    if len(optional) == 1:
        annotation = optional[0]
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(annotation, "object")
