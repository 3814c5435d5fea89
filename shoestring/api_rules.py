"""The rule that the stack enables each Google API its GCP resources are created through, and
that each waits for it (the map of type to API is the program's: program/apis.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from program.apis import SERVICE, needed_by, used_by
from shoestring.security import Violation


def violations(records: Iterable[Any]) -> list[Violation]:
    """Each GCP resource has the APIs it is created through enabled by the stack, and depends on
    them; those its users call (iamcredentials for a Workload Identity binding) enabled; no API
    is enabled that nothing declared uses. (A resource with no ``project`` input — an IAM binding
    on a service account, a budget through its own provider — is matched on the API alone.)"""
    records = list(records)
    services = [r for r in records if r.type == SERVICE]
    used: set[str] = set()
    found = []
    for record in records:
        try:
            needed = needed_by(record.type, record.inputs)
        except KeyError as e:
            found.append(Violation("apis-enabled-before-use", f"{record.type} {record.name}", str(e.args[0])))
            continue
        project = record.inputs.get("project")
        for api in sorted(needed | used_by(record.type, record.inputs)):
            enabling = [s for s in services if s.inputs.get("service") == api and project in (None, s.inputs.get("project"))]
            used.update(s.urn for s in enabling)
            if not enabling:
                found.append(Violation("apis-enabled-before-use", f"{record.type} {record.name}", f"needs {api} on in project {project}, and the stack does not enable it"))
            elif api in needed and not {s.urn for s in enabling} & set(record.dependencies):
                # The dependencies the SDK sent: the engine waits for nothing else (program/apis.py).
                found.append(Violation("apis-enabled-before-use", f"{record.type} {record.name}", f"does not wait for {api} to be enabled (depends_on {enabling[0].name})"))
    found += [
        Violation("apis-enabled-before-use", f"{SERVICE} {s.name}", f"enables {s.inputs.get('service')}, which nothing the stack declares needs; drop it")
        for s in services
        if s.urn not in used
    ]
    return found
