"""From Pulumi's flat ``namespace:key`` strings (the SDK's store, or the stack files) to one
validated StackConfig, or one ConfigError naming every problem."""

from __future__ import annotations

import json
import math
import re
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any

import pulumi
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from program import definitions
from program.config.catalog_checks import catalog_problems
from program.config.entry_rules import entry_problems
from program.config.errors import ConfigError, describe, did_you_mean
from program.config.model import PROJECT, STRUCTURED, TOP_LEVEL, StackConfig
from program.config.notices import notices
from program.config.overrides import override_problems
from program.config.projects import resolve_projects
from program.config.release_channels import release_channel_problems
from program.config.stack_files import read_stack_files
from program.definitions import Project


# Keys that only a stack owning a cluster may set. (freeTier, deletionProtection, releaseChannel and
# kubernetesVersion reach every stack with their Pulumi.yaml defaults, so they cannot be told apart.)
CLUSTER_KEYS = ("zone", "defaultPool", "spotPool", "gpuPool", "publicEntry", "controlPlane", "privateNodes", "binaryAuthorization")

STACK_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$")
# A project ID: 6 to 30 lowercase letters, digits and hyphens, starting with a letter, not ending
# with a hyphen (cloud.google.com/resource-manager/docs/creating-managing-projects, "Project ID").
# It reaches resource names, IAM members and `gcloud` commands on-call prints: nothing else may.
GCP_PROJECT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")


SECRET_VALUES = "secretValues"
"""Values of the stack's Secret Manager secrets, by secret id: `pulumi config set --secret --path
'secretValues.<secret id>'` writes one, encrypted with the stack's key; the program receives the
object as JSON, its leaves decrypted, and the key among the secret ones (pulumi/pulumi#3342)."""
_SECRETS = {"tunnelCredentials", SECRET_VALUES}
"""Secret settings: checked for presence and secrecy here, never kept in the typed config (of
secretValues, only which secret ids have a value)."""
TUNNEL_CREDENTIALS = f"{PROJECT}:tunnelCredentials"

StackReader = Callable[[str], Mapping[str, str]]


def from_pulumi() -> StackConfig:
    """The running stack's config, from the SDK's config store."""
    try:
        defined = definitions.discover()
    except definitions.DefinitionError as e:
        raise ConfigError(e.problems) from None
    raw, secret_keys = sdk_config()
    return load(pulumi.get_stack(), raw, defined, secret_keys=secret_keys)


def sdk_config() -> tuple[dict[str, str], set[str]]:
    """Every config value the SDK holds, and which are secrets: what ``pulumi.Config`` reads.

    The store is filled by ``pulumi.runtime.set_all_config`` (unit tests, Automation API inline
    programs) and, under it, by the PULUMI_CONFIG variable the language host sets for `pulumi up`.
    All of it is read, not key by key, so that a mistyped key is reported rather than ignored."""
    raw = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    secret_keys = set(pulumi.runtime.get_config_secret_keys_env()) | {key for key in raw if pulumi.runtime.is_config_secret(key)}
    return raw, secret_keys


