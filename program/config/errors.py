"""One error for every bad key: its name, the value it had and the fix, worded for the person
who wrote the stack file."""

from __future__ import annotations

import difflib

import pulumi
from pydantic.alias_generators import to_camel

from program.config.model import PROJECT, TOP_LEVEL, StackConfig
from program.settings import model_at


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the message lists each problem with its key, value and fix.

    A RunError, so `pulumi preview` prints the message alone, without a traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(
            f"stack configuration has {len(problems)} {noun}:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def describe(err: dict) -> str:
    location = [str(part) for part in err["loc"]]
    key = f"{PROJECT}:" + ".".join(location)
    if err["type"] == "extra_forbidden":
        known = known_fields(location[:-1])
        return f"{key} is not a known setting{did_you_mean(location[-1], known)}"
    if err["type"] == "missing":
        return f"{key} is required"
    message = err["msg"].removeprefix("Value error, ")
    fix = STRICT_FIXES.get(err["type"])
    return f"{key} = {err['input']!r}: {message}{'; ' + fix if fix else ''}"


STRICT_FIXES = {
    "int_type": "write a whole number, without quotes (e.g. 2)",
    "float_type": "write a number, without quotes (e.g. 1.5)",
    "bool_type": "write true or false, without quotes",
    "string_type": "write it as text, in quotes",
}
"""The fix for a value of the wrong type, which strict validation no longer coerces (`replicas: true`)."""


def known_fields(parent: list[str]) -> set[str]:
    if not parent:
        return TOP_LEVEL
    model = model_at(StackConfig, parent)
    return set() if model is None else {to_camel(name) for name in model.model_fields}


def did_you_mean(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else "."
    return f"{hint} Known settings: {', '.join(sorted(known))}"


class StackFileError(ConfigError):
    """A stack file that is not a Pulumi stack config: not YAML, empty, or a key given twice."""
