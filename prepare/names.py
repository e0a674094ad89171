"""Competition names without building or loading anything: the built-in names, the data root
and the competitions found there. Standard library only, so that `import dojo_kernel` can
register a Gymnasium id per competition without importing pandas (see DESIGN.md, "Layout").
"""

from __future__ import annotations

import os
from pathlib import Path

MANIFEST_NAME = "competition.toml"

# The built-in competitions, in the order builtin.py defines them (builtin.py checks that
# the two agree when it is imported, and a test checks it too).
BUILTIN_NAMES: tuple[str, ...] = (
    "breast-cancer-diagnosis",
    "wine-cultivars",
    "iris-species",
    "penguin-species",
    "diabetes-progression",
    "doctor-visits",
    "digits-images",
    "co2-weekly-forecast",
    "sunspots-yearly-forecast",
)


def default_data_root() -> Path:
    """Where competitions are built and found: $DOJO_DATA, else a per-user cache folder."""
    configured = os.environ.get("DOJO_DATA")
    if configured:
        return Path(configured).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("dojo-kernel"))
    except ImportError:  # platformdirs is a dependency; the XDG rule is the fallback
        return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dojo-kernel"


def found_in(root: Path) -> dict[str, Path]:
    """The competition dirs directly under `root` (those holding a competition.toml), by name."""
    if not root.is_dir():
        return {}
    return {
        path.name: path
        for path in sorted(root.iterdir())
        if not path.name.startswith(".") and (path / MANIFEST_NAME).is_file()
    }


def known_names() -> list[str]:
    """The built-in names and the competitions under the data root, sorted (what
    `list_competitions()` lists, less the ones registered in this process)."""
    return sorted(set(BUILTIN_NAMES) | set(found_in(default_data_root())))
