"""run_batch's one scheduling-and-retry loop, with backends of one's own (the Backend
protocol), its checks of what it is given, and the deprecated `dojo_kernel.runner` alias."""

from __future__ import annotations

import warnings
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from dojo_kernel.batch import Backend, Job, Outcome, Slot, build_grid, play_episode, run_batch
from dojo_kernel.batch.episode import _prepare_episode_dir
from dojo_kernel.errors import ConfigError

from .helpers import FAILING, SETTINGS, SUBMIT, result_rows


class UnreachableCluster:
    """A backend whose every attempt fails the way a lost node would: it never plays anything."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.submitted: list[tuple[str, int]] = []
        self.in_flight: list[Job] = []
        self.most_in_flight = 0
        self.shutdowns = 0

    def submit(self, job: Job) -> None:
        self.submitted.append((job.spec.key, job.attempt))
        self.in_flight.append(job)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))

    def collect(self, timeout: float) -> list[Outcome]:
        job = self.in_flight.pop(0)  # one at a time, so that the loop refills the free place
        return [Outcome(job, None, 0.0, "NodeLost: the node went away", "the node went away\n(details)")]

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_a_backend_of_ones_own_is_filled_to_capacity_retried_and_shut_down(tmp_path):
    backend = UnreachableCluster(capacity=2)
    assert isinstance(backend, Backend)
    specs = build_grid(["alpha", "beta", "gamma"], ["baseline"], 1)
    result = run_batch(specs, tmp_path, backend=backend, retries=2, report=False)
    assert backend.most_in_flight == 2 and backend.shutdowns == 1
    # Each episode tried 1 + retries times, in order, retries queued behind the first tries.
    assert sorted(backend.submitted) == sorted((s.key, attempt) for s in specs for attempt in (1, 2, 3))
    assert [key for key, attempt in backend.submitted[:3]] == [s.key for s in specs]
    assert [(e.status, e.attempts, e.error) for e in result.episodes] == [
        ("failed", 3, "NodeLost: the node went away")] * 3
    assert "failed after 3 attempt(s)" in (tmp_path / specs[0].key / "error.txt").read_text()
    assert {row["status"] for row in result_rows(tmp_path)} == {"failed"}


def test_the_backend_is_shut_down_when_the_batch_is_interrupted(tmp_path):
    class Interrupted(UnreachableCluster):
        def collect(self, timeout: float) -> list[Outcome]:
            raise KeyboardInterrupt

    backend = Interrupted(capacity=1)
    with pytest.raises(KeyboardInterrupt):
        run_batch(build_grid(["alpha"], ["baseline"], 1), tmp_path, backend=backend)
    assert backend.shutdowns == 1


@pytest.mark.parametrize("backend, options, fragment", [
    ("slurm", {}, "a backend among local, ray"),
    (object(), {}, "capacity, submit, collect and shutdown"),
    (UnreachableCluster(1), {"parallel": 2}, r"no resource options with a Backend object.*parallel"),
    ("local", {"ray_address": "auto"}, "only with backend='ray'"),
    ("ray", {"ray_address": "alpha"}, "--ray=ADDRESS"),
    (UnreachableCluster(0), {}, "capacity of at least 1"),
])
def test_bad_backends_say_what_was_expected(tmp_path, backend, options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        run_batch(build_grid(["alpha"], ["baseline"], 1), tmp_path, backend=backend, report=False, **options)


def test_the_deprecated_ray_keyword_still_chooses_the_ray_backend(tmp_path):
    with pytest.warns(DeprecationWarning, match="backend='ray'"), pytest.raises(ConfigError, match="--ray=ADDRESS"):
        run_batch(build_grid(["alpha"], ["baseline"], 1), tmp_path, ray="alpha", report=False)


class ThreadBackend:
    """A backend of one's own that plays real episodes in threads of this process."""

    capacity = 2

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(self.capacity)
        self.futures: dict[Future, Job] = {}

    def submit(self, job: Job) -> None:
        self.futures[self.pool.submit(play_episode, job.spec, Slot(cpus=1), job.episode_dir)] = job

    def collect(self, timeout: float) -> list[Outcome]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(list(self.futures), timeout=timeout, return_when=FIRST_COMPLETED)
        outcomes = []
        for future in done:
            job = self.futures.pop(future)
            error = future.exception()
            outcomes.append(Outcome(job, Slot(cpus=1), 0.0, None if error is None else f"{error}"))
        return outcomes

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)


