"""Run the real Pulumi program for a stack under Pulumi's unit-test mocks and record what it declares.

No CLI, no credentials, no network: ``pulumi.runtime.set_mocks`` stands in for the engine. The
mock monitor does what the engine does with each registration that matters here: it calls the
program's stack transforms with the arguments the engine would pass them (so the program's own
``cost`` output is computed as under `pulumi up`), and it keeps the same
:class:`~program.records.Record` of it, which the plan, cost and diff reports read.

Like the program, this module needs only what requirements.txt installs.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from inspect import isawaitable
from pathlib import Path
from typing import Any, Literal

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from program.config import read_stack_files, stack_names
from program.names import CLUSTER
from program.records import SECRET, Record, plain, record_of, urn_of

ROOT = Path(__file__).resolve().parent.parent
ConfigVia = Literal["store", "environment"]


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
        """The stack whose cluster this one runs in (as its budget records it), if any."""
        budgets = self.of_type("shoestring:cost:MonthlyBudget")
        host = budgets[0].inputs.get("hostStack") if budgets else None
        return host.rsplit("/", 1)[-1] if host else None

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "notes": self.notes,
            "outputs": self.outputs,
            "resources": [r.to_json() for r in self.records],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(stack=data["stack"], records=[Record.from_json(r) for r in data["resources"]], outputs=data["outputs"], notes=data["notes"])


class PlanFailed(Exception):
    """The program stopped (a config or definition error): the message is for the user as it is."""


def stacks(root: Path = ROOT) -> list[str]:
    """The stacks that have a config file in the project's stack config directory."""
    return stack_names(root / _project(root).get("stackConfigDir", "."))


def run(
    stack: str,
    root: Path = ROOT,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    config_via: ConfigVia = "store",
) -> Plan:
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
            config_via=config_via,
        )
    plan.notes[:0] = notes
    return plan


