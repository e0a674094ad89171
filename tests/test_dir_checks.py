"""A competition dir is untrusted: its competition.toml runs no code unless the user says so,
what it names stays inside it, and one odd dir in the data root breaks neither
`import dojo_kernel` nor `dojo list` (issue 20, items 2 and 13)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dojo_kernel import competition as registry
from dojo_kernel.cli import main
from dojo_kernel.competition import get_competition, list_competitions, load_competition_dir, register
from dojo_kernel.errors import CompetitionFormatError
from dojo_kernel.metrics.registry import _REGISTRY, register_metric
from dojo_kernel.prepare.common import MANIFEST_NAME, assign_usage, leaderboard_frame, write_competition


def make_dir(root: Path, folder: str = "mini", **manifest_extra) -> Path:
    """A small valid competition dir; ``manifest_extra`` overrides competition.toml's keys."""
    answers = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 2.0, 3.0, 4.0], "Usage": assign_usage(4, 0)})
    manifest = {"name": folder, "metric": "rmse", "id_column": "id", "target_columns": ["y"], **manifest_extra}
    return write_competition(
        root / folder,
        manifest=manifest,
        description="mini",
        answers=answers,
        sample=answers[["id", "y"]].assign(y=0.0),
        leaderboards={"private": leaderboard_frame([0.5, 1.0, 2.0], False)},
    )


def raw_manifest(path: Path, text: str) -> Path:
    """Replace competition.toml with text as an attacker would write it (no validation)."""
    (path / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """An importable module that leaves a marker file when imported or called: stands in for
    the shell a crafted custom metric spawned."""
    marker = tmp_path / "code-ran"
    source = tmp_path / "evil_scoring.py"
    source.write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('imported')\n"
        "def score(answers, predictions):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('called')\n"
        "    return 0.0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("evil_scoring", None)
    yield marker
    sys.modules.pop("evil_scoring", None)


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("DOJO_DATA", str(root))
    registry._loaded.clear()
    return root


# ------------------------------------------------------------------ item 2: no code from a dir


def test_a_custom_metric_named_by_a_dir_is_not_imported(tmp_path, evil_module):
    path = make_dir(tmp_path, custom_metric="evil_scoring:score", higher_is_better=False)
    with pytest.raises(CompetitionFormatError, match=r"custom metric 'evil_scoring:score'.*register_metric"):
        load_competition_dir(path)
    path2 = make_dir(tmp_path, folder="mini2", metric="evil_scoring:score", higher_is_better=False)
    with pytest.raises(CompetitionFormatError, match="would import and run code"):
        register(path2)
    assert not evil_module.exists()


def test_dojo_list_and_the_registry_import_nothing_a_data_root_dir_names(data_root, evil_module, capsys):
    make_dir(data_root, "evil", custom_metric="evil_scoring:score", higher_is_better=False)
    assert "evil" in list_competitions()
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "evil" in out and "evil_scoring:score" in out  # listed as written, from the manifest alone
    with pytest.raises(CompetitionFormatError, match="custom metric"):
        get_competition("evil")
    assert not evil_module.exists()


def test_a_trusted_dir_may_use_its_custom_metric(tmp_path, evil_module):
    path = make_dir(tmp_path, custom_metric="evil_scoring:score", higher_is_better=False)
    competition = load_competition_dir(path, trust_code=True)
    assert evil_module.read_text() == "imported"
    submission = tmp_path / "submission.csv"
    pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 2.0, 3.0, 4.0]}).to_csv(submission, index=False)
    assert competition.grade(submission, split="full").valid
    assert evil_module.read_text() == "called"


def test_a_metric_registered_in_python_is_named_by_the_dir(tmp_path):
    def worst_error(answers, predictions):
        return float(abs(answers - predictions).max())

    register_metric("test_worst_error_dir_checks", worst_error, higher_is_better=False, kind="continuous",
                    replace_existing=True)
    try:
        competition = load_competition_dir(make_dir(tmp_path, metric="test_worst_error_dir_checks"))
        submission = tmp_path / "submission.csv"
        pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 2.0, 3.0, 9.0]}).to_csv(submission, index=False)
        assert competition.grade(submission, split="full").score == pytest.approx(5.0)
    finally:
        _REGISTRY.pop("test_worst_error_dir_checks", None)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "x y", "bad\x1b[31m"])
