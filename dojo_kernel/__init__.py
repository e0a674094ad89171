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
    "TrajectoryRecorder": "trajectory",
    "replay": "trajectory",
    "DojoEnv": "env",
    "make": "env",
    "ForkError": "errors",
}

__all__ = sorted(_LAZY) + ["__version__", "register", "register_envs"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dojo_kernel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def register(competition, *, name: str | None = None, **settings):
    """Register a competition (a `Competition`, or a competition directory loaded with
    `settings` such as metric=...) and its Gymnasium id `dojo/<name>-v0`; return it."""
    from .competition import register as register_competition

    registered = register_competition(competition, name=name, **settings)
    register_envs()
    return registered


def register_envs() -> list[str]:
    """Register `dojo/<competition>-v0` with Gymnasium for every competition known now, and
    return the ids. `import dojo_kernel` calls it; call it again after registering more
    competitions. Nothing is built here: a built-in competition is built when its first env is made."""
    import gymnasium

    from .competition import list_competitions

    ids = []
    for name in list_competitions():
        env_id = f"dojo/{name}-v0"
        if env_id not in gymnasium.registry:
            # nondeterministic: kernels, timings and models are not bit-for-bit repeatable
            gymnasium.register(env_id, entry_point="dojo_kernel.env:DojoEnv", kwargs={"competition": name},
                               nondeterministic=True)
        ids.append(env_id)
    return ids


# `gymnasium.make("dojo/<competition>-v0")` works after `import dojo_kernel`.
register_envs()
