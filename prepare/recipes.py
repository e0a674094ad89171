"""Turning a Kaggle competition's raw files into a competition dir (public/ + private/).

Kaggle keeps the test labels secret, so every recipe makes a new, seeded train/test split
of the labelled training data: the held-out part's features go to ``public/``, its labels
to ``private/``. Most competitions share one shape (a labelled CSV with an id column and
target columns, an unlabelled test CSV with the feature columns, a sample submission),
which ``TableRecipe`` covers from a few declared parameters. The rest get a short
``prepare(raw, public, private)`` function registered in ``CUSTOM``.

A recipe returns a ``Prepared``: what the manifest (competition.toml) needs to know about
the files it wrote. Recipes never touch the network and never read the raw test labels.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from .common import ANSWERS_NAME as ANSWERS_FILE
from .common import horizon_split, sample_submission, seeded_split
from .safe_files import inside, reading

# What the metric scores (dojo_kernel.metrics' Metric.kind) decides what the sample
# submission holds and whether the split is stratified.
Kind = Literal["label", "probability", "continuous", "ranking", "text"]  # the metric's kinds


class RecipeError(ValueError):
    """The raw files do not have the shape the recipe expects; the message says what differs."""


@dataclass
class Prepared:
    """What a recipe wrote, for the manifest."""

    id_column: str
    target_columns: list[str]
    submission_file: str = "sample_submission.csv"
    answers_file: str = ANSWERS_FILE
    train_rows: int = 0
    test_rows: int = 0
    labels: dict[str, list[str]] = field(default_factory=dict)  # label target -> every label (train and test)
    unscored_columns: list[str] = field(default_factory=list)  # in the submission format, not scored


def _natural(label: str) -> tuple:
    """Sort key: numbers by value (2 before 10), then text."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def relabel_unseen(train: pd.DataFrame, test: pd.DataFrame, column: str, label: str) -> pd.DataFrame:
    """Test rows whose label never occurs in train get ``label``, as the competition itself
    does (humpback whales seen for the first time are ``new_whale``)."""
    seen = set(train[column].astype(str))
    test = test.copy()
    test.loc[~test[column].astype(str).isin(seen), column] = label
    return test


# --------------------------------------------------------------------------- helpers


def read_table(path: Path, *, id_column: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV/TSV/JSON table; the id column as text so ids keep their exact spelling."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(
            f"expected the raw file {path.name} in {path.parent}, got "
            f"{sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else 'no such folder'}; "
            "download the competition's data (kaggle competitions download) into that folder"
        )
    with reading(path):  # a malformed raw file is one line that names it, not a traceback
        if path.suffix == ".json":
            return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
        if path.suffix == ".parquet":  # typed columns already: ids and texts stay as written
            columns = kwargs.get("usecols")
            table = pd.read_parquet(path, columns=list(columns) if columns else None)
            return table.head(kwargs["nrows"]) if "nrows" in kwargs else table
        given = kwargs.pop("dtype", None)
        if given is not None and not isinstance(given, Mapping):
            dtype: Any = given  # one type for every column (str: read everything as text)
        else:
            dtype = {**(given or {}), **({id_column: str} if id_column else {})} or None
        if path.suffix == ".tsv" and "sep" not in kwargs:
            kwargs["sep"] = "\t"
        return pd.read_csv(path, dtype=dtype, low_memory=False, **kwargs)


def read_header(path: Path, read_options: Mapping[str, Any]) -> pd.DataFrame:
    """The first rows of a table: enough to know its columns."""
    if Path(path).suffix == ".parquet":  # the schema alone: no row is read
        import pyarrow.parquet as pq

        with reading(Path(path)):
            return pd.DataFrame(columns=pq.read_schema(path).names)
    if Path(path).suffix == ".json":
        return read_table(path).head(2)
    return read_table(path, **dict(read_options, nrows=2))


