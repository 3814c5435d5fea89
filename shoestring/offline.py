"""Run the real Pulumi program for a stack under Pulumi's unit-test mocks and record what it declares.

No CLI, no credentials, no network: ``pulumi.runtime.set_mocks`` stands in for the engine, and a
recording monitor keeps every registration as a :class:`Record` — the ``{type, name, inputs}``
shape a CrossGuard policy sees — which the plan, cost and diff reports all read.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from shoestring.config import read_stack_files, stack_names

ROOT = Path(__file__).resolve().parent.parent
SECRET = "[secret]"
COMPUTED = "[computed]"


@dataclass(frozen=True)
class Record:
    """One resource the program declared, with its inputs as Pulumi passes them (camelCase)."""

    type: str
    name: str
    parent: str | None
    """URN of the parent resource; None for children of the stack itself."""
    urn: str
    inputs: dict[str, Any]
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "urn": self.urn,
            "inputs": self.inputs,
            "protect": self.protect,
            "ignoreChanges": list(self.ignore_changes),
        }


@dataclass
class Plan:
    stack: str
    records: list[Record]
    outputs: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    """What the offline plan stood in for (secrets it cannot decrypt, other stacks' outputs)."""

    def of_type(self, type_: str) -> list[Record]:
        return [r for r in self.records if r.type == type_]

    @property
    def host_stack(self) -> str | None:
        """The stack whose cluster this one runs in (the short name its StackReference points at), if any."""
        references = self.of_type("pulumi:pulumi:StackReference")
        return references[0].inputs["name"].rsplit("/", 1)[-1] if references else None

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "notes": self.notes,
            "outputs": self.outputs,
            "resources": [r.to_json() for r in self.records],
        }


def stacks(root: Path = ROOT) -> list[str]:
    """The stacks that have a config file in the project's stack config directory."""
    return stack_names(root / _project(root).get("stackConfigDir", "."))


def run(stack: str, root: Path = ROOT, config: Mapping[str, str] | None = None, secret_keys: list[str] | None = None) -> Plan:
    """Run ``root/__main__.py`` for ``stack`` under mocks and return what it declared.

    The config is the stack file's, as the Pulumi CLI would assemble it, unless ``config`` (flat,
    as in PULUMI_CONFIG) and its ``secret_keys`` are given.
    """
    notes: list[str] = []
    if config is None:
        config, secret_keys, notes = read_stack_files(stack, root)
    with _importable(root):
        plan = declare(
            lambda: runpy.run_path(str(root / "__main__.py"), run_name="__main__"),
            stack=stack,
            project=_project(root)["name"],
            config=dict(config),
            secret_keys=secret_keys or [],
        )
    plan.notes[:0] = notes
    return plan


PRICING_ENV = "SHOESTRING_PRICING"


def is_pricing() -> bool:
    """True inside the run that :func:`price_program` makes, so that run does not price itself again."""
    return os.environ.get(PRICING_ENV) == "1"


def price_program(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """The cost estimate of the running program, for it to export as a stack output.

    A separate Python process runs the program again under mocks, with the config the Pulumi
    language host passed (PULUMI_CONFIG), and prices the records exactly as `make cost` does; a
    process of its own leaves the running deployment's state untouched.
    """
    result = subprocess.run(
        [sys.executable, "-m", "shoestring", "cost", "--stack", stack, "--config-from-environment", "--json"],
        cwd=root,
        env=os.environ | {PRICING_ENV: "1"},
        capture_output=True,
        text=True,
    )
    if not result.stdout.strip():  # exit 1 with an estimate is over budget; without one, a failure
        raise pulumi.RunError(f"could not price stack {stack}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def declare(
    program: Callable[[], Any],
    *,
    stack: str,
    project: str = "shoestring",
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
) -> Plan:
    """Run ``program`` (a whole Pulumi program, or one component) under mocks and record it.

    Config reaches the program the way the Pulumi language host passes it: PULUMI_CONFIG.
    """
    recorder = _Recorder()
    warnings = _WarningsTo(recorder.notes)
    env = {"PULUMI_CONFIG": json.dumps(config or {}), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys or [])}

    def in_fresh_context() -> dict[str, Any]:
        pulumi.runtime.set_mocks(
            recorder,
            project=project,
            stack=stack,
            preview=True,
            monitor=_RecordingMonitor(recorder),
            organization="organization",  # what a self-managed (DIY) backend reports
            logger=warnings.logger,
        )
        _sync_await(run_pulumi_func(program))
        exports = pulumi.runtime.settings.get_root_resource().outputs
        return {name: _sync_await(_resolve(value)) for name, value in exports.items()}

    # A fresh context per run: the SDK keeps its settings and root stack in context variables.
    with _environment(env):
        outputs = contextvars.Context().run(in_fresh_context)
    records = sorted(recorder.records, key=lambda r: r.urn)
    return Plan(stack=stack, records=records, outputs=_plain(outputs), notes=recorder.notes)


