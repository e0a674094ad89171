"""Shared helpers for writing a competition directory (built-in or downloaded).

A competition directory looks like this (DESIGN.md, "Directories and files"):

    <name>/competition.toml        the manifest (see MANIFEST_KEYS)
    <name>/public/                 description.md, sample_submission.csv, data files
    <name>/private/                test_answer.csv, public_leaderboard.csv, private_leaderboard.csv

Everything is written into a temporary sibling folder first and moved into place with one
rename, so a crash while building never leaves a half-written competition behind.

This module depends on numpy, pandas and tomli-w only: ``prepare/`` must not import the
rest of dojo_kernel.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from .names import MANIFEST_NAME, default_data_root  # noqa: F401  (their home is names.py)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ANSWERS_NAME = "test_answer.csv"
SAMPLE_SUBMISSION_NAME = "sample_submission.csv"
DESCRIPTION_NAME = "description.md"
USAGE_COLUMN = "Usage"
PUBLIC_FRACTION = 0.3
CATEGORIES = ("tabular", "image", "text", "time-series")

# The keys competition.toml understands. Required ones first; the rest have defaults
# (resolved by dojo_kernel.competition when the directory is loaded).
REQUIRED_KEYS = ("name", "metric", "id_column", "target_columns")
MANIFEST_KEYS = REQUIRED_KEYS + (
    "title",
    "higher_is_better",  # optional: defaults to the metric's direction
    "category",  # tabular | image | text | time-series
    "task",  # binary | multiclass | regression | count-regression | forecast | ...
    "level",  # starter | easy | medium | hard
    "submission_file",  # default "submission.csv"
    "answers_file",  # default: test_answer.csv, else answers.csv
    "tags",
    "custom_metric",  # "module:function", optional; runs code, so loaded only with trust_code=True
    "metric_kind",  # for a custom metric: label | probability | continuous | ranking
    "metric_kwargs",  # table of keyword arguments for the metric, e.g. {k = 5}
    "split",  # table: public_fraction (0.3), usage_column ("Usage")
    "leaderboard",  # table: kind = "kaggle" | "reference-ladder", plus free-form notes
    "source",  # free-form table: where the data came from, licence, citation
    "scored_rows",  # table: column + equals | not_equals | in | not_in; rows that count (ventilator u_out == 0)
    "labels",  # table: target column -> every label of the competition (train and test)
    "unscored_columns",  # columns a submission must have that the metric does not score
)


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest`` as competition.toml at ``path`` (a file or its directory).

    None values are dropped (TOML has no null); unknown keys are refused so that a typo
    does not silently become a setting nobody reads.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    unknown = sorted(set(manifest) - set(MANIFEST_KEYS))
    if unknown:
        raise ValueError(
            f"expected only the keys {', '.join(MANIFEST_KEYS)} in competition.toml, "
            f"got {', '.join(unknown)}. Put extra facts under the [source] table."
        )
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise ValueError(f"expected competition.toml to have {', '.join(missing)}, got none")
    clean = {key: value for key, value in manifest.items() if value is not None}
    clean["target_columns"] = list(clean["target_columns"])
    path.write_text(tomli_w.dumps(clean), encoding="utf-8")
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    """Read competition.toml (``path`` may be the file or the competition directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    with path.open("rb") as handle:
        return tomllib.load(handle)


def seeded_split(
    n_rows: int, test_fraction: float, seed: int, stratify: Sequence[Any] | pd.Series | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test), each part in a seeded random order; stratified when asked.

    Stratifying keeps every class in both parts in about its overall share, which matters
    for the small built-in datasets where a rare class could vanish from the test part.
    The parts are shuffled, not sorted: many sources are ordered by their target (iris by
    species, doctor visits by count), and a file written in source order would let a row's
    position in test.csv give its answer away.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"expected test_fraction between 0 and 1, got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        order = rng.permutation(n_rows)
        n_test = int(round(n_rows * test_fraction))
        return order[n_test:], order[:n_test]
    labels = pd.Series(list(stratify))
    test: list[int] = []
    for _, group in labels.groupby(labels, sort=True):
        members = rng.permutation(group.index.to_numpy())
        test.extend(members[: int(round(len(members) * test_fraction))])
    test_idx = rng.permutation(np.asarray(test, dtype=int))
    train_idx = rng.permutation(np.setdiff1d(np.arange(n_rows), test_idx))
    return train_idx, test_idx


def horizon_split(n_rows: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Train on everything before the last ``horizon`` rows, test on those rows."""
    if not 0 < horizon < n_rows:
        raise ValueError(f"expected a horizon between 1 and {n_rows - 1}, got {horizon!r}")
    return np.arange(n_rows - horizon), np.arange(n_rows - horizon, n_rows)


def assign_usage(n_rows: int, seed: int, public_fraction: float = PUBLIC_FRACTION) -> np.ndarray:
    """A ``Usage`` column ("Public"/"Private") for the answers, as Kaggle's solution files have.

    Exactly round(n * public_fraction) rows are public (at least one, and at least one
    private), chosen with a fixed seed, so both leaderboards are never empty.
    """
    rng = np.random.default_rng(seed)
    n_public = min(max(1, int(round(n_rows * public_fraction))), n_rows - 1)
    usage = np.full(n_rows, "Private", dtype=object)
    usage[rng.permutation(n_rows)[:n_public]] = "Public"
    return usage


def sample_submission(ids: Sequence[Any] | pd.Series, id_column: str, targets: Mapping[str, Any]) -> pd.DataFrame:
    """A sample submission: the test ids and a constant (or per-row) value per target."""
    frame = pd.DataFrame({id_column: list(ids)})
    # one concat, not a column at a time: a submission may have hundreds of target columns
    filled = pd.DataFrame({column: value for column, value in targets.items()}, index=frame.index)
    return pd.concat([frame, filled], axis=1)


def leaderboard_frame(
    scores: Sequence[float], higher_is_better: bool, teams: Sequence[str] | None = None
) -> pd.DataFrame:
    """Leaderboard rows best first with columns rank, score (and team, when given).

    Ranks are 1..n in order, as Kaggle's downloaded leaderboards number them.
    """
    frame = pd.DataFrame({"score": np.asarray(scores, dtype=float)})
    if teams is not None:
        frame["team"] = list(teams)
    frame = frame.sort_values("score", ascending=not higher_is_better, kind="mergesort")
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame.reset_index(drop=True)


@contextlib.contextmanager
def building(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory to build a competition in; move it to ``target`` on success.

    On an exception the temporary directory is removed and ``target`` is left untouched.
    Two processes building the same competition at once both succeed: the loser of the
    final rename discards its copy. With ``overwrite``, an existing ``target`` is first
    moved aside (see :func:`retire`), never deleted in place.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / "public").mkdir()
        (staging / "private").mkdir()
        yield staging
        if overwrite:
            retire(target)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.exists():
                raise
            shutil.rmtree(staging)  # another process finished first; keep its copy
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def retire(target: Path) -> None:
    """Move a competition directory aside and delete it.

    Renaming first means the path never holds a half-deleted directory: another process
    sees the old copy, then none, then the new one, and files it already opened stay
    readable until it closes them.
    """
    target = Path(target)
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    try:
        os.rename(target, trash / target.name)
    except FileNotFoundError:
        pass  # gone already (another process retired it): nothing to do
    shutil.rmtree(trash, ignore_errors=True)


def write_competition(
    target: Path,
    *,
    manifest: Mapping[str, Any],
    description: str,
    answers: pd.DataFrame,
    sample: pd.DataFrame,
    public_files: Mapping[str, pd.DataFrame | bytes | str | Path] | None = None,
    leaderboards: Mapping[str, pd.DataFrame] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a whole competition directory atomically and return its path.

    ``public_files`` maps a relative path under public/ to a DataFrame (written as CSV
    without the index), bytes, text, or an existing file or folder to copy.
    ``leaderboards`` maps "public"/"private" to a frame from :func:`leaderboard_frame`.
    """
    with building(target, overwrite=overwrite) as root:
        write_manifest(root / MANIFEST_NAME, manifest)
        (root / "public" / DESCRIPTION_NAME).write_text(description, encoding="utf-8")
        sample.to_csv(root / "public" / SAMPLE_SUBMISSION_NAME, index=False)
        answers_name = manifest.get("answers_file", ANSWERS_NAME)
        answers.to_csv(root / "private" / answers_name, index=False)
        for relative, content in (public_files or {}).items():
            write_file(root / "public" / relative, content)
        for split, board in (leaderboards or {}).items():
            board.to_csv(root / "private" / f"{split}_leaderboard.csv", index=False)
    return Path(target)


def write_file(path: Path, content: pd.DataFrame | bytes | str | Path) -> None:
    """Write one public file: a frame as CSV, bytes, text, or a copy of a file or folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, Path):
        if content.is_dir():
            shutil.copytree(content, path)
        else:
            shutil.copy2(content, path)
    else:
        path.write_text(content, encoding="utf-8")
