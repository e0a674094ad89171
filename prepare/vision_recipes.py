"""Recipes for layouts whose labels are not one row per id in a table: boxes listed one per
row (global wheat), labels in folder names with one picture in several versions
(ALASKA2's cover and stego images), numpy arrays (the TIMIT frames of ML2021Spring hw2)
and images stored as parquet rows with three labels each (Bengali graphemes).

Each is ``prepare(raw, public, private, **options) -> Prepared``, registered in CUSTOM and
named by a catalog entry's ``recipe = {kind = "..."}``; as everywhere, a new seeded split of
the labelled data, the held-out labels to private/ only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .common import ANSWERS_NAME, seeded_split
from .recipes import Prepared, RecipeError, link_or_copy, read_table, split_rows, write_table


def _box_text(boxes: list[list[float]]) -> str:
    """Boxes as a submission's PredictionString: "confidence x y width height" each."""
    return " ".join(f"1.0 {x:g} {y:g} {w:g} {h:g}" for x, y, w, h in boxes)


def prepare_wheat_boxes(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """train.csv lists one box a row ("[x, y, width, height]"); images without wheat have no
    row but are in train/. The answers give each test image its boxes in the submission's
    format, so an image with no box has an empty PredictionString."""
    raw, public, private = Path(raw), Path(public), Path(private)
    table = read_table(raw / "train.csv", id_column="image_id")
    missing = {"image_id", "width", "height", "bbox"} - set(table.columns)
    if missing:
        raise RecipeError(f"expected columns {sorted(missing)} in train.csv, got {list(table.columns)}")
    images = sorted(p.stem for p in (raw / "train").glob("*.jpg"))
    if not images:
        raise RecipeError(f"expected the images train/<image_id>.jpg in {raw}, got none")
    try:
        boxes = table["bbox"].map(json.loads)
    except ValueError as exc:
        raise RecipeError(f"expected bbox cells such as '[834.0, 222.0, 56.0, 36.0]' in train.csv, got: {exc}") from None
    per_image: dict[str, list[list[float]]] = boxes.groupby(table["image_id"]).agg(list).to_dict()
    frame = pd.DataFrame({"image_id": images})
    train, test = split_rows(frame, test_size=0.2, seed=seed)
    in_test = set(test["image_id"])
    write_table(table.loc[~table["image_id"].isin(in_test)], public / "train.csv")
    for image in images:
        link_or_copy(raw / "train" / f"{image}.jpg", public / ("test" if image in in_test else "train") / f"{image}.jpg")
    truth = [_box_text(per_image.get(image, [])) for image in test["image_id"]]
    write_table(pd.DataFrame({"image_id": test["image_id"].to_numpy(), "PredictionString": truth}), private / ANSWERS_NAME)
    # a valid, uninformed guess: one box over the whole 1024 x 1024 image
    sample = pd.DataFrame({"image_id": test["image_id"].to_numpy(), "PredictionString": "0.5 0 0 1024 1024"})
    write_table(sample, public / "sample_submission.csv")
    return Prepared("image_id", ["PredictionString"], train_rows=len(train), test_rows=len(test))


STEGO_FOLDERS = ("JMiPOD", "JUNIWARD", "UERD")  # the three ways ALASKA2 hid a message


def prepare_cover_and_stego(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """Cover/<n>.jpg and the same pictures with a hidden message in JMiPOD/, JUNIWARD/ and
    UERD/. A picture and its versions go to one side (a test image whose cover were in
    train would give its label away by a byte comparison); each test picture is shown in
    one version, renamed to a number: half of them as the cover, half with a message hidden
    by one of the three methods drawn at random."""
    raw, public, private = Path(raw), Path(public), Path(private)
    covers = sorted(p.name for p in (raw / "Cover").glob("*.jpg"))
    if not covers:
        raise RecipeError(f"expected the pictures Cover/<n>.jpg (and JMiPOD/, JUNIWARD/, UERD/) in {raw}, got none")
    train_idx, test_idx = seeded_split(len(covers), 0.2, seed)
    for i in train_idx:
        for folder in ("Cover", *STEGO_FOLDERS):
            if (raw / folder / covers[i]).is_file():
                link_or_copy(raw / folder / covers[i], public / folder / covers[i])
    rng = np.random.default_rng(seed)
    shown_as_cover = set(rng.permutation(sorted(test_idx))[: len(test_idx) // 2].tolist())  # both classes, evenly
    ids, labels = [], []
    for number, i in enumerate(sorted(test_idx), start=1):
        folder = "Cover" if i in shown_as_cover else STEGO_FOLDERS[int(rng.integers(0, 3))]
        source = raw / folder / covers[i]
        if not source.is_file():
            raise RecipeError(f"expected {folder}/{covers[i]} beside Cover/{covers[i]} in {raw}, got nothing there")
        ids.append(f"{number:04d}.jpg")
        labels.append(int(folder != "Cover"))
        link_or_copy(source, public / "Test" / ids[-1])
    write_table(pd.DataFrame({"Id": ids, "Label": labels}), private / ANSWERS_NAME)
    write_table(pd.DataFrame({"Id": ids, "Label": 0.5}), public / "sample_submission.csv")
    return Prepared("Id", ["Label"], train_rows=len(train_idx), test_rows=len(test_idx))


def prepare_timit_frames(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """ML2021Spring hw2: train_11.npy (frames x 429 features) and train_label_11.npy (the
    phoneme of each frame); a held-out share of frames becomes test_11.npy, keyed by row
    number as Kaggle's Id. The arrays are read without pickles (a raw file runs no code)."""
    raw, public, private = Path(raw), Path(public), Path(private)
    found = {name: sorted(raw.rglob(name)) for name in ("train_11.npy", "train_label_11.npy")}
    if not all(found.values()):
        raise RecipeError(f"expected train_11.npy and train_label_11.npy (in timit_11/) under {raw}, got neither or one")
    try:
        features = np.load(found["train_11.npy"][0], allow_pickle=False)
        labels = np.load(found["train_label_11.npy"][0], allow_pickle=False).astype(str)
    except ValueError as exc:
        raise RecipeError(f"expected plain numpy arrays in timit_11/, got: {exc}") from None
    if features.ndim != 2 or len(features) != len(labels):
        raise RecipeError(f"expected one label per frame, got {features.shape} frames and {labels.shape} labels")
    train_idx, test_idx = seeded_split(len(labels), 0.2, seed)
    folder = public / "timit_11"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "train_11.npy", features[train_idx])
    np.save(folder / "train_label_11.npy", labels[train_idx])
    np.save(folder / "test_11.npy", features[test_idx])
    ids = np.arange(len(test_idx))
    write_table(pd.DataFrame({"Id": ids, "Class": labels[test_idx]}), private / ANSWERS_NAME)
    common = pd.Series(labels[train_idx]).mode().iloc[0]
    write_table(pd.DataFrame({"Id": ids, "Class": common}), public / "sampleSubmission.csv")
    classes = sorted(set(labels.tolist()), key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))
    return Prepared("Id", ["Class"], submission_file="sampleSubmission.csv", train_rows=len(train_idx),
                    test_rows=len(test_idx), labels={"Class": classes})


BENGALI_COMPONENTS = ("consonant_diacritic", "grapheme_root", "vowel_diacritic")  # Kaggle's row order per image


def _parquet_rows(source: Path, target: Path, keep: dict[str, str]) -> int:
    """Copy the rows of an image parquet file whose image_id is in ``keep``, renamed to
    keep[image_id]; columns stay as they are (pyarrow filters the rows without a pandas
    copy of the 32,332 pixel columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise RecipeError(f"expected {source.name} to be a parquet table of images, got: {exc}") from None
    if "image_id" not in table.column_names:
        raise RecipeError(f"expected an image_id column in {source.name}, got {table.column_names[:5]}...")
    table = table.filter(pa.array([image in keep for image in table["image_id"].to_pylist()], type=pa.bool_()))
    if table.num_rows:
        renamed = pa.array([keep[i] for i in table["image_id"].to_pylist()])
        table = table.set_column(table.column_names.index("image_id"), "image_id", renamed)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)
    return table.num_rows


def prepare_bengali_graphemes(raw: Path, public: Path, private: Path, *, seed: int = 0) -> Prepared:
    """train.csv gives each image three labels (grapheme root, vowel and consonant
    diacritics); the pixels are rows of train_image_data_<k>.parquet. Held-out images
    become Test_<n> rows of test_image_data_<k>.parquet, and the answers Kaggle's long
    format: one row_id Test_<n>_<component> per label, with the component beside it for
    the metric's per-component recall."""
    raw, public, private = Path(raw), Path(public), Path(private)
    table = read_table(raw / "train.csv", id_column="image_id")
    missing = {"image_id", *BENGALI_COMPONENTS} - set(table.columns)
    if missing:
        raise RecipeError(f"expected columns {sorted(missing)} in train.csv, got {list(table.columns)}")
    parts = sorted(raw.glob("train_image_data_*.parquet"))
    if not parts:
        raise RecipeError(f"expected the images as train_image_data_<k>.parquet in {raw}, got none")
    train, test = split_rows(table, test_size=0.2, seed=seed)
    test = test.assign(new_id=[f"Test_{i}" for i in range(len(test))])
    write_table(train, public / "train.csv")
    for part in parts:
        _parquet_rows(part, public / part.name, {i: i for i in train["image_id"]})
        _parquet_rows(part, public / part.name.replace("train_", "test_"), dict(zip(test["image_id"], test["new_id"], strict=True)))
    if (raw / "class_map.csv").is_file():
        link_or_copy(raw / "class_map.csv", public / "class_map.csv")
    rows = [(f"{new}_{c}", new, c, str(label)) for new, labels in zip(test["new_id"], test[list(BENGALI_COMPONENTS)].to_numpy(), strict=True)
            for c, label in zip(BENGALI_COMPONENTS, labels, strict=True)]
    long = pd.DataFrame(rows, columns=["row_id", "image_id", "component", "target"])
    write_table(long.loc[:, ["row_id", "image_id", "component"]], public / "test.csv")
    write_table(long.loc[:, ["row_id", "target", "component"]], private / ANSWERS_NAME)
    write_table(long.loc[:, ["row_id"]].assign(target="0"), public / "sample_submission.csv")
    labels = sorted({str(v) for c in BENGALI_COMPONENTS for v in table[c]} | {"0"}, key=lambda v: (len(v), v))
    return Prepared("row_id", ["target"], train_rows=len(train), test_rows=len(test), labels={"target": labels})


CUSTOM: dict[str, Callable[..., Prepared]] = {
    "wheat_boxes": prepare_wheat_boxes,
    "cover_and_stego": prepare_cover_and_stego,
    "timit_frames": prepare_timit_frames,
    "bengali_graphemes": prepare_bengali_graphemes,
}
