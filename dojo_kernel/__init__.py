"""dojo-kernel: Kaggle-style ML competitions as a Gymnasium environment, one persistent
Jupyter kernel per episode."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public names, imported on first use so that `import dojo_kernel` stays fast.
_LAZY = {
    "KernelSession": "kernel",
    "CellResult": "kernel",
    "Limits": "limits",
    "Grade": "grading",
    "Competition": "competition",
    "get_competition": "competition",
    "list_competitions": "competition",
    "register": "competition",
    "TrajectoryRecorder": "trajectory",
    "replay": "trajectory",
    "DojoEnv": "env",
    "make": "env",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dojo_kernel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
