"""The batch runner: grids, CPU shares and GPU slots, resumable local batches, failures."""

from __future__ import annotations

import contextlib
import csv
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dojo_kernel.errors import ConfigError
from dojo_kernel.limits import Limits
from dojo_kernel.runner import (Slot, build_grid, episode_settings, load_grid, main, plan_slots,
                                run_batch)

# -- the grid ----------------------------------------------------------------------------------


def test_grid_is_every_competition_agent_and_seed_with_deterministic_run_dirs():
    specs = build_grid(["alpha", "beta"], ["baseline", {"name": "pkg.mod:Agent", "options": {"k": 1}}], 2,
                       {"max_steps": 3}, agent_options={"k": 0, "t": 2})
    assert len(specs) == 8
    assert {s.key for s in specs} >= {"alpha/baseline/seed-0", "beta/baseline/seed-1", "alpha/pkg.mod_Agent/seed-1"}
    custom = next(s for s in specs if s.agent == "pkg.mod:Agent")
    assert custom.agent_options == {"k": 1, "t": 2}  # the agent's own option wins over the common one
    assert all(s.settings == {"max_steps": 3} for s in specs)


@pytest.mark.parametrize("competitions, agents, seeds, fragment", [
    ([], ["baseline"], 1, "competition names"),
    (["a"], ["baseline"], 0, "at least one seed"),
    (["a"], ["baseline"], [1, 1], "each episode once"),
    (["a"], [{"agent": "x"}], 1, "agent name or a table"),
])
def test_bad_grids_say_what_was_expected(competitions, agents, seeds, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build_grid(competitions, agents, seeds)


def test_grid_file_gives_episodes_and_run_options(tmp_path):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text('competitions = ["a", "b"]\nagents = ["baseline"]\nseeds = [3, 7]\nparallel = 2\n'
                         '[settings]\nmax_steps = 4\nmemory_gb = 1.5\n')
    grid = load_grid(grid_file)
    assert [s.key for s in grid.specs()] == ["a/baseline/seed-3", "a/baseline/seed-7",
                                             "b/baseline/seed-3", "b/baseline/seed-7"]
    assert grid.run_options == {"parallel": 2}
    assert grid.specs()[0].settings == {"max_steps": 4, "memory_gb": 1.5}
    grid_file.write_text('competitions = ["a"]\nparalel = 2\n')
    with pytest.raises(ConfigError, match="paralel"):
        load_grid(grid_file)


# -- CPU shares and GPU slots (no GPU needed) --------------------------------------------------


def test_cpu_shares_split_the_cores_between_parallel_episodes():
    assert plan_slots(parallel=2, cpu_count=8) == [Slot(cpus=4)] * 2
    assert plan_slots(parallel=4, cpu_count=2) == [Slot(cpus=1)] * 4  # never below one CPU
    assert plan_slots(parallel=3, cpus=1, cpu_count=64) == [Slot(cpus=1)] * 3


def test_gpu_slots_spread_episodes_over_gpus_with_a_memory_share_each():
    slots = plan_slots(parallel=None, gpus=[0, 1], per_gpu=2, gpu_memory_gb=16, cpu_count=8)
    assert [s.gpu_device for s in slots] == [0, 1, 0, 1]
    assert {s.gpu_memory_gb for s in slots} == {8.0}
    assert {s.cpus for s in slots} == {2}
    # fewer episodes than slots still use every GPU
    assert [s.gpu_device for s in plan_slots(parallel=2, gpus=[2, 5], per_gpu=3, gpu_memory_gb=24,
                                             cpu_count=8)] == [2, 5]


def test_gpu_slot_mistakes_are_explained():
    with pytest.raises(ConfigError, match="--parallel at most 2"):
        plan_slots(parallel=3, gpus=[0], per_gpu=2, gpu_memory_gb=16)
    with pytest.raises(ConfigError, match="--gpu-memory-gb"):
        plan_slots(parallel=1, gpus=[97], per_gpu=1)  # NVML has no GPU 97 (or no NVML at all)
    with pytest.raises(ConfigError, match="distinct GPU indices"):
        plan_slots(parallel=1, gpus=[0, 0], gpu_memory_gb=8)


def test_episode_settings_carry_the_slot_unless_the_grid_sets_a_limit():
    slot = Slot(cpus=2, gpu_device=1, gpu_memory_gb=8.0)
    assert episode_settings({"max_steps": 3, "memory_gb": 2}, slot) == {
        "max_steps": 3, "memory_gb": 2, "cpus": 2, "gpu_device": 1, "gpu_memory_gb": 8.0}
    assert episode_settings({"cpus": 1}, slot)["cpus"] == 1
    merged = episode_settings({"limits": Limits(memory_gb=1.0)}, slot)["limits"]
    assert isinstance(merged, Limits) and (merged.memory_gb, merged.gpu_device, merged.cpus) == (1.0, 1, 2)
    assert episode_settings({"limits": {"memory_gb": 1}}, slot)["limits"] == {
        "memory_gb": 1, "cpus": 2, "gpu_device": 1, "gpu_memory_gb": 8.0}
    with pytest.raises(ConfigError, match="gpu_device"):
        episode_settings({"gpu_device": 0}, slot)


def test_cli_reports_bad_input_without_a_traceback(capsys, tmp_path):
    assert main(["alpha", "--out", str(tmp_path), "--gpus", "0", "--per-gpu", "1", "--parallel", "2",
                 "--gpu-memory-gb", "8", "--no-progress"]) == 2
    assert "--parallel at most 1" in capsys.readouterr().err
    assert main(["alpha", "--no-progress"]) == 2
    assert "--out DIR" in capsys.readouterr().err
    # `--ray` takes an optional address: written first, it would swallow a competition's name
    assert main(["--ray", "alpha", "beta", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "--ray=ADDRESS" in capsys.readouterr().err


# -- whole batches with real envs and kernels --------------------------------------------------

SUBMIT = "runner_agents:SubmitSampleAgent"
SETTINGS = {"max_steps": 4, "memory_gb": 2, "cell_timeout_s": 60}
COMPETITIONS = ("tiny-labels", "tiny-values")


def _write_tiny_competition(root: Path, name: str, metric: str, higher_is_better: bool) -> None:
    import numpy as np
    import pandas as pd

    from dojo_kernel.prepare.common import assign_usage, leaderboard_frame, write_competition

    rng = np.random.default_rng(len(name))
    ids = [f"r{i}" for i in range(40)]
    target = rng.integers(0, 2, size=40) if metric == "accuracy" else rng.normal(size=40).round(3)
    answers = pd.DataFrame({"id": ids[20:], "y": target[20:], "Usage": assign_usage(20, seed=0)})
    train = pd.DataFrame({"id": ids[:20], "x": rng.normal(size=20).round(3), "y": target[:20]})
    board = leaderboard_frame(np.linspace(0.2, 0.9, 10) if higher_is_better else np.linspace(0.5, 2, 10),
                              higher_is_better)
    write_competition(root / name, manifest={"name": name, "metric": metric, "id_column": "id",
                                             "target_columns": ["y"], "category": "tabular", "level": "starter"},
                      description=f"# {name}\nPredict y.", answers=answers,
                      sample=pd.DataFrame({"id": ids[20:], "y": 0}),
                      public_files={"train.csv": train, "test.csv": train.drop(columns="y").assign(id=ids[20:])},
                      leaderboards={"public": board, "private": board})


@contextlib.contextmanager
def tiny_competitions(root: Path) -> Iterator[list[str]]:
    """Two tiny competitions in a data root of their own ($DOJO_DATA, which workers inherit)."""
    _write_tiny_competition(root, COMPETITIONS[0], "accuracy", True)
    _write_tiny_competition(root, COMPETITIONS[1], "rmse", False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOJO_DATA", str(root))
        yield list(COMPETITIONS)


@pytest.fixture(scope="module")
def competitions(tmp_path_factory):
    with tiny_competitions(tmp_path_factory.mktemp("dojo-data")) as names:
        yield names


def result_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as file:
        return list(csv.DictReader(file))


def _processes_inside(folder: Path, within_s: float = 3.0) -> list[int]:
    """PIDs of live processes whose working directory is under `folder` (kernels left behind),
    once they have had `within_s` to go (killed processes take a moment to be reaped)."""
    import psutil

    deadline = time.monotonic() + within_s
    while True:
        found = []
        for process in psutil.process_iter(["cwd", "status"]):
            cwd = process.info.get("cwd")
            if cwd and Path(cwd).is_relative_to(folder) and process.info.get("status") != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.slow
def test_local_batch_runs_every_episode_then_a_rerun_skips_them(competitions, tmp_path):
    import os

    specs = build_grid(competitions, [SUBMIT], 2, SETTINGS)
    result = run_batch(specs, tmp_path, parallel=2)
    assert [(e.spec.key, e.status, e.attempts) for e in result.episodes] == [
        (f"{c}/runner_agents_SubmitSampleAgent/seed-{s}", "ok", 1) for c in competitions for s in (0, 1)]
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
    again = run_batch(specs, tmp_path, parallel=2, report=False)
    assert {e.status for e in again.episodes} == {"skipped"}
    assert {e.spec.key: (e.run_dir / "summary.json").stat().st_mtime_ns for e in again.episodes} == summaries
    assert [row["final_score"] for row in result_rows(tmp_path)] == [row["final_score"] for row in rows]
    assert not _processes_inside(tmp_path)

    # Finished episodes are skipped only if they are the episodes asked for now.
    with pytest.raises(ConfigError, match=r"changes for 4 finished episode\(s\).*\(settings\)"):
        run_batch(build_grid(competitions, [SUBMIT], 2, {**SETTINGS, "max_steps": 9}), tmp_path, report=False)


@pytest.mark.slow
def test_crashed_episodes_are_retried_once_then_reported(competitions, tmp_path):
    # The dying agent's kernel runs without namespaces, so the process it leaves behind
    # outlives it unless the batch cleans up (a namespaced kernel takes its tree with it).
    specs = (build_grid(competitions[:1], ["runner_agents:FailingAgent", SUBMIT], [0], SETTINGS)
             + build_grid(competitions[:1], ["runner_agents:DyingAgent"], [0], {**SETTINGS, "isolation": "none"})
             + build_grid(["no-such-competition"], [SUBMIT], [0], SETTINGS))
    result = run_batch(specs, tmp_path, parallel=2, report=False)
    outcome = {e.spec.agent + "@" + e.spec.competition: (e.status, e.attempts, e.error) for e in result.episodes}
    assert outcome[SUBMIT + "@tiny-labels"] == ("ok", 1, None)
    status, attempts, error = outcome["runner_agents:FailingAgent@tiny-labels"]
    assert (status, attempts) == ("failed", 2) and "this agent always fails" in error
    status, attempts, error = outcome["runner_agents:DyingAgent@tiny-labels"]
    assert (status, attempts) == ("failed", 2) and "worker process died (exit code 3)" in error
    status, attempts, error = outcome[SUBMIT + "@no-such-competition"]
    assert (status, attempts) == ("failed", 2) and "no-such-competition" in error
    for episode in result.failed:
        details = (episode.episode_dir / "error.txt").read_text()
        assert ("died" if "Dying" in episode.spec.agent else "Traceback") in details
    table = (tmp_path / "results.md").read_text()
    assert "this agent always fails" in table and "exit code 3" in table
    assert not _processes_inside(tmp_path)  # what the dead worker's kernel started did not outlive it

    # A rerun tries the failed episodes again (and only them); the CLI exits 1 while any fail.
    code = main(
        [competitions[0], "--agent", "runner_agents:FailingAgent", "--agent", SUBMIT, "--out", str(tmp_path),
         "--set", "max_steps=4", "--set", "memory_gb=2", "--set", "cell_timeout_s=60", "--no-progress", "--no-report",
         "--retries", "0"])
    assert code == 1
    rows = {row["agent"]: row for row in result_rows(tmp_path)}
    assert rows["runner_agents:FailingAgent"]["attempts"] == "1"
    assert rows[SUBMIT]["status"] == "skipped"


@pytest.mark.slow
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


@pytest.mark.slow
def test_limit_events_reach_the_results_table(competitions, tmp_path):
    specs = build_grid(competitions[:1], ["runner_agents:MemoryHogAgent"], [0], {**SETTINGS, "memory_gb": 0.5})
    result = run_batch(specs, tmp_path, parallel=1, report=False)
    assert result.episodes[0].status == "ok"  # a limit hit is the agent's problem, not a crash
    (row,) = result_rows(tmp_path)
    assert row["limit_events"] == "memory"
