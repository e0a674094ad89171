"""Two DojoEnvs in a Gymnasium AsyncVectorEnv: each worker process owns its own kernel."""

from __future__ import annotations

import functools

import psutil
import pytest
from gymnasium.vector import AsyncVectorEnv

import tiny_competition as tiny

pytestmark = pytest.mark.timeout(240)


def descendants() -> dict[int, str]:
    """This process's live descendants (pid -> command line), but multiprocessing's resource
    tracker, which "spawn" starts once and keeps for the life of the interpreter."""
    found = {}
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            command = " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "resource_tracker" not in command:
            found[process.pid] = command
    return found


def test_two_envs_in_an_async_vector_env(tmp_path):
    competition = tiny.build(tmp_path / "competitions")
    before = descendants()
    env_fns = [functools.partial(tiny.make_env, competition.root, tmp_path / f"runs{index}", warm_pool=0,
                                 max_steps=5)
               for index in range(2)]
    # Observations hold free text, which Gymnasium's shared memory cannot carry; "spawn"
    # starts workers that inherit no threads from this process.
    vector = AsyncVectorEnv(env_fns, shared_memory=False, context="spawn")
    try:
        obs, info = vector.reset(seed=[1, 2])
        assert len(obs["feedback"]) == 2 and all("Tiny threshold" in text for text in obs["feedback"])
        assert info["run_dir"][0] != info["run_dir"][1]

        obs, rewards, terminated, truncated, info = vector.step(["value = 10", "value = 20"])
        obs, rewards, terminated, truncated, info = vector.step(["print(value + 1)", "print(value + 2)"])
        assert "11" in obs["feedback"][0] and "22" in obs["feedback"][1]  # each worker kept its own state
        assert list(obs["step"]) == [2, 2] and not terminated.any() and not truncated.any()

        obs, rewards, terminated, truncated, info = vector.step(
            [tiny.submission_code("perfect"), {"action": "get_history"}])
        assert list(rewards) == pytest.approx([1.0, 0.0])
        assert list(obs["graded"]) == [1, 0] and info["score"][0] == 1.0

        started = {pid: command for pid, command in descendants().items() if pid not in before}
        assert len([command for command in started.values() if "ipykernel" in command]) >= 2
    finally:
        vector.close()
    left = {pid: command for pid, command in descendants().items() if pid not in before}
    assert not left  # workers and their kernels are gone
