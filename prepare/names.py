"""Competition names without building or loading anything: the built-in names, the data root
and the competitions found there. Standard library only, so that `import dojo_kernel` can
register a Gymnasium id per competition without importing pandas (see DESIGN.md, "Layout").
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

MANIFEST_NAME = "competition.toml"
# A competition name: one plain word, safe as a Gymnasium id and as a folder name
# (dojo_kernel.dir_checks.check_name applies it with its typed error).
NAME_PATTERN = re.compile(r"\w[\w.-]{0,127}")

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
    "flight-delays",
    "telco-churn",
    "phone-churn",
    "loan-default",
    "taxi-tips",
    "crash-deaths",
    "caravan-insurance",
    "tweet-source",
    "diamond-cut",
    "pet-species",
    "rodent-species",
    "movie-genres",
    "diamond-prices",
    "hotel-prices",
    "delivery-times",
    "developer-salaries",
    "wages-1988",
    "computer-prices",
    "race-times",
    "australia-doctor-visits",
    "german-doctor-visits",
    "births-daily-forecast",
    "electricity-demand-forecast",
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
    """The competition dirs directly under `root` (those holding a competition.toml), by folder
    name. One whose name cannot be a competition's (``iris copy``) is skipped with a warning:
    an odd folder must not break ``import dojo_kernel``, which registers every name found here."""
    try:
        paths = sorted(root.iterdir()) if root.is_dir() else []
    except OSError as exc:
        warnings.warn(f"dojo-kernel: cannot list the data root {root} ({exc}); its competitions are skipped",
                      stacklevel=2)
        return {}
    found = {}
    for path in paths:
        if path.name.startswith(".") or not (path / MANIFEST_NAME).is_file():
            continue
        if not NAME_PATTERN.fullmatch(path.name):
            warnings.warn(f"dojo-kernel: skipped {path} (rename the folder to use it): expected a competition "
                          f"name of letters, digits, '_', '.' and '-' (starting with a letter or digit) for {path}, "
                          f"got {path.name!r}", stacklevel=2)
            continue
        found[path.name] = path
    return found


def known_names() -> list[str]:
    """The built-in names and the competitions under the data root, sorted (what
    `list_competitions()` lists, less the ones registered in this process)."""
    return sorted(set(BUILTIN_NAMES) | set(found_in(default_data_root())))