async def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    if await output.is_secret():
        return SECRET
    return await output.future(with_unknowns=True)


class _WarningsTo(logging.Handler):
    """Keeps what the program logs as warnings (pulumi.log.warn) as plan notes."""

    def __init__(self, notes: list[str]):
        super().__init__(level=logging.WARNING)
        self.notes = notes
        self.logger = logging.Logger("shoestring.offline")
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.notes.append(f"warning: {record.getMessage()}")


class _Recorder(mocks.Mocks):
    """Answers the engine's questions with the inputs it was given, and keeps them."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.notes: list[str] = []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        state.update(_STAND_IN_OUTPUTS.get(args.typ, {}))
        if args.typ == "pulumi:pulumi:StackReference":
            referenced = args.inputs.get("name")
            self.notes.append(f"stack reference {referenced}: its outputs (kubeconfig) are stood in for offline")
            state["outputs"] = {"kubeconfig": f"offline stand-in for the kubeconfig of {referenced}"}
            state["secretOutputNames"] = ["kubeconfig"]
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list]:
        # The program makes no provider calls; one appearing is a change to review, not to fake.
        raise NotImplementedError(f"offline plan does not stand in for provider call {args.token}")


# Outputs the provider computes and the program reads, stood in for with documentation values.
_STAND_IN_OUTPUTS: dict[str, dict[str, Any]] = {
    "gcp:container/cluster:Cluster": {
        "endpoint": "203.0.113.10",
        "masterAuth": {"clusterCaCertificate": "T0ZGTElORS1QTEFOLUNB"},
    },
    "gcp:serviceaccount/account:Account": {"email": "offline-plan@example.iam.gserviceaccount.com"},
}


class _RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, keeping each registration's parent, protect and ignoreChanges as well."""

    def __init__(self, recorder: _Recorder):
        super().__init__(recorder)
        self.recorder = recorder

    def RegisterResource(self, request):  # noqa: N802 (the gRPC method's name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self._record(request, response.urn, request.object, bool(request.protect), tuple(request.ignoreChanges))
        return response

    def ReadResource(self, request):  # noqa: N802 — reads of existing resources, e.g. a StackReference
        response = super().ReadResource(request)
        self._record(request, response.urn, request.properties)
        return response

    def _record(self, request, urn: str, properties, protect: bool = False, ignore_changes: tuple[str, ...] = ()) -> None:
        self.recorder.records.append(
            Record(
                type=request.type,
                name=request.name,
                parent=request.parent if "::pulumi:pulumi:Stack::" not in request.parent else None,
                urn=urn,
                inputs=_plain(rpc.deserialize_properties(properties, keep_unknowns=True)),
                protect=protect,
                ignore_changes=ignore_changes,
            )
        )


def _plain(value: Any) -> Any:
    """Inputs as JSON: secrets masked, unknowns marked, resource references by URN, keys sorted."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, pulumi.output.Unknown):
        return COMPUTED
    if isinstance(value, dict):
        return {k: _plain(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return f"[resource {type(value).__name__}]"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format carries every number as a double
    return value


def _project(root: Path) -> dict:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _importable(root: Path) -> Iterator[None]:
    """Let the program import its own packages, as `pulumi` does by running it from the project root."""
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
