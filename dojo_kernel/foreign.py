"""What a competition directory from MLE-bench or MLE-Dojo leaves unsaid, filled in from
the catalog, and where their leaderboards live.

MLE-bench prepares ``<data>/<id>/prepared/{public,private}`` with no manifest: the metric
is in its grader code, the sample submission keeps Kaggle's own name
(``sampleSubmission.csv``, ``sample_submission_null.csv``), the answers are
``private/test.csv`` or ``private/answers.csv``, and the leaderboard sits beside the
competition's ``grade.py`` in the mle-bench checkout
(``mlebench/competitions/<id>/leaderboard.csv``), not in the prepared folder. Nothing here
writes to the directory: it loads unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SAMPLE_NAME = "sample_submission.csv"
# Where a search for leaderboards looks besides what register(leaderboard=...) names:
# folders separated by os.pathsep (an mle-bench checkout, or folders of <name>/leaderboard.csv).
LEADERBOARD_PATH_VARIABLE = "DOJO_LEADERBOARD_PATH"


def catalog_settings(name: str) -> dict[str, Any]:
    """The settings the catalog knows for ``name`` (metric, its options, scored rows, and how
    MLE-bench's prepared folder differs); {} for a name outside the catalog."""
    from .prepare.catalog import (
        load_catalog,  # the catalog reads pandas: only when needed
    )

    entry = load_catalog().get(name)
    if entry is None:
        return {}
    settings: dict[str, Any] = {"metric": entry.metric, "title": entry.title, "category": entry.category,
                                "task": entry.task, "tags": list(entry.tags)}
    if entry.metric_kwargs:
        settings["metric_kwargs"] = dict(entry.metric_kwargs)
    if entry.scored_rows:
        settings["scored_rows"] = dict(entry.scored_rows)
    settings.update(dict(entry.mlebench))
    return settings


def find_sample(public_dir: Path) -> Path | None:
    """The sample submission: sample_submission.csv, else the one CSV whose name says
    sample or submission (Kaggle's sampleSubmission.csv, sample_submission_null.csv...)."""
    standard = public_dir / SAMPLE_NAME
    if standard.is_file():
        return standard
    found = sorted(
        p for p in public_dir.glob("*.csv")
        if p.is_file() and not p.is_symlink() and any(word in p.name.lower() for word in ("sample", "submission"))
    )
    return found[0] if len(found) == 1 else None


def find_leaderboard(name: str, where: str | os.PathLike[str] | None = None) -> Path | None:
    """A leaderboard CSV for ``name``: ``where`` itself when it is a file; else, under
    ``where`` and the folders of $DOJO_LEADERBOARD_PATH, the first of
    ``mlebench/competitions/<name>/leaderboard.csv`` (an mle-bench checkout),
    ``competitions/<name>/leaderboard.csv`` and ``<name>/leaderboard.csv``."""
    if where is not None and Path(where).is_file():
        return Path(where)
    roots = [Path(where)] if where is not None else []
    roots += [Path(p) for p in os.environ.get(LEADERBOARD_PATH_VARIABLE, "").split(os.pathsep) if p]
    for root in roots:
        for relative in (f"mlebench/competitions/{name}", f"competitions/{name}", name):
            candidate = root / relative / "leaderboard.csv"
            if candidate.is_file():
                return candidate
    return None
