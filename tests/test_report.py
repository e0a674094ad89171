"""`dojo report`: PNG curves and an HTML page from run dirs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from dojo_kernel.errors import ConfigError
from dojo_kernel.report import find_runs, load_run, write_report
from dojo_kernel.rundir import mark_run_dir


def make_run(root: Path, name: str, steps: list[dict], summary: dict | None = None) -> Path:
    """A run dir in the env's file formats: rewards.jsonl, summary.json and a notebook."""
    run = root / name
    run.mkdir(parents=True)
    mark_run_dir(run)
    (run / "rewards.jsonl").write_text("".join(json.dumps(step) + "\n" for step in steps))
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nbformat.write(notebook, run / "trajectory.ipynb")
    return run


STEPS = [
    {"step": 1, "action": "request_info", "reward": 0.0, "score": None},
    {"step": 2, "action": "execute_code", "reward": 0.4, "score": 0.81, "status": "ok"},
    {"step": 3, "action": "execute_code", "reward": 0.0, "score": None, "status": "error"},
    {"step": 4, "action": "execute_code", "reward": 0.2, "grade": {"valid": True, "score": 0.9}},
]


def test_report_writes_a_png_per_run_and_an_html_page_linking_the_notebooks(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "a", STEPS, {"competition": "toy", "agent": "baseline", "best_score": 0.9, "final_score": 0.88,
                                "metric": "accuracy", "higher_is_better": True})
    make_run(runs / "batch", "b", STEPS[:2])  # still running: no summary.json yet
    out = tmp_path / "report"
    page = write_report(runs, out)

    assert page == out / "report.html"
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == ["a.png", "batch__b.png"]
    for png in pngs:
        with Image.open(png) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 100
    text = page.read_text()
    assert "<img" not in text and text.count("<svg") == 2  # self-contained: a chart inline per competition
    assert "../runs/a/trajectory.ipynb" in text and "../runs/batch/b/trajectory.ipynb" in text
    assert "0.88" in text and "running" in text


def test_load_run_reads_scores_from_either_field_and_skips_a_torn_last_line(tmp_path):
    run = make_run(tmp_path, "r", STEPS)
    with open(run / "rewards.jsonl", "a") as handle:
        handle.write('{"step": 5, "rew')  # a crash mid-write
    record = load_run(run)
    assert record.steps == [1, 2, 3, 4]
    assert record.scores == [None, 0.81, None, 0.9]
    assert record.total_reward == pytest.approx(0.6)
    assert record.best_score == 0.9
    assert record.ended == "running"


def test_best_score_follows_the_metric_direction(tmp_path):
    steps = [{"step": 1, "reward": 0, "score": 3.0}, {"step": 2, "reward": 0, "score": 2.0}]
    run = make_run(tmp_path, "r", steps, {"higher_is_better": False})
    assert load_run(run).best_score == 2.0


def test_report_of_a_folder_without_runs_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="dojo run"):
        write_report(tmp_path)
    with pytest.raises(ConfigError, match="directory of runs"):
        find_runs(tmp_path / "missing")


def test_runs_planted_in_working_or_unmarked_are_not_reported(tmp_path):
    runs = tmp_path / "runs"
    real = make_run(runs, "real", STEPS, {"final_score": 0.5})
    # agent code can write anything under working/, the marker included: never a run there
    make_run(real / "working", "fake", [{"step": 1, "reward": 99.0, "score": 1.0}], {"final_score": 1.0})
    (runs / "copied").mkdir()  # a run dir's files without the env's marker
    (runs / "copied" / "rewards.jsonl").write_text(json.dumps({"step": 1, "reward": 5.0}) + "\n")
    (runs / "linked").symlink_to(real, target_is_directory=True)  # links are not followed
    assert find_runs(runs) == [real]
    text = write_report(runs).read_text()
    assert "fake" not in text and "copied" not in text and "linked" not in text and "1 run(s)" in text


def test_a_run_that_does_not_parse_is_skipped_with_a_warning(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "good", STEPS, {"final_score": 0.5})
    bad = make_run(runs, "bad", STEPS)
    (bad / "rewards.jsonl").write_bytes(b'{"step": 1, "reward": 1.0}\n\xff\xfe not utf-8\n')
    odd = make_run(runs, "odd", [{"step": [1], "reward": "x", "competition": {"a": 1}, "status": 3}],
                   {"competition": ["x"], "higher_is_better": "yes", "metric": "$\\frac{", "final_score": "1"})
    with pytest.warns(UserWarning, match="skipped the run .*bad"):
        page = write_report(runs)
    text = page.read_text()
    assert "2 run(s)" in text and "good" in text and "odd" in text
    record = load_run(odd)
    assert record.competition is None and record.steps == [1] and record.final_score is None
