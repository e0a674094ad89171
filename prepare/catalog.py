"""The catalog of Kaggle competitions we support, and preparing one into a competition dir.

    from dojo_kernel.prepare.catalog import list_catalog, prepare_competition
    prepare_competition("spaceship-titanic")                      # Kaggle API download
    prepare_competition("spaceship-titanic", raw_dir="~/dl/st")   # files downloaded by hand

The catalog is data (catalog.toml beside this file). Preparing a competition: get its raw
files (from ``raw_dir``, else through the Kaggle API), run its recipe into a staging copy
of ``<data_root>/<name>/`` (public/, private/), add the description, the leaderboard where
there is one and competition.toml, then move it into place in one rename.
"""

from __future__ import annotations

import difflib
import functools
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..metrics import get_metric
from . import custom_recipes, kaggle, safe_files, vision_recipes
from .common import SAMPLE_SUBMISSION_NAME, building, default_data_root, write_manifest
from .recipes import CUSTOM as TABLE_CUSTOM
from .recipes import Prepared, RecipeError, TableRecipe, link_or_copy

CUSTOM = {**TABLE_CUSTOM, **custom_recipes.CUSTOM, **vision_recipes.CUSTOM}

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

CATALOG_FILE = Path(__file__).with_name("catalog.toml")
RAW_FOLDER = ".raw"  # under the data root; hidden, so the registry never lists it