def load(
    stack: str,
    raw: Mapping[str, str],
    defined: Mapping[str, Project] | None = None,
    read_stack: StackReader | None = None,
    secret_keys: Collection[str] = (),
) -> StackConfig:
    """Validate a stack's flat Pulumi config (``{"shoestring:zone": "us-central1-a", ...}``).

    ``defined`` are the project definitions (projects/*.yaml); ``read_stack`` returns another
    stack's flat config, for a stack that runs in that stack's cluster.
    """
    defined = {} if defined is None else defined
    read_stack = read_stack or (lambda name: read_stack_files(name)[0])
    problems: list[str] = []
    values: dict[str, Any] = {"stack": stack}
    valued: tuple[str, ...] = ()

    project = raw.get("gcp:project")
    if not project:
        problems.append(
            f"gcp:project is missing: add `gcp:project: <your-project-id>` under `config:` in stacks/Pulumi.{stack}.yaml "
            f"(or run `pulumi config set gcp:project <your-project-id> --stack {stack}`)"
        )
    elif not GCP_PROJECT_ID.fullmatch(project):
        problems.append(
            f"gcp:project = {project[:80]!r} is not a GCP project ID: 6 to 30 lowercase letters, digits and '-', starting with a "
            "letter (the ID `gcloud projects list` shows in PROJECT_ID, not the project's display name)"
        )
    if not STACK_NAME.fullmatch(stack):
        problems.append(
            f"stack name {stack!r} becomes part of GCP and Kubernetes names (cluster shoestring-{stack}, namespaces <project>-{stack}); "
            "name the stack with lowercase letters, digits and '-', starting with a letter, at most 20 characters"
        )
    values["gcpProject"] = project or ""

    for full_key, text in sorted(raw.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        if key in _SECRETS:
            if full_key not in secret_keys:
                how = f"--path '{key}.<secret id>'" if key == SECRET_VALUES else key
                problems.append(f"{full_key} is in plain text: set it with `pulumi config set --secret {how} ...`")
            elif key == SECRET_VALUES:
                valued = _secret_ids_with_values(text, problems)
            continue
        if key not in TOP_LEVEL | _SECRETS:
            problems.append(f"{full_key} is not a Shoestring setting{did_you_mean(key, TOP_LEVEL | _SECRETS)}")
            continue
        values[key] = _parse(key, text, problems)

    host_stack = values.get("hostStack")
    if host_stack is None and "zone" not in values:
        problems.append(f"{PROJECT}:zone is missing: set it with `pulumi config set zone us-central1-a`")
    if host_stack is not None:
        problems.extend(
            f"{PROJECT}:{key} is set, but this stack runs in {host_stack}'s cluster and declares none of its own; remove it"
            for key in CLUSTER_KEYS
            if key in values
        )
        if values.get("freeTier") == "true":
            problems.append(f"{PROJECT}:freeTier = 'true': this stack runs in {host_stack}'s cluster and has none to claim the free tier with; remove it")
    if problems:
        raise ConfigError(problems)

    try:
        # Strict: `replicas: true` is not 1 and `minNodes: "2"` not 2 (pydantic's lax mode would
        # coerce both), so what a stack file says is what it means; JSON, so arrays become tuples.
        cfg = StackConfig.model_validate_json(json.dumps(values), strict=True)
    except ValidationError as e:
        raise ConfigError([describe(err) for err in e.errors()]) from None

    host = _load_host(cfg, defined, read_stack) if cfg.host_stack else None
    cfg = cfg.model_copy(update={"host": host})
    later = catalog_problems(cfg) if cfg.owns_cluster else []
    later += release_channel_problems(cfg) + override_problems(cfg, defined)
    deployed, project_problems = resolve_projects(cfg, defined)
    later += project_problems + entry_problems(cfg, deployed, TUNNEL_CREDENTIALS in raw) + _unread_secret_values(valued, deployed)
    if later:
        raise ConfigError([f"{PROJECT}:{key} = {value!r}: {message}" for key, value, message in later])
    uses_secrets = any(app.secrets for project in defined.values() for app in project.apps)
    images = sorted(
        {image for project in defined.values() for app in project.apps for image in (app.image, app.bootstrap and app.bootstrap.image) if image}
        | {batch.image for project in defined.values() for batch in project.batches}
    )
    cfg = cfg.model_copy(update={"deployed": deployed, "secret_manager": uses_secrets, "images": tuple(images), "secret_values": valued})
    return cfg.model_copy(update={"notices": notices(cfg, deployed, defined)})


def _load_host(cfg: StackConfig, defined: Mapping[str, Project], read_stack: StackReader) -> StackConfig:
    name = cfg.host_stack.rsplit("/", 1)[-1]
    where = f"{PROJECT}:hostStack = {cfg.host_stack!r}"
    try:
        raw = read_stack(name)
    except FileNotFoundError as e:
        raise ConfigError([f"{where}: {e}"]) from None
    try:
        host = load(name, raw, defined, read_stack)
    except ConfigError as e:
        raise ConfigError([f"{where}: stack {name} is not valid: {p}" for p in e.problems]) from None
    if not host.owns_cluster:
        raise ConfigError([f"{where}: {name} runs in {host.host_stack}'s cluster itself; name the stack that owns a cluster"])
    return host


def _parse(key: str, text: str, problems: list[str]) -> Any:
    """A value from Pulumi's flat config: an object of settings from its JSON; a number or a
    boolean from its text, as the Pulumi SDK reads them (sdk/python/lib/pulumi/config.py `_get_bool`:
    true/True/false/False, anything else an error; `_get_int`: int(); `_get_float`: float()), finite."""
    kinds = _scalar_kinds(key)
    if bool in kinds:
        if text in ("true", "True", "false", "False"):
            return text.lower() == "true"
        problems.append(f"{PROJECT}:{key} = {text!r}: must be true or false")
        return text
    if int in kinds or float in kinds:
        try:
            number = int(text) if int in kinds or re.fullmatch(r"-?\d+", text) else float(text)
        except ValueError:
            number = None
        if number is None or not math.isfinite(number):
            problems.append(f"{PROJECT}:{key} = {text!r}: must be {'a whole number' if int in kinds else 'a number'}, e.g. 120")
            return text
        return number
    if key not in STRUCTURED:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        problems.append(f"{PROJECT}:{key} = {text!r}: must be an object of settings (see docs/configuration.md \"Configuration\")")
        return None


def _scalar_kinds(key: str) -> set[type]:
    """The plain types a top-level key's field holds (bool, int, float, str), from its annotation."""
    field = next((f for name, f in StackConfig.model_fields.items() if to_camel(name) == key), None)
    if field is None:
        return set()
    return {kind for kind in typing.get_args(field.annotation) or (field.annotation,) if kind in (bool, int, float)}


def _secret_ids_with_values(text: str, problems: list[str]) -> tuple[str, ...]:
    """The secret ids ``secretValues`` gives a value to; the values themselves stay in the SDK's store."""
    where = f"{PROJECT}:{SECRET_VALUES}"
    try:
        given = json.loads(text)
    except json.JSONDecodeError:
        given = None
    if not isinstance(given, dict):
        problems.append(f"{where} must be an object of secret id to value: set each with `pulumi config set --secret --path '{SECRET_VALUES}.<secret id>'`")
        return ()
    for secret_id, value in sorted(given.items()):
        if not definitions.SECRET_ID.fullmatch(secret_id):
            problems.append(f"{where}.{secret_id}: not a Secret Manager secret id (letters, digits, - and _, up to 255)")
        elif not isinstance(value, str) or not value:
            # `--path` stores true/false and integers as such; the CLI's `--type string` keeps them text.
            problems.append(f"{where}.{secret_id}: the value must be non-empty text; set it again with `pulumi config set --secret --type string --path '{SECRET_VALUES}.{secret_id}'`")
    return tuple(sorted(given))


def _unread_secret_values(valued: tuple[str, ...], deployed) -> list[tuple[str, Any, str]]:
    """A value for a secret no app of this stack reads would be written nowhere: a typo, most likely."""
    read = {secret for instance in deployed for app in instance.apps for secret in app.secrets.values()}
    return [
        (f"{SECRET_VALUES}.{secret_id}", "(secret)", f"no app of this stack reads secret {secret_id}{did_you_mean(secret_id, read)}; remove it "
         f"(`pulumi config rm --path '{SECRET_VALUES}.{secret_id}'`)")
        for secret_id in valued
        if secret_id not in read
    ]
