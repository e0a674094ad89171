"""MLE-bench's prepared folders register unchanged, with no extra arguments.

For each competition the test builds what MLE-bench's own preparation writes from a
synthetic raw folder in Kaggle's layout (the raw files of test_catalog.py): the file
names of its ``config.yaml`` (answers ``private/test.csv`` or ``private/answers.csv``,
Kaggle's own sample-submission names), answers holding the whole held-out rows where
MLE-bench keeps them, one-hot answers for the multiclass log-loss competitions, Kaggle's
-1 rows in jigsaw, no id column in detecting-insults. Then ``register(path)``: the metric
comes from the catalog, the sample submission is valid, the answers score the best value,
and a leaderboard kept in an mle-bench checkout is found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dojo_kernel.competition import load_competition_dir, register
from dojo_kernel.errors import CompetitionFormatError
from dojo_kernel.metrics import get_metric
from dojo_kernel.prepare.catalog import get_entry
from test_catalog import LAYOUTS, write_raw

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mle-bench"


@dataclass(frozen=True)
class MleBench:
    """How MLE-bench's prepare.py lays one competition out (from its config.yaml)."""

    answers: str = "test.csv"
    sample: str = "sample_submission.csv"
    form: str = "full"  # full: the held-out rows with every column; id_target; onehot
    sample_in_private: bool = False  # text normalization keeps only zips in public/


MLEBENCH: dict[str, MleBench] = {
    "aerial-cactus-identification": MleBench(form="id_target"),
    "aptos2019-blindness-detection": MleBench(form="id_target"),
    "cassava-leaf-disease-classification": MleBench(form="id_target"),
    "dog-breed-identification": MleBench(form="onehot"),
    "histopathologic-cancer-detection": MleBench(answers="answers.csv", form="id_target"),
    "jigsaw-toxic-comment-classification-challenge": MleBench(form="id_target"),
    "leaf-classification": MleBench(form="onehot"),
    "learning-agency-lab-automated-essay-scoring-2": MleBench(answers="answers.csv", form="id_target"),
    "lmsys-chatbot-arena": MleBench(answers="answers.csv", form="id_target"),
    "new-york-city-taxi-fare-prediction": MleBench(),
    "nomad2018-predict-transparent-conductors": MleBench(),
    "petfinder-pawpularity-score": MleBench(),
    "plant-pathology-2020-fgvc7": MleBench(),
    "random-acts-of-pizza": MleBench(sample="sampleSubmission.csv", form="id_target"),
    "ranzcr-clip-catheter-line-classification": MleBench(),
    "spooky-author-identification": MleBench(form="onehot"),
    "statoil-iceberg-classifier-challenge": MleBench(form="id_target"),
    "tabular-playground-series-dec-2021": MleBench(),
    "tabular-playground-series-may-2022": MleBench(),
    "us-patent-phrase-to-phrase-matching": MleBench(),
    "ventilator-pressure-prediction": MleBench(),
    "whale-categorization-playground": MleBench(),
    "spaceship-titanic": MleBench(),
}
SPECIAL = ("detecting-insults-in-social-commentary", "text-normalization-challenge-english-language")


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text()))
    return pd.read_csv(path, dtype=str, keep_default_na=False, sep="\t" if path.suffix == ".tsv" else ",")


def build_mlebench(name: str, tmp: Path) -> Path:
    """<tmp>/data/<name>/prepared/{public,private} as MLE-bench's prepare.py writes it."""
    layout, spec = LAYOUTS[name], MLEBENCH[name]
    write_raw(name, tmp / "raw")
    labelled = _read(tmp / "raw" / layout.train)
    root = tmp / "data" / name
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir()
    cut = int(len(labelled) * 0.8)
    train, test = labelled.iloc[:cut], labelled.iloc[cut:].reset_index(drop=True)
    targets = list(layout.targets)
    if name == "whale-categorization-playground":  # MLE-bench relabels identities unseen in train
        test.loc[~test["Id"].isin(set(train["Id"])), "Id"] = "new_whale"
    if name == "jigsaw-toxic-comment-classification-challenge":
        test.loc[:4, targets] = "-1"  # Kaggle's test_labels.csv: -1 = not scored
    if name == "ventilator-pressure-prediction":
        test["u_out"] = np.resize(["0", "1"], len(test))
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=targets).to_csv(public / "test.csv", index=False)
    ids = test[[layout.id]]
    if spec.form == "onehot":
        classes = sorted(set(labelled[targets[0]]))
        answers = ids.assign(**{c: (test[targets[0]] == c).astype(int) for c in classes})
        sample = ids.assign(**{c: 1 / len(classes) for c in classes})
    else:
        answers = test if spec.form == "full" else test[[layout.id, *targets]]
        label = get_entry(name).higher_is_better and get_metric(get_entry(name).metric).kind == "label"
        sample = ids.assign(**{t: train[t].iloc[0] if label else "0" for t in targets})
        if get_entry(name).metric == "pearson":
            sample[targets[0]] = np.arange(len(sample))
    sample = sample.rename(columns=layout.sample_names)
    answers = answers.rename(columns=layout.sample_names)
    answers.to_csv(private / spec.answers, index=False)
    sample.to_csv((private if spec.sample_in_private else public) / spec.sample, index=False)
    return root


def perfect_submission(competition, tmp: Path) -> Path:
    answers = pd.read_csv(competition.answers_path, dtype=str, keep_default_na=False)
    if competition.row_order:
        submission = answers[competition.target_columns]
    else:
        submission = answers[[competition.id_column, *competition.target_columns]].copy()
    for column in competition.target_columns:  # jigsaw's unscored rows still need a probability
        submission.loc[submission[column] == "-1", column] = "0.5"
    path = tmp / "perfect.csv"
    submission.to_csv(path, index=False)
    return path