def declare(
    program: Callable[[], Any],
    *,
    stack: str,
    project: str = "shoestring",
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    config_via: ConfigVia = "store",
) -> Plan:
    """Run ``program`` (a whole Pulumi program, or one component) under mocks and record it.

    Config reaches the program through the SDK's config store (``pulumi.runtime.set_all_config``,
    as Pulumi's unit-test docs and Automation API inline programs do), or with ``config_via=
    "environment"`` the way the language host passes it to `pulumi up`'s program: PULUMI_CONFIG.
    """
    recorder = _Recorder()
    warnings = _WarningsTo(recorder.notes)
    config, secret_keys = dict(config or {}), list(secret_keys or [])
    env = {"PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys)} if config_via == "environment" else {}

    def in_fresh_context() -> dict[str, Any]:
        if config_via == "store":
            pulumi.runtime.set_all_config(config, secret_keys)
        pulumi.runtime.set_mocks(
            recorder,
            project=project,
            stack=stack,
            preview=True,
            monitor=_RecordingMonitor(recorder, stack, project),
            organization="organization",  # what a self-managed (DIY) backend reports
            logger=warnings.logger,
        )
        _sync_await(run_pulumi_func(program))
        exports = pulumi.runtime.settings.get_root_resource().outputs
        return {name: _sync_await(_resolve(value)) for name, value in exports.items()}

    # A fresh context per run: the SDK keeps its settings and root stack in context variables.
    with _environment(env, unset=() if config_via == "environment" else ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")):
        outputs = contextvars.Context().run(in_fresh_context)
    records = sorted(recorder.records, key=lambda r: r.urn)
    return Plan(stack=stack, records=records, outputs=plain(outputs), notes=recorder.notes)


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
    """Answers the engine's questions with the inputs it was given, and keeps what it registered."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.notes: list[str] = []
        self.transforms: list[Callable[[pulumi.ResourceTransformArgs], Any]] = []

    def register_transform(self, transform) -> None:
        self.transforms.append(transform)

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict]:
        state = _merged(dict(args.inputs), _STAND_IN_OUTPUTS.get(args.typ, {}))
        if args.typ == "pulumi:pulumi:StackReference":
            referenced = args.inputs.get("name")
            self.notes.append(f"stack reference {referenced}: its outputs (kubeconfig) are stood in for offline")
            state["outputs"] = {"kubeconfig": f"offline stand-in for the kubeconfig of {referenced}"}
            state["secretOutputNames"] = ["kubeconfig"]
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list]:
        # The program makes one provider call, for the budget's project number; any other appearing
        # is a change to review, not to fake.
        if args.token == "gcp:organizations/getProject:getProject":
            self.notes.append(f"project {args.args.get('projectId')}: its number is stood in for offline")
            return {"projectId": args.args.get("projectId"), "number": "000000000000"}, []
        raise NotImplementedError(f"offline plan does not stand in for provider call {args.token}")


# Outputs the provider computes and the program reads, stood in for with documentation values.
_STAND_IN_OUTPUTS: dict[str, dict[str, Any]] = {
    CLUSTER: {
        "endpoint": "203.0.113.10",
        "masterAuth": {"clusterCaCertificate": "T0ZGTElORS1QTEFOLUNB"},
        "controlPlaneEndpointsConfig": {"dnsEndpointConfig": {"endpoint": "gke-0ff11e.us-central1-a.gke.goog"}},
    },
    "gcp:serviceaccount/account:Account": {"email": "offline-plan@example.iam.gserviceaccount.com"},
}


def _merged(inputs: dict, outputs: dict) -> dict:
    """The provider's outputs laid over the inputs, nested objects merged key by key."""
    for key, value in outputs.items():
        inputs[key] = _merged(dict(inputs.get(key) or {}), value) if isinstance(value, dict) else value
    return inputs


class _RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, doing with each registration what the engine does with it: URNs
    composed as the engine composes them, and the registered stack transforms called with the
    arguments the engine passes them (pulumi/runtime/_callbacks.py builds the same from its
    TransformRequest), in order, each given what the one before returned, the record made of
    what the last returned — as the engine registers it. (The mock's own state keeps the
    program's original inputs; only the records, which every check reads, see the changes.)"""

    def __init__(self, recorder: _Recorder, stack: str, project: str):
        super().__init__(recorder)
        self.recorder = recorder
        self.stack, self.project = stack, project

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return urn_of(self.stack, self.project, parent or None, type_, name)

    def RegisterResource(self, request):  # noqa: N802 (the gRPC method's name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        _ensure_event_loop()
        args = pulumi.ResourceTransformArgs(
            custom=bool(request.custom),
            type_=request.type,
            name=request.name,
            props=rpc.deserialize_properties(request.object),
            opts=pulumi.ResourceOptions(
                parent=pulumi.resource.DependencyResource(request.parent) if request.parent else None,
                depends_on=[pulumi.resource.DependencyResource(urn) for urn in request.dependencies],
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=list(request.ignoreChanges) or None,
                provider=pulumi.resource.DependencyProviderResource(request.provider) if request.provider else None,
            ),
        )
        for transform in self.recorder.transforms:
            result = transform(args)
            if isawaitable(result):
                result = _sync_await(result)
            if result is not None:
                args = pulumi.ResourceTransformArgs(custom=args.custom, type_=args.type_, name=args.name, props=result.props, opts=result.opts or args.opts)
        self.recorder.records.append(_sync_await(record_of(args, self.stack, self.project)))
        return super().RegisterResource(request)

    def ReadResource(self, request):  # noqa: N802 — reads of existing resources, e.g. a StackReference
        response = super().ReadResource(request)
        parent = request.parent if request.parent and "::pulumi:pulumi:Stack::" not in request.parent else None
        inputs = plain(rpc.deserialize_properties(request.properties, keep_unknowns=True))
        self.recorder.records.append(Record(type=request.type, name=request.name, parent=parent, urn=response.urn, inputs=inputs))
        return response


def _project(root: Path) -> dict:
    return yaml.safe_load((root / "Pulumi.yaml").read_text())


@contextlib.contextmanager
def _environment(values: dict[str, str], unset: tuple[str, ...] = ()) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    for k in unset:
        os.environ.pop(k, None)
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