class NotInCatalog(KeyError):
    """The name is not in the catalog; the message lists the closest names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# Everything prepare_competition raises on purpose; each message is one line to show as is.
PREPARE_ERRORS: tuple[type[Exception], ...] = (kaggle.KaggleError, RecipeError, NotInCatalog, safe_files.RawFileError)


@dataclass(frozen=True)
class CatalogEntry:
    """One supported Kaggle competition (a [[competition]] table of catalog.toml)."""

    name: str
    title: str
    metric: str
    category: str
    task: str
    url: str
    data_size: str = ""
    sets: tuple[str, ...] = ()
    kaggle_teams: int = 0
    kaggle_metric: str = ""
    tags: tuple[str, ...] = ()
    metric_kwargs: Mapping[str, Any] = field(default_factory=dict)
    recipe: Mapping[str, Any] = field(default_factory=dict)
    scored_rows: Mapping[str, Any] = field(default_factory=dict)  # which answer rows Kaggle scores
    # How MLE-bench's prepared folder differs, where it does: answers_file, row_order (no id
    # column: rows line up by position, as its grader does), id_column, target_columns.
    mlebench: Mapping[str, Any] = field(default_factory=dict)
    # Listed but not preparable here, and why (data far beyond one machine's disk, a scorer
    # this project does not implement yet); prepare says so instead of failing half-way.
    unsupported: str = ""

    @property
    def higher_is_better(self) -> bool | None:
        if not self.metric:  # an unsupported entry whose scorer is not implemented
            return None
        return get_metric(self.metric, **self.metric_kwargs).higher_is_better

    @property
    def data_bytes(self) -> int | None:
        return kaggle.parse_size(self.data_size)

    @property
    def rules_url(self) -> str:
        return kaggle.RULES_URL.format(name=self.name)

    def build_recipe(self) -> Any:
        """The prepare(raw, public, private) -> Prepared of this competition."""
        spec = dict(self.recipe)
        kind = spec.pop("kind", "table")
        if kind == "table":
            metric = get_metric(self.metric, **self.metric_kwargs)
            return TableRecipe(kind=metric.kind, **spec).prepare
        if kind not in CUSTOM:
            raise RecipeError(f"expected a recipe kind in {['table', *CUSTOM]}, got {kind!r} for {self.name}")
        custom = CUSTOM[kind]
        return lambda raw, public, private: custom(raw, public, private, **spec)


@functools.lru_cache(maxsize=4)
def load_catalog(path: Path = CATALOG_FILE) -> dict[str, CatalogEntry]:
    """Every catalog entry by name."""
    with open(path, "rb") as handle:
        tables = tomllib.load(handle)["competition"]
    entries: dict[str, CatalogEntry] = {}
    for table in tables:
        table = dict(table)
        table["sets"] = tuple(table.get("sets", ()))
        table["tags"] = tuple(table.get("tags", ()))
        entries[table["name"]] = CatalogEntry(**table)
    return entries


def get_entry(name: str) -> CatalogEntry:
    catalog = load_catalog()
    if name in catalog:
        return catalog[name]
    close = difflib.get_close_matches(name, list(catalog), n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise NotInCatalog(
        f"expected a competition of the catalog, got {name!r}{hint}. `dojo list --all` shows the catalog."
    )


def is_prepared(name: str, data_root: Path | None = None) -> bool:
    root = Path(data_root) if data_root else default_data_root()
    return (root / name / "competition.toml").is_file()


def list_catalog(*, data_root: Path | None = None, sets: str | None = None) -> list[dict[str, Any]]:
    """The catalog as rows for `dojo list --all`: name, title, metric, direction, category,
    task, data size (text and bytes), sets, url and whether it is prepared under data_root.
    ``sets`` keeps only one benchmark set (mle-lite, tabular, nlp, cv, mle-bench, dsbench)."""
    rows = []
    for entry in load_catalog().values():
        if sets and sets not in entry.sets:
            continue
        rows.append(
            {
                "name": entry.name,
                "title": entry.title,
                "metric": entry.metric,
                "higher_is_better": entry.higher_is_better,
                "category": entry.category,
                "task": entry.task,
                "data_size": entry.data_size,
                "size_bytes": entry.data_bytes,
                "sets": list(entry.sets),
                "url": entry.url,
                "prepared": is_prepared(entry.name, data_root),
                "preparable": not entry.unsupported,
                "unsupported": entry.unsupported,
            }
        )
    return rows


@safe_files.removes_scratch  # a scratch copy of --raw-dir is removed when this returns or fails
def prepare_competition(
    name: str,
    *,
    raw_dir: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    api: Any = None,
    progress: bool = True,
) -> Path:
    """Build ``<data_root>/<name>/`` from the raw files; returns its path.

    With ``raw_dir``, the files come from there (as Kaggle serves them: unzipped, or the
    zip(s) themselves, which are extracted into a scratch copy, never in place); without
    it they are downloaded with the Kaggle API (``api``: an authenticated KaggleApi or a
    stand-in; default the real one), together with the description pages and the public
    leaderboard. An already prepared competition is returned as is unless ``overwrite``.

    Raises NotInCatalog, kaggle.KaggleError (credentials, rules, disk, network; one line
    each) or RecipeError (raw files not of the expected shape).
    """
    entry = get_entry(name)
    if entry.unsupported:
        raise RecipeError(
            f"expected a competition this project can prepare, got {name} ({entry.data_size or 'size unknown'} "
            f"of data on Kaggle), which the catalog lists but cannot prepare here: {entry.unsupported}"
        )
    root = Path(data_root).expanduser() if data_root else default_data_root()
    target = root / name
    if (target / "competition.toml").is_file() and not overwrite:
        return target

    description = leaderboard = None
    if raw_dir is not None:
        raw = _raw_from_folder(Path(raw_dir).expanduser(), root, name, progress)
        description = _read_description(raw)
        leaderboard = _read_leaderboard(raw, bool(entry.higher_is_better))  # None (no metric) reads as lower-is-better, as before
        origin = "raw-dir"
    else:
        raw = root / RAW_FOLDER / name
        if not kaggle.is_downloaded(raw):
            kaggle.check_disk_space(root, entry.data_bytes, name)
        api = api if api is not None else kaggle.kaggle_api(name)
        kaggle.download_competition(name, raw, data_bytes=None, api=api, progress=progress)
        description = _optional(lambda: kaggle.fetch_description(name, api))
        leaderboard = _optional(
            lambda: kaggle.fetch_leaderboard(name, api, bool(entry.higher_is_better), raw / ".leaderboard")
        )
        origin = "kaggle-api"

    recipe = entry.build_recipe()
    with building(target, overwrite=True) as staging:
        prepared = recipe(raw, staging / "public", staging / "private")
        _ensure_sample_name(staging / "public", prepared)
        # Kaggle's pages describe Kaggle's test set; ours says how this copy differs.
        text = describe(entry, prepared, staging / "public")
        if description:
            text = f"{description.rstrip()}\n\n---\n\n{text}"
        (staging / "public" / "description.md").write_text(text, encoding="utf-8")
        if leaderboard is not None:
            # Kaggle's API offers the public leaderboard only; it stands in for both.
            for split in ("public", "private"):
                leaderboard.to_csv(staging / "private" / f"{split}_leaderboard.csv", index=False)
        write_manifest(staging, manifest(entry, prepared, origin, has_leaderboard=leaderboard is not None))
    return target


def manifest(entry: CatalogEntry, prepared: Prepared, origin: str, *, has_leaderboard: bool) -> dict[str, Any]:
    recipe = dict(entry.recipe)
    return {
        "name": entry.name,
        "title": entry.title,
        "metric": entry.metric,
        "metric_kwargs": dict(entry.metric_kwargs) or None,
        "id_column": prepared.id_column,
        "target_columns": prepared.target_columns,
        "category": entry.category,
        "task": entry.task,
        "level": "kaggle",
        "answers_file": prepared.answers_file,
        "tags": list(entry.tags),
        "scored_rows": dict(entry.scored_rows) or None,
        "labels": prepared.labels or None,
        "unscored_columns": prepared.unscored_columns or None,
        "leaderboard": {
            "kind": "kaggle",
            "note": (
                "Kaggle's public leaderboard of the original competition, used for both splits; "
                "its scores are on Kaggle's test set, ours on a new split of the training data, "
                "so positions are indicative"
                if has_leaderboard
                else "none: Kaggle's leaderboard was not available when this was prepared"
            ),
        },
        "source": {
            "url": entry.url,
            "sets": list(entry.sets),
            "kaggle_metric": entry.kaggle_metric,
            "kaggle_teams": entry.kaggle_teams,
            "prepared_from": origin,
            "recipe": str(recipe.get("kind", "table")),
            "split": "a new seeded split of the labelled training data; Kaggle's test labels are never used",
            "train_rows": prepared.train_rows,
            "test_rows": prepared.test_rows,
        },
    }


def describe(entry: CatalogEntry, prepared: Prepared, public: Path) -> str:
    """What this copy of the competition is: task, files, metric, submission format.

    It is the whole description on the manual route; after Kaggle's pages otherwise."""
    files = sorted(
        str(p.relative_to(public)) + ("/" if p.is_dir() else "")
        for p in public.iterdir()
        if p.name != "description.md"
    )
    sample = pd.read_csv(public / SAMPLE_SUBMISSION_NAME, nrows=3)
    metric = entry.metric + (f" with {dict(entry.metric_kwargs)}" if entry.metric_kwargs else "")
    direction = "higher" if entry.higher_is_better else "lower"
    return (
        f"# {entry.title}\n\n"
        f"A Kaggle competition ({entry.url}), prepared for dojo-kernel from its training data. "
        f"Kaggle's own overview, evaluation and data pages are on that site.\n\n"
        f"## Task\n\n{entry.category} data, {entry.task} task. Predict "
        f"{', '.join(prepared.target_columns)} for every row of the test data, keyed by "
        f"`{prepared.id_column}`.\n\n"
        f"## Files (in input/)\n\n" + "".join(f"- `{f}`\n" for f in files) + "\n"
        f"The test rows are a held-out part ({prepared.test_rows} rows) of Kaggle's labelled "
        f"training data ({prepared.train_rows} rows remain for training).\n\n"
        f"## Metric\n\n{metric} ({direction} is better; Kaggle calls it {entry.kaggle_metric}).\n\n"
        f"## Submission\n\nWrite `working/submission.csv` with the columns of "
        f"`sample_submission.csv`, one row per test id, for example:\n\n"
        f"```\n{sample.to_csv(index=False)}```\n"
    )