def best_value(competition) -> float:
    return 1.0 if competition.higher_is_better else 0.0


def test_at_least_twenty_mle_bench_competitions_are_covered():
    assert len(MLEBENCH) + len(SPECIAL) >= 20
    if REFERENCE.is_dir():
        split = set((REFERENCE / "split75.txt").read_text().split())
        assert len((set(MLEBENCH) | set(SPECIAL)) & split) >= 20


@pytest.mark.parametrize("name", sorted(MLEBENCH))
def test_mle_bench_folder_registers_unchanged_and_grades(name: str, tmp_path: Path):
    root = build_mlebench(name, tmp_path)
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    competition = register(root)  # no metric, id or target columns passed
    entry = get_entry(name)
    assert competition.metric == entry.metric and competition.layout == "mle-bench"
    assert competition.answers_file == MLEBENCH[name].answers
    sample = competition.grade(competition.sample_submission_path, split="full")
    assert sample.valid, sample.error
    perfect = competition.grade(perfect_submission(competition, tmp_path), split="full")
    assert perfect.valid, perfect.error
    assert perfect.score == pytest.approx(best_value(competition), abs=1e-9)
    assert sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*")) == before


def test_ventilator_from_mle_bench_scores_only_u_out_zero(tmp_path: Path):
    competition = register(build_mlebench("ventilator-pressure-prediction", tmp_path))
    answers = competition.answers
    off = answers[["id", "pressure"]].assign(
        pressure=np.where(answers["u_out"].astype(str) == "1", answers["pressure"] + 9, answers["pressure"])
    )
    off.to_csv(tmp_path / "off.csv", index=False)
    grade = competition.grade(tmp_path / "off.csv", split="full")
    assert grade.valid and grade.score == 0.0, grade.error


def test_detecting_insults_has_no_id_column_and_lines_up_by_row(tmp_path: Path):
    """MLE-bench copies Kaggle's test_with_solutions.csv: Insult,Date,Comment,Usage, no id;
    the sample (sample_submission_null.csv) is Insult,Date,Comment."""
    write_raw("detecting-insults-in-social-commentary", tmp_path / "raw")
    labelled = pd.read_csv(tmp_path / "raw" / "train.csv", dtype=str, keep_default_na=False)
    root = tmp_path / "data" / "detecting-insults-in-social-commentary"
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir()
    labelled.iloc[:80].to_csv(public / "train.csv", index=False)
    test = labelled.iloc[80:].reset_index(drop=True)
    test.assign(Usage=np.resize(["PublicTest", "PrivateTest"], len(test))).to_csv(private / "test.csv", index=False)
    test.to_csv(private / "gold_submission.csv", index=False)
    test.drop(columns=["Insult"]).to_csv(public / "test.csv", index=False)
    test.assign(Insult=0).to_csv(public / "sample_submission_null.csv", index=False)

    competition = register(root)
    assert competition.metric == "roc_auc" and competition.row_order
    sample = competition.grade(competition.sample_submission_path, split="full")
    assert sample.valid and sample.score == 0.5, sample.error
    gold = competition.grade(private / "gold_submission.csv", split="full")
    assert gold.valid and gold.score == 1.0, gold.error
    test.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    short = competition.grade(tmp_path / "short.csv", split="full")
    assert not short.valid and f"expected {len(test)} rows" in short.error


def test_text_normalization_keeps_its_sample_in_private_and_its_words_as_text(tmp_path: Path):
    root = tmp_path / "data" / "text-normalization-challenge-english-language"
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir()
    (public / "en_train.csv.zip").write_bytes(b"PK")  # MLE-bench leaves only zips in public/
    after = ["None", "NA", "null", "N/A", "twelve", "sil"]
    answers = pd.DataFrame({"id": [f"0_{i}" for i in range(6)], "after": after})
    answers.to_csv(private / "answers.csv", index=False, quoting=2)  # QUOTE_NONNUMERIC, as MLE-bench writes
    answers.assign(after="x").to_csv(private / "sample_submission.csv", index=False, quoting=2)
    competition = register(root)
    assert competition.metric == "exact_match"
    assert competition.grade(competition.sample_submission_path, split="full").score == 0.0
    assert competition.grade(private / "answers.csv", split="full").score == 1.0


def test_leaderboard_is_found_in_an_mle_bench_checkout(tmp_path: Path, monkeypatch):
    root = build_mlebench("spaceship-titanic", tmp_path)
    assert register(root).leaderboard() is None  # kept outside the prepared folder: not found alone
    checkout = tmp_path / "mle-bench"
    board_dir = checkout / "mlebench" / "competitions" / "spaceship-titanic"
    board_dir.mkdir(parents=True)
    # MLE-bench's leaderboard.csv is Kaggle's export: any order, a score column among others
    pd.DataFrame({
        "scoreNullable": [0.5, 0.9, 0.7, 0.8], "teamId": [1, 2, 3, 4], "hasTeamName": True,
        "submissionDate": "2022-01-01", "score": [0.5, 0.9, 0.7, 0.8], "hasScore": True,
    }).to_csv(board_dir / "leaderboard.csv", index=False)
    competition = register(root, leaderboard=checkout)
    grade = competition.grade(perfect_submission(competition, tmp_path))
    assert grade.teams == 4 and grade.rank == 1 and grade.position == 1.0
    with pytest.raises(CompetitionFormatError, match="mlebench/competitions/spaceship-titanic"):
        load_competition_dir(root, leaderboard=tmp_path / "nowhere")
    monkeypatch.setenv("DOJO_LEADERBOARD_PATH", str(checkout))
    assert load_competition_dir(root).leaderboard()["score"].max() == 0.9  # the search path
