"""What every settings model shares: how a stack file's object is read (camelCase keys, unknown
keys refused, frozen once loaded, each field's docstring its description) and the bounds no
setting may pass. Each component declares its own settings beside it (program/components/*.py); the
stack's config composes them (program/config/model.py), and the configuration reference in docs/ and
Pulumi.yaml's config schema are generated from them (`make docs`)."""

from __future__ import annotations

import ipaddress
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel


class Settings(BaseModel):
    """Unknown keys are typos; values are frozen once loaded."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


def held_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The settings model a field holds — as itself, optional, or as the values of a map keyed by
    the user (``projects.<project>``) — and whether it is so keyed; (None, False) for a plain value."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is dict:
        return held_model(args[1])[0], True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return held_model(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def nested(model: type[BaseModel], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], type[BaseModel]]]:
    """Every settings object under ``model``, by its key path (``("projects", "<project>", "apps", "<app>")``)."""
    yield path, model
    for name, field in model.model_fields.items():
        inner, keyed = held_model(field.annotation)
        if inner is not None and inner is not model:  # not a stack's resolved host, a StackConfig itself
            key = to_camel(name)
            yield from nested(inner, (*path, key, *([f"<{_singular(name)}>"] if keyed else [])))


def model_at(model: type[BaseModel], location: Sequence[str]) -> type[BaseModel] | None:
    """The settings model at a key path as the user wrote it (``["projects", "blog", "apps", "web"]``)."""
    keyed = False
    for part in location:
        if keyed:
            keyed = False
            continue
        field = next((f for name, f in model.model_fields.items() if to_camel(name) == part), None)
        if field is None:
            return None
        inner, keyed = held_model(field.annotation)
        if inner is None:
            return None
        model = inner
    return None if keyed else model


def _singular(name: str) -> str:
    return name[:-2] if name.endswith("ches") else name.removesuffix("s")


MAX_NODES_PER_POOL = 100
"""The most nodes a pool may scale to: tens of GPU nodes for a burst, with room. GKE allows 1,000
per pool and zone; a larger figure here is most likely a typo that would bill that many nodes."""
MAX_DISK_GB = 65536
"""The largest persistent disk Compute Engine creates (64 TiB)."""

DiskType = Literal["pd-standard", "pd-balanced", "pd-ssd"]


class Autoscaled(Settings):
    """A node pool's autoscaling bounds: each pool declares ``min_nodes`` and ``max_nodes`` with its
    own defaults and limits (there, so each keeps its place among the pool's settings), and this
    checks the one against the other."""

    @model_validator(mode="after")
    def _max_not_below_min(self) -> Autoscaled:
        if self.max_nodes < self.min_nodes:
            raise ValueError(
                f"maxNodes ({self.max_nodes}) is below minNodes ({self.min_nodes}); "
                f"set maxNodes to at least {self.min_nodes}"
            )
        return self


MAX_AUTHORIZED_ADDRESSES = {4: 2**16, 6: 2**80}
"""The most addresses the control plane's authorized networks may admit together, per IP version:
a /16's worth of IPv4 (a campus or a cloud VPC) and a /48's worth of IPv6 (one site's allocation).
Counted over the union, so 0.0.0.0/1 and 128.0.0.0/1 are the whole internet, as 0.0.0.0/0 is."""
_WHOLE = {4: "a /16", 6: "a /48"}


def authorized_networks_too_wide(cidrs: Iterable[str]) -> str | None:
    """Whether the union of ``cidrs`` admits more addresses than MAX_AUTHORIZED_ADDRESSES allows;
    the message gives the figure, the union and the fix. Blocks that are not CIDRs are ignored."""
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(str(cidr), strict=False))
        except ValueError:
            continue
    for version, limit in MAX_AUTHORIZED_ADDRESSES.items():
        union = list(ipaddress.collapse_addresses(n for n in networks if n.version == version))
        total = sum(n.num_addresses for n in union)
        if total > limit:
            whole = ": the whole internet" if any(n.prefixlen == 0 for n in union) else ""
            return (
                f"together admit {total:,} IPv{version} addresses to the control plane ({', '.join(map(str, union))}{whole}); "
                f"at most {limit:,} ({_WHOLE[version]}'s worth) may be authorized: list only your own networks, or none to "
                "reach the cluster through its DNS-based endpoint alone"
            )
    return None
