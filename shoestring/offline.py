"""Run the real Pulumi program for a stack under Pulumi's unit-test mocks and record what it declares.

No CLI, no credentials, no network: ``pulumi.runtime.set_mocks`` stands in for the engine. Each
:class:`~program.records.Record`, which the plan, cost and diff reports and the rules read, is one
RegisterResource (or ReadResource) request as the SDK sent it — inputs, options and the URNs it
depends on — and nothing else: no engine behaviour is played here. The program's own ``cost``
output is computed from records the engine hands its resource transform; the mocks run no
transform, so offline that output is None and `make cost` prices the records instead.

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
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi
import yaml
from pulumi.runtime import mocks, rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from program.config import read_stack_files, stack_names
from program.names import CLUSTER
from program.records import SECRET, Record, Recorder, plain, urn_of

ROOT = Path(__file__).resolve().parent.parent
ConfigVia = Literal["store", "environment"]


@dataclass
class Plan:
    stack: str
    records: list[Record]
    outputs: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    """What the offline plan stood in for (secrets it cannot decrypt, other stacks' outputs)."""
    order: list[tuple[str, str]] = field(default_factory=list)
    """("sent" | "completed", URN) as each RegisterResource request reached the mock monitor and
    was answered: the SDK sends a request only once the resources it depends on have completed.
    Left out of the JSON plan: the SDK calls the monitor from several threads, so the order of
    requests that do not depend on each other varies from run to run, and the JSON plan does not."""

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
    foreign = [t for t in recorder.transforms if getattr(t, "__func__", None) is not Recorder.record]
    if foreign:
        # The engine would call it with every later registration and register what it returns
        # (pkg/resource/deploy/source_eval.go); the records would not show it.
        raise PlanFailed(
            f"stack {stack}: {', '.join(sorted({_where(t) for t in foreign}))} registers a resource transform, which changes "
            "resources in the engine after the offline plan and the checks saw them; declare resources through the components instead"
        )
    records = sorted(recorder.records, key=lambda r: r.urn)
    return Plan(stack=stack, records=records, outputs=plain(outputs), notes=recorder.notes, order=recorder.order)


def _where(transform: Callable) -> str:
    code = getattr(transform, "__code__", None)
    if code is None:
        return f"{getattr(transform, '__module__', '?')}.{getattr(transform, '__qualname__', repr(transform))}"
    path = Path(code.co_filename)
    return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{code.co_firstlineno} ({code.co_name})"


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
        self.order: list[tuple[Literal["sent", "completed"], str]] = []
        """Each registration's URN as its request reached the monitor and as the monitor answered it."""
        self.transforms: list[Callable[[pulumi.ResourceTransformArgs], Any]] = []
        """Resource transforms the program registered (RegisterStackTransform), never called here."""

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
    """The SDK's mock monitor, keeping a record of each RegisterResource request exactly as the
    SDK sent it — inputs, options and the URNs it depends on — and the order the registrations
    were sent and completed in. It does nothing the engine would do with a request: in
    particular it calls no resource transform (pulumi's mocks.py says the mock monitor "does not
    run them"), so what a transform would change is never in a record; :class:`_Recorder` notes
    each transform registered, and a plan with one it does not know fails (:func:`declare`)."""

    def __init__(self, recorder: _Recorder, stack: str, project: str):
        super().__init__(recorder)
        self.recorder = recorder
        self.stack, self.project = stack, project
        self._order = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return urn_of(self.stack, self.project, parent or None, type_, name)

    def _happened(self, what: Literal["sent", "completed"], urn: str) -> None:
        with self._order:
            self.recorder.order.append((what, urn))

    def RegisterResource(self, request):  # noqa: N802 (the gRPC method's name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        _ensure_event_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        parent = request.parent if request.parent and "::pulumi:pulumi:Stack::" not in request.parent else None
        self._happened("sent", urn)
        self.recorder.records.append(
            Record(
                type=request.type,
                name=request.name,
                parent=parent,
                urn=urn,
                inputs=plain(rpc.deserialize_properties(request.object)),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=tuple(request.ignoreChanges),
                dependencies=tuple(sorted(set(request.dependencies))),
                # A provider reference is "<urn>::<id>" (pulumi/resource.py _parse_resource_reference).
                provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
            )
        )
        response = super().RegisterResource(request)
        self._happened("completed", urn)
        return response

    def ReadResource(self, request):  # noqa: N802 — reads of existing resources, e.g. a StackReference
        urn = self.make_urn(request.parent, request.type, request.name)
        self._happened("sent", urn)
        response = super().ReadResource(request)
        self._happened("completed", response.urn)
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
