"""Competition directories (ours, MLE-Dojo's, MLE-bench's), the registry, and the built-in
offline competitions: each builds, grades its sample submission as valid, and grades a
broken submission with a message that says what to fix."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dojo_kernel import competition as registry
from dojo_kernel.competition import Competition, get_competition, list_competitions, load_competition_dir, register
from dojo_kernel.errors import CompetitionFormatError, CompetitionNotFound
from dojo_kernel.prepare import builtin
from dojo_kernel.prepare.common import (
    assign_usage,
    building,
    horizon_split,
    leaderboard_frame,
    read_manifest,
    seeded_split,
    write_competition,
    write_manifest,
)

# ---------------------------------------------------------------- built-in competitions


def test_the_builtins_cover_the_required_kinds():
    specs = builtin.BUILTINS.values()
    assert len(builtin.BUILTIN_NAMES) >= 8
    tasks = {(spec.category, spec.task) for spec in specs}
    for wanted in [
        ("tabular", "binary"),
        ("tabular", "multiclass"),
        ("tabular", "regression"),
        ("tabular", "count-regression"),
        ("image", "multiclass"),
    ]:
        assert wanted in tasks
    assert sum(spec.task == "forecast" for spec in specs) >= 2


def test_builtins_are_listed_before_they_are_built(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJO_DATA", str(tmp_path))
    assert set(builtin.BUILTIN_NAMES) <= set(list_competitions())
    assert list(tmp_path.iterdir()) == []  # listing builds nothing


@pytest.mark.parametrize("name", builtin.CORE_NAMES)  # all of them: test_builtin.py
def test_builtin_builds_and_grades(name, data_root, tmp_path):
    competition = get_competition(name)
    assert competition.root == (data_root / name).resolve()
    assert competition.leaderboard_kind == "reference-ladder"
    # the description says what to do, with the submission format and the ladder's nature
    description = competition.description
    for fragment in (
        "## Task",
        "## Files",
        "## Metric",
        "## Submission format",
        "```csv",
        "reference ladder, not human teams",
    ):
        assert fragment in description
    # the sample submission is valid, on every split
    for split in ("public", "private", "full"):
        grade = competition.grade(competition.sample_submission_path, split=split)
        assert grade.valid, grade.error
        assert grade.teams is not None and grade.teams >= 20
    # the ladder: 20+ entries best first, both splits, and a trivial rung that scores like the sample
    for split in ("public", "private"):
        board = competition.leaderboard(split)
        assert list(board.columns[:2]) == ["rank", "score"] and len(board) >= 20
        scores = board["score"].to_numpy()
        assert (np.diff(scores) <= 1e-12).all() if competition.higher_is_better else (np.diff(scores) >= -1e-12).all()
    board = competition.leaderboard("private")
    sample_score = competition.grade(competition.sample_submission_path, split="private").score
    trivial = board.loc[board["team"].str.startswith("trivial"), "score"]
    assert np.isclose(trivial, sample_score, rtol=1e-3, atol=1e-6).any()
    # the best reference solution beats the trivial one
    assert competition.metric_fn.better(board["score"].iloc[0], sample_score)
    # a broken submission: one id dropped, the message names it
    sample = pd.read_csv(competition.sample_submission_path, dtype={competition.id_column: str})
    broken = tmp_path / "submission.csv"
    sample.iloc[1:].to_csv(broken, index=False)
    grade = competition.grade(broken)
    assert not grade.valid
    assert "test ids are missing" in grade.error and str(sample[competition.id_column].iloc[0]) in grade.error
    # the public files never include the answers
    answers = competition.answers
    assert competition.answers_path.parent == competition.private_dir
    assert "Usage" in answers.columns
    for path in competition.public_dir.rglob("*.csv"):
        columns = pd.read_csv(path, nrows=0).columns
        if path.name != "sample_submission.csv":
            assert path.name == "train.csv" or not set(competition.target_columns) & set(columns), path


def test_builtin_build_is_reused_and_deterministic(data_root, tmp_path):
    first = builtin.build("iris-species", root=tmp_path / "a")
    second = builtin.build("iris-species", root=tmp_path / "b")
    stamp = (first / "competition.toml").stat().st_mtime_ns
    assert builtin.build("iris-species", root=tmp_path / "a") == first
    assert (first / "competition.toml").stat().st_mtime_ns == stamp  # not rebuilt
    for relative in ("private/test_answer.csv", "private/private_leaderboard.csv", "public/train.csv"):
        assert (first / relative).read_bytes() == (second / relative).read_bytes()


def test_a_stale_build_is_rebuilt(tmp_path):
    path = builtin.build("sunspots-yearly-forecast", root=tmp_path)
    manifest = read_manifest(path)
    manifest["source"]["build_version"] = -1
    write_manifest(path, manifest)
    assert not builtin.is_current(path)
    builtin.build("sunspots-yearly-forecast", root=tmp_path)
    assert builtin.is_current(path)


def test_digits_are_png_images(data_root):
    from PIL import Image

    competition = get_competition("digits-images")
    train = pd.read_csv(competition.public_dir / "train.csv")
    image = Image.open(competition.public_dir / "train" / f"{train['id'].iloc[0]}.png")
    assert image.format == "PNG" and image.size == (8, 8) and image.mode == "L"
    assert len(list((competition.public_dir / "test").glob("*.png"))) == len(competition.answers)


def test_penguins_keep_missing_values_and_categories(data_root):
    competition = get_competition("penguin-species")
    train = pd.read_csv(competition.public_dir / "train.csv")
    assert train.isna().any().any()
    assert not pd.api.types.is_numeric_dtype(train["island"]) and train["sex"].isna().any()
    assert competition.target_columns == ["Adelie", "Chinstrap", "Gentoo"]
    assert competition.metric_fn.name == "multiclass_log_loss"


def test_forecasts_split_on_the_horizon(data_root):
    competition = get_competition("co2-weekly-forecast")
    train = pd.read_csv(competition.public_dir / "train.csv")
    test = pd.read_csv(competition.public_dir / "test.csv")
    assert pd.to_datetime(train["week"]).max() < pd.to_datetime(test["week"]).min()


# ---------------------------------------------------------------- the registry


def test_unknown_competition_lists_the_closest_names(data_root):
    with pytest.raises(CompetitionNotFound) as caught:
        get_competition("iris-specie")
    assert isinstance(caught.value, KeyError)
    assert "'iris-specie'" in str(caught.value) and "iris-species" in str(caught.value)


def _mini(root: Path, name: str = "mini", **manifest_extra) -> Path:
    answers = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 2.0, 3.0, 4.0], "Usage": assign_usage(4, 0)})
    manifest = {"name": name, "metric": "rmse", "id_column": "id", "target_columns": ["y"], **manifest_extra}
    return write_competition(
        root / name,
        manifest=manifest,
        description="mini",
        answers=answers,
        sample=answers[["id", "y"]].assign(y=0.0),
        leaderboards={"private": leaderboard_frame([0.5, 1.0, 2.0], False)},
    )


def test_register_a_directory_and_a_competition(tmp_path):
    competition = register(_mini(tmp_path), name="mini-registered")
    assert get_competition("mini-registered") is competition
    assert "mini-registered" in list_competitions()
    assert register(competition, name="mini-again") is competition
    assert get_competition("mini-again").name == "mini-again"


def test_directories_under_the_data_root_are_found(data_root):
    _mini(data_root, name="found-in-root")
    assert "found-in-root" in list_competitions()
    assert get_competition("found-in-root").metric == "rmse"


def test_manifest_defaults_and_direction(tmp_path):
    competition = load_competition_dir(_mini(tmp_path))
    assert competition.higher_is_better is False  # from the metric
    assert competition.submission_file == "submission.csv" and competition.answers_file == "test_answer.csv"
    assert competition.to_dict()["metric_kind"] == "continuous"
    with pytest.raises(CompetitionFormatError, match="higher_is_better = false"):
        load_competition_dir(_mini(tmp_path, name="contradicts", higher_is_better=True))


def test_unknown_metric_in_manifest(tmp_path):
    with pytest.raises(CompetitionFormatError, match="closest: rmse"):
        load_competition_dir(_mini(tmp_path, metric="rmsee"))


def test_custom_metric(tmp_path, monkeypatch):
    module = tmp_path / "my_scoring.py"
    module.write_text("def worst_error(answers, predictions):\n    return float(abs(answers - predictions).max())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_scoring", None)
    path = _mini(tmp_path, custom_metric="my_scoring:worst_error", higher_is_better=False)
    competition = load_competition_dir(path, trust_code=True)  # code named by a dir runs only when trusted
    submission = tmp_path / "submission.csv"
    pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 2.0, 3.0, 9.0]}).to_csv(submission, index=False)
    assert competition.grade(submission, split="full").score == pytest.approx(5.0)


def test_custom_metric_needs_a_direction(tmp_path):
    with pytest.raises(CompetitionFormatError, match="higher_is_better"):
        load_competition_dir(_mini(tmp_path, custom_metric="math:dist"), trust_code=True)


def _foreign_layout(root: Path, sub: str, answers_name: str) -> Path:
    base = root / sub
    (base / "public").mkdir(parents=True)
    (base / "private").mkdir()
    pd.DataFrame({"PassengerId": ["a", "b", "c"], "Transported": [True, False, True]}).to_csv(
        base / "private" / answers_name, index=False
    )
    pd.DataFrame({"PassengerId": ["a", "b", "c"], "Transported": [False] * 3}).to_csv(
        base / "public" / "sample_submission.csv", index=False
    )
    (base / "public" / "description.txt").write_text("Predict Transported.")
    leaderboard_frame([0.9, 0.8, 0.7], True).to_csv(base / "private" / "private_leaderboard.csv", index=False)
    return root


@pytest.mark.parametrize(
    ("sub", "layout", "answers_name"),
    [("data", "mle-dojo", "test_answer.csv"), ("prepared", "mle-bench", "answers.csv")],
)
def test_mle_dojo_and_mle_bench_directories_load_unchanged(tmp_path, sub, layout, answers_name):
    root = _foreign_layout(tmp_path / "spaceship-titanic", sub, answers_name)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    with pytest.raises(CompetitionFormatError, match="Pass metric="):
        load_competition_dir(_foreign_layout(tmp_path / "not-in-the-catalog", sub, answers_name))
    assert load_competition_dir(root).metric == "accuracy"  # the catalog knows spaceship-titanic's
    competition = load_competition_dir(root, metric="accuracy")
    assert competition.layout == layout
    assert competition.name == "spaceship-titanic"
    assert competition.id_column == "PassengerId" and competition.target_columns == ["Transported"]
    assert competition.description == "Predict Transported."
    grade = competition.grade(competition.sample_submission_path, split="full")
    assert grade.valid, grade.error
    assert grade.score == pytest.approx(1 / 3) and grade.teams == 3
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written


def test_manifest_beside_a_foreign_layout_is_read(tmp_path):
    root = _foreign_layout(tmp_path / "with-manifest", "data", "test_answer.csv")
    write_manifest(
        root,
        {
            "name": "with-manifest",
            "metric": "accuracy",
            "id_column": "PassengerId",
            "target_columns": ["Transported"],
            "level": "easy",
        },
    )
    competition = load_competition_dir(root)
    assert competition.metric == "accuracy" and competition.level == "easy"


def test_not_a_competition_directory(tmp_path):
    with pytest.raises(CompetitionFormatError, match="public/ and private/"):
        load_competition_dir(tmp_path)


# ---------------------------------------------------------------- prepare.common helpers


def test_seeded_split_is_fixed_and_stratified():
    labels = np.array([0] * 90 + [1] * 10)
    train, test = seeded_split(100, 0.3, 5, stratify=labels)
    again_train, again_test = seeded_split(100, 0.3, 5, stratify=labels)
    assert (test == again_test).all() and (train == again_train).all()
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 100
    assert labels[test].sum() == 3  # 30% of the rare class


def test_horizon_split_and_usage():
    train, test = horizon_split(10, 3)
    assert list(test) == [7, 8, 9] and list(train) == list(range(7))
    usage = assign_usage(10, seed=0)
    assert (usage == "Public").sum() == 3


def test_write_manifest_refuses_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="metrik"):
        write_manifest(
            tmp_path, {"name": "x", "metric": "rmse", "id_column": "id", "target_columns": ["y"], "metrik": 1}
        )


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError):
        with building(tmp_path / "half") as staging:
            (staging / "public" / "x.csv").write_text("a")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_registry_module_exposes_the_data_root(data_root):
    assert registry.data_root() == data_root
    assert isinstance(get_competition("iris-species"), Competition)


def test_concurrent_builds_of_one_competition_both_succeed(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: builtin.build("sunspots-yearly-forecast", root=tmp_path), range(2)))
    assert paths[0] == paths[1]
    assert builtin.is_current(paths[0])
    assert [p.name for p in tmp_path.iterdir()] == ["sunspots-yearly-forecast"]  # no staging or trash left
    competition = load_competition_dir(paths[0])
    assert competition.grade(competition.sample_submission_path).valid


def test_forced_rebuild_replaces_the_directory(tmp_path):
    path = builtin.build("sunspots-yearly-forecast", root=tmp_path)
    (path / "public" / "stray.txt").write_text("left over")
    builtin.build("sunspots-yearly-forecast", root=tmp_path, force=True)
    assert not (path / "public" / "stray.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["sunspots-yearly-forecast"]


def test_get_competition_reuses_a_loaded_competition(data_root):
    assert get_competition("iris-species") is get_competition("iris-species")


def test_register_a_foreign_layout_with_its_metric(tmp_path):
    root = _foreign_layout(tmp_path / "mle-dojo-style", "data", "test_answer.csv")
    competition = register(root, metric="accuracy", name="foreign-registered")
    assert get_competition("foreign-registered") is competition
    assert competition.layout == "mle-dojo"


def test_a_single_column_metric_with_several_targets_is_refused(tmp_path):
    answers = pd.DataFrame({"id": [1, 2], "a": [1.0, 2.0], "b": [3.0, 4.0]})
    path = write_competition(
        tmp_path / "two",
        manifest={"name": "two", "metric": "rmse", "id_column": "id", "target_columns": ["a", "b"]},
        description="two",
        answers=answers,
        sample=answers,
    )
    with pytest.raises(CompetitionFormatError, match="mean_columnwise_rmse"):
        load_competition_dir(path)
    assert (
        load_competition_dir(path, metric="mean_columnwise_rmse")
        .grade(path / "public" / "sample_submission.csv", split="full")
        .score
        == 0.0
    )


def test_a_catalog_name_not_prepared_yet_says_how_to_prepare_it(tmp_path, monkeypatch):
    from dojo_kernel import get_competition, make
    from dojo_kernel.errors import CompetitionNotFound

    monkeypatch.setenv("DOJO_DATA", str(tmp_path))
    for call in (lambda: get_competition("spaceship-titanic"), lambda: make("spaceship-titanic")):
        with pytest.raises(CompetitionNotFound, match=r"in the catalog, not prepared: run `dojo prepare spaceship-titanic`"):
            call()
    with pytest.raises(CompetitionNotFound, match="expected a known competition name"):
        get_competition("no-such-thing-at-all")
