"""The Ray backend of the batch runner and the remote env, on a local Ray (the `ray` extra).

Its own CI step: `pip install -e '.[test,ray]' && pytest tests/test_ray.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from dojo_kernel.runner import build_grid, run_batch  # noqa: E402
from runner_agents import SubmitSampleAgent  # noqa: E402
from test_runner import SETTINGS, SUBMIT, result_rows, tiny_competitions  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def competitions(tmp_path_factory):
    with tiny_competitions(tmp_path_factory.mktemp("dojo-data")) as names:
        yield names


def test_a_batch_starts_its_own_local_ray_with_gpu_slots(competitions, tmp_path):
    # No Ray is running: the batch starts one (told of the 2 GPUs it was given; none exist
    # here), each task gets a GPU and half its memory, and the batch shuts Ray down after.
    assert not ray.is_initialized()
    specs = build_grid(competitions[:1], [SUBMIT], 2, SETTINGS)
    result = run_batch(specs, tmp_path, ray="local", gpus=[0, 1], per_gpu=2, gpu_memory_gb=10, report=False)
    assert not ray.is_initialized()
    assert [e.status for e in result.episodes] == ["ok", "ok"]
    for episode in result.episodes:
        assert episode.slot.gpu_device in (0, 1) and episode.slot.gpu_memory_gb == 5.0
        cuda_visible, _ = (episode.run_dir / "working" / "limits_seen.txt").read_text().split("\n")
        assert cuda_visible == str(episode.slot.gpu_device)
        assert episode.summary["limits"]["gpu_memory_gb"] == 5.0


@pytest.fixture(scope="module")
def running_ray(competitions):
    """A Ray that is already running (as on a cluster the driver joined): the runner uses it."""
    ray.init(num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if os.path.isdir(p)),
                                       "DOJO_DATA": os.environ["DOJO_DATA"]}})
    yield
    ray.shutdown()


def test_batch_on_ray_runs_resumes_and_reports_failures(running_ray, competitions, tmp_path):
    specs = build_grid(competitions, [SUBMIT], 2, SETTINGS)
    failing = build_grid(competitions[:1], ["runner_agents:FailingAgent", "runner_agents:DyingAgent"], [0], SETTINGS)
    result = run_batch(specs + failing, tmp_path, ray=True, parallel=2, report=False)
    assert ray.is_initialized()  # a Ray the batch did not start is left running
    outcome = {e.spec.key: (e.status, e.attempts) for e in result.episodes}
    assert [outcome[s.key] for s in specs] == [("ok", 1)] * 4
    assert [outcome[s.key] for s in failing] == [("failed", 2)] * 2
    errors = {e.spec.agent: e.error for e in result.failed}
    assert "this agent always fails" in errors["runner_agents:FailingAgent"]
    assert "WorkerCrashedError" in errors["runner_agents:DyingAgent"]  # Ray's word for a worker that died
    rows = result_rows(tmp_path)
    assert sum(row["status"] == "ok" for row in rows) == 4
    assert all(row["final_score"] and row["steps"] == "2" for row in rows if row["status"] == "ok")

    again = run_batch(specs, tmp_path, ray=True, parallel=2, report=False)
    assert {e.status for e in again.episodes} == {"skipped"}


def test_run_dirs_from_other_nodes_come_back_as_archives(running_ray, competitions, tmp_path):
    # A task on another node sends its run dir back; force that path here on one node.
    specs = build_grid(competitions[:1], [SUBMIT], [5], SETTINGS)
    result = run_batch(specs, tmp_path, ray=True, report=False, ray_ship_run_dirs=True)
    episode = result.episodes[0]
    assert episode.status == "ok"
    assert episode.run_dir.parent == tmp_path / episode.spec.key
    assert {"trajectory.ipynb", "rewards.jsonl", "summary.json"} <= {p.name for p in episode.run_dir.iterdir()}
    assert episode.summary["seed"] == 5


def test_remote_env_steps_through_an_episode(running_ray, competitions, tmp_path):
    from dojo_kernel.remote import RemoteDojoEnv

    env = RemoteDojoEnv(competitions[0], output_dir=str(tmp_path), **SETTINGS)
    try:
        assert env.action_space is not None and env.observation_space is not None
        observation, info = env.reset(seed=0)
        assert isinstance(observation["feedback"], str) and isinstance(info, dict)
        agent = SubmitSampleAgent()
        agent.reset(observation)
        terminated = truncated = False
        steps = 0
        while not (terminated or truncated):
            action = agent.act(observation)
            # step_async (an object ref, for stepping many envs at once) gives what step gives
            step = env.step(action) if steps else ray.get(env.step_async(action))
            observation, reward, terminated, truncated, info = step
            steps += 1
            assert isinstance(reward, float) and isinstance(observation["feedback"], str)
        assert terminated and steps == 2
        run_dir = Path(env.run_dir)
    finally:
        env.close()
    assert (run_dir / "summary.json").is_file()
    env.close()  # twice is fine
