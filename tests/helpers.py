"""Small assertions the specs share."""

from __future__ import annotations

import runpy
from pathlib import Path

from shoestring import offline, plan_process
from program.config import ConfigError
from shoestring.offline import Plan, Record

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"


def only(plan: Plan, type_: str, name: str | None = None) -> Record:
    """The single resource of a type (and name) in a plan; fails if there is not exactly one."""
    found = [r for r in plan.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def run_rejected(stack: str, raw: dict[str, str]) -> tuple[Plan, list[ConfigError]]:
    """Run the whole program with ``raw`` config, keeping the ConfigError it stops with."""
    errors: list[ConfigError] = []

    def program() -> None:
        try:
            runpy.run_path(str(offline.ROOT / "__main__.py"), run_name="__main__")
        except ConfigError as e:
            errors.append(e)

    return offline.declare(program, stack=stack, config=raw), errors


def zonal_cluster(name: str = "lab", zone: str = "europe-west1-b", opts=None, control_plane=None, **args):
    """A ZonalCluster of project acme in its own ClusterNetwork, as the program declares it;
    ``args`` that are ClusterSettings fields become its settings."""
    from program.components import ClusterNetwork, ZonalCluster
    from program.components.cluster import ClusterSettings

    network = ClusterNetwork(name, {"project": "acme", "region": zone.rsplit("-", 1)[0]}, opts)
    settings = {key: args.pop(key) for key in list(args) if key in ClusterSettings.model_fields}
    settings = ClusterSettings(**settings, **({"control_plane": control_plane} if control_plane else {}))
    return ZonalCluster(name, {"project": "acme", "zone": zone, "network": network, "settings": settings, **args}, opts)


POOL_PLACEMENT = ("cluster", "project", "zone", "service_account", "quota")


def pool_args(settings_model, flat: dict) -> dict:
    """A pool's args as the program passes them, from one flat dict: where its nodes join
    (cluster, project, zone, service account, quota) and the rest as its settings model."""
    return {key: value for key, value in flat.items() if key in POOL_PLACEMENT} | {
        "settings": settings_model(**{key: value for key, value in flat.items() if key not in POOL_PLACEMENT})
    }


def plan_in_process(monkeypatch, change=lambda stack, plan: plan) -> None:
    """Let the commands run the program in the test's own process (where the test's monkeypatches
    hold) instead of the fresh child per stack they use, ``change`` applied to each stack's plan."""

    def plan_stacks(stacks, root=offline.ROOT, timeout=None):
        try:
            return {stack: change(stack, offline.run(stack)) for stack in stacks}
        except ConfigError as e:
            raise offline.PlanFailed(f"error: {e}") from None

    monkeypatch.setattr(plan_process, "plan_stacks", plan_stacks)


def documentation() -> str:
    """README.md and every page of docs/, as one text: what the project tells its users."""
    from shoestring.__main__ import documentation_pages

    return "\n".join(page.read_text() for page in documentation_pages())


def documentation_block(name: str) -> str:
    """What README or a docs/ page holds between `<!-- NAME:start -->` and `<!-- NAME:end -->`."""
    text = documentation()
    start = text.index(f"<!-- {name}:start -->\n") + len(f"<!-- {name}:start -->\n")
    return text[start : text.index(f"<!-- {name}:end -->", start)]


def copy_of_repository(tmp_path_factory, name: str) -> Path:
    """A copy of the repository to break on purpose (no virtualenvs, tools or git), as a teammate's
    checkout with their change in it."""
    import shutil

    copy = tmp_path_factory.mktemp(name) / "shoestring"
    shutil.copytree(offline.ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".tools", ".git", "__pycache__", ".pytest_cache", "node_modules"))
    return copy


def replaced(path: Path, old: str, new: str) -> str:
    """The file's text with ``old`` (which must be there) replaced once by ``new``."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    return text.replace(old, new, 1)
