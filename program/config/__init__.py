"""The stack's configuration, typed and validated: the one place bad input is caught.

Pulumi hands a program its stack config as flat ``namespace:key`` strings (structured values as
JSON). :func:`load` turns them into a frozen :class:`StackConfig` or raises ONE
:class:`ConfigError` that names every bad key, the value it had and how to fix it — before the
program declares a single resource.

One module a job: the model (model.py, composing the components' settings), reading the stack
files (stack_files.py), loading and resolving (loading.py, projects.py), the checks against the
catalog (catalog_checks.py) and on public hosts (entry_rules.py), the program's notices
(notices.py) and the wording of errors (errors.py).
"""

from program.config.catalog_checks import quota_request
from program.config.entry_rules import public_routes
from program.config.errors import ConfigError, StackFileError
from program.config.loading import SECRET_VALUES, TUNNEL_CREDENTIALS, from_pulumi, load, sdk_config
from program.config.model import PROJECT, ProjectInstance, StackConfig
from program.config.stack_files import host_stack_of, read_stack_files, stack_names

__all__ = [
    "PROJECT",
    "SECRET_VALUES",
    "TUNNEL_CREDENTIALS",
    "ConfigError",
    "ProjectInstance",
    "StackConfig",
    "StackFileError",
    "from_pulumi",
    "host_stack_of",
    "load",
    "public_routes",
    "quota_request",
    "read_stack_files",
    "sdk_config",
    "stack_names",
]
