"""`python -m shoestring release` and `promote`: a new build's tag written where a stack reads it.

A release is one line of one file: the app's `tag:` in the stack file's per-app values
(stacks/Pulumi.<stack>.yaml, `shoestring:projects.<project>.apps.<app>.tag`), or, for every stack
at once (`--stack all`), the `tag:` of its definition in projects/<project>.yaml. The line is
edited in place, located by the YAML parser's own positions, so comments and layout stay as they were.
The edited stack is then loaded as `pulumi up` loads it: unless it now declares exactly the new
tag, the file is put back and the release refused. Nothing is written on a refusal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from program import config, definitions, project_files
from program.config import ConfigError
from program.config.model import PROJECT
from program.config.stack_files import ROOT
from program.definitions import Project

Kind = Literal["apps", "batches"]

RELEASE_TAG = re.compile(r"(?P<commit>[0-9a-f]{7,40})@sha256:(?P<digest>[0-9a-f]{64})")
"""What a release deploys: the commit the image was built from and the digest the registry gave
the pushed image, so the stack names the exact bytes (a tag alone can be pushed over)."""
ALL = "all"


class ReleaseRefused(Exception):
    """The release is not made; the message says what is wrong and what to do. Nothing was written."""


@dataclass(frozen=True)
class Release:
    """One tag written: which workload, in which stack (or ``all``), in which file, from what to what."""

    project: str
    workload: str
    kind: Kind
    stack: str
    path: Path
    old: str
    new: str
    unaffected: tuple[str, ...] = ()
    """With ``--stack all``: the stacks that keep a tag of their own (their stack file overrides it)."""

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def describe(self, root: Path) -> str:
        where = self.path.relative_to(root)
        stacks = "every stack" if self.stack == ALL else self.stack
        if not self.changed:
            return f"{self.project}/{self.workload} already runs {self.new} in {stacks} ({where}); nothing changed"
        line = f"{self.project}/{self.workload} {short(self.old)} → {short(self.new)} in {stacks} ({where})"
        if self.unaffected:
            line += f"; not in {', '.join(self.unaffected)}, whose stack file sets a tag of its own"
        return line


@dataclass(frozen=True)
class Image:
    """A container image reference as the program writes it (`<repository>:<tag>`, the tag a commit
    and its digest) and as the cluster reports it, split into what a reviewer compares."""

    repository: str
    commit: str
    """The tag before its digest: the commit the image was built from (or whatever tag it has)."""
    digest: str
    """`sha256:...`, or empty when the reference pins none."""

    @classmethod
    def parse(cls, reference: str) -> Image:
        # distribution/reference: name[:tag][@digest], where a ':' before the last '/' is a registry port.
        name, _, digest = reference.partition("@")
        repository, colon, tag = name.rpartition(":")
        if not colon or "/" in tag:
            repository, tag = name, ""
        return cls(repository, tag, digest)

    def __str__(self) -> str:
        return self.repository + (f":{self.commit}" if self.commit else "") + (f"@{self.digest}" if self.digest else "")


def short(tag: str) -> str:
    """A tag as a reviewer reads it: the commit's first 12 characters, and whether a digest is pinned."""
    commit, _, digest = tag.partition("@")
    return commit[:12] + (f"@{digest[:15]}…" if digest else "")


def check_release_tag(tag: str) -> str:
    """The tag, if it is `<commit>@sha256:<digest>`; else a refusal saying which part is wrong."""
    if RELEASE_TAG.fullmatch(tag):
        return tag
    commit, at, digest = tag.partition("@")
    fix = "give --tag <commit>@sha256:<digest>: the 7-40 lowercase hex commit the image was built from, and the digest the registry returned for the push"
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise ReleaseRefused(f"tag {tag!r}: the commit {commit!r} is not 7 to 40 lowercase hex characters; {fix}")
    if not at:
        raise ReleaseRefused(f"tag {tag!r} has no digest: a commit tag can be pushed over, its digest cannot; {fix}")
    algorithm, _, hexes = digest.partition(":")
    if algorithm != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexes):
        raise ReleaseRefused(f"tag {tag!r}: the digest {digest!r} is not sha256: and 64 lowercase hex characters ({len(hexes)} given); {fix}")
    raise ReleaseRefused(f"tag {tag!r} is not <commit>@sha256:<digest>; {fix}")


