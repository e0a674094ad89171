"""The baseline agent's cells: real Python files, read as package resources.

Each file is one notebook cell the baseline runs in the episode's kernel. A cell that needs
episode values (the metric, the target columns, ...) starts with a parameter block:

    # -- parameters: ...
    METRIC_NAME = "accuracy"
    # -- end of parameters --

and :func:`cell` rewrites each ``NAME = default`` line of that block as ``NAME = repr(value)``.
The files stay valid Python, so linters and tests read them as they are.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

_BLOCK = re.compile(r"^# -- parameters:.*?\n(?P<body>.*?)^# -- end of parameters --\n", re.MULTILINE | re.DOTALL)
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*) = .*$", re.MULTILINE)


def names() -> list[str]:
    """The cells this package holds (file names without .py)."""
    return sorted(
        entry.name[:-3]
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(".py") and not entry.name.startswith("_")
    )


def parameters(name: str) -> dict[str, str]:
    """The parameter names of cell ``name`` and the source text of their defaults."""
    block = _BLOCK.search(source(name))
    if block is None:
        return {}
    return {m["name"]: m.group(0).split(" = ", 1)[1] for m in _ASSIGNMENT.finditer(block["body"])}


def source(name: str) -> str:
    """The text of cell ``name`` as stored."""
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")


def cell(name: str, **values: Any) -> str:
    """Cell ``name`` with its parameters set to ``values`` (Python literals, written with repr).

    Every parameter must be given and no other: a mismatch is a bug in the agent, caught here
    rather than as a NameError in the kernel.
    """
    text = source(name)
    block = _BLOCK.search(text)
    expected = set(parameters(name))
    if set(values) != expected:
        raise ValueError(
            f"expected the parameters {sorted(expected)} for the baseline cell {name!r}, got {sorted(values)}"
        )
    if block is None:
        return text

    def assign(match: re.Match[str]) -> str:
        return f"{match['name']} = {values[match['name']]!r}"

    body = _ASSIGNMENT.sub(assign, block["body"])
    return text[: block.start("body")] + body + text[block.end("body") :]