def write_table(table: pd.DataFrame, path: Path, encoding: str = "utf-8") -> None:
    """Write a table in the format its name says (CSV, TSV, JSON records or parquet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        table.reset_index(drop=True).to_parquet(path, index=False)
    elif path.suffix == ".json":
        text = cast(str, table.to_json(orient="records", indent=1, double_precision=15, force_ascii=False))  # no path: a str
        path.write_text(text, encoding="utf-8")
    elif path.suffix == ".tsv":
        table.to_csv(path, index=False, sep="\t", encoding=encoding)
    else:
        table.to_csv(path, index=False, encoding=encoding)


def split_rows(
    table: pd.DataFrame,
    *,
    test_size: float,
    seed: int,
    stratify: pd.Series | None = None,
    groups: pd.Series | None = None,
    order: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/test split: whole groups to one side, the latest rows as the test
    (when ``order`` is given), or stratified by a label."""
    if len(table) < 4:
        raise RecipeError(f"expected at least 4 labelled rows to split, got {len(table)}")
    if order is not None:
        by_time = np.argsort(order.to_numpy(), kind="stable")
        train_idx, test_idx = horizon_split(len(table), max(1, int(round(test_size * len(table)))))
        return table.iloc[np.sort(by_time[train_idx])], table.iloc[np.sort(by_time[test_idx])]
    if groups is not None:
        unique = pd.unique(groups)
        _, test_groups = seeded_split(len(unique), test_size, seed)
        in_test = groups.isin(unique[test_groups]).to_numpy()
        if in_test.all() or not in_test.any():
            raise RecipeError(f"expected at least 2 groups to split by, got {len(unique)}")
        return table.loc[~in_test], table.loc[in_test]
    if stratify is not None and stratify.value_counts().min() < 2:
        stratify = None  # a class seen once cannot be on both sides
    train_idx, test_idx = seeded_split(len(table), test_size, seed, stratify=stratify)
    return table.iloc[train_idx], table.iloc[test_idx]


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link where the filesystem allows (images are large), else copy.

    A link in a raw folder is resolved first: os.link would hard-link the link itself, and
    public/ never holds links (the raw folder was checked for links that lead out of it)."""
    src = Path(os.path.realpath(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def as_numbers(values: pd.Series) -> pd.Series:
    """The values as numbers, NaN where one is not (pandas' stubs lose that a Series in gives a Series out)."""
    return cast(pd.Series, pd.to_numeric(values, errors="coerce"))


def constant_prediction(values: pd.Series, kind: Kind, k: int = 3) -> Any:
    """A valid, uninformed prediction: the training mean, the most common label..."""
    clean = values.dropna()
    if kind == "probability":
        numeric = as_numbers(clean)
        mean = float(numeric.mean()) if numeric.notna().any() else 0.5
        return min(max(mean, 0.0), 1.0)
    if kind == "continuous":
        numeric = as_numbers(clean)
        if numeric.notna().all() and (numeric == numeric.round()).all():
            return int(numeric.median())
        return float(numeric.mean())
    if kind == "ranking":
        return " ".join(str(v) for v in clean.value_counts().index[:k])
    return clean.mode().iloc[0] if len(clean) else 0


# --------------------------------------------------------------------------- declarative


@dataclass
class FilesPerRow:
    """A file that belongs to each row (an image, a folder of measurements).

    ``source`` is a pattern over the row's columns, relative to the raw folder (for
    example ``train/{id}.tif``); the train rows' files keep that path in public/, the
    test rows' files go to ``test`` (a pattern too; default: the same as source).
    """

    source: str
    test: str | None = None


@dataclass
class TableRecipe:
    """The common shape: a labelled table with id and target columns, and a test table.

    ``classes_as_columns``: the target is one label column, but the submission has one
    probability column per class (multiclass log loss); the answers are one-hot.
    ``test_id_column``: the raw test table names its id column differently (test_id,
    ForecastId); our test table, submission and answers use that name.
    ``submission_names``: the submission names a target column differently (answer ->
    prediction); the answers use the submission's names.
    """

    id_column: str
    target_columns: Sequence[str]
    train_file: str = "train.csv"
    test_file: str | None = "test.csv"
    sample_submission_file: str = "sample_submission.csv"
    kind: Kind = "continuous"  # the metric's kind; the catalog fills it in
    k: int = 3  # how many labels a ranking submission lists
    classes_as_columns: bool = False
    test_id_column: str | None = None
    submission_names: Mapping[str, str] = field(default_factory=dict)  # target -> submission column
    add_id: bool = False  # the raw table has no id column: number the rows
    rename: Mapping[str, str] = field(default_factory=dict)
    drop_columns: Sequence[str] = ()  # kept out of both public tables
    keep_train_only: Sequence[str] = ()  # kept in train, removed from test (when no test file)
    test_size: float = 0.2
    seed: int = 0
    group_column: str | None = None
    time_column: str | None = None
    stratify: bool = True
    labelled_only: bool = False  # rows with an empty target are the raw test rows: drop them
    read_options: Mapping[str, Any] = field(default_factory=dict)
    files: FilesPerRow | None = None
    extra_files: Sequence[str] = ()  # copied unchanged (side tables such as people.csv)
    train_side_files: Mapping[str, str] = field(default_factory=dict)  # file -> key column
    answer_columns: Sequence[str] = ()  # also kept in the answers: what scored_rows reads (u_out)
    unseen_label: str | None = None  # a test label absent from train becomes this (whales: new_whale)
    varied_sample: bool = False  # sample values drawn from train (a correlation of constants is undefined)
    class_prefix: str = ""  # classes_as_columns: the submission names class c "<prefix>c" (class_0)
    id_format: str | None = None  # the id is built from the row's columns ("{Store}_{Dept}_{Date}")
    split_side_files: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # file -> {key, test}
    answer_weight: Mapping[str, Any] = field(default_factory=dict)  # {column, map}: a weight column in the answers
    first_row_per_id: bool = False  # several labelled rows per id (hms: windows of one EEG): keep the first
    normalize_answers: bool = False  # answers as shares of their row's sum (hms: expert votes -> probabilities)

    def __post_init__(self) -> None:
        if self.test_file == "":
            self.test_file = None  # TOML has no null: "" means "no raw test table"
        if isinstance(self.files, Mapping):
            self.files = FilesPerRow(**self.files)
        self.target_columns = list(self.target_columns)

    # The public id column, and the names of the submission's value columns.
    @property
    def public_id(self) -> str:
        return self.test_id_column or self.id_column

    def prepare(self, raw: Path, public: Path, private: Path) -> Prepared:
        raw, public, private = Path(raw), Path(public), Path(private)
        labelled = self._read_labelled(raw)
        train, test = self._split(labelled)
        if self.unseen_label is not None:
            test = relabel_unseen(train, test, self.target_columns[0], self.unseen_label)
        test_columns = self._test_columns(raw, labelled)
        sub_columns = self._submission_columns(raw, labelled)

        renamed = {self.id_column: self.public_id, **self.submission_names}
        train_out = train.drop(columns=list(self.drop_columns), errors="ignore")
        test_out = test.loc[:, test_columns].rename(columns={self.id_column: self.public_id})
        answers = self._answers(test, sub_columns).rename(columns=renamed)
        encoding = self.read_options.get("encoding", "utf-8")  # keep Kaggle's encoding for its tables
        write_table(train_out, public / self.train_file, encoding)
        if self.test_file or len(test_columns) > 1:  # an image competition's ids alone make no table
            write_table(test_out, public / (self.test_file or "test.csv"), encoding)
        write_table(answers, private / ANSWERS_FILE)
        fill: Mapping[str, Any] = self._fill_values(train, sub_columns)
        if self.varied_sample:
            rng = np.random.default_rng(self.seed)
            fill = {c: rng.choice(train[c].dropna().to_numpy(), len(test)) for c in sub_columns}
        sample = sample_submission(test[self.id_column], self.id_column, fill).rename(columns=renamed)
        write_table(sample, public / self.sample_submission_file)
        self._place_files(raw, public, train, test)
        for name in self.extra_files:
            link_or_copy(raw / name, public / name)
        for name, key in self.train_side_files.items():
            side = read_table(raw / name, id_column=key)
            write_table(side.loc[side[key].isin(set(train[self.id_column]))], public / name)
        for name, spec in self.split_side_files.items():  # per-row logs: train ids' rows and test ids' rows
            side = read_table(raw / name, id_column=spec["key"])
            in_test = side[spec["key"]].isin(set(test[self.id_column]))
            write_table(side.loc[~in_test], public / name)
            write_table(side.loc[in_test], public / spec["test"])
        return Prepared(
            id_column=self.public_id,
            target_columns=[self.submission_names.get(c, c) for c in sub_columns],
            submission_file=self.sample_submission_file,
            train_rows=len(train),
            test_rows=len(test),
            labels=self._label_set(labelled, renamed),
        )

    def _label_set(self, labelled: pd.DataFrame, renamed: Mapping[str, str]) -> dict[str, list[str]]:
        """Every label of a label target, from train and test: a class that the test split
        happens to miss is still a valid prediction."""
        if self.kind != "label" or self.classes_as_columns:
            return {}
        return {
            renamed.get(c, c): sorted(set(labelled[c].dropna().astype(str)), key=_natural) for c in self.target_columns
        }

    def _read_labelled(self, raw: Path) -> pd.DataFrame:
        options = dict(self.read_options)
        id_col = None if self.add_id or self.id_format else next(
            (old for old, new in self.rename.items() if new == self.id_column), self.id_column
        )
        table = read_table(raw / self.train_file, id_column=id_col, **options)
        if self.kind in ("label", "ranking", "text") and Path(self.train_file).suffix != ".json":
            # text targets as written: "None", "NA" or "null" is an answer, not a missing value
            originals = {new: old for old, new in self.rename.items()}
            wanted = [originals.get(c, c) for c in self.target_columns if originals.get(c, c) in table.columns]
            if wanted:
                verbatim = read_table(raw / self.train_file, **dict(options, usecols=wanted, dtype=str,
                                                                     keep_default_na=False, na_values=[""]))
                for column in wanted:
                    table[column] = verbatim[column]
        table = table.rename(columns=dict(self.rename))
        if self.id_format:
            table.insert(0, self.id_column, [self.id_format.format(**row) for row in table.to_dict("records")])
        elif self.add_id:
            table.insert(0, self.id_column, [str(i) for i in range(len(table))])
        missing = [c for c in [self.id_column, *self.target_columns] if c not in table.columns]
        if missing:
            raise RecipeError(
                f"expected columns {missing} in {self.train_file}, got {list(table.columns)[:20]}; "
                "the raw files may be from another competition or version"
            )
        if self.labelled_only:
            table = table.dropna(subset=self.target_columns)
        if self.first_row_per_id:
            table = table.drop_duplicates(subset=self.id_column, keep="first")
        if table[self.id_column].duplicated().any():
            raise RecipeError(f"expected unique values in {self.id_column!r} of {self.train_file}")
        return table.reset_index(drop=True)

    def _split(self, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        stratify = None
        if self.stratify and self.kind != "continuous" and len(self.target_columns) == 1:
            stratify = table[self.target_columns[0]].astype(str)
        order = None
        if self.time_column:
            order = pd.to_datetime(table[self.time_column], errors="coerce")
            if order.isna().all():
                order = as_numbers(table[self.time_column])
        return split_rows(
            table,
            test_size=self.test_size,
            seed=self.seed,
            stratify=stratify,
            groups=table[self.group_column] if self.group_column else None,
            order=order,
        )

    def _test_columns(self, raw: Path, labelled: pd.DataFrame) -> list[str]:
        """The raw test table's columns where there is one, else train's minus the labels."""
        hidden = set(self.target_columns) | set(self.drop_columns) | set(self.keep_train_only)
        raw_test = raw / self.test_file if self.test_file else None
        if raw_test is not None and raw_test.is_file():
            head = read_header(raw_test, self.read_options)
            head = head.rename(columns={self.public_id: self.id_column, **dict(self.rename)})
            wanted = set(head.columns) - hidden
            columns = [c for c in labelled.columns if c in wanted]
        else:
            columns = [c for c in labelled.columns if c not in hidden]
        if self.id_column not in columns:
            columns.insert(0, self.id_column)
        return columns

    def _submission_columns(self, raw: Path, labelled: pd.DataFrame) -> list[str]:
        if not self.classes_as_columns:
            return list(self.target_columns)
        classes = [self.class_prefix + c for c in sorted(labelled[self.target_columns[0]].dropna().astype(str).unique())]
        raw_sample = raw / self.sample_submission_file
        if raw_sample.is_file():
            # Kaggle's own column order where we have it; it lists every class.
            header = list(read_header(raw_sample, {}).columns)[1:]
            if set(classes) <= set(header):
                return header
        return classes

    def _answers(self, test: pd.DataFrame, sub_columns: list[str]) -> pd.DataFrame:
        if not self.classes_as_columns:
            answers = test.loc[:, [self.id_column, *self.target_columns, *self.answer_columns]].reset_index(drop=True)
            if self.normalize_answers:
                votes = answers[list(self.target_columns)].astype(float)
                answers[list(self.target_columns)] = votes.div(votes.sum(axis=1).replace(0, 1), axis=0)
            if self.answer_weight:  # Walmart: holiday weeks weigh 5 in WMAE
                source = answers[self.answer_weight["column"]].astype(str)
                answers["weight"] = source.map({str(k): v for k, v in self.answer_weight["map"].items()}).fillna(1)
            if self.kind == "probability":  # True/False labels are scored as 1/0
                for column in self.target_columns:
                    if pd.api.types.is_bool_dtype(answers[column]):
                        answers[column] = answers[column].astype(int)
            return answers
        labels = (self.class_prefix + test[self.target_columns[0]].astype(str)).to_numpy()
        one_hot = {c: (labels == c).astype(int) for c in sub_columns}
        return pd.DataFrame({self.id_column: test[self.id_column].to_numpy(), **one_hot})

    def _fill_values(self, train: pd.DataFrame, sub_columns: list[str]) -> dict[str, Any]:
        if self.classes_as_columns:
            return {c: round(1 / len(sub_columns), 6) for c in sub_columns}
        return {c: constant_prediction(train[c], self.kind, self.k) for c in sub_columns}

    def _place_files(self, raw: Path, public: Path, train: pd.DataFrame, test: pd.DataFrame) -> None:
        if self.files is None:
            return
        for rows, pattern in ((train, self.files.source), (test, self.files.test or self.files.source)):
            for row in rows.to_dict("records"):
                # the row's values come from a raw CSV: a crafted id must not reach outside either folder
                src = inside(raw, self.files.source.format(**row), what=f"the file of {self.id_column}={row[self.id_column]!r}")
                dst = inside(public, pattern.format(**row), what=f"the file of {self.id_column}={row[self.id_column]!r}")
                if src.is_dir():
                    shutil.copytree(src, dst, dirs_exist_ok=True)
                elif src.is_file():
                    link_or_copy(src, dst)
                else:
                    raise RecipeError(
                        f"expected the file {src.relative_to(raw)} for {self.id_column}="
                        f"{row[self.id_column]!r} in {raw}, got nothing there; is the download complete?"
                    )


# --------------------------------------------------------------------------- custom shapes


def prepare_dogs_vs_cats(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """Labels live in the file names (train/cat.0.jpg, train/dog.7.jpg); test images are numbered."""
    images = sorted((Path(raw) / "train").glob("*.jpg"))
    if not images:
        raise RecipeError(f"expected train/cat.N.jpg and train/dog.N.jpg in {raw}, got none")
    table = pd.DataFrame({"file": [p.name for p in images]})
    table["label"] = [int(name.startswith("dog")) for name in table["file"]]
    train, test = split_rows(table, test_size=0.1, seed=seed, stratify=table["label"])
    for name in train["file"]:
        link_or_copy(Path(raw) / "train" / name, Path(public) / "train" / name)
    test = test.assign(id=[str(i) for i in range(1, len(test) + 1)])
    for name, new_id in zip(test["file"], test["id"], strict=True):
        link_or_copy(Path(raw) / "train" / name, Path(public) / "test" / f"{new_id}.jpg")
    write_table(test.loc[:, ["id", "label"]], Path(private) / ANSWERS_FILE)
    write_table(sample_submission(test["id"], "id", {"label": 0.5}), Path(public) / "sample_submission.csv")
    return Prepared("id", ["label"], train_rows=len(train), test_rows=len(test))


def prepare_text_normalization(language: str) -> Callable[..., Prepared]:
    """Token rows grouped in sentences; a whole sentence goes to one side; id = sentence_token."""

    def prepare(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
        train_name = f"{language}_train.csv"
        table = read_table(Path(raw) / train_name, keep_default_na=False)
        expected = ["sentence_id", "token_id", "class", "before", "after"]
        if list(table.columns) != expected:
            raise RecipeError(f"expected columns {expected} in {train_name}, got {list(table.columns)}")
        train, test = split_rows(table, test_size=0.1, seed=seed, groups=table["sentence_id"])
        write_table(train, Path(public) / train_name)
        write_table(test.loc[:, ["sentence_id", "token_id", "before"]], Path(public) / f"{language}_test_2.csv")
        ids = test["sentence_id"].astype(str) + "_" + test["token_id"].astype(str)
        write_table(pd.DataFrame({"id": ids, "after": test["after"]}), Path(private) / ANSWERS_FILE)
        sample = pd.DataFrame({"id": ids, "after": test["before"]})
        write_table(sample, Path(public) / f"{language}_sample_submission_2.csv")
        return Prepared(
            "id", ["after"], submission_file=f"{language}_sample_submission_2.csv",
            train_rows=len(train), test_rows=len(test),
        )

    return prepare


CUSTOM: dict[str, Callable[..., Prepared]] = {
    "dogs_vs_cats": prepare_dogs_vs_cats,
    "text_normalization_en": prepare_text_normalization("en"),
    "text_normalization_ru": prepare_text_normalization("ru"),
}
