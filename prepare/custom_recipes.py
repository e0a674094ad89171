"""Recipes for Kaggle layouts that are not one labelled table: labels in folder or file
names, image-to-image pairs, sequences to continue, groups to match.

Each is ``prepare(raw, public, private, **options) -> Prepared``, registered in CUSTOM and
named by a catalog entry's ``recipe = {kind = "..."}``. As in recipes.py: a new seeded
split of the labelled data, the held-out labels to private/ only, test files renamed so
that a name never gives the label away.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from .common import ANSWERS_NAME
from .recipes import (
    Prepared,
    RecipeError,
    link_or_copy,
    read_table,
    split_rows,
    write_table,
)


def _labelled_files(folder: Path) -> pd.DataFrame:
    """file, label rows for folder/<label>/<file>; folders named _x (background noise) are not labels."""
    if not folder.is_dir():
        raise RecipeError(f"expected the folder {folder.name}/ with one sub-folder per class in {folder.parent}, got none")
    rows = [
        (path.relative_to(folder).as_posix(), label.name)
        for label in sorted(folder.iterdir())
        if label.is_dir() and not label.name.startswith("_")
        for path in sorted(label.iterdir())
        if path.is_file()
    ]
    if not rows:
        raise RecipeError(f"expected files in {folder}/<class>/, got none")
    return pd.DataFrame(rows, columns=["path", "label"])


def prepare_image_folders(
    raw: Path,
    public: Path,
    private: Path,
    *,
    id_column: str,
    target: str = "label",
    classes_as_columns: bool = False,
    folder: str = "train",
    test_folder: str = "test",
    sample: str = "sample_submission.csv",
    seed: int = 0,
) -> Prepared:
    """Labels are folder names (train/<class>/<file>): fisheries, plant seedlings, speech commands."""
    table = _labelled_files(Path(raw) / folder)
    train, test = split_rows(table, test_size=0.2, seed=seed, stratify=table["label"])
    for path in train["path"]:
        link_or_copy(Path(raw) / folder / path, Path(public) / folder / path)
    names = [f"{i:06d}{Path(path).suffix}" for i, path in enumerate(test["path"])]
    for path, name in zip(test["path"], names, strict=True):
        link_or_copy(Path(raw) / folder / path, Path(public) / test_folder / name)
    classes = sorted(table["label"].unique())
    labels = test["label"].to_numpy()
    if classes_as_columns:
        answers = pd.DataFrame({id_column: names, **{c: (labels == c).astype(int) for c in classes}})
        filled = pd.DataFrame({id_column: names, **{c: round(1 / len(classes), 6) for c in classes}})
        targets, label_set = classes, {}
    else:
        answers = pd.DataFrame({id_column: names, target: labels})
        filled = pd.DataFrame({id_column: names, target: train["label"].mode().iloc[0]})
        targets, label_set = [target], {target: classes}
    write_table(answers, Path(private) / ANSWERS_NAME)
    write_table(filled, Path(public) / sample)
    return Prepared(id_column, targets, submission_file=sample, train_rows=len(train), test_rows=len(test),
                    labels=label_set)


def prepare_label_in_name(
    raw: Path, public: Path, private: Path, *, folder: str, id_column: str, target: str, sample: str, seed: int = 0
) -> Prepared:
    """The label is the file name's last part (right whale clips: ..._TRAIN12_1.aif is a call)."""
    files = sorted(p for p in (Path(raw) / folder).glob("*") if p.is_file())
    label = [p.stem.rsplit("_", 1)[-1] for p in files]
    if not files or not set(label) <= {"0", "1"}:
        raise RecipeError(f"expected {folder}/<name>_0.<ext> and <name>_1.<ext> files in {raw}, got {len(files)} files")
    table = pd.DataFrame({"file": [p.name for p in files], "label": np.asarray(label, dtype=int)})
    train, test = split_rows(table, test_size=0.2, seed=seed, stratify=table["label"])
    for name in train["file"]:
        link_or_copy(Path(raw) / folder / name, Path(public) / folder / name)
    clips = [f"Test{i}{Path(name).suffix}" for i, name in enumerate(test["file"])]
    for name, clip in zip(test["file"], clips, strict=True):
        link_or_copy(Path(raw) / folder / name, Path(public) / "test" / clip)
    write_table(pd.DataFrame({id_column: clips, target: test["label"].to_numpy()}), Path(private) / ANSWERS_NAME)
    write_table(pd.DataFrame({id_column: clips, target: 0.5}), Path(public) / sample)
    return Prepared(id_column, [target], submission_file=sample, train_rows=len(train), test_rows=len(test))