def test_a_name_must_be_one_plain_word(tmp_path, name):
    path = make_dir(tmp_path, name=name)
    with pytest.raises(CompetitionFormatError, match="expected a competition name"):
        load_competition_dir(path)


def test_answers_file_stays_inside_private(tmp_path):
    victim = make_dir(tmp_path, "victim")
    header = 'name = "thief"\nmetric = "rmse"\nid_column = "id"\ntarget_columns = ["y"]\n'
    thief = make_dir(tmp_path, "thief")
    for answers in ["../../victim/private/test_answer.csv", str(victim / "private" / "test_answer.csv")]:
        raw_manifest(thief, header + f'answers_file = "{answers}"\n')
        with pytest.raises(CompetitionFormatError, match="answers_file .* to be a file inside"):
            load_competition_dir(thief)
    # a link inside private/ that leads to another competition's answers is refused too
    raw_manifest(thief, header + 'answers_file = "linked.csv"\n')
    os.symlink(victim / "private" / "test_answer.csv", thief / "private" / "linked.csv")
    with pytest.raises(CompetitionFormatError, match="links included"):
        load_competition_dir(thief)


@pytest.mark.parametrize("submission_file", ["../summary.json", "/etc/passwd", "a/../../x.csv"])
def test_submission_file_stays_inside_working(tmp_path, submission_file):
    path = make_dir(tmp_path, submission_file=submission_file)
    with pytest.raises(CompetitionFormatError, match="submission_file .* inside working/"):
        load_competition_dir(path)


@pytest.mark.parametrize(
    "line, key",
    [
        ('target_columns = "y"', "target_columns"),
        ("metric_kwargs = 5", "metric_kwargs"),
        ('higher_is_better = "yes"', "higher_is_better"),
        ('split = "half"', "split"),
        ("split = {public_fraction = 7}", "split.public_fraction"),
        ('split = {public_fraction = "x"}', "split.public_fraction"),
        ("leaderboard = {kind = 3}", "leaderboard.kind"),
        ("tags = [1, 2]", "tags"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_format_error(data_root, line, key):
    path = make_dir(data_root, "typed")
    text = 'name = "typed"\nmetric = "rmse"\nid_column = "id"\n'
    if not line.startswith("target_columns"):
        text += 'target_columns = ["y"]\n'
    raw_manifest(path, text + line + "\n")
    with pytest.raises(CompetitionFormatError, match=f"expected {key} in .* to be"):
        get_competition("typed")


# ------------------------------------------------------------------ item 13: one odd dir never breaks the rest


def test_an_odd_folder_in_the_data_root_does_not_break_import(data_root):
    make_dir(data_root, "fine")
    make_dir(data_root, "iris copy", name="iris-copy")
    env = {**os.environ, "DOJO_DATA": str(data_root)}
    done = subprocess.run(
        [sys.executable, "-c", ("import dojo_kernel, gymnasium; print(sorted(dojo_kernel.list_competitions()));"
                                "print('dojo/fine-v0' in gymnasium.registry)")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "'fine'" in done.stdout and "iris copy" not in done.stdout and "True" in done.stdout
    assert "skipped" in done.stderr and "iris copy" in done.stderr


def test_dojo_list_names_a_skipped_folder_in_one_line(data_root, capsys):
    make_dir(data_root, "fine")
    make_dir(data_root, "iris copy", name="iris-copy")
    assert main(["list"]) == 0
    captured = capsys.readouterr()
    assert "fine" in captured.out and "iris copy" not in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dojo list: skipped ") and "iris copy" in lines[0]


@pytest.mark.parametrize("metric", ['":"', "7", '"[/bold]"', '"a:b:c"'])
def test_a_malformed_metric_does_not_crash_dojo_list(data_root, capsys, metric):
    make_dir(data_root, "fine")
    raw_manifest(make_dir(data_root, "odd"),
                 f'name = "odd"\nmetric = {metric}\nid_column = "id"\ntarget_columns = ["y"]\n')
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "fine" in out and "odd" in out
    with pytest.raises(CompetitionFormatError):  # typed, with a message; never a TypeError or ValueError
        get_competition("odd")


def test_an_unreadable_manifest_is_skipped_by_dojo_list(data_root, capsys):
    make_dir(data_root, "fine")
    (make_dir(data_root, "broken") / MANIFEST_NAME).write_bytes(b"name = \xff\xfe [[[")
    assert main(["list"]) == 0
    captured = capsys.readouterr()
    assert "fine" in captured.out
    assert "skipped broken: expected valid TOML" in captured.err
