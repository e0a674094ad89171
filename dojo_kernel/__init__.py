"""dojo-kernel: Kaggle-style ML competitions as a Gymnasium environment, one persistent
Jupyter kernel per episode."""

from __future__ import annotations

import importlib
import sys

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
    "replay": "replay",
    "DojoEnv": "env",
    "make": "env",
    "ForkError": "errors",
    "register_action": "extensions",
    "register_info": "extensions",
    "register_reward": "extensions",
    "register_feedback": "extensions",
    "ActionResult": "extensions",
    "EpisodeContext": "extensions",
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

    # pyright binds `competition` to the submodule imported just above (a package __init__ rule); it is the argument
    registered = register_competition(competition, name=name, **settings)  # pyright: ignore[reportArgumentType]
    register_envs()
    return registered


def _competition_names() -> list[str]:
    """The names `list_competitions()` gives, read without importing the competition module
    (it brings pandas): built-in names, the data root's dirs, and any registered this run."""
    from .prepare.names import known_names

    names = set(known_names())
    competition = sys.modules.get(f"{__name__}.competition")
    if competition is not None:  # register() has run: its names count too
        names |= set(competition.registered_names())
    return sorted(names)


def register_envs() -> list[str]:
    """Register `dojo/<competition>-v0` with Gymnasium for every competition known now, and
    return the ids. `import dojo_kernel` calls it; call it again after registering more
    competitions. Nothing is built or loaded here: Gymnasium resolves the entry point at
    `make`, and a built-in competition is built when its first env is made."""
    import warnings

    import gymnasium

    ids = []
    for name in _competition_names():
        env_id = f"dojo/{name}-v0"
        if env_id not in gymnasium.registry:
            try:
                # nondeterministic: kernels, timings and models are not bit-for-bit repeatable
                gymnasium.register(env_id, entry_point="dojo_kernel.env:DojoEnv", kwargs={"competition": name},
                                   nondeterministic=True)
            except gymnasium.error.Error as exc:  # one odd name must not break `import dojo_kernel`
                warnings.warn(f"dojo-kernel: no Gymnasium id for the competition {name!r}: {exc}", stacklevel=2)
                continue
        ids.append(env_id)
    return ids


# `gymnasium.make("dojo/<competition>-v0")` works after `import dojo_kernel`.
register_envs()