def prepare_denoising(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """Image to image: train/<n>.png noisy, train_cleaned/<n>.png clean; the answers are the
    clean pixels of the held-out images as Kaggle's rows ``<image>_<row>_<col>,value`` (1-based,
    intensity in [0, 1])."""
    from PIL import Image

    noisy = sorted((Path(raw) / "train").glob("*.png"))
    pairs = [p for p in noisy if (Path(raw) / "train_cleaned" / p.name).is_file()]
    if len(pairs) < 4:
        raise RecipeError(f"expected train/<n>.png with train_cleaned/<n>.png beside them in {raw}, got {len(pairs)} pairs")
    table = pd.DataFrame({"file": [p.name for p in pairs]})
    train, test = split_rows(table, test_size=0.2, seed=seed)
    for name in train["file"]:
        link_or_copy(Path(raw) / "train" / name, Path(public) / "train" / name)
        link_or_copy(Path(raw) / "train_cleaned" / name, Path(public) / "train_cleaned" / name)
    ids, values = [], []
    for number, name in enumerate(test["file"], start=1):
        link_or_copy(Path(raw) / "train" / name, Path(public) / "test" / f"{number}.png")
        with Image.open(Path(raw) / "train_cleaned" / name) as image:
            pixels = np.asarray(image.convert("L"), dtype=float) / 255
        rows, cols = np.indices(pixels.shape)
        ids.append(pd.Series([f"{number}_{r + 1}_{c + 1}" for r, c in zip(rows.ravel(), cols.ravel())]))
        values.append(pixels.ravel().round(6))
    answers = pd.DataFrame({"id": pd.concat(ids, ignore_index=True), "value": np.concatenate(values)})
    write_table(answers, Path(private) / ANSWERS_NAME)
    write_table(answers.assign(value=1.0), Path(public) / "sampleSubmission.csv")
    return Prepared("id", ["value"], submission_file="sampleSubmission.csv", train_rows=len(train), test_rows=len(test))


def prepare_integer_sequences(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """Held-out sequences lose their last term, which is the answer (Id,Last)."""
    table = read_table(Path(raw) / "train.csv", id_column="Id", dtype={"Sequence": str})
    if list(table.columns) != ["Id", "Sequence"]:
        raise RecipeError(f"expected columns ['Id', 'Sequence'] in train.csv, got {list(table.columns)}")
    terms = table["Sequence"].str.split(",")
    table = table.loc[terms.str.len() >= 2].reset_index(drop=True)
    train, test = split_rows(table, test_size=0.2, seed=seed)
    parts = test["Sequence"].str.rsplit(",", n=1)
    write_table(train, Path(public) / "train.csv")
    write_table(pd.DataFrame({"Id": test["Id"], "Sequence": parts.str[0]}), Path(public) / "test.csv")
    write_table(pd.DataFrame({"Id": test["Id"], "Last": parts.str[1]}), Path(private) / ANSWERS_NAME)
    write_table(pd.DataFrame({"Id": test["Id"], "Last": 0}), Path(public) / "sample_submission.csv")
    return Prepared("Id", ["Last"], train_rows=len(train), test_rows=len(test))


def prepare_shopee_matches(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """Postings of one label_group match each other: the answer is the space-separated
    posting_ids of a test posting's group (itself included); whole groups go to one side."""
    table = read_table(Path(raw) / "train.csv", id_column="posting_id", dtype={"label_group": str})
    train, test = split_rows(table, test_size=0.2, seed=seed, groups=table["label_group"])
    write_table(train, Path(public) / "train.csv")
    write_table(test.drop(columns=["label_group"]), Path(public) / "test.csv")
    for rows, folder in ((train, "train_images"), (test, "test_images")):
        for image in rows["image"].unique():
            link_or_copy(Path(raw) / "train_images" / image, Path(public) / folder / image)
    members = cast(pd.Series, test.groupby("label_group")["posting_id"].agg(" ".join))  # one column aggregated
    answers = pd.DataFrame({"posting_id": test["posting_id"], "matches": test["label_group"].map(members)})
    write_table(answers, Path(private) / ANSWERS_NAME)
    write_table(pd.DataFrame({"posting_id": test["posting_id"], "matches": test["posting_id"]}),
                Path(public) / "sample_submission.csv")
    return Prepared("posting_id", ["matches"], train_rows=len(train), test_rows=len(test))


def prepare_missing_word(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """billion-word-imputation: held-out sentences lose one word (never the first or last);
    the answer is the whole sentence (id,sentence), scored by edit distance."""
    lines = [line for line in (Path(raw) / "train_v2.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    table = pd.DataFrame({"sentence": lines})
    table = table.loc[table["sentence"].str.split().str.len() >= 3].reset_index(drop=True)
    train, test = split_rows(table, test_size=0.1, seed=seed)
    rng = np.random.default_rng(seed)
    damaged = []
    for sentence in test["sentence"]:
        words = sentence.split()
        del words[int(rng.integers(1, len(words) - 1))]
        damaged.append(" ".join(words))
    ids = list(range(1, len(test) + 1))
    (Path(public) / "train_v2.txt").write_text("\n".join(train["sentence"]) + "\n", encoding="utf-8")
    write_table(pd.DataFrame({"id": ids, "sentence": damaged}), Path(public) / "test_v2.csv")
    write_table(pd.DataFrame({"id": ids, "sentence": test["sentence"].to_numpy()}), Path(private) / ANSWERS_NAME)
    write_table(pd.DataFrame({"id": ids, "sentence": damaged}), Path(public) / "sample_submission.csv")
    return Prepared("id", ["sentence"], train_rows=len(train), test_rows=len(test))


# bigquery-geotab-intersection-congestion: TargetId "<RowId>_<k>" names these six targets.
GEOTAB_TARGETS = (
    "TotalTimeStopped_p20", "TotalTimeStopped_p50", "TotalTimeStopped_p80",
    "DistanceToFirstStop_p20", "DistanceToFirstStop_p50", "DistanceToFirstStop_p80",
)


def prepare_geotab(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """Six targets per intersection row, submitted flattened as TargetId = RowId_k, Target."""
    table = read_table(Path(raw) / "train.csv", id_column="RowId")
    missing = [c for c in ("RowId", "IntersectionId", *GEOTAB_TARGETS) if c not in table.columns]
    if missing:
        raise RecipeError(f"expected columns {missing} in train.csv, got {list(table.columns)[:20]}")
    train, test = split_rows(table, test_size=0.2, seed=seed, groups=table["City"].astype(str) + table["IntersectionId"].astype(str))
    measured = [c for c in table.columns if c.startswith(("TotalTimeStopped", "TimeFromFirstStop", "DistanceToFirstStop"))]
    write_table(train, Path(public) / "train.csv")
    write_table(test.drop(columns=measured), Path(public) / "test.csv")
    ids = [f"{row}_{k}" for row in test["RowId"] for k in range(len(GEOTAB_TARGETS))]
    values = test[list(GEOTAB_TARGETS)].to_numpy(dtype=float).ravel()
    write_table(pd.DataFrame({"TargetId": ids, "Target": values}), Path(private) / ANSWERS_NAME)
    write_table(pd.DataFrame({"TargetId": ids, "Target": 0}), Path(public) / "sample_submission.csv")
    return Prepared("TargetId", ["Target"], train_rows=len(train), test_rows=len(test))


def prepare_nbme_spans(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """Feature spans in patient notes: train.csv's location is a Python-list literal
    (['696 724', '733 739']); the answers and submissions use Kaggle's "696 724;733 739".
    Whole notes (pn_num) go to one side."""
    table = read_table(Path(raw) / "train.csv", id_column="id", dtype={"pn_num": str})
    for column in ("id", "pn_num", "feature_num", "location"):
        if column not in table.columns:
            raise RecipeError(f"expected the column {column!r} in train.csv, got {list(table.columns)}")
    train, test = split_rows(table, test_size=0.2, seed=seed, groups=table["pn_num"])
    spans = test["location"].fillna("").str.replace(r"[\[\]']", "", regex=True).str.replace(", ", ";")
    write_table(train, Path(public) / "train.csv")
    write_table(test.drop(columns=["annotation", "location"], errors="ignore"), Path(public) / "test.csv")
    for side in ("patient_notes.csv", "features.csv"):
        if (Path(raw) / side).is_file():
            link_or_copy(Path(raw) / side, Path(public) / side)
    write_table(pd.DataFrame({"id": test["id"], "location": spans}), Path(private) / ANSWERS_NAME)
    write_table(pd.DataFrame({"id": test["id"], "location": ""}), Path(public) / "sample_submission.csv")
    return Prepared("id", ["location"], train_rows=len(train), test_rows=len(test))


def prepare_mlsp_birds(raw: Path, public: Path, private: Path, *, seed: int = 0, species: int = 19) -> Prepared:
    """mlsp-2013-birds: rec_labels_test_hidden.txt lists each recording's species ("3,11,12";
    "?" for Kaggle's test). Held-out recordings become "?" (and fold 1) in the public copy;
    the answers are Kaggle's rows Id = rec_id * 100 + species, Probability 0 or 1."""
    base = Path(raw) / "mlsp_contest_dataset" if (Path(raw) / "mlsp_contest_dataset").is_dir() else Path(raw)
    essential = base / "essential_data"
    labels_file = essential / "rec_labels_test_hidden.txt"
    if not labels_file.is_file():
        raise RecipeError(f"expected essential_data/rec_labels_test_hidden.txt in {base}, got none")
    lines = labels_file.read_text(encoding="utf-8").splitlines()
    known = {}
    for line in lines[1:]:
        rec, *rest = line.strip().split(",")
        if rec and "?" not in rest:
            known[int(rec)] = {int(x) for x in rest if x.strip()}
    table = pd.DataFrame({"rec_id": sorted(known)})
    train, test = split_rows(table, test_size=0.25, seed=seed)
    held = set(test["rec_id"])
    hidden = [lines[0]] + [f"{line.split(',')[0]},?" if line.split(",")[0].isdigit() and int(line.split(",")[0]) in held
                           else line for line in lines[1:]]
    out = Path(public) / "essential_data"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rec_labels_test_hidden.txt").write_text("\n".join(hidden) + "\n", encoding="utf-8")
    folds = pd.read_csv(essential / "CVfolds_2.txt")
    folds.loc[folds["rec_id"].isin(held), "fold"] = 1
    folds.to_csv(out / "CVfolds_2.txt", index=False)
    for other in essential.iterdir():
        if other.name not in ("rec_labels_test_hidden.txt", "CVfolds_2.txt"):
            if other.is_dir():
                for item in other.rglob("*"):
                    if item.is_file():
                        link_or_copy(item, out / item.relative_to(essential))
            else:
                link_or_copy(other, out / other.name)
    ids = [rec * 100 + k for rec in sorted(held) for k in range(species)]
    truth = [int(k in known[rec]) for rec in sorted(held) for k in range(species)]
    write_table(pd.DataFrame({"Id": ids, "Probability": truth}), Path(private) / ANSWERS_NAME)
    write_table(pd.DataFrame({"Id": ids, "Probability": 0.5}), Path(public) / "sample_submission.csv")
    return Prepared("Id", ["Probability"], train_rows=len(train), test_rows=len(test))


KEYPOINT_LOOKUP = "IdLookupTable.csv"


def prepare_facial_keypoints(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """facial-keypoints-detection: 30 keypoint columns and an Image column per face; Kaggle
    asks for the keypoints listed in IdLookupTable.csv (RowId, ImageId, FeatureName) as rows
    RowId,Location. Only keypoints the training data has are asked."""
    table = read_table(Path(raw) / "training.csv")
    if "Image" not in table.columns:
        raise RecipeError(f"expected an Image column in training.csv, got {list(table.columns)[:10]}")
    features = [c for c in table.columns if c != "Image"]
    table.insert(0, "ImageId", range(1, len(table) + 1))
    train, test = split_rows(table, test_size=0.2, seed=seed)
    write_table(train.drop(columns=["ImageId"]), Path(public) / "training.csv")
    test = test.assign(ImageId=range(1, len(test) + 1))
    write_table(test.loc[:, ["ImageId", "Image"]], Path(public) / "test.csv")
    long = test.melt(id_vars=["ImageId"], value_vars=features, var_name="FeatureName", value_name="Location")
    long = long.dropna(subset=["Location"]).sort_values(["ImageId", "FeatureName"], kind="stable")
    long.insert(0, "RowId", range(1, len(long) + 1))
    write_table(long.loc[:, ["RowId", "ImageId", "FeatureName"]], Path(public) / KEYPOINT_LOOKUP)
    write_table(long.loc[:, ["RowId", "Location"]], Path(private) / ANSWERS_NAME)
    write_table(long[["RowId"]].assign(Location=48.0), Path(public) / "SampleSubmission.csv")
    return Prepared("RowId", ["Location"], submission_file="SampleSubmission.csv", train_rows=len(train),
                    test_rows=len(test))


def prepare_multilabel_files(
    raw: Path, public: Path, private: Path, *, train_file: str, folder: str, id_column: str = "fname",
    labels_column: str = "labels", sample: str = "sample_submission.csv", seed: int = 0,
) -> Prepared:
    """freesound-audio-tagging-2019: a row's labels are comma-separated ("Bark,Walk_and_footsteps");
    the submission has one probability column per class (Kaggle's sample lists them)."""
    table = read_table(Path(raw) / train_file, id_column=id_column)
    sets = table[labels_column].fillna("").str.split(",")
    raw_sample = Path(raw) / sample
    classes = (list(pd.read_csv(raw_sample, nrows=0).columns)[1:] if raw_sample.is_file()
               else sorted({label for labels in sets for label in labels if label}))
    train, test = split_rows(table, test_size=0.2, seed=seed)
    write_table(train, Path(public) / train_file)
    for rows, out in ((train, folder), (test, "test")):
        for name in rows[id_column]:
            link_or_copy(Path(raw) / folder / name, Path(public) / out / name)
    test_sets = sets.loc[test.index]
    answers = pd.DataFrame({id_column: test[id_column].to_numpy(),
                            **{c: [int(c in labels) for labels in test_sets] for c in classes}})
    write_table(answers, Path(private) / ANSWERS_NAME)
    write_table(answers.assign(**{c: 0.0 for c in classes}), Path(public) / sample)
    return Prepared(id_column, classes, submission_file=sample, train_rows=len(train), test_rows=len(test))


def prepare_hm_purchases(raw: Path, public: Path, private: Path, *, days: int = 7, k: int = 12) -> Prepared:
    """h-and-m-personalized-fashion-recommendations: the last ``days`` of transactions are the
    test week; every customer gets a row (customer_id, prediction: up to 12 article ids), and
    only customers who bought in that week are scored (``scored`` = 1), as on Kaggle."""
    transactions = read_table(Path(raw) / "transactions_train.csv", dtype={"customer_id": str, "article_id": str})
    when = pd.to_datetime(transactions["t_dat"])
    cut = when.max() - pd.Timedelta(days=days - 1)
    past, week = transactions.loc[when < cut], transactions.loc[when >= cut]
    if past.empty or week.empty:
        raise RecipeError(f"expected transactions before and within the last {days} days, got {len(past)} and {len(week)}")
    write_table(past, Path(public) / "transactions_train.csv")
    customers = read_table(Path(raw) / "customers.csv", id_column="customer_id")
    for side in ("customers.csv", "articles.csv"):
        link_or_copy(Path(raw) / side, Path(public) / side)
    bought = week.groupby("customer_id")["article_id"].agg(lambda items: " ".join(dict.fromkeys(items)))
    ids = customers["customer_id"]
    answers = pd.DataFrame({"customer_id": ids, "prediction": ids.map(bought).fillna(""),
                            "scored": ids.isin(bought.index).astype(int)})
    write_table(answers, Path(private) / ANSWERS_NAME)
    popular = " ".join(past["article_id"].value_counts().index[:k])
    write_table(pd.DataFrame({"customer_id": ids, "prediction": popular}), Path(public) / "sample_submission.csv")
    return Prepared("customer_id", ["prediction"], train_rows=len(past), test_rows=len(week))


RNA_SCORED = ("reactivity", "deg_Mg_pH10", "deg_Mg_50C")
RNA_UNSCORED = ("deg_pH10", "deg_50C")


def prepare_rna_degradation(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """stanford-covid-vaccine: one JSON line per RNA with per-base target arrays for its first
    seq_scored bases. Submissions have a row per base (id_seqpos) and five target columns;
    three are scored (MCRMSE), on the scored bases only (``scored`` = 1)."""
    table = pd.read_json(Path(raw) / "train.json", lines=True)
    missing = [c for c in ("id", "seq_length", "seq_scored", *RNA_SCORED, *RNA_UNSCORED) if c not in table.columns]
    if missing:
        raise RecipeError(f"expected {missing} in train.json (JSON lines), got {list(table.columns)}")
    train, test = split_rows(table, test_size=0.2, seed=seed)
    train.to_json(Path(public) / "train.json", orient="records", lines=True)
    hidden = [c for c in table.columns if c in (*RNA_SCORED, *RNA_UNSCORED) or c.endswith("_error")
              or c in ("signal_to_noise", "SN_filter")]
    test.drop(columns=hidden).to_json(Path(public) / "test.json", orient="records", lines=True)
    rows = []
    for record in test.to_dict("records"):
        for pos in range(int(record["seq_length"])):
            scored = pos < int(record["seq_scored"])
            values = [float(record[c][pos]) if scored else 0.0 for c in (*RNA_SCORED, *RNA_UNSCORED)]
            rows.append((f"{record['id']}_{pos}", *values, int(scored)))
    answers = pd.DataFrame(rows, columns=["id_seqpos", *RNA_SCORED, *RNA_UNSCORED, "scored"])
    write_table(answers, Path(private) / ANSWERS_NAME)
    write_table(answers[["id_seqpos"]].assign(**{c: 0.0 for c in (*RNA_SCORED, *RNA_UNSCORED)}),
                Path(public) / "sample_submission.csv")
    return Prepared("id_seqpos", list(RNA_SCORED), train_rows=len(train), test_rows=len(test),
                    unscored_columns=list(RNA_UNSCORED))


PLAN = ("A", "B", "C", "D", "E", "F", "G")


def prepare_purchase_plans(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """allstate-purchase-prediction-challenge: each customer's quote history ends in a
    purchase (record_type 1); held-out customers keep a random prefix of their quotes, and
    the answer is the purchased plan, options A..G written together ("1120011")."""
    table = read_table(Path(raw) / "train.csv", id_column="customer_ID")
    missing = [c for c in ("customer_ID", "shopping_pt", "record_type", *PLAN) if c not in table.columns]
    if missing:
        raise RecipeError(f"expected columns {missing} in train.csv, got {list(table.columns)[:20]}")
    bought = table.loc[table["record_type"] == 1].drop_duplicates("customer_ID").set_index("customer_ID")
    customers = pd.DataFrame({"customer_ID": bought.index})
    train_ids, test_ids = split_rows(customers, test_size=0.2, seed=seed)
    write_table(table.loc[table["customer_ID"].isin(set(train_ids["customer_ID"]))], Path(public) / "train.csv")
    rng = np.random.default_rng(seed)
    quotes = table.loc[table["customer_ID"].isin(set(test_ids["customer_ID"])) & (table["record_type"] == 0)]
    kept = []
    for _, rows in quotes.groupby("customer_ID", sort=False):
        kept.append(rows.sort_values("shopping_pt").head(int(rng.integers(2, len(rows) + 1)) if len(rows) > 2 else len(rows)))
    write_table(pd.concat(kept) if kept else quotes, Path(public) / "test_v2.csv")
    plans = bought.loc[test_ids["customer_ID"], list(PLAN)].astype(int).astype(str).agg("".join, axis=1)
    write_table(pd.DataFrame({"customer_ID": plans.index, "plan": plans.to_numpy()}), Path(private) / ANSWERS_NAME)
    last = quotes.sort_values("shopping_pt").groupby("customer_ID")[list(PLAN)].last()
    guess = last.reindex(plans.index).fillna(0).astype(int).astype(str).agg("".join, axis=1)
    write_table(pd.DataFrame({"customer_ID": plans.index, "plan": guess.to_numpy()}), Path(public) / "sampleSubmission.csv")
    return Prepared("customer_ID", ["plan"], submission_file="sampleSubmission.csv", train_rows=len(train_ids),
                    test_rows=len(test_ids))


CUSTOM: dict[str, Callable[..., Prepared]] = {
    "purchase_plans": prepare_purchase_plans,
    "rna_degradation": prepare_rna_degradation,
    "hm_purchases": prepare_hm_purchases,
    "multilabel_files": prepare_multilabel_files,
    "mlsp_birds": prepare_mlsp_birds,
    "facial_keypoints": prepare_facial_keypoints,
    "nbme_spans": prepare_nbme_spans,
    "missing_word": prepare_missing_word,
    "geotab": prepare_geotab,
    "image_folders": prepare_image_folders,
    "label_in_name": prepare_label_in_name,
    "denoising": prepare_denoising,
    "integer_sequences": prepare_integer_sequences,
    "shopee_matches": prepare_shopee_matches,
}
