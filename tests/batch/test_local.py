"""The local backend, through run_batch: whole batches of real envs and kernels in worker
processes; resumable, crashes retried then reported, GPU slots, limit events."""

from __future__ import annotations

import os

import pytest

from dojo_kernel.batch import LocalBackend, build_grid, plan_slots, run_batch
from dojo_kernel.errors import ConfigError

from .helpers import DYING, FAILING, MEMORY_HOG, SETTINGS, SUBMIT, no_process_left_in, result_rows

pytestmark = pytest.mark.slow


def test_local_batch_runs_every_episode_then_a_rerun_skips_them(competitions, tmp_path):
    specs = build_grid(competitions, [SUBMIT], 2, SETTINGS)
    result = run_batch(specs, tmp_path, parallel=2)
    assert [(e.spec.key, e.status, e.attempts) for e in result.episodes] == [
        (f"{c}/batch.agents_SubmitSampleAgent/seed-{s}", "ok", 1) for c in competitions for s in (0, 1)]
    for episode in result.episodes:
        assert episode.run_dir.parent == episode.episode_dir
        assert {"trajectory.ipynb", "rewards.jsonl", "summary.json"} <= {p.name for p in episode.run_dir.iterdir()}
        assert episode.summary["seed"] == episode.spec.seed
    rows = result_rows(tmp_path)
    assert len(rows) == 4 and {row["status"] for row in rows} == {"ok"}
    assert all(row["final_score"] and row["steps"] == "2" for row in rows)
    assert {row["cpus"] for row in rows} == {str(max(1, (os.cpu_count() or 1) // 2))}
    assert "tiny-values" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "report.html").is_file() and (tmp_path / "scores.png").is_file()

    summaries = {e.spec.key: (e.run_dir / "summary.json").stat().st_mtime_ns for e in result.episodes}
    # The same batch again, with the backend given as an object: nothing is left to run.
    again = run_batch(specs, tmp_path, backend=LocalBackend(plan_slots(parallel=2)), report=False)
    assert {e.status for e in again.episodes} == {"skipped"}
    assert {e.spec.key: (e.run_dir / "summary.json").stat().st_mtime_ns for e in again.episodes} == summaries
    assert [row["final_score"] for row in result_rows(tmp_path)] == [row["final_score"] for row in rows]
    no_process_left_in(tmp_path)

    # Finished episodes are skipped only if they are the episodes asked for now.
    with pytest.raises(ConfigError, match=r"changes for 4 finished episode\(s\).*\(settings\)"):
        run_batch(build_grid(competitions, [SUBMIT], 2, {**SETTINGS, "max_steps": 9}), tmp_path, report=False)


def test_crashed_episodes_are_retried_once_then_reported(competitions, tmp_path):
    from dojo_kernel.cli import main

    # The dying agent's kernel runs without namespaces, so the process it leaves behind
    # outlives it unless the batch cleans up (a namespaced kernel takes its tree with it).
    specs = (build_grid(competitions[:1], [FAILING, SUBMIT], [0], SETTINGS)
             + build_grid(competitions[:1], [DYING], [0], {**SETTINGS, "isolation": "none"})
             + build_grid(["no-such-competition"], [SUBMIT], [0], SETTINGS))
    result = run_batch(specs, tmp_path, parallel=2, report=False)
    outcome = {e.spec.agent + "@" + e.spec.competition: (e.status, e.attempts, e.error) for e in result.episodes}
    assert outcome[SUBMIT + "@tiny-labels"] == ("ok", 1, None)
    status, attempts, error = outcome[FAILING + "@tiny-labels"]
    assert (status, attempts) == ("failed", 2) and "this agent always fails" in error
    status, attempts, error = outcome[DYING + "@tiny-labels"]
    assert (status, attempts) == ("failed", 2) and "worker process died (exit code 3)" in error
    status, attempts, error = outcome[SUBMIT + "@no-such-competition"]
    assert (status, attempts) == ("failed", 2) and "no-such-competition" in error
    for episode in result.failed:
        details = (episode.episode_dir / "error.txt").read_text()
        assert ("died" if "Dying" in episode.spec.agent else "Traceback") in details
    table = (tmp_path / "results.md").read_text()
    assert "this agent always fails" in table and "exit code 3" in table
    no_process_left_in(tmp_path)  # what the dead worker's kernel started did not outlive it

    # A rerun tries the failed episodes again (and only them); the CLI exits 1 while any fail.
    code = main(
        ["batch", competitions[0], "--agent", FAILING, "--agent", SUBMIT, "--out", str(tmp_path),
         "--set", "max_steps=4", "--set", "memory_gb=2", "--set", "cell_timeout_s=60", "--no-progress", "--no-report",
         "--retries", "0"])
    assert code == 1
    rows = {row["agent"]: row for row in result_rows(tmp_path)}
    assert rows[FAILING]["attempts"] == "1"
    assert rows[SUBMIT]["status"] == "skipped"


def test_gpu_slots_reach_each_kernel_without_a_gpu(competitions, tmp_path):
    specs = build_grid(competitions[:1], [SUBMIT], 2, SETTINGS)
    result = run_batch(specs, tmp_path, parallel=2, gpus=[0, 1], per_gpu=1, gpu_memory_gb=12, cpus=1, report=False)
    assert [e.status for e in result.episodes] == ["ok", "ok"]
    assert sorted(e.slot.gpu_device for e in result.episodes) == [0, 1]
    for episode in result.episodes:
        cuda_visible, threads = (episode.run_dir / "working" / "limits_seen.txt").read_text().split("\n")
        assert cuda_visible == str(episode.slot.gpu_device) and threads == "1"
        limits = episode.summary["limits"]
        assert (limits["gpu_device"], limits["gpu_memory_gb"], limits["cpus"]) == (episode.slot.gpu_device, 12.0, 1)


def test_limit_events_reach_the_results_table(competitions, tmp_path):
    specs = build_grid(competitions[:1], [MEMORY_HOG], [0], {**SETTINGS, "memory_gb": 0.5})
    result = run_batch(specs, tmp_path, parallel=1, report=False)
    assert result.episodes[0].status == "ok"  # a limit hit is the agent's problem, not a crash
    (row,) = result_rows(tmp_path)
    assert row["limit_events"] == "memory"
