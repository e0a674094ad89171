"""Competitions: loading a competition directory, the registry, and grading against it.

Three directory layouts load unchanged:

    <name>/competition.toml + public/ + private/          ours (prepare.common writes it)
    <name>/data/public/ + <name>/data/private/            MLE-Dojo's preparation
    <name>/prepared/public/ + <name>/prepared/private/    MLE-bench's preparation

A ``competition.toml`` at ``<name>/`` is read in every layout; where there is none (MLE-Dojo,
MLE-bench), the metric must be passed to :func:`load_competition_dir` and the id and target
columns default to the sample submission's first column and the rest.

Where competitions come from, in the order :func:`get_competition` looks:
1. ones registered at run time with :func:`register`;
2. directories with a competition.toml under the data root (``$DOJO_DATA``, default a
   per-user cache folder, see :func:`data_root`);
3. the built-in ones (``dojo_kernel.prepare.builtin``), built into the data root on first use.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import dir_checks
from .answers import read_answers, read_leaderboard, scored_mask
from .errors import CompetitionFormatError, CompetitionNotFound, PrepareError
from .foreign import catalog_settings, find_leaderboard, find_sample
from .grading import SPLITS, AnswerKeys, Grade, grade_submission, public_mask, submission_size_cap
from .metrics import Metric, UnknownMetric, get_metric
from .prepare.common import (
    ANSWERS_NAME,
    MANIFEST_NAME,
    PUBLIC_FRACTION,
    USAGE_COLUMN,
    default_data_root,
    read_manifest,
)
from .prepare.names import BUILTIN_NAMES, found_in, known_names
from .standing import leaderboard_standing

ANSWER_FILE_CANDIDATES = ("test_answer.csv", "answers.csv", "solution.csv", "test_labels.csv", "test.csv")
DESCRIPTION_CANDIDATES = ("description.md", "description.txt")
LAYOUTS = {"dojo": ".", "mle-dojo": "data", "mle-bench": "prepared"}
ROW_ID = "row"  # the id of a competition without one (rows line up by position): 0, 1, 2...


@dataclass(eq=False)
class Competition:
    """One competition: its settings, its files, and grading against its private answers."""

    name: str
    root: Path
    public_dir: Path
    private_dir: Path
    metric: str  # the metric's name (a registered one, or the custom metric's "module:function")
    higher_is_better: bool
    id_column: str
    target_columns: list[str]
    title: str = ""
    category: str = "tabular"  # tabular | image | text | time-series
    task: str = ""  # binary | multiclass | regression | count-regression | forecast | ...
    level: str = ""
    submission_file: str = "submission.csv"
    tags: list[str] = field(default_factory=list)
    answers_file: str = ANSWERS_NAME
    metric_kwargs: dict[str, Any] = field(default_factory=dict)
    public_fraction: float = PUBLIC_FRACTION
    usage_column: str = USAGE_COLUMN
    leaderboard_kind: str = "kaggle"  # "kaggle" (real teams) | "reference-ladder" (our reference solutions)
    layout: str = "dojo"
    source: dict[str, Any] = field(default_factory=dict)
    scored_rows: dict[str, Any] = field(default_factory=dict)  # which answer rows count (see answers.scored_mask)
    labels: dict[str, list[Any]] = field(default_factory=dict)  # target -> the whole label set (train and test)
    sample_file: Path | None = None  # MLE-bench's sample, under Kaggle's own name (or in private/)
    row_order: bool = False  # no id column: submission rows line up with the answers by position
    leaderboard_file: Path | None = None  # one board for both splits (MLE-bench's, found outside the folder)
    unscored_columns: list[str] = field(default_factory=list)  # required in a submission, not scored
    # Registered actions and info types this competition's envs offer: names only, resolved
    # against dojo_kernel's registries at make (a competition dir never brings code).
    extra_actions: list[str] = field(default_factory=list)
    extra_info: list[str] = field(default_factory=list)
    metric_fn: Metric | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.metric_fn is None:
            self.metric_fn = resolve_metric(self.metric, self.metric_kwargs, higher_is_better=self.higher_is_better)
        if len(self.target_columns) > 1 and not self.metric_fn.multi_target:
            if ":" not in self.metric:
                raise CompetitionFormatError(
                    f"expected one target column for the single-column metric {self.metric!r} in {self.root}, got "
                    f"{len(self.target_columns)} ({', '.join(self.target_columns)}). Use a column-wise metric such as "
                    "mean_columnwise_rmse, or a custom metric."
                )
            # a custom metric over several columns gets the whole frames
            self.metric_fn = dataclasses.replace(self.metric_fn, multi_target=True)
        if self.metric_fn.higher_is_better != self.higher_is_better:
            raise CompetitionFormatError(
                f"expected higher_is_better = {str(self.metric_fn.higher_is_better).lower()} for metric "
                f"{self.metric!r} in {self.root}, got {str(self.higher_is_better).lower()}. The direction comes "
                "from the metric; drop higher_is_better from competition.toml or register a custom metric."
            )

    # ------------------------------------------------------------ files

    @property
    def answers_path(self) -> Path:
        return self.private_dir / self.answers_file

    @property
    def sample_submission_path(self) -> Path:
        return self.sample_file or self.public_dir / "sample_submission.csv"

    @property
    def description(self) -> str:
        """The competition's description text ('' where it has none)."""
        for name in DESCRIPTION_CANDIDATES:
            path = self.public_dir / name
            if path.is_file():
                return path.read_text(encoding="utf-8", errors="replace")
        return ""

    @functools.cached_property
    def answers(self) -> pd.DataFrame:
        """The private answers: ids and text targets read as written ('007' keeps its zeros,
        'None' stays a word)."""
        try:
            assert self.metric_fn is not None  # __post_init__ always sets it
            answers = read_answers(
                self.answers_path, id_column=self.id_column, metric=self.metric_fn, target_columns=self.target_columns
            )
            if self.row_order:
                answers.insert(0, self.id_column, [str(i) for i in range(len(answers))])
            return answers
        except (OSError, ValueError) as exc:
            raise CompetitionFormatError(f"expected readable answers at {self.answers_path}, got: {exc}") from exc

    @functools.cached_property
    def _answer_keys(self) -> AnswerKeys:
        return AnswerKeys(self.answers[self.id_column])

    @functools.cached_property
    def scored(self) -> np.ndarray:
        """Which answer rows count towards the score (``scored_rows``, Usage = Ignored)."""
        try:
            return scored_mask(self.answers, self.scored_rows, usage_column=self.usage_column)
        except ValueError as exc:
            raise CompetitionFormatError(f"expected a valid scored_rows for {self.name}: {exc}") from None

    @functools.cached_property
    def label_set(self) -> dict[str, list[Any]]:
        """Per label column, every label the competition uses: competition.toml's ``labels``,
        else the labels of the public training table beside the test answers' own."""
        if self.metric_fn is None or self.metric_fn.kind != "label":
            return {}
        if self.labels:
            return {column: list(values) for column, values in self.labels.items()}
        found: dict[str, list[Any]] = {}
        train = self.public_dir / "train.csv"
        if train.is_file():
            try:
                header = list(pd.read_csv(train, nrows=0).columns)
                wanted = [c for c in self.target_columns if c in header]
                if wanted:
                    table = pd.read_csv(train, usecols=wanted, dtype=str, keep_default_na=False)
                    found = {c: sorted(set(table[c].str.strip()) - {""}) for c in wanted}
            except (OSError, ValueError, pd.errors.ParserError):
                return {}
        return found

    @functools.cached_property
    def public_rows(self) -> np.ndarray:
        """Which answer rows form the public part (Usage column, else a fixed hash of the id)."""
        return public_mask(
            self.answers, id_column=self.id_column, usage_column=self.usage_column, public_fraction=self.public_fraction
        )

    def leaderboard(self, split: str = "private") -> pd.DataFrame | None:
        """The leaderboard of ``split`` ("public" or "private"; "full" uses the private one),
        columns rank, score (best first); None where the competition has none."""
        board_split = "private" if split == "full" else split
        path = self.leaderboard_file or self.private_dir / f"{board_split}_leaderboard.csv"
        if not path.is_file():
            return None
        try:
            return read_leaderboard(path)
        except ValueError as exc:
            raise CompetitionFormatError(str(exc)) from None

    # ------------------------------------------------------------ grading

    def grade(
        self,
        submission_path: str | os.PathLike[str],
        split: str = "private",
        *,
        allowed_dir: str | os.PathLike[str] | None = None,
    ) -> Grade:
        """Grade a submission file on ``split`` ("public", "private" or "full").

        Never raises for the submission's faults: an invalid one gives ``Grade(valid=False,
        error=...)``. With ``allowed_dir``, the file must be a regular file inside it.
        """
        if split not in SPLITS:
            raise ValueError(f"expected split to be one of {', '.join(SPLITS)}, got {split!r}")
        grade = grade_submission(
            submission_path,
            answers=self.answers,
            id_column=self.id_column,
            target_columns=self.target_columns,
            metric=self.metric_fn,  # type: ignore[arg-type]
            split=split,
            leaderboard=self.leaderboard(split),
            allowed_dir=allowed_dir,
            max_bytes=submission_size_cap(self.answers_path),
            usage_column=self.usage_column,
            public_fraction=self.public_fraction,
            answer_keys=self._answer_keys,
            public_rows=self.public_rows,
            scored_rows=self.scored,
            labels=self.label_set,
            row_order=self.row_order,
            unscored_columns=self.unscored_columns,
        )
        grade.metric = self.metric
        grade.details["leaderboard_kind"] = self.leaderboard_kind
        if split == "full" and grade.valid and grade.score is not None:
            # MLE-Dojo places a full-test score on both boards and averages the two positions.
            positions = {}
            for board_split in ("public", "private"):
                board = self.leaderboard(board_split)
                if board is not None and board["score"].notna().any():
                    positions[board_split] = leaderboard_standing(
                        grade.score, board["score"].to_numpy(), self.higher_is_better
                    ).position
            grade.details["positions"] = positions
        return grade

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able values (no answers, no description text)."""
        return {
            "name": self.name,
            "title": self.title,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "metric_kind": self.metric_fn.kind if self.metric_fn else None,
            "id_column": self.id_column,
            "target_columns": list(self.target_columns),
            "category": self.category,
            "task": self.task,
            "level": self.level,
            "submission_file": self.submission_file,
            "tags": list(self.tags),
            "metric_kwargs": dict(self.metric_kwargs),
            "leaderboard_kind": self.leaderboard_kind,
            "layout": self.layout,
            "root": str(self.root),
            "public_dir": str(self.public_dir),
            "private_dir": str(self.private_dir),
            "sample_submission_path": str(self.sample_submission_path),
            "source": dict(self.source),  # built-ins name their training file and label column here
        }

    @property
    def is_built(self) -> bool:
        return self.answers_path.is_file() and self.sample_submission_path.is_file()


# ---------------------------------------------------------------- metrics


def resolve_metric(
    name: str, kwargs: Mapping[str, Any] | None = None, *, higher_is_better: bool | None = None, kind: str | None = None
) -> Metric:
    """A registered metric by name, or a custom one given as "module:function".

    A custom function is called as ``fn(answers, predictions, **kwargs) -> float`` on aligned
    data like every metric; it needs ``higher_is_better`` (and ``kind``, default "continuous").
    """
    kwargs = dict(kwargs or {})
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as exc:  # ValueError: an empty module name
            raise CompetitionFormatError(
                f"expected custom_metric as an importable 'module:function', got {name!r} ({exc})"
            ) from exc
        if higher_is_better is None:
            raise CompetitionFormatError(
                f"expected higher_is_better for the custom metric {name!r}, got none. Add it to competition.toml."
            )
        return Metric(name, function, higher_is_better, kind or "continuous", kwargs=kwargs)  # type: ignore[arg-type]
    try:
        return get_metric(name, **kwargs)
    except UnknownMetric as exc:
        raise CompetitionFormatError(str(exc)) from None


# ---------------------------------------------------------------- loading a directory


def detect_layout(path: Path) -> tuple[str, Path]:
    """(layout name, folder holding public/ and private/) of a competition directory."""
    for layout, sub in LAYOUTS.items():
        base = (path / sub).resolve() if sub != "." else path.resolve()
        if (base / "public").is_dir() and (base / "private").is_dir():
            return layout, base
    raise CompetitionFormatError(
        f"expected a competition directory with public/ and private/ (or data/public|private from MLE-Dojo, "
        f"or prepared/public|private from MLE-bench), got {path}"
    )


def load_competition_dir(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    metric: str | None = None,
    higher_is_better: bool | None = None,
    id_column: str | None = None,
    target_columns: Sequence[str] | None = None,
    answers_file: str | None = None,
    metric_kwargs: Mapping[str, Any] | None = None,
    trust_code: bool = False,
    leaderboard: str | os.PathLike[str] | None = None,
    **settings: Any,
) -> Competition:
    """Load a competition directory of any of the three layouts without changing it.

    Keyword arguments fill in what the directory does not say (and override competition.toml).
    MLE-Dojo and MLE-bench directories have no manifest: for a competition of the catalog
    (named by the folder) the metric, its options and the scored rows come from there;
    otherwise ``metric`` is needed. ``leaderboard`` is a leaderboard CSV or a folder to find
    ``<name>``'s in (an mle-bench checkout; $DOJO_LEADERBOARD_PATH is searched too).
    Other ``settings`` are Competition fields (title, category, task, level, tags, ...).

    The directory is untrusted (see :mod:`dojo_kernel.dir_checks`): a custom metric it names
    as "module:function" is refused unless ``trust_code`` is true (a ``metric`` passed here is
    the caller's own and always allowed), and its name and answers file must stay inside it.
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise CompetitionFormatError(f"expected a competition directory, got {path} which is not a directory")
    if root.name in ("prepared", "data") and not (root / MANIFEST_NAME).is_file():
        root = root.parent  # the inner folder of an MLE-bench / MLE-Dojo layout was given
    layout, base = detect_layout(root)
    manifest: dict[str, Any] = {}
    for candidate in (root / MANIFEST_NAME, base / MANIFEST_NAME):
        if candidate.is_file():
            try:
                manifest = read_manifest(candidate)
            except ValueError as exc:
                raise CompetitionFormatError(f"expected valid TOML in {candidate}, got: {exc}") from exc
            break
    dir_checks.check_types(manifest, root / MANIFEST_NAME)
    public_dir, private_dir = base / "public", base / "private"
    known = catalog_settings(name or root.name) if not manifest and layout != "dojo" else {}

    metric_name = metric or manifest.get("custom_metric") or manifest.get("metric") or known.get("metric")
    if not metric_name:
        raise CompetitionFormatError(
            f"expected a metric for {root} (it has no competition.toml naming one), got none. "
            "Pass metric=..., e.g. load_competition_dir(path, metric='rmse')."
        )
    if not metric:
        field_name = "custom_metric" if manifest.get("custom_metric") else "metric"
        dir_checks.check_metric(metric_name, root / MANIFEST_NAME, field=field_name, trusted=trust_code)
    kwargs = dict(manifest.get("metric_kwargs", known.get("metric_kwargs", {})))
    kwargs.update(metric_kwargs or {})
    direction = higher_is_better if higher_is_better is not None else manifest.get("higher_is_better")
    metric_fn = resolve_metric(metric_name, kwargs, higher_is_better=direction, kind=manifest.get("metric_kind"))
    if direction is None:
        direction = metric_fn.higher_is_better

    sample = find_sample(public_dir) or find_sample(private_dir)  # MLE-bench's text normalization
    columns = list(pd.read_csv(sample, nrows=0).columns) if sample is not None else []
    row_order = bool(known.get("row_order"))
    if row_order:  # no id column in the files: the rows' positions are the ids
        columns = [ROW_ID, *known.get("target_columns", columns)]
    id_col = id_column or manifest.get("id_column") or known.get("id_column") or (columns[0] if columns else None)
    targets = list(target_columns or manifest.get("target_columns") or known.get("target_columns") or columns[1:])
    if not id_col or not targets:
        raise CompetitionFormatError(
            f"expected id_column and target_columns for {root} (from competition.toml or "
            "public/sample_submission.csv), got none. Pass id_column=... and target_columns=[...]."
        )
    answers = answers_file or manifest.get("answers_file") or known.get("answers_file") or _find_answers(private_dir)
    dir_checks.check_answers_file(private_dir, answers, root)
    split = manifest.get("split", {})
    board = manifest.get("leaderboard", {})
    fields: dict[str, Any] = {
        "title": manifest.get("title", ""),
        "category": manifest.get("category", "tabular"),
        "task": manifest.get("task", ""),
        "level": manifest.get("level", ""),
        "submission_file": manifest.get("submission_file", "submission.csv"),
        "tags": list(manifest.get("tags", [])),
        "public_fraction": float(split.get("public_fraction", PUBLIC_FRACTION)),
        "usage_column": split.get("usage_column", USAGE_COLUMN),
        "leaderboard_kind": board.get("kind", "kaggle"),
        "source": dict(manifest.get("source", {})),
        "scored_rows": dict(manifest.get("scored_rows", known.get("scored_rows", {}))),
        "labels": dict(manifest.get("labels", {})),
        "unscored_columns": list(manifest.get("unscored_columns", known.get("unscored_columns", []))),
        "sample_file": sample,
        "row_order": row_order,
        "extra_actions": list(manifest.get("actions", [])),
        "extra_info": list(manifest.get("info_providers", [])),
    }
    for key in ("title", "category", "task", "tags"):
        if key not in manifest and key in known:
            fields[key] = known[key]
    has_board = any((private_dir / f"{s}_leaderboard.csv").is_file() for s in ("public", "private"))
    if leaderboard is not None or not has_board:
        found = find_leaderboard(name or root.name, leaderboard)
        if leaderboard is not None and found is None:
            raise CompetitionFormatError(
                f"expected a leaderboard CSV, or a folder holding mlebench/competitions/{name or root.name}/"
                f"leaderboard.csv (an mle-bench checkout), got {leaderboard}"
            )
        fields["leaderboard_file"] = found
    fields.update(settings)
    fields["submission_file"] = dir_checks.check_submission_file(fields["submission_file"], root)
    return Competition(
        name=dir_checks.check_name(name or manifest.get("name") or root.name, root),
        root=root,
        public_dir=public_dir,
        private_dir=private_dir,
        metric=metric_name,
        higher_is_better=bool(direction),
        id_column=id_col,
        target_columns=targets,
        answers_file=answers,
        metric_kwargs=kwargs,
        layout=layout,
        metric_fn=metric_fn,
        **fields,
    )


def _find_answers(private_dir: Path) -> str:
    for candidate in ANSWER_FILE_CANDIDATES:
        if (private_dir / candidate).is_file():
            return candidate
    csvs = sorted(p.name for p in private_dir.glob("*.csv") if "leaderboard" not in p.name)
    if len(csvs) == 1:
        return csvs[0]
    raise CompetitionFormatError(
        f"expected the answers in {private_dir} as one of {', '.join(ANSWER_FILE_CANDIDATES)}, got "
        f"{', '.join(csvs) or 'no CSV file'}. Pass answers_file=..."
    )


# ---------------------------------------------------------------- the registry

_registered: dict[str, Competition] = {}
# Directories loaded by get_competition, reused while their competition.toml is unchanged, so
# many episodes of one competition read its answers once.
_loaded: dict[Path, tuple[int, Competition]] = {}


def data_root() -> Path:
    """Where competitions are built and found: $DOJO_DATA, else a per-user cache folder."""
    return default_data_root()


def register(
    competition: Competition | str | os.PathLike[str], *, name: str | None = None, **settings: Any
) -> Competition:
    """Register a Competition, or a competition directory (loaded with ``settings``).

    A later registration under the same name replaces the earlier one. A directory whose
    competition.toml names a custom metric ("module:function") needs ``trust_code=True``.
    """
    if not isinstance(competition, Competition):
        competition = load_competition_dir(competition, name=name, **settings)
    elif name:
        competition.name = name
    _registered[competition.name] = competition
    return competition


def registered_names() -> list[str]:
    """The names registered at run time with :func:`register` (loaded, trusted by their caller)."""
    return sorted(_registered)


def _builtins() -> Any:
    from .prepare import builtin

    return builtin


def _catalog_names() -> set[str]:
    """The Kaggle catalog's names, or none where this build has no catalog (it is optional)."""
    try:
        from .prepare.catalog import load_catalog
    except ImportError:
        return set()
    return set(load_catalog())


def _found_in_data_root() -> dict[str, Path]:
    """Folders with a competition.toml under the data root, by folder name (odd names are
    skipped with a warning; see prepare/names.py)."""
    return found_in(data_root())


def list_competitions() -> list[str]:
    """The names of every known competition, sorted: registered ones, ones under the data
    root, and the built-in ones (listed whether or not they have been built yet)."""
    return sorted(set(_registered) | set(known_names()))


def _load_cached(path: Path) -> Competition:
    stamp = (path / MANIFEST_NAME).stat().st_mtime_ns
    cached = _loaded.get(path)
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_competition_dir(path))
        _loaded[path] = cached
    return cached[1]


def get_competition(name: str) -> Competition:
    """The competition called ``name``; a built-in one is built on first use (under a minute).

    Raises CompetitionNotFound (a KeyError) listing the closest names.
    """
    if name in _registered:
        return _registered[name]
    if name in BUILTIN_NAMES:
        try:
            path = _builtins().build(name, root=data_root())
        except OSError as exc:
            raise PrepareError(
                f"expected to build {name!r} under {data_root()}, got: {exc}. Set DOJO_DATA to a writable folder."
            ) from exc
        return _load_cached(path)
    found = _found_in_data_root().get(name)
    if found is not None:
        return _load_cached(found)
    if name in _catalog_names():
        raise CompetitionNotFound(
            f"{name!r} is in the catalog, not prepared: run `dojo prepare {name}` (from Python: "
            f"dojo_kernel.prepare.catalog.prepare_competition({name!r})), then try again."
        )
    close = difflib.get_close_matches(name, list_competitions(), n=5, cutoff=0.4)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise CompetitionNotFound(
        f"expected a known competition name, got {name!r}{hint}. "
        "dojo_kernel.list_competitions() lists them all; register(path) adds a directory."
    )
