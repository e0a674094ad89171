"""Grading: every way a submission can be wrong gets its own message; safe reading;
public/private splits; position, rank and medals, against the real Kaggle leaderboards."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dojo_kernel.competition import Competition, load_competition_dir
from dojo_kernel.grading import (
    Grade,
    leaderboard_standing,
    medal_positions,
    public_mask,
)
from dojo_kernel.prepare.common import assign_usage, leaderboard_frame, write_competition

N = 100
IDS = [f"r{i:03d}" for i in range(N)]
rng = np.random.default_rng(7)
BINARY = rng.integers(0, 2, N)
LABELS = np.array(["cat", "dog", "owl"])[rng.integers(0, 3, N)]
VALUES = rng.normal(50, 10, N)


def _competition(
    root: Path,
    name: str,
    *,
    metric: str,
    targets: dict,
    task: str,
    usage: bool = True,
    board: list[float] | None = None,
    id_values=IDS,
) -> Competition:
    answers = pd.DataFrame({"id": id_values, **targets})
    if usage:
        answers["Usage"] = assign_usage(len(answers), seed=1)
    sample = pd.DataFrame({"id": id_values, **{c: v[0] for c, v in targets.items()}})
    boards = None
    if board is not None:
        higher = metric not in ("rmse", "multiclass_log_loss")
        boards = {s: leaderboard_frame(board, higher) for s in ("public", "private")}
    path = write_competition(
        root / name,
        manifest={"name": name, "metric": metric, "id_column": "id", "target_columns": list(targets), "task": task},
        description="test",
        answers=answers,
        sample=sample,
        leaderboards=boards,
    )
    return load_competition_dir(path)


@pytest.fixture
def binary(tmp_path) -> Competition:
    return _competition(
        tmp_path,
        "bin",
        metric="roc_auc",
        targets={"target": BINARY},
        task="binary",
        board=[0.95, 0.9, 0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.5, 0.45],
    )


@pytest.fixture
def labels(tmp_path) -> Competition:
    return _competition(tmp_path, "lab", metric="accuracy", targets={"animal": LABELS}, task="multiclass")


@pytest.fixture
def regression(tmp_path) -> Competition:
    return _competition(tmp_path, "reg", metric="rmse", targets={"y": VALUES}, task="regression", usage=False)


def write(folder: Path, frame: pd.DataFrame | str | bytes, name: str = "submission.csv") -> Path:
    path = folder / name
    if isinstance(frame, pd.DataFrame):
        frame.to_csv(path, index=False)
    elif isinstance(frame, bytes):
        path.write_bytes(frame)
    else:
        path.write_text(frame)
    return path


def good_binary() -> pd.DataFrame:
    return pd.DataFrame({"id": IDS, "target": np.clip(BINARY * 0.6 + 0.2, 0, 1)})


def invalid(grade: Grade, *fragments: str) -> None:
    assert grade.valid is False, grade
    assert grade.score is None
    for fragment in fragments:
        assert fragment in grade.error, grade.error


# ---------------------------------------------------------------- valid submissions


def test_a_correct_submission_scores_and_is_placed_on_the_leaderboard(binary, tmp_path):
    grade = binary.grade(write(tmp_path, good_binary()), split="full")
    assert grade.valid and grade.error is None
    assert grade.score == pytest.approx(1.0)
    assert grade.position == pytest.approx(1.0) and grade.rank == 1 and grade.teams == 10
    assert grade.medal == "gold" and grade.above_median is True
    assert grade.metric == "roc_auc" and grade.higher_is_better is True
    assert "roc_auc = 1" in grade.summary()


def test_row_order_does_not_matter(regression, tmp_path):
    submission = pd.DataFrame({"id": IDS, "y": VALUES + rng.normal(0, 3, N)})
    in_order = regression.grade(write(tmp_path, submission, "a.csv"), split="full")
    shuffled = regression.grade(write(tmp_path, submission.sample(frac=1, random_state=3), "b.csv"), split="full")
    assert in_order.valid and shuffled.valid
    assert shuffled.score == pytest.approx(in_order.score)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), split=st.sampled_from(["public", "private", "full"]))
def test_row_order_invariance_property(labels, tmp_path, seed, split):
    guesses = np.where(np.random.default_rng(seed).random(N) < 0.5, LABELS, "dog")
    submission = pd.DataFrame({"id": IDS, "animal": guesses})
    reference = labels.grade(write(tmp_path, submission, "in_order.csv"), split=split)
    shuffled = labels.grade(write(tmp_path, submission.sample(frac=1, random_state=seed), "shuffled.csv"), split=split)
    assert reference.valid and shuffled.valid
    assert shuffled.score == pytest.approx(reference.score)


def test_labels_are_matched_across_spelling_of_numbers(tmp_path):
    competition = _competition(
        tmp_path, "num", metric="accuracy", targets={"k": np.arange(N) % 3}, task="multiclass", id_values=list(range(N))
    )
    submission = "id,k\n" + "\n".join(f"{i}.0,{float(i % 3)}" for i in range(N)) + "\n"  # pandas' float spelling
    grade = competition.grade(write(tmp_path, submission), split="full")
    assert grade.valid, grade.error
    assert grade.score == 1.0


def test_ids_keep_leading_zeros(tmp_path):
    ids = [f"{i:04d}" for i in range(N)]
    competition = _competition(
        tmp_path, "zeros", metric="rmse", targets={"y": VALUES}, task="regression", id_values=ids
    )
    grade = competition.grade(write(tmp_path, pd.DataFrame({"id": ids, "y": VALUES})), split="full")
    assert grade.valid, grade.error
    assert grade.score == pytest.approx(0.0)


# ---------------------------------------------------------------- every kind of bad submission


def test_missing_file(binary, tmp_path):
    invalid(binary.grade(tmp_path / "submission.csv"), "expected a submission file at", "found none", "to_csv")


def test_empty_file(binary, tmp_path):
    invalid(binary.grade(write(tmp_path, "")), "empty file")


def test_whitespace_only_file(binary, tmp_path):
    invalid(binary.grade(write(tmp_path, "\n\n  \n")), "empty file")


def test_binary_file_is_not_csv(binary, tmp_path):
    invalid(binary.grade(write(tmp_path, b"PK\x03\x04\x00\x00binary\x00zip")), "binary data")


def test_undecodable_text_is_not_csv(binary, tmp_path):
    invalid(binary.grade(write(tmp_path, b"id,target\nr000,\xff\xfe\n")), "UTF-8")


def test_semicolon_separated_file(binary, tmp_path):
    invalid(binary.grade(write(tmp_path, "id;target\nr000;0.5\n")), "comma-separated", "semicolons")


def test_ragged_rows_cannot_be_parsed(binary, tmp_path):
    invalid(binary.grade(write(tmp_path, "id,target\nr000,0.5\nr001,0.5,7,8\n")), "could not be parsed")


def test_missing_column(binary, tmp_path):
    invalid(
        binary.grade(write(tmp_path, good_binary()[["id"]].assign(other=1))),
        "expected the columns id, target",
        "missing column(s) 'target'",
        "unexpected column(s) 'other'",
    )


def test_wrongly_named_column_gets_a_case_hint(binary, tmp_path):
    invalid(
        binary.grade(write(tmp_path, good_binary().rename(columns={"target": "Target"}))), "'Target' should be 'target'"
    )


def test_extra_column(binary, tmp_path):
    invalid(binary.grade(write(tmp_path, good_binary().assign(extra=0))), "unexpected column(s) 'extra'")


def test_saved_index_column_is_explained(binary, tmp_path):
    path = tmp_path / "submission.csv"
    good_binary().to_csv(path)  # index=True: an 'Unnamed: 0' column
    invalid(binary.grade(path), "'Unnamed: 0'", "index=False")


def test_missing_ids(binary, tmp_path):
    invalid(
        binary.grade(write(tmp_path, good_binary().iloc[:-5])),
        "expected 100 rows (one per test id), got 95",
        "5 test ids are missing",
        "r095",
    )


def test_duplicate_ids(binary, tmp_path):
    frame = pd.concat([good_binary(), good_binary().iloc[:2]])
    invalid(binary.grade(write(tmp_path, frame)), "got 102", "2 duplicate ids", "r000", "exactly once")


def test_unknown_ids(binary, tmp_path):
    frame = good_binary()
    frame.loc[0, "id"] = "zzz"
    invalid(binary.grade(write(tmp_path, frame)), "1 ids are not test ids", "zzz")


def test_wrong_row_count_with_too_many_rows(binary, tmp_path):
    frame = pd.concat([good_binary(), pd.DataFrame({"id": ["new1", "new2"], "target": [0.1, 0.2]})])
    invalid(binary.grade(write(tmp_path, frame)), "expected 100 rows", "got 102", "not test ids")


def test_blank_ids(binary, tmp_path):
    frame = good_binary()
    frame.loc[3, "id"] = ""
    invalid(binary.grade(write(tmp_path, frame)), "rows have no 'id'", "CSV lines [5]")


def test_nan_values(binary, tmp_path):
    frame = good_binary()
    frame.loc[[4, 9], "target"] = np.nan
    invalid(binary.grade(write(tmp_path, frame)), "2 empty or NaN values", "r004", "Fill every row")


def test_infinite_values(regression, tmp_path):
    frame = pd.DataFrame({"id": IDS, "y": VALUES})
    frame.loc[1, "y"] = np.inf
    invalid(regression.grade(write(tmp_path, frame)), "finite numbers", "1 infinite values", "r001")


def test_text_where_numbers_belong(regression, tmp_path):
    frame = pd.DataFrame({"id": IDS, "y": VALUES.astype(object)})
    frame.loc[2, "y"] = "about fifty"
    invalid(regression.grade(write(tmp_path, frame)), "expected numbers in column 'y'", "'about fifty'", "r002")


def test_probabilities_outside_unit_interval(binary, tmp_path):
    frame = good_binary()
    frame.loc[0, "target"] = 1.5
    frame.loc[1, "target"] = -0.1
    invalid(binary.grade(write(tmp_path, frame)), "probabilities in [0, 1]", "2 values", "1.5", "predict_proba")


def test_labels_not_in_the_answer_set(labels, tmp_path):
    frame = pd.DataFrame({"id": IDS, "animal": "cat"})
    frame.loc[5, "animal"] = "unicorn"
    invalid(labels.grade(write(tmp_path, frame)), "one of 'cat', 'dog', 'owl'", "'unicorn'", "r005")


def test_values_the_metric_cannot_take(tmp_path):
    competition = _competition(tmp_path, "log", metric="rmsle", targets={"y": np.abs(VALUES)}, task="regression")
    frame = pd.DataFrame({"id": IDS, "y": np.abs(VALUES)})
    frame.loc[0, "y"] = -5
    invalid(competition.grade(write(tmp_path, frame)), "finite rmsle")


def test_multiclass_probability_columns(tmp_path):
    one_hot = {animal: (LABELS == animal).astype(int) for animal in ("cat", "dog", "owl")}
    competition = _competition(tmp_path, "mlog", metric="multiclass_log_loss", targets=one_hot, task="multiclass")
    good = pd.DataFrame({"id": IDS, "cat": 0.2, "dog": 0.5, "owl": 0.3})
    assert competition.grade(write(tmp_path, good, "good.csv")).valid
    invalid(competition.grade(write(tmp_path, good.drop(columns="owl"), "bad.csv")), "missing column(s) 'owl'")


# ---------------------------------------------------------------- reading safely


def test_a_link_out_of_the_allowed_folder_is_refused(binary, tmp_path):
    working = tmp_path / "working"
    working.mkdir()
    secret = write(tmp_path, good_binary(), "outside.csv")
    (working / "submission.csv").symlink_to(secret)
    grade = binary.grade(working / "submission.csv", allowed_dir=working)
    invalid(grade, "inside working/", "a link or lies outside it", "working/submission.csv")
    assert "outside.csv" not in grade.error  # the target is not named: no probing of host paths


def test_every_link_gets_the_same_refusal_whatever_it_names_on_the_host(binary, tmp_path):
    """A link is refused without being resolved: were it resolved on the host, whether
    /probe/.. leads back into working/ would tell agent code whether /probe exists and is a
    link (issue 14, item 13)."""
    working = tmp_path / "working"
    working.mkdir()
    write(working, good_binary(), "real.csv")
    (tmp_path / "folder").mkdir()
    targets = [working / "real.csv", f"/no-such-folder/../{working}/real.csv", "/etc/passwd", "/no/such/file",
               f"{tmp_path}/folder/../working/real.csv", "submission.csv"]
    errors = set()
    for target in targets:
        (working / "submission.csv").unlink(missing_ok=True)
        (working / "submission.csv").symlink_to(target)
        grade = binary.grade(working / "submission.csv", allowed_dir=working)
        assert not grade.valid, target
        errors.add(grade.error)
    (working / "submission.csv").unlink()
    (working / "linked").symlink_to(working, target_is_directory=True)
    assert len(errors) == 1, errors
    assert "a link or lies outside it" in errors.pop()
    through = binary.grade(working / "linked" / "real.csv", allowed_dir=working)  # a link on the way
    assert not through.valid and "a link or lies outside it" in through.error


def test_a_path_outside_the_allowed_folder_is_refused(binary, tmp_path):
    working = tmp_path / "working"
    working.mkdir()
    invalid(binary.grade(write(tmp_path, good_binary()), allowed_dir=working), "expected the submission to be a regular file inside", "a link or lies outside it")


def test_a_fifo_is_refused_without_blocking(binary, tmp_path):
    fifo = tmp_path / "submission.csv"
    os.mkfifo(fifo)
    invalid(binary.grade(fifo, allowed_dir=tmp_path), "regular file", "FIFO")


def test_a_directory_is_refused(binary, tmp_path):
    (tmp_path / "submission.csv").mkdir()
    invalid(binary.grade(tmp_path / "submission.csv"), "regular file", "directory")


def test_a_file_over_the_size_cap_is_refused(binary, tmp_path):
    cap = 10 * binary.answers_path.stat().st_size + (1 << 20)
    path = tmp_path / "submission.csv"
    with path.open("wb") as handle:
        handle.write(b"id,target\n")
        handle.truncate(cap + 10)
    invalid(binary.grade(path), "at most", "bytes")


def test_one_huge_line_is_refused_before_parsing(tmp_path):
    from dojo_kernel.grading import SubmissionProblem, read_submission

    path = write(tmp_path, "id,target\n" + "x" * 3000 + ",1\n")
    with pytest.raises(SubmissionProblem, match="line of 3,002 bytes"):
        read_submission(path, max_line_bytes=2000)


# ---------------------------------------------------------------- public / private splits


def test_usage_column_decides_the_split(binary, tmp_path):
    mask = public_mask(binary.answers, id_column="id")
    assert mask.sum() == 30  # assign_usage: exactly 30% public
    submission = good_binary()
    submission.loc[~mask, "target"] = 1 - submission.loc[~mask, "target"]  # right on public rows only
    path = write(tmp_path, submission)
    assert binary.grade(path, split="public").score == pytest.approx(1.0)
    assert binary.grade(path, split="private").score == pytest.approx(0.0)
    assert 0 < binary.grade(path, split="full").score < 1
    assert binary.grade(path, split="public").details["rows_scored"] == 30


def test_hash_split_is_fixed_and_about_thirty_percent():
    answers = pd.DataFrame({"id": [str(i) for i in range(20_000)]})
    mask = public_mask(answers, id_column="id")
    assert 0.28 < mask.mean() < 0.32
    # the same ids give the same split in any order, and integer ids hash like their text
    shuffled = answers.sample(frac=1, random_state=0)
    assert (public_mask(shuffled, id_column="id") == mask[shuffled.index.to_numpy()]).all()
    as_int = pd.DataFrame({"id": range(20_000)})
    assert (public_mask(as_int, id_column="id") == mask).all()


def test_split_argument_is_checked(binary, tmp_path):
    with pytest.raises(ValueError, match="public, private, full"):
        binary.grade(write(tmp_path, good_binary()), split="everything")


# ---------------------------------------------------------------- position, rank, medals


def test_position_counts_ties_as_beaten_like_mle_dojo():
    standing = leaderboard_standing(0.8, [0.9, 0.8, 0.8, 0.7], higher_is_better=True)
    assert standing.position == pytest.approx(0.75)  # beats or ties 0.8, 0.8, 0.7
    assert standing.rank == 2  # one entry strictly better
    lower = leaderboard_standing(2.0, [1.0, 2.0, 2.0, 3.0], higher_is_better=False)
    assert lower.position == pytest.approx(0.75) and lower.rank == 2


def test_direction_comes_from_the_metric_not_the_row_order():
    board = [0.1, 0.5, 0.9, 0.3]
    assert leaderboard_standing(0.9, board, True).rank == 1
    assert leaderboard_standing(0.9, board, False).rank == 4
    assert leaderboard_standing(0.9, board[::-1], True) == leaderboard_standing(0.9, board, True)


def test_worse_than_everyone_and_better_than_everyone():
    assert leaderboard_standing(0.0, [0.5, 0.6], True).position == 0.0
    top = leaderboard_standing(0.7, [0.5, 0.6], True)
    assert top.position == 1.0 and top.rank == 1


@pytest.mark.parametrize(
    ("teams", "expected"),
    [
        (50, (5, 10, 20)),  # < 100: 10%, 20%, 40%
        (5, (1, 1, 2)),  # at least rank 1
        (161, (10, 32, 64)),  # 100-249: top 10, 20%, 40%
        (462, (10, 50, 100)),  # 250-999: 10 + 0.2%, 50, 100
        (878, (11, 50, 100)),
        (1595, (13, 79, 159)),  # 1000+: 10 + 0.2%, 5%, 10%
        (1967, (13, 98, 196)),
    ],
)
def test_medal_positions_per_band(teams, expected):
    assert medal_positions(teams) == expected


def test_medal_needs_the_score_at_the_last_medal_rank():
    board = list(np.linspace(1.0, 0.01, 100))  # 100 teams: gold to rank 10, silver 20, bronze 40
    assert leaderboard_standing(board[9], board, True).medal == "gold"
    assert leaderboard_standing(board[10], board, True).medal == "silver"
    assert leaderboard_standing(board[39], board, True).medal == "bronze"
    assert leaderboard_standing(board[40], board, True).medal is None
    median = float(np.median(board))
    assert leaderboard_standing(median, board, True).above_median is False  # strictly better only
    assert leaderboard_standing(median + 1e-9, board, True).above_median is True


REAL_BOARDS = {
    # name: (higher is better, private rows, band's medal ranks)
    "detecting-insults-in-social-commentary": (True, 50, (5, 10, 20)),
    "denoising-dirty-documents": (False, 161, (10, 32, 64)),
    "random-acts-of-pizza": (True, 462, (10, 50, 100)),
    "nomad2018-predict-transparent-conductors": (False, 878, (11, 50, 100)),
    "leaf-classification": (False, 1595, (13, 79, 159)),
    "spaceship-titanic": (True, 1967, (13, 98, 196)),
}


@pytest.mark.parametrize("name", sorted(REAL_BOARDS))
def test_real_kaggle_leaderboards(name, reference):
    higher, rows, (gold, silver, bronze) = REAL_BOARDS[name]
    board = pd.read_csv(reference("leaderboards") / name / "private_leaderboard.csv")["score"].to_numpy(dtype=float)
    assert len(board) == rows
    assert medal_positions(rows) == (gold, silver, bronze)
    ordered = np.sort(board)[::-1] if higher else np.sort(board)
    sign = 1 if higher else -1
    # the score at each medal rank earns that medal (or better, where ties reach up)
    for rank, medal in ((gold, "gold"), (silver, "silver"), (bronze, "bronze")):
        got = leaderboard_standing(ordered[rank - 1], board, higher).medal
        assert ["gold", "silver", "bronze"].index(got) <= ["gold", "silver", "bronze"].index(medal)
    # just worse than the bronze entry: no medal, unless ties make that the next entry's score too
    below_bronze = ordered[bronze - 1] - sign * 1e-9
    assert leaderboard_standing(below_bronze, board, higher).medal is None
    # the top score: rank 1, beats or ties every entry (ties at the top count as beaten)
    top = leaderboard_standing(ordered[0], board, higher)
    assert top.rank == 1 and top.position == 1.0 and top.medal == "gold"
    # position is the share of entries no better than the score, ties included
    middle = ordered[rows // 2]
    expected = np.mean(board <= middle) if higher else np.mean(board >= middle)
    standing = leaderboard_standing(middle, board, higher)
    assert standing.position == pytest.approx(expected)
    assert standing.rank == 1 + int(np.sum(board > middle) if higher else np.sum(board < middle))
    assert standing.teams == rows
    # worse than everyone: position 0, rank teams + 1
    last = leaderboard_standing(ordered[-1] - sign * 1.0, board, higher)
    assert last.position == 0.0 and last.rank == rows + 1 and last.above_median is False


def test_ties_at_the_top_of_a_real_board(reference):
    board = pd.read_csv(reference("leaderboards") / "random-acts-of-pizza" / "private_leaderboard.csv")["score"].to_numpy()
    tied = int(np.sum(board == board.max()))
    assert tied > 1  # several perfect scores share first place
    standing = leaderboard_standing(float(board.max()), board, True)
    assert standing.rank == 1 and standing.position == 1.0
    # a score just below them is beaten by every one of the tied entries
    assert leaderboard_standing(float(board.max()) - 1e-9, board, True).rank == tied + 1


# ---------------------------------------------------------------- Kaggle's rules (issue 15)


def _dir(root: Path, name: str, answers: pd.DataFrame, sample: pd.DataFrame, **manifest) -> Competition:
    manifest = {"name": name, "id_column": "id", **manifest}
    return load_competition_dir(write_competition(root / name, manifest=manifest, description="t", answers=answers, sample=sample))


def test_only_the_scored_rows_count_ventilator_style(tmp_path):
    """Ventilator scores the inspiratory phase only (u_out == 0): predictions elsewhere do not count."""
    u_out = np.tile([0, 0, 1, 1], N // 4)
    answers = pd.DataFrame({"id": IDS, "pressure": VALUES, "u_out": u_out})
    competition = _dir(
        tmp_path, "vent", answers, answers[["id", "pressure"]], metric="mae", target_columns=["pressure"],
        scored_rows={"column": "u_out", "equals": 0},
    )
    wrong_where_unscored = answers[["id", "pressure"]].assign(pressure=np.where(u_out == 0, VALUES, VALUES + 100))
    grade = competition.grade(write(tmp_path, wrong_where_unscored), split="full")
    assert grade.valid, grade.error
    assert grade.score == 0.0 and grade.details["rows_scored"] == N // 2
    wrong_where_scored = answers[["id", "pressure"]].assign(pressure=np.where(u_out == 0, VALUES + 1, VALUES))
    assert competition.grade(write(tmp_path, wrong_where_scored), split="full").score == pytest.approx(1.0)


def test_jigsaw_rows_marked_minus_one_are_not_scored_and_do_not_invalidate(tmp_path):
    columns = ["toxic", "insult"]
    truth = np.column_stack([BINARY, 1 - BINARY])
    truth[:10] = -1  # Kaggle's test_labels.csv: -1 = not used for scoring
    answers = pd.DataFrame({"id": IDS, **{c: truth[:, j] for j, c in enumerate(columns)}})
    competition = _dir(
        tmp_path, "jig", answers, answers.assign(toxic=0.5, insult=0.5), metric="mean_columnwise_auc",
        target_columns=columns, scored_rows={"column": "toxic", "not_equals": -1},
    )
    perfect = answers.copy()
    perfect[columns] = np.clip(truth, 0, 1).astype(float)
    perfect.loc[:9, columns] = 0.5  # whatever is predicted for the unscored rows
    grade = competition.grade(write(tmp_path, perfect), split="full")
    assert grade.valid, grade.error
    assert grade.score == 1.0 and grade.details["rows_scored"] == N - 10


def test_kaggle_usage_ignored_rows_are_not_scored(tmp_path):
    answers = pd.DataFrame({"id": IDS, "y": VALUES, "Usage": ["Ignored"] * 10 + ["Private"] * (N - 10)})
    competition = _dir(tmp_path, "ign", answers, answers[["id", "y"]], metric="rmse", target_columns=["y"])
    off_on_ignored = answers[["id", "y"]].assign(y=np.where(np.arange(N) < 10, 1e6, VALUES))
    assert competition.grade(write(tmp_path, off_on_ignored), split="private").score == 0.0


TEXT_WORDS = ["None", "NA", "null", "N/A", "nan", "", "twelve"]


def test_text_answers_and_ids_that_look_missing_stay_text(tmp_path):
    """Text normalization: 'None', 'NA', 'null', 'N/A' are tokens; graded against
    themselves the answers are perfect (they were 0.25 when read as NaN)."""
    ids = ["NA", "None", "null", "N/A", "nan", "0_5", "0_6"]
    answers = pd.DataFrame({"id": ids, "after": TEXT_WORDS})
    competition = _dir(tmp_path, "text", answers, answers.assign(after="x"), metric="exact_match", target_columns=["after"])
    assert list(competition.answers["after"]) == TEXT_WORDS
    assert list(competition.answers["id"]) == ids
    grade = competition.grade(competition.answers_path, split="full")
    assert grade.valid, grade.error
    assert grade.score == 1.0
    half = answers.assign(after=["None", "NA", "x", "x", "x", "", "twelve"])
    assert competition.grade(write(tmp_path, half), split="full").score == pytest.approx(4 / 7)


def test_a_label_called_none_is_a_label_not_a_missing_value(tmp_path):
    classes = np.array(["None", "Mild", "Severe"])[rng.integers(0, 3, N)]
    answers = pd.DataFrame({"id": IDS, "grade": classes})
    competition = _dir(tmp_path, "lbl", answers, answers.assign(grade="Mild"), metric="accuracy", target_columns=["grade"])
    grade = competition.grade(competition.answers_path, split="full")
    assert grade.valid and grade.score == 1.0, grade.error


def test_leaderboard_team_names_that_look_missing_stay_text(tmp_path):
    competition = _competition(tmp_path, "b", metric="roc_auc", targets={"target": BINARY}, task="binary", board=[0.9, 0.8])
    board = pd.DataFrame({"rank": [1, 2, 3], "score": [0.9, 0.8, 0.7], "team": ["NA", "None", "null"]})
    board.to_csv(competition.private_dir / "private_leaderboard.csv", index=False)
    read = competition.leaderboard("private")
    assert list(read["team"]) == ["NA", "None", "null"] and list(read["score"]) == [0.9, 0.8, 0.7]


def test_a_class_of_the_competition_absent_from_the_test_answers_is_a_valid_wrong_answer(tmp_path):
    """Cover_Type 5 occurs once in tabular-playground-series-dec-2021, in train: predicting
    it is valid and scores as a wrong answer."""
    cover = np.array([1, 2, 3, 7])[rng.integers(0, 4, N)]
    answers = pd.DataFrame({"id": IDS, "Cover_Type": cover})
    competition = _dir(
        tmp_path, "tps", answers, answers.assign(Cover_Type=2), metric="accuracy", target_columns=["Cover_Type"],
        labels={"Cover_Type": ["1", "2", "3", "5", "7"]},
    )
    guess = answers.assign(Cover_Type=np.where(np.arange(N) < 10, 5, cover))
    grade = competition.grade(write(tmp_path, guess), split="full")
    assert grade.valid, grade.error
    assert grade.score == pytest.approx(0.9)
    unknown = answers.assign(Cover_Type=np.where(np.arange(N) < 10, 6, cover))
    invalid(competition.grade(write(tmp_path, unknown), split="full"), "one of", "'6'")


def test_the_label_set_falls_back_to_the_public_training_table(tmp_path):
    answers = pd.DataFrame({"id": IDS, "Cover_Type": np.array([1, 2])[BINARY]})
    competition = _dir(tmp_path, "tps2", answers, answers.assign(Cover_Type=1), metric="accuracy", target_columns=["Cover_Type"])
    pd.DataFrame({"id": ["t1", "t2"], "Cover_Type": [5, 1]}).to_csv(competition.public_dir / "train.csv", index=False)
    guess = answers.assign(Cover_Type=5)
    grade = competition.grade(write(tmp_path, guess), split="full")
    assert grade.valid and grade.score == 0.0, grade.error


def test_one_class_answers_for_auc_blame_the_answers_not_the_submission(tmp_path):
    answers = pd.DataFrame({"id": IDS, "target": 1})
    competition = _dir(tmp_path, "one", answers, answers.assign(target=0.5), metric="roc_auc", target_columns=["target"])
    grade = competition.grade(write(tmp_path, answers.assign(target=rng.random(N))), split="full")
    invalid(grade, "undefined", "one class", "competition's answers, not from your submission")
    assert grade.details["undefined_metric"] == "answers"


def test_constant_predictions_for_a_correlation_are_refused_with_the_reason(regression, tmp_path):
    competition = _dir(
        tmp_path, "corr", pd.DataFrame({"id": IDS, "y": VALUES}), pd.DataFrame({"id": IDS, "y": VALUES}),
        metric="pearson", target_columns=["y"],
    )
    grade = competition.grade(write(tmp_path, pd.DataFrame({"id": IDS, "y": 3.0})), split="full")
    invalid(grade, "undefined", "constant predictions", "standard deviation is 0")
    assert grade.details["undefined_metric"] == "predictions"


def test_wmae_reads_its_weights_from_the_answers(tmp_path):
    weights = np.where(np.arange(N) < 20, 5, 1)  # Walmart: holiday weeks weigh 5
    answers = pd.DataFrame({"id": IDS, "Weekly_Sales": VALUES, "weight": weights})
    competition = _dir(
        tmp_path, "wal", answers, answers[["id", "Weekly_Sales"]], metric="wmae", target_columns=["Weekly_Sales"],
        metric_kwargs={"weight_column": "weight"},
    )
    off = answers[["id", "Weekly_Sales"]].assign(Weekly_Sales=VALUES + np.where(np.arange(N) < 20, 1.0, 0.0))
    grade = competition.grade(write(tmp_path, off), split="full")
    assert grade.score == pytest.approx(20 * 5 / (20 * 5 + 80))


def test_full_split_places_the_score_on_both_boards(binary, tmp_path):
    pd.DataFrame({"rank": [1, 2], "score": [0.99, 0.1]}).to_csv(binary.private_dir / "public_leaderboard.csv", index=False)
    middling = pd.DataFrame({"id": IDS, "target": np.random.default_rng(3).random(N)})  # AUC near 0.5
    grade = binary.grade(write(tmp_path, middling), split="full")
    assert 0.1 < grade.score < 0.99
    assert grade.details["positions"]["public"] == 0.5  # beats 0.1, not 0.99
    assert grade.details["positions"]["private"] == grade.position < 0.5


def test_unscored_columns_are_required_but_not_scored(tmp_path):
    """stanford-covid-vaccine submits five targets and is scored on three."""
    answers = pd.DataFrame({"id": IDS, "y": VALUES, "extra": 0.0})
    competition = _dir(
        tmp_path, "unsc", answers, answers, metric="rmse", target_columns=["y"], unscored_columns=["extra"],
    )
    anything = answers.assign(extra=rng.normal(size=N))
    grade = competition.grade(write(tmp_path, anything), split="full")
    assert grade.valid and grade.score == 0.0, grade.error
    invalid(competition.grade(write(tmp_path, answers[["id", "y"]]), split="full"), "missing column(s) 'extra'")
