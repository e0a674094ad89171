"""The results of a batch, from run dirs written on disk: results.csv, results.md (with the
mean per competition and agent), the scores chart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from dojo_kernel.batch import RESULT_COLUMNS, SCORES_CHART, EpisodeResult, Slot, build_grid, write_results, write_scores_chart
from dojo_kernel.batch.episode import _read_summary


def _finished_episode(out: Path, spec, summary: dict) -> EpisodeResult:
    """An episode folder as a batch leaves it: the env's run dir inside, with its summary.json."""
    run_dir = out / spec.key / "20260101-000000-abcd"
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "rewards.jsonl").write_text("")
    return EpisodeResult(spec, out / spec.key, "ok", 1, slot=Slot(cpus=2), duration_s=3.5,
                         summary=_read_summary(out / spec.key))


def test_results_table_and_means_per_competition_and_agent(tmp_path):
    specs = build_grid(["alpha", "beta"], ["baseline"], 2)
    scores = {"alpha": (0.5, 0.7), "beta": (2.0, None)}  # beta seed 1: no final score (NaN in the summary)
    episodes = []
    for spec in specs:
        final = scores[spec.competition][spec.seed]
        episodes.append(_finished_episode(tmp_path, spec, {
            "best_score": 0.9, "final_score": float("nan") if final is None else final, "steps": 3,
            "elapsed_s": 1.25, "medal": "gold" if final == 0.7 else None,
            "limit_events": [{"kind": "memory"}, {"kind": "timeout"}] if spec.seed == 1 else [],
            "usage": {"total_tokens": 1200, "cost_usd": 0.25}, "isolation": "none" if spec.seed else "namespaces"}))
    failed = EpisodeResult(build_grid(["beta"], ["llm"], [0])[0], tmp_path / "beta/llm/seed-0", "failed", 2,
                           error="RuntimeError: a | in it")
    episodes.append(failed)
    csv_path, md_path = write_results(tmp_path, episodes)

    with open(csv_path, newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == RESULT_COLUMNS
        rows = {(r["competition"], r["agent"], r["seed"]): r for r in reader}
    alpha1 = rows[("alpha", "baseline", "1")]
    assert (alpha1["final_score"], alpha1["medal"], alpha1["limit_events"], alpha1["cpus"]) == (
        "0.7", "gold", "memory;timeout", "2")
    assert alpha1["run_dir"] == "alpha/baseline/seed-1/20260101-000000-abcd"  # relative to the batch folder
    assert (alpha1["tokens"], alpha1["cost_usd"], alpha1["isolation"]) == ("1200", "0.25", "none")
    assert rows[("alpha", "baseline", "0")]["isolation"] == "namespaces"
    assert rows[("beta", "baseline", "1")]["final_score"] == ""  # NaN is no score
    assert rows[("beta", "llm", "0")]["status"] == "failed"

    table = md_path.read_text()
    assert "# Batch results: 5 episode(s)" in table
    assert "| alpha | baseline | 2 | 0 | 0.9 | 0.6 |" in table  # mean final of 0.5 and 0.7
    assert "| beta | baseline | 2 | 0 | 0.9 | 2 |" in table  # the missing final score is left out of the mean
    assert "| beta | llm | 1 | 1 |" in table
    assert "a \\| in it" in table  # a pipe in an error does not break the table
    assert SCORES_CHART not in table  # no chart drawn yet

    chart = write_scores_chart(tmp_path, episodes)
    assert chart == tmp_path / SCORES_CHART and chart.stat().st_size > 5_000
    _, md_path = write_results(tmp_path, episodes)
    assert f"]({SCORES_CHART})" in md_path.read_text()


def test_no_chart_without_scores(tmp_path):
    spec = build_grid(["alpha"], ["baseline"], 1)[0]
    episode = EpisodeResult(spec, tmp_path / spec.key, "failed", 1, error="boom")
    assert write_scores_chart(tmp_path, [episode]) is None
    assert not (tmp_path / SCORES_CHART).exists()


def test_results_csv_cells_never_start_a_spreadsheet_formula(tmp_path):
    specs = build_grid(["alpha"], ["baseline"], 2)
    ok = _finished_episode(tmp_path, specs[0], {"final_score": -0.25, "best_score": -0.125,
                                                 "medal": "=HYPERLINK(\"http://example.com\")"})
    failed = EpisodeResult(specs[1], tmp_path / specs[1].key, "failed", 1, error="=cmd|' /C calc'!A0")
    csv_path, _ = write_results(tmp_path, [ok, failed])
    with open(csv_path, newline="") as file:
        rows = {r["seed"]: r for r in csv.DictReader(file)}
    assert rows["1"]["error"] == "'=cmd|' /C calc'!A0"
    assert rows["0"]["medal"].startswith("'=")
    assert (rows["0"]["final_score"], rows["0"]["best_score"]) == ("-0.25", "-0.125")  # numbers stay numbers
    for prefix in ("+", "-", "@", "\t"):
        failed.error = prefix + "SUM(1)"
        csv_path, _ = write_results(tmp_path, [failed])
        with open(csv_path, newline="") as file:
            assert next(csv.DictReader(file))["error"] == "'" + prefix + "SUM(1)"
