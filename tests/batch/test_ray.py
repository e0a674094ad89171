"""The Ray backend, through run_batch, on a local Ray (the `ray` extra): a local Ray started
for the batch, a Ray already running, failures retried then reported, run dirs shipped back."""

from __future__ import annotations

import os
import sys

import pytest

ray = pytest.importorskip("ray")

from dojo_kernel.batch import RayBackend, build_grid, run_batch  # noqa: E402

from .helpers import DYING, FAILING, SETTINGS, SUBMIT, result_rows  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_a_batch_starts_its_own_local_ray_with_gpu_slots(competitions, tmp_path):
    # No Ray is running: the batch starts one (told of the 2 GPUs it was given; none exist
    # here), each task gets a GPU and half its memory, and the batch shuts Ray down after.
    assert not ray.is_initialized()
    specs = build_grid(competitions[:1], [SUBMIT], 2, SETTINGS)
    result = run_batch(specs, tmp_path, backend="ray", gpus=[0, 1], per_gpu=2, gpu_memory_gb=10, report=False)
    assert not ray.is_initialized()
    assert [e.status for e in result.episodes] == ["ok", "ok"]
    for episode in result.episodes:
        assert episode.slot.gpu_device in (0, 1) and episode.slot.gpu_memory_gb == 5.0
        cuda_visible, _ = (episode.run_dir / "working" / "limits_seen.txt").read_text().split("\n")
        assert cuda_visible == str(episode.slot.gpu_device)
        assert episode.summary["limits"]["gpu_memory_gb"] == 5.0


@pytest.fixture(scope="module")
def running_ray(competitions):
    """A Ray that is already running (as on a cluster the driver joined): the batch uses it."""
    ray.init(num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if os.path.isdir(p)),
                                       "DOJO_DATA": os.environ["DOJO_DATA"]}})
    yield
    ray.shutdown()


def test_batch_on_ray_runs_resumes_and_reports_failures(running_ray, competitions, tmp_path):
    specs = build_grid(competitions, [SUBMIT], 2, SETTINGS)
    failing = build_grid(competitions[:1], [FAILING, DYING], [0], SETTINGS)
    result = run_batch(specs + failing, tmp_path, backend="ray", parallel=2, report=False)
    assert ray.is_initialized()  # a Ray the batch did not start is left running
    outcome = {e.spec.key: (e.status, e.attempts) for e in result.episodes}
    assert [outcome[s.key] for s in specs] == [("ok", 1)] * 4
    assert [outcome[s.key] for s in failing] == [("failed", 2)] * 2
    errors = {e.spec.agent: e.error for e in result.failed}
    assert "this agent always fails" in errors[FAILING]
    assert "WorkerCrashedError" in errors[DYING]  # Ray's word for a worker that died
    rows = result_rows(tmp_path)
    assert sum(row["status"] == "ok" for row in rows) == 4
    assert all(row["final_score"] and row["steps"] == "2" for row in rows if row["status"] == "ok")

    again = run_batch(specs, tmp_path, backend=RayBackend(parallel=2), report=False)
    assert {e.status for e in again.episodes} == {"skipped"}


def test_run_dirs_from_other_nodes_come_back_as_archives(running_ray, competitions, tmp_path):
    # A task on another node sends its run dir back; force that path here on one node.
    specs = build_grid(competitions[:1], [SUBMIT], [5], SETTINGS)
    result = run_batch(specs, tmp_path, backend="ray", report=False, ray_ship_run_dirs=True)
    episode = result.episodes[0]
    assert episode.status == "ok"
    assert episode.run_dir.parent == tmp_path / episode.spec.key
    assert {"trajectory.ipynb", "rewards.jsonl", "summary.json"} <= {p.name for p in episode.run_dir.iterdir()}
    assert episode.summary["seed"] == 5
