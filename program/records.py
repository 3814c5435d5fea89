"""What the program declares, as records: (type, name, inputs, dependencies) and where each sits.

A record is one registration as the engine receives it: inputs resolved and camelCase, as the
provider and a CrossGuard policy receive them, with the parent, the options and the URNs the
resource depends on. Offline, shoestring/offline.py makes one from each RegisterResource request
the SDK sends its mock monitor. Under `pulumi up`, the program's :class:`Recorder` is a resource
transform, which the engine calls with each registration (pulumi/pulumi
pkg/resource/deploy/source_eval.go, RegisterResource), so the program can price itself (its
``cost`` output). The estimator, the rules and the reports all read these records.

Only the Pulumi SDK is imported here: this module is part of the program `pulumi up` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
from pulumi.runtime import rpc

SECRET = "[secret]"
COMPUTED = "[computed]"
STACK_TYPE = "pulumi:pulumi:Stack"


class ResourceRecord(Protocol):
    """What the estimator and the rules read of a resource: a Record, or the policy pack's view of one."""

    type: str
    name: str
    inputs: dict[str, Any]


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
    retain_on_delete: bool = False
    """Destroying the stack leaves the cloud resource in place (a secret a person stored a value in)."""
    ignore_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    """URNs the engine waits for before registering this resource: explicit ``depends_on`` and
    the resources whose outputs its inputs use (RegisterResourceRequest.dependencies)."""
    provider: str | None = None
    """URN of the provider resource it is registered with, when not the package's default one."""

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "urn": self.urn,
            "inputs": self.inputs,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "ignoreChanges": list(self.ignore_changes),
            "dependencies": list(self.dependencies),
            "provider": self.provider,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        return cls(
            type=data["type"],
            name=data["name"],
            parent=data["parent"],
            urn=data["urn"],
            inputs=data["inputs"],
            protect=data.get("protect", False),
            retain_on_delete=data.get("retainOnDelete", False),
            ignore_changes=tuple(data.get("ignoreChanges", ())),
            dependencies=tuple(data.get("dependencies", ())),
            provider=data.get("provider"),
        )


def urn_of(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """The URN the engine gives a resource: its type qualified by its parents' types, the stack's
    own type left out (``urn:pulumi:dev::shoestring::shoestring:gke:GpuPool$gcp:container/nodePool:NodePool::gpu-pool``)."""
    qualified = type_
    if parent:
        parent_type = parent.split("::")[2]
        if parent_type != STACK_TYPE:
            qualified = f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


async def record_of(args: pulumi.ResourceTransformArgs, stack: str, project: str) -> Record:
    """The record of one registration, from the arguments the engine passes a resource transform."""
    opts = args.opts
    parent = await _urn(opts.parent) if opts.parent is not None else None
    # The engine passes depends_on as a list of URN-only resources (pulumi/runtime/_callbacks.py).
    dependencies = sorted({await _urn(d) for d in opts.depends_on or []})
    return Record(
        type=args.type_,
        name=args.name,
        parent=None if parent is None or parent.split("::")[2] == STACK_TYPE else parent,
        urn=urn_of(stack, project, parent, args.type_, args.name),
        inputs=plain(args.props),
        protect=bool(opts.protect),
        retain_on_delete=bool(opts.retain_on_delete),
        ignore_changes=tuple(opts.ignore_changes or ()),
        dependencies=tuple(dependencies),
        provider=await _urn(opts.provider) if opts.provider is not None else None,
    )


async def _urn(resource: Any) -> str:
    return await resource.urn.future()


class Recorder:
    """Keeps a record of every resource registered after :meth:`start`, for the program to price
    itself in the same process (the ``cost`` output) from what the engine was asked to create."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._declared: list[pulumi.Resource] = []

    def start(self) -> None:
        # Read here, in the program's context: the engine calls transforms on another thread.
        self._stack, self._project = pulumi.get_stack(), pulumi.get_project()
        pulumi.runtime.register_resource_transform(self.record)
        # A transform sees each registration but not the resource object; a transformation sees
        # each object as it is constructed, so `when_complete` can wait for every registration.
        pulumi.runtime.register_stack_transformation(self._declare)

    async def record(self, args: pulumi.ResourceTransformArgs) -> None:
        """The resource transform: called by the engine for each registration (never by the mocks)."""
        self.records.append(await record_of(args, self._stack, self._project))

    def _declare(self, args: pulumi.ResourceTransformationArgs) -> None:
        self._declared.append(args.resource)

    def when_complete(self, summarize: Callable[[list[Record]], Any]) -> pulumi.Output[Any]:
        """``summarize(records)`` once every resource declared so far has been registered; None
        when no registration reached the transform, as under Pulumi's mocks, which run none."""
        urns = [resource.urn for resource in self._declared]
        return pulumi.Output.all(*urns).apply(lambda _: summarize(sorted(self.records, key=lambda r: r.urn)) if self.records else None)


def plain(value: Any) -> Any:
    """Inputs as JSON: secrets masked, unknowns marked, resource references by URN, keys sorted."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, pulumi.output.Unknown):
        return COMPUTED
    if isinstance(value, dict):
        return {k: plain(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return f"[resource {type(value).__name__}]"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format carries every number as a double
    return value
