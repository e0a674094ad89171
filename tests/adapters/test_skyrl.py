"""The SkyRL-Gym adapter against the real skyrl_gym package: its registry, its make() checks
(the env must be a skyrl_gym Env) and BaseTextEnv's step-output layout."""

from __future__ import annotations

import json
import typing

import pytest

skyrl_gym = pytest.importorskip("skyrl_gym", reason="needs the skyrl extra: pip install 'dojo-kernel[skyrl]'")
from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput  # noqa: E402

import tiny_competition as tiny  # noqa: E402
from dojo_kernel.adapters.skyrl import DojoSkyRLEnv, register  # noqa: E402
from dojo_kernel.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.timeout(180)


def test_registered_env_runs_an_episode_through_skyrl_make(competition, text_settings):
    assert register() == "dojo" and register() == "dojo"  # idempotent
    assert "dojo" in skyrl_gym.registry
    env = skyrl_gym.make("dojo", env_config={**text_settings, "output_dir": str(text_settings["output_dir"])},
                         extras={"competition": competition.name, "max_turns": 3, "seed": 4})
    try:
        assert isinstance(env, DojoSkyRLEnv) and isinstance(env, BaseTextEnv) and env.max_turns == 3
        prompt, metadata = env.init([{"role": "system", "content": "You are a trainer's model."},
                                     {"role": "user", "content": "Solve this."}])
        assert [m["role"] for m in prompt] == ["system", "user"]
        assert prompt[1]["content"].startswith("Solve this.") and "Tiny threshold" in prompt[1]["content"]
        assert metadata["competition"] == competition.name

        out = env.step(f"```python\n{tiny.submission_code('perfect')}\n```")
        assert set(out) == set(typing.get_type_hints(BaseTextEnvStepOutput))
        assert out["done"] is False and out["reward"] > 0 and out["metadata"]["score"] == 1.0
        assert out["observations"][0]["role"] == "user" and env.turns == 1

        out = env.step("no code here")  # malformed: feedback, not an exception
        assert out["done"] is False and out["metadata"]["parse_error"]
        out = env.step("SUBMIT FINAL")
        assert out["done"] is True and out["metadata"]["final_grade"]["valid"] is True
        json.dumps(out)

        metrics = env.get_metrics()
        assert metrics["turns"] == 3 and metrics["final_valid"] == 1.0 and metrics["best_score"] == 1.0
        aggregated = DojoSkyRLEnv.aggregate_metrics([metrics, {**metrics, "turns": 1}])
        assert aggregated["turns"] == 2.0
    finally:
        env.close()


def test_an_empty_prompt_gets_the_system_prompt_and_a_missing_competition_is_a_config_error(competition,
                                                                                            text_settings):
    with pytest.raises(ConfigError, match="competition"):
        DojoSkyRLEnv(env_config={}, extras={})
    env = DojoSkyRLEnv(env_config=text_settings, extras={"competition": competition.name})
    try:
        prompt, _ = env.init([])
        assert [m["role"] for m in prompt] == ["system", "user"]
    finally:
        env.close()