def release(name: str, tag: str, stack: str, root: Path = ROOT) -> Release:
    """Write ``tag`` for ``name`` (PROJECT/APP or PROJECT/BATCH) where ``stack`` reads it, or, with
    ``stack`` = ``all``, in its definition. Raises ReleaseRefused, having written nothing."""
    check_release_tag(tag)
    defined = _definitions(root)
    project, kind, workload = _workload(name, defined)
    stacks = config.stack_names(root / "stacks")
    if stack == ALL:
        return _release_definition(project, kind, workload, tag, stacks, root)
    if stack not in stacks:
        raise ReleaseRefused(f"no stack {stack!r}; stacks: {', '.join(stacks)}, or `all` to change the definition every stack starts from")
    current = deployed_tag(name, stack, root, defined)
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    if current == tag:
        return Release(project.name, workload, kind, stack, path, tag, tag)
    original = _read(path)
    edited = _stack_file_edit(original, path.relative_to(root), project.name, kind, workload, tag)
    _write(path, edited)
    try:
        now = deployed_tag(name, stack, root, defined)
    except ReleaseRefused:
        _write(path, original)
        raise
    if now != tag:
        _write(path, original)
        raise ReleaseRefused(f"{path.relative_to(root)}: after the edit {stack} would still deploy {now}, not {tag}; nothing changed")
    return Release(project.name, workload, kind, stack, path, current, tag)


def promote(name: str, source: str, target: str, root: Path = ROOT) -> Release:
    """Give ``target`` exactly the tag ``source`` deploys for ``name`` (same commit, same digest)."""
    if source == ALL or target == ALL:
        raise ReleaseRefused("promote moves a build from one stack to another; name both (e.g. --from staging --to prod)")
    stacks = config.stack_names(root / "stacks")
    for stack in (source, target):
        if stack not in stacks:
            raise ReleaseRefused(f"no stack {stack!r}; stacks: {', '.join(stacks)}")
    tag = deployed_tag(name, source, root)
    if not RELEASE_TAG.fullmatch(tag):
        raise ReleaseRefused(
            f"{source} deploys {name} as {tag!r}, without a digest, so which bytes it runs cannot be promoted; "
            f"release it to {source} with its digest first (`python -m shoestring release {name} --tag <commit>@sha256:<digest> --stack {source}`)"
        )
    return release(name, tag, target, root)


def deployed_tag(name: str, stack: str, root: Path = ROOT, defined: dict[str, Project] | None = None) -> str:
    """The tag ``stack`` declares for ``name``, read as `pulumi up` reads the stack; a refusal
    when the stack is not valid or does not run the workload."""
    defined = _definitions(root) if defined is None else defined
    project, kind, workload = _workload(name, defined)
    try:
        cfg = config.load(stack, config.read_stack_files(stack, root)[0], defined, read_stack=lambda other: config.read_stack_files(other, root)[0])
    except ConfigError as e:
        raise ReleaseRefused(f"stack {stack} (stacks/Pulumi.{stack}.yaml) is not valid: {e}") from None
    instance = next((i for i in cfg.deployed if i.name == project.name), None)
    if instance is None:
        raise ReleaseRefused(
            f"stack {stack} does not run project {project.name} (shoestring:projects.{project.name}.enabled is false in stacks/Pulumi.{stack}.yaml); "
            "release it to a stack that runs it"
        )
    return next(w.tag for w in (instance.apps if kind == "apps" else instance.batches) if w.name == workload)


def _definitions(root: Path) -> dict[str, Project]:
    try:
        return definitions.discover(root / "projects")
    except definitions.DefinitionError as e:
        raise ReleaseRefused(f"the project definitions are not valid:\n{e}") from None


def _workload(name: str, defined: dict[str, Project]) -> tuple[Project, Kind, str]:
    project_name, slash, workload = name.partition("/")
    if not slash or not workload:
        raise ReleaseRefused(f"{name!r}: name the app as PROJECT/APP (or a batch as PROJECT/BATCH), e.g. blog/frontend")
    project = defined.get(project_name)
    if project is None:
        raise ReleaseRefused(f"no project {project_name!r} in projects/; projects: {', '.join(sorted(defined))}")
    if any(app.name == workload for app in project.apps):
        return project, "apps", workload
    if any(batch.name == workload for batch in project.batches):
        return project, "batches", workload
    known = ", ".join(f"{project_name}/{w.name}" for w in (*project.apps, *project.batches))
    raise ReleaseRefused(f"project {project_name} has no app or batch {workload!r}; it has {known}")


# The stack file: one line, placed by the YAML parser's positions.


def _stack_file_edit(text: str, where: Path, project: str, kind: Kind, workload: str, tag: str) -> str:
    """``text`` with the workload's tag set: an existing `tag:` value replaced, or the missing
    keys added to the deepest mapping that exists, on one line."""
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise ReleaseRefused(f"{where} is not YAML: {e}") from None
    node = _value(document, "config")
    if node is None:
        raise ReleaseRefused(f"{where} has no `config:` map")
    path = [(f"{PROJECT}:projects", "projects"), (project,), (kind,), (workload,), ("tag",)]
    for depth, keys in enumerate(path):
        child = next((v for key in keys if (v := _value(node, key)) is not None), None)
        if child is None:
            return _insert(text, where, node, [keys[0] for keys in path[depth:]], tag)
        if depth < len(path) - 1 and not isinstance(child, yaml.MappingNode):
            raise ReleaseRefused(f"{where}:{child.start_mark.line + 1}: `{keys[0]}` is not a map, so the tag cannot be placed under it; make it one")
        node = child
    if not isinstance(node, yaml.ScalarNode):
        raise ReleaseRefused(f"{where}:{node.start_mark.line + 1}: the tag is not a string; write it as tag: \"<commit>@sha256:<digest>\"")
    quote = node.style if node.style in ("'", '"') else ""
    return text[: node.start_mark.index] + f"{quote}{tag}{quote}" + text[node.end_mark.index :]


