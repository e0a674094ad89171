"""Gymnasium's own checker passes on DojoEnv, made with gymnasium.make on a built-in competition."""

from __future__ import annotations

import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import dojo_kernel
from conftest import assert_nothing_left
from dojo_kernel.env import DojoEnv

pytestmark = pytest.mark.timeout(300)

BUILTIN = "iris-species"


def test_check_env_passes_on_a_builtin_competition(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJO_DATA", str(tmp_path / "data"))  # the built-in is built here, not in the user's cache
    assert f"dojo/{BUILTIN}-v0" in dojo_kernel.register_envs()
    runs = tmp_path / "runs"
    env = gymnasium.make(f"dojo/{BUILTIN}-v0", output_dir=runs, max_steps=20)
    try:
        assert isinstance(env.unwrapped, DojoEnv)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a checker warning fails the test too
            check_env(env.unwrapped)
    finally:
        env.close()
    assert_nothing_left(runs)
    # Resets that took no step leave no run dir behind: what is left recorded steps.
    left = sorted(runs.iterdir())
    assert all((run / "rewards.jsonl").stat().st_size > 0 for run in left), left
