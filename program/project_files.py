"""Reading ``projects/<name>.yaml``: data a teammate writes, read so that no byte of it can run,
hang or exhaust the process that plans every stack.

PyYAML's SafeLoader constructs only plain types (a ``!!python/...`` tag is an error there:
yaml/constructor.py:426 construct_undefined, PyYAML 6.0.3), but it still follows aliases into
shared nodes (yaml/composer.py:63-70 returns the anchored node itself; :108 registers an anchor
before its children, so an alias may even sit inside its own anchor) that validation walks as a
tree (a few nested anchors are billions of values: "billion laughs"), accepts any size and
nesting depth, and keeps the last of two equal keys (yaml/constructor.py:132-147 assigns each in
turn). Here the bytes are capped before parsing, every explicit tag is
refused (no file needs one), aliases are followed only while the expanded document stays small,
nesting stops at a fixed depth, and a key given twice is an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 256 * 1024
"""A project file of two dozen apps is a few KiB; more is a mistake, or an attack on the planner."""
MAX_VALUES = 20_000
"""Values (scalars, lists, maps) of the document with every alias expanded, as validation sees it."""
MAX_DEPTH = 32
"""Nesting of lists and maps; a definition needs five (apps, an app, public, hosts, a host)."""


class ProjectFileError(ValueError):
    """A project file that is not safe, small YAML: ``line`` (1-based) and what is wrong there."""

    def __init__(self, line: int, message: str):
        self.line = line
        super().__init__(message)


@dataclass(frozen=True)
class Document:
    """A project file's data, and the node tree it came from (to name the line of a bad value)."""

    data: Any
    root: yaml.Node

    def line_of(self, location: Sequence[str | int]) -> int:
        """The line of the value at ``location`` (keys and list indexes), or of the nearest
        enclosing value that exists (a missing key: the map that lacks it)."""
        node = self.root
        for part in location:
            child = _child(node, part)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1


def read(path: Path) -> Document:
    """The YAML document in ``path``, or one ProjectFileError at the line that breaks a limit."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ProjectFileError(1, f"the file is {size:,} bytes; a project file may have {MAX_BYTES:,} (split the project, or remove what it does not need)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProjectFileError(raw[: e.start].count(b"\n") + 1, f"byte {e.start} is not UTF-8; save the file as UTF-8") from None
    loader = _SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise ProjectFileError(1, "the file is empty; a project file is a map with at least name: and apps: (README \"Add a project\")")
        _expanded_size(root, {}, set())
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ProjectFileError(mark.line + 1 if mark else 1, f"{e.problem or e.context}") from None
    except yaml.YAMLError as e:  # errors PyYAML raises without a position
        raise ProjectFileError(1, str(e)) from None
    finally:
        loader.dispose()
    return Document(data, root)


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader with no explicit tags, bounded nesting and no key given twice."""

    _depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 — PyYAML's signature
        event = self.peek_event()
        tag = getattr(event, "tag", None)
        # A non-specific '!' is what PyYAML reports for a quoted scalar; any other tag is explicit.
        if tag not in (None, "!"):
            raise yaml.composer.ComposerError(None, None, f"the tag {tag} is not allowed in a project file; write plain values (quote a string)", event.start_mark)
        if isinstance(event, (yaml.events.SequenceStartEvent, yaml.events.MappingStartEvent)):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"values are nested more than {MAX_DEPTH} deep; a project file needs a handful of levels", event.start_mark)
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(None, None, "merge keys (<<) are not allowed; alias a whole value (resources: *shared) or write the fields out", key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is not a string; keys are field names (quote it)", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"{key!r} is given twice (first on line {seen[key] + 1}); keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# Numbers as YAML 1.2's core schema reads them, not PyYAML's YAML 1.1: there `1:20:00` is the
# integer 4800 (base 60), `0123456` an octal 42798 — a commit someone meant as text — and `1_000`
# 1000 (yaml/resolver.py, the tag:yaml.org,2002:int and float resolvers). Here a number is plain
# decimal, anything else stays the text it reads as, which the definitions then check.
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SafeLoader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(0|[1-9][0-9]*)$"), list("-+0123456789"))
_SafeLoader.add_implicit_resolver(_FLOAT, re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"), list("-+0123456789."))


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values ``node`` is with every alias expanded; an alias inside its own anchor, or
    a document beyond MAX_VALUES, is an error at that node. (Aliases are shared nodes in the
    composed graph, so each node's size is computed once.)"""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise yaml.composer.ComposerError(None, None, "an alias refers to the value that contains it; write the value out", node.start_mark)
    open_.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = []
    size = 1 + sum(_expanded_size(child, sizes, open_) for child in children)
    open_.discard(key)
    if size > MAX_VALUES:
        raise yaml.composer.ComposerError(None, None, f"the document expands to more than {MAX_VALUES:,} values (aliases included); write it without repeating aliases", node.start_mark)
    sizes[key] = size
    return size


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((value for key, value in node.value if isinstance(key, yaml.ScalarNode) and key.value == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None
