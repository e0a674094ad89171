"""`RemoteDojoEnv`: a DojoEnv in a Ray actor, stepped from the trainer's side, on a local Ray
(the `ray` extra)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from batch.agents import SubmitSampleAgent  # noqa: E402
from batch.helpers import SETTINGS, tiny_competitions  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def competitions(tmp_path_factory):
    with tiny_competitions(tmp_path_factory.mktemp("dojo-data")) as names:
        yield names


@pytest.fixture(scope="module")
def running_ray(competitions):
    ray.init(num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if os.path.isdir(p)),
                                       "DOJO_DATA": os.environ["DOJO_DATA"]}})
    yield
    ray.shutdown()


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
