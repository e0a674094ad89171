"""Where competitions live: the data root rule, in one place (standard library and platformdirs
only, so that the kernel side can name the data root to hide without importing pandas)."""

from __future__ import annotations

import os
from pathlib import Path


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