def _raw_from_folder(folder: Path, root: Path, name: str, progress: bool) -> Path:
    """The folder itself when it holds extracted files; a scratch copy where it holds zips.

    The folder is the user's: it is never changed or deleted, and a link in it that leads
    out of it is refused (see safe_files). The scratch copy is a fresh folder under
    ``<root>/.raw``, removed when the preparation ends."""
    if not folder.is_dir():
        raise RecipeError(
            f"expected --raw-dir to be a folder with {name}'s files from "
            f"{kaggle.COMPETITION_URL.format(name=name)}/data, got {folder} which is not a folder"
        )
    folder = folder.resolve()
    target = (root / name).resolve()
    if folder.is_relative_to(target) or target.is_relative_to(folder):
        raise safe_files.RawFileError(
            f"expected --raw-dir outside the competition dir it builds ({target}), got {folder}: preparing "
            "replaces that dir; move the raw files elsewhere first"
        )
    safe_files.refuse_links_out(folder)
    if not any(p.suffix == ".zip" for p in folder.iterdir()):
        return folder
    scratch = safe_files.new_scratch(root / RAW_FOLDER, prefix=f".{name}.scratch-")
    for item in folder.iterdir():
        if item.is_dir():
            shutil.copytree(item, scratch / item.name, copy_function=_link_or_copy_str)
        else:
            link_or_copy(item, scratch / item.name)
    kaggle.extract_archives(scratch, bundle=f"{name}.zip", progress=progress)
    return scratch


def _link_or_copy_str(src: str, dst: str) -> None:
    link_or_copy(Path(src), Path(dst))


def _read_description(raw: Path) -> str | None:
    for candidate in ("description.md", "description.txt", "overview.md"):
        if (raw / candidate).is_file():
            return (raw / candidate).read_text(encoding="utf-8", errors="replace")
    return None


def _read_leaderboard(raw: Path, higher_is_better: bool) -> pd.DataFrame | None:
    """A leaderboard the user saved beside the data: Kaggle's export or rank,score."""
    found = sorted(raw.glob("*leaderboard*.csv"))
    if not found:
        return None
    with safe_files.reading(found[0]):
        table = pd.read_csv(found[0])
    if "Score" in table.columns:
        return kaggle.leaderboard_from_kaggle_csv(table, higher_is_better)
    if {"rank", "score"} <= set(table.columns):
        return table.loc[:, ["rank", "score"]]
    raise RecipeError(
        f"expected Kaggle's leaderboard export (TeamId,TeamName,SubmissionDate,Score) or rank,score "
        f"in {found[0]}, got columns {list(table.columns)}"
    )


def _ensure_sample_name(public: Path, prepared: Prepared) -> None:
    """Graders read public/sample_submission.csv; keep Kaggle's own name beside it."""
    own = public / prepared.submission_file
    standard = public / SAMPLE_SUBMISSION_NAME
    if own != standard and own.is_file():
        shutil.copy2(own, standard)


def _optional(fetch: Any) -> Any:
    """Extras (pages, leaderboard) never stop a preparation: without them it still works.

    AttributeError: kaggle 1.x has no API for the pages."""
    try:
        return fetch()
    except (kaggle.KaggleError, AttributeError, KeyError, ValueError, OSError) as exc:
        print(f"note: {exc}", file=sys.stderr)
        return None
