"""A setting is declared once: in its settings model (program/components/*.py beside the
component, program/config/model.py for the stack's own, program/definitions.py for a project's),
with its type, default, bounds and description. A component receives it as set and never falls
back to a default of its own."""

from __future__ import annotations

import ast
from pathlib import Path

from program import definitions
from program.config.model import RESOLVED, StackConfig
from program.settings import nested

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = sorted((ROOT / "program" / "components").glob("*.py"))
NOTHING = (0, False, None, "", (), [], {})
"""What a component may fall back to for an optional input: its absence (no GPUs, no secrets)."""


def settings_fields() -> set[str]:
    fields = {name for _, model in nested(StackConfig) for name in model.model_fields}
    return fields | {name for model in (definitions.Project, definitions.App, definitions.Batch) for name in model.model_fields}


def defaults_repeated(paths: list[Path], fields: set[str]) -> list[str]:
    """Each ``x.get("<setting>", <default>)`` whose default is something rather than nothing."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and len(node.args) == 2
                and isinstance(node.args[0], ast.Constant) and node.args[0].value in fields
            ):
                try:
                    fallback = ast.literal_eval(node.args[1])
                except ValueError:
                    fallback = object()
                if fallback not in NOTHING:
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_component_repeats_a_settings_default():
    assert defaults_repeated(COMPONENTS, settings_fields()) == []


def test_a_component_falling_back_to_a_default_of_its_own_is_caught(tmp_path):
    pool = tmp_path / "gpu_pool.py"
    pool.write_text('ceiling = args.get("max_nodes", 1)\ngpus = args.get("gpus", 0)\n')
    assert defaults_repeated([pool], settings_fields()) == ["gpu_pool.py:1: args.get('max_nodes', 1)"]


def test_every_setting_says_what_it_is_for():
    undocumented = [f"{model.__name__}.{name}" for _, model in nested(StackConfig) for name, field in model.model_fields.items()
                    if name not in RESOLVED and not field.description]
    assert undocumented == []


class TestChangingASetting:
    """The reference's "Changing it" column, measured on each component as `make diff` measures a change."""

    def test_a_gpu_pools_accelerator_replaces_the_pool_its_machine_type_rolls_the_nodes_its_ceiling_is_in_place(self):
        from program.components.gpu_pool import GpuPoolSettings
        from shoestring.settings_reference import changing_it

        effects = changing_it(GpuPoolSettings)
        assert (effects["accelerator"], effects["spot"]) == ("replaces the NodePool", "replaces the NodePool")
        assert (effects["machine_type"], effects["disk_size_gb"]) == ("rolls every node", "rolls every node")
        assert (effects["max_nodes"], effects["keep_warm"]) == ("in place", "no cloud change")

    def test_turning_private_nodes_on_replaces_the_cluster(self):
        from program.components.cluster import ClusterSettings
        from shoestring.settings_reference import changing_it

        effects = changing_it(ClusterSettings)
        assert effects["private_nodes"] == "replaces the Cluster"
        assert effects["release_channel"] == "in place"
