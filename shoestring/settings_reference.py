"""What the settings models say, written out for people and for Pulumi: the configuration
reference table in docs/configuration.md and the typed config schema in Pulumi.yaml, both
generated from the models (program/config/model.py and the components' settings) by `make docs`."""

from __future__ import annotations

import json
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from program.config.loading import CLUSTER_KEYS
from program.config.model import PROJECT, RESOLVED, StackConfig
from program.settings import nested


def reference_markdown() -> str:
    """The configuration reference table in docs/configuration.md."""
    rows = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]

    def add(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if name in RESOLVED:
                continue
            key = prefix + to_camel(name)
            default = "(required)" if field.is_required() else f"`{json.dumps(field.default) if not isinstance(field.default, BaseModel) else '{}'}`"
            description = " ".join((field.description or "").split())
            rows.append(f"| `{key}` | {_type_name(field.annotation)} | {default} | {description} |")

    rows.append("| `gcp:project` | string | (required) | GCP project ID the stack deploys into. |")
    for path, model in nested(StackConfig):
        add(model, f"{PROJECT}:" + "".join(f"{part}." for part in path))
    return "\n".join(rows) + "\n"


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
