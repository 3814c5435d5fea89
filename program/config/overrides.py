"""What a stack's per-project values may override: only what the definition has. A stack names its
own secret ids for the definition's secret names; a name the definition does not have is a typo or
a way around the definition's review (the project's identity would be granted that secret too), and
a name it leaves out is a secret the app reads and would not find."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from program.config.model import StackConfig
from program.definitions import Project


def override_problems(cfg: StackConfig, defined: Mapping[str, Project]) -> list[tuple[str, Any, str]]:
    problems: list[tuple[str, Any, str]] = []
    for name, settings in cfg.projects.items():
        project = defined.get(name)
        if project is None:
            continue  # resolve_projects names the unknown project
        apps = {app.name: app for app in project.apps}
        for app_name, override in settings.apps.items():
            app = apps.get(app_name)
            if app is None:
                continue
            key = f"projects.{name}.apps.{app_name}"
            if override.secrets is not None and set(override.secrets) != set(app.secrets):
                added, missing = sorted(set(override.secrets) - set(app.secrets)), sorted(set(app.secrets) - set(override.secrets))
                said = "; ".join(part for part in (
                    f"adds {added}, which the definition does not have" if added else "",
                    f"leaves out {missing}, which the app reads" if missing else "",
                ) if part)
                problems.append((
                    f"{key}.secrets", sorted(override.secrets),
                    f"{said}: a stack gives its own secret id for each of the definition's names ({sorted(app.secrets) or 'none'}) "
                    f"and no others; add a secret to the app in projects/{name}.py",
                ))
    return problems