@pytest.mark.slow
def test_a_backend_of_ones_own_plays_real_episodes(competitions, tmp_path):
    specs = build_grid(competitions[:1], [SUBMIT, FAILING], [0], {**SETTINGS, "isolation": "none"})
    result = run_batch(specs, tmp_path, backend=ThreadBackend(), retries=0, report=False)
    outcome = {e.spec.agent: (e.status, e.attempts, e.error) for e in result.episodes}
    assert outcome[SUBMIT] == ("ok", 1, None)
    assert outcome[FAILING] == ("failed", 1, "this agent always fails")
    ok = next(e for e in result.episodes if e.status == "ok")
    assert ok.summary["seed"] == 0 and ok.summary["final_score"] is not None


def test_the_old_runner_module_still_imports_and_says_where_things_went():
    import importlib
    import sys

    import dojo_kernel.batch as batch

    sys.modules.pop("dojo_kernel.runner", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner = importlib.import_module("dojo_kernel.runner")
    assert any(issubclass(w.category, DeprecationWarning) and "dojo_kernel.batch" in str(w.message) for w in caught)
    assert runner.run_batch is batch.run_batch and runner.build_grid is batch.build_grid
    with pytest.raises(AttributeError, match="moved to dojo_kernel.cli"):
        runner.main  # noqa: B018


class PlantingBackend(UnreachableCluster):
    """Plays each job by writing what an episode leaves, as the env writes it, except that its
    rewards.jsonl is not UTF-8 (what agent code could leave for the report to read)."""

    def collect(self, timeout: float) -> list[Outcome]:
        from dojo_kernel.rundir import mark_run_dir

        job = self.in_flight.pop(0)
        run_dir = job.episode_dir / "20260101-000000-abcdef"
        run_dir.mkdir(parents=True)
        mark_run_dir(run_dir)
        (run_dir / "rewards.jsonl").write_bytes(b"\xff\xfe\n")
        (run_dir / "summary.json").write_text('{"final_score": 0.5, "steps": 1}')
        return [Outcome(job, None, 0.1)]


def test_results_are_written_before_the_report_is_drawn(tmp_path):
    specs = build_grid(["alpha"], ["baseline"], 1)
    with pytest.warns(UserWarning):  # the run is skipped, then the page cannot be drawn: warned, not raised
        result = run_batch(specs, tmp_path, backend=PlantingBackend(capacity=1), report=True)
    assert result.report is None and result.results_csv.is_file()
    assert [(row["status"], row["final_score"]) for row in result_rows(tmp_path)] == [("ok", "0.5")]


class WritingBackend(UnreachableCluster):
    """Plays each job by writing the files an episode leaves (a marked run dir, its summary)."""

    def collect(self, timeout: float) -> list[Outcome]:
        from dojo_kernel.rundir import mark_run_dir

        job = self.in_flight.pop(0)
        _prepare_episode_dir(job.episode_dir)  # as the local and Ray backends start each attempt
        run_dir = job.episode_dir / "20260101-000000-abcdef"
        run_dir.mkdir(parents=True)
        mark_run_dir(run_dir)
        (run_dir / "rewards.jsonl").write_text('{"step": 1, "reward": 0.0}\n')
        (run_dir / "summary.json").write_text('{"final_score": 0.5, "steps": 1}')
        return [Outcome(job, None, 0.1)]


def test_resume_trusts_only_episodes_the_runner_recorded_as_finished(tmp_path):
    specs = build_grid(["alpha", "beta", "gamma"], ["baseline"], 1)
    # alpha: a summary.json someone put into --out, with no record of the runner's
    forged = tmp_path / specs[0].key / "20260101-000000-ffffff"
    forged.mkdir(parents=True)
    (forged / "summary.json").write_text('{"final_score": 1.0, "steps": 1}')
    (forged / "rewards.jsonl").write_text('{"step": 1, "reward": 9.0}\n')
    first = WritingBackend(capacity=3)
    run_batch(specs, tmp_path, backend=first, report=False)
    assert sorted(key for key, _ in first.submitted) == sorted(s.key for s in specs)  # the forged one too
    assert {row["final_score"] for row in result_rows(tmp_path)} == {"0.5"}

    # beta: its summary.json rewritten after the runner recorded it
    summary = next((tmp_path / specs[1].key).glob("*/summary.json"))
    summary.write_text('{"final_score": 1.0, "steps": 1}')
    again = WritingBackend(capacity=3)
    result = run_batch(specs, tmp_path, backend=again, report=False)
    assert [key for key, _ in again.submitted] == [specs[1].key]
    assert {e.spec.key: e.status for e in result.episodes} == {
        specs[0].key: "skipped", specs[1].key: "ok", specs[2].key: "skipped"}
    assert {row["final_score"] for row in result_rows(tmp_path)} == {"0.5"}
