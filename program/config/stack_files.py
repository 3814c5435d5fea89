"""The stack files as `pulumi up` reads them: Pulumi.yaml's defaults overlaid by
stacks/Pulumi.<stack>.yaml, flat ``namespace:key`` strings, duplicate keys and YAML aliases refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from program.config.errors import StackFileError
from program.config.model import PROJECT


ROOT = Path(__file__).resolve().parents[2]
"""The repository: Pulumi.yaml and stacks/."""


def host_stack_of(stack: str, root: Path = ROOT) -> str | None:
    """The stack whose cluster ``stack`` runs in, as its stack file names it (short name), if any."""
    host = read_stack_files(stack, root)[0].get(f"{PROJECT}:hostStack")
    return host.rsplit("/", 1)[-1] if host else None


def stack_names(directory: Path) -> list[str]:
    """The stacks that have a config file (Pulumi.<stack>.yaml) in ``directory``."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml"))


def read_stack_files(stack: str, root: Path = ROOT) -> tuple[dict[str, str], list[str], list[str]]:
    """The flat config the Pulumi CLI would hand the program for ``stack``: project defaults from
    Pulumi.yaml, overlaid by stacks/Pulumi.<stack>.yaml, every value a string (objects as JSON).

    Returns the config, the keys that are secrets, and notes on what was stood in for (an
    encrypted secret cannot be read without the stack's key).
    """
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    name = project["name"]
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    notes: list[str] = []
    for key, declaration in (project.get("config") or {}).items():
        if isinstance(declaration, dict) and "default" in declaration:
            config[_qualified(name, key)] = _as_config_string(declaration["default"])
    directory = root / project.get("stackConfigDir", ".")
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack config {path.relative_to(root)}; stacks: {', '.join(stack_names(directory))}")
    for key, value in _stack_file(path, root).items():
        key = _qualified(name, key)
        value, encrypted = _stood_in(value)
        if encrypted:
            # A key holding any encrypted value is a secret as a whole, as `pulumi config set
            # --secret --path` leaves it (pulumi/pulumi#3342).
            secret_keys.append(key)
            notes.append(f"{key} is an encrypted secret; the offline plan uses a stand-in value")
        config[key] = _as_config_string(value)
    return config, secret_keys, notes


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads it (Go's yaml.v3): a key given twice is an error, never a
    silent overwrite (appending a second `shoestring:projects:` would drop the first)."""

    def compose_node(self, parent, index):  # noqa: ANN001 — PyYAML's signature
        # An alias (*name) is refused: a few nested ones expand to billions of values, and the
        # plan would hang reading them ("billion laughs"). A stack file needs none.
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"YAML alias *{event.anchor} is not allowed in a stack file; write the value out", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice (first on line {seen[key] + 1}); merge the two into one", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _stack_file(path: Path, root: Path) -> dict[str, Any]:
    """The ``config:`` map of a stack file, or one StackFileError naming the file and the line."""
    where = path.relative_to(root)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        # The Pulumi CLI reads stack files as YAML, which is UTF-8 (yaml.org spec 1.2 §5.2; Go's yaml.v3
        # refuses other bytes); Python would raise a traceback instead of naming the line.
        line = data[: e.start].count(b"\n") + 1
        raise StackFileError([f"{where}:{line}: byte 0x{data[e.start]:02x} is not UTF-8 text; save the file as UTF-8"]) from None
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 — a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise StackFileError([f"{where}{line}: {e.problem or e.context}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        what = "is empty" if document is None else "has no `config:` map"
        raise StackFileError([f"{where}:1: the stack file {what}; it needs `config:` with at least `gcp:project` (see docs/projects.md \"Stacks\")"])
    return document["config"]


def _stood_in(value: Any) -> tuple[Any, bool]:
    """``value`` with each encrypted leaf (``{secure: ...}``) replaced by a stand-in, and whether it had one."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "offline-stand-in-secret", True
    if isinstance(value, dict):
        pairs = {k: _stood_in(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(e for _, e in pairs.values())
    if isinstance(value, list):
        items = [_stood_in(v) for v in value]
        return [v for v, _ in items], any(e for _, e in items)
    return value, False


def _qualified(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _as_config_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