def _value(mapping: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    return next((value for k, value in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _insert(text: str, where: Path, mapping: yaml.MappingNode, keys: list[str], tag: str) -> str:
    """Add ``keys[0]: {keys[1]: {... tag}}`` to ``mapping``: inside its braces when it is a flow
    map (`frontend: {replicas: 1}`), else as a line of its own after its last entry (above its
    first would come between that key and the comment written above it)."""
    entry = f'"{tag}"'
    for key in reversed(keys[1:]):
        entry = f"{{{key}: {entry}}}"
    entry = f"{keys[0]}: {entry}"
    if mapping.flow_style:
        close = mapping.end_mark.index - 1  # the closing brace
        assert text[close] == "}", f"{where}: a flow map ends with a brace"
        separator = ", " if mapping.value else ""
        return text[:close] + separator + entry + text[close:]
    if not mapping.value:
        raise ReleaseRefused(f"{where}:{mapping.start_mark.line + 1}: an empty map; write the tag by hand")
    column = mapping.value[0][0].start_mark.column
    last = mapping
    while not getattr(last, "flow_style", True) and last.value:  # a block map's or list's last entry, down to a leaf
        last = last.value[-1][1] if isinstance(last, yaml.MappingNode) else last.value[-1]
    line_end = text.find("\n", last.end_mark.index)
    if line_end == -1:
        text, line_end = text + "\n", len(text)
    return text[: line_end + 1] + " " * column + entry + "\n" + text[line_end + 1 :]


# The definition: --stack all.


def _release_definition(project: Project, kind: Kind, workload: str, tag: str, stacks: list[str], root: Path) -> Release:
    path, start, end, old = definition_tag(root, project.name, kind, workload)
    original = _read(path)
    overriding = tuple(
        stack for stack in stacks
        if (_stack_projects(stack, root).get(project.name) or {}).get(kind, {}).get(workload, {}).get("tag") is not None
    )
    if old == tag:
        return Release(project.name, workload, kind, ALL, path, tag, tag, overriding)
    # Only the scalar's own text is replaced: its quotes, a comment after it and every other line stay.
    _write(path, original[:start] + original[start:end].replace(old, tag, 1) + original[end:])
    # Read back as the program reads it: the one tag changed, and no other (an anchored tag that
    # other workloads alias would change them too).
    try:
        now = _tags(definitions.discover(root / "projects")[project.name])
    except definitions.DefinitionError as e:
        _write(path, original)
        raise ReleaseRefused(f"{path.relative_to(root)}: after the edit the definitions are not valid, so nothing changed:\n{e}") from None
    if now != _tags(project) | {(kind, workload): tag}:
        _write(path, original)
        raise ReleaseRefused(
            f"{path.relative_to(root)}: the edit would change other tags than {project.name}/{workload}'s (an alias of its tag?); "
            "nothing changed; write its tag out, or release to one stack with --stack"
        )
    return Release(project.name, workload, kind, ALL, path, old, tag, overriding)


def _tags(project: Project) -> dict[tuple[Kind, str], str]:
    return {("apps", a.name): a.tag for a in project.apps} | {("batches", b.name): b.tag for b in project.batches}


def _stack_projects(stack: str, root: Path) -> dict:
    return json.loads(config.read_stack_files(stack, root)[0].get(f"{PROJECT}:projects", "{}"))


def definition_tag(root: Path, project: str, kind: Kind, workload: str) -> tuple[Path, int, int, str]:
    """Where ``project``'s definition, projects/<project>.yaml, writes ``workload``'s tag: the file,
    the start and end of the scalar's text in it (by the YAML parser's positions, read as
    program/project_files.py reads a teammate's file), and its value."""
    path = root / "projects" / f"{project}.yaml"
    items = _value(project_files.read(path).root, kind)
    for item in items.value if isinstance(items, yaml.SequenceNode) else ():
        item_name, tag = _value(item, "name"), _value(item, "tag")
        if isinstance(item_name, yaml.ScalarNode) and item_name.value == workload and isinstance(tag, yaml.ScalarNode):
            return path, tag.start_mark.index, tag.end_mark.index, tag.value
    raise ReleaseRefused(
        f"{path.relative_to(root)} has no tag: line for {project}/{workload}; "
        "write it out under the app (tag: <commit>@sha256:<digest>), or release to one stack with --stack"
    )


def _read(path: Path) -> str:
    # newline="": a file's own line endings (CRLF on a Windows checkout) are kept, so a release
    # changes one line of it, not every one.
    with path.open(encoding="utf-8", newline="") as f:
        return f.read()


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(text)
