"""The SkyRL-Gym adapter: a `skyrl_gym` `BaseTextEnv` whose episodes are dojo-kernel episodes.

    import skyrl_gym
    from dojo_kernel.adapters.skyrl import register
    register()                                    # id "dojo" in skyrl_gym's registry
    env = skyrl_gym.make("dojo", env_config={"output_dir": "runs"},
                         extras={"competition": "penguin-species", "max_turns": 10})
    prompt, metadata = env.init([])               # the trainer's prompt, plus the task
    out = env.step(model_reply)                   # observations, reward, done, metadata

SkyRL's generator makes one env per sample with the dataset row's fields as `extras`:
`competition` (required), `max_turns`, `seed` and `settings` (a dict for
`dojo_kernel.make`); `env_config` (the trainer's config for this env id) holds settings
every episode shares, such as `output_dir`, `isolation`, `memory_gb`. A row's settings win.
Needs the `skyrl` extra: pip install 'dojo-kernel[skyrl]'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:
    from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput
except ImportError as error:  # pragma: no cover - the message is the point
    from ..errors import ConfigError
    raise ConfigError("the SkyRL-Gym adapter needs the skyrl extra: pip install 'dojo-kernel[skyrl]'") from error

from ..errors import ConfigError, expected
from .text import DojoTextEnv, Message

ENV_ID = "dojo"
ENTRY_POINT = "dojo_kernel.adapters.skyrl:DojoSkyRLEnv"


class DojoSkyRLEnv(BaseTextEnv):
    """One dojo-kernel episode behind SkyRL-Gym's text-env contract (see the module docstring)."""

    def __init__(self, env_config: Any = None, extras: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        extras = dict(extras or {})
        competition = extras.get("competition")
        if not isinstance(competition, str) or not competition:
            raise ConfigError(expected("extras['competition'] as a competition name", competition,
                                       "put a 'competition' column in the dataset rows"))
        settings = {**_as_dict(env_config, "env_config"), **_as_dict(extras.get("settings"), "extras['settings']")}
        max_turns = extras.get("max_turns", settings.pop("max_turns", None))
        self.seed = extras.get("seed")
        self.text_env = DojoTextEnv(competition, max_turns=max_turns, **settings)
        self.max_turns = max_turns if max_turns is not None else 10**9  # SkyRL reads it; None means no limit here

    def init(self, prompt: list[Message]) -> tuple[list[Message], dict[str, Any]]:
        """The trainer's prompt with the task added: appended to its last user message, or as
        a new user message; an empty prompt gets the text env's own system prompt too."""
        opening, metadata = self.text_env.reset(seed=self.seed)
        self.turns = 0
        task = opening[-1]["content"]
        messages = [dict(message) for message in (prompt or [])]
        if not messages:
            return opening, metadata
        if messages[-1].get("role") == "user":
            messages[-1]["content"] = f"{messages[-1].get('content') or ''}\n\n{task}".lstrip()
        else:
            messages.append({"role": "user", "content": task})
        return messages, metadata

    def step(self, action: str) -> BaseTextEnvStepOutput:
        out = self.text_env.step(action)
        self.turns = self.text_env.turns
        return BaseTextEnvStepOutput(observations=out["observations"], reward=out["reward"], done=out["done"],
                                     metadata=out["metadata"], postprocessed_action=None)

    def close(self) -> None:
        self.text_env.close()

    def get_metrics(self) -> dict[str, Any]:
        """Per-episode numbers SkyRL averages over a batch (aggregate_metrics' default)."""
        last = self.text_env.last_metadata
        final = last.get("final_grade") or {}
        return {"turns": self.text_env.turns, "total_reward": self.text_env.total_reward,
                "best_score": last.get("best_score", 0.0),
                "final_valid": float(bool(final.get("valid"))),
                "final_position": final.get("position") or 0.0}


def register(env_id: str = ENV_ID) -> str:
    """Register the adapter in skyrl_gym's registry under `env_id` (once; calling again is a no-op)."""
    import skyrl_gym

    if env_id not in skyrl_gym.registry:
        skyrl_gym.register(id=env_id, entry_point=ENTRY_POINT)
    return env_id


def _as_dict(value: Any, name: str) -> dict[str, Any]:
    """A plain dict of settings from None, a Mapping, or an OmegaConf DictConfig (SkyRL's)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        try:
            from omegaconf import OmegaConf
            value = OmegaConf.to_container(value, resolve=True)
        except Exception:  # not an OmegaConf object either
            raise ConfigError(expected(f"{name} as a dict of dojo_kernel.make settings", value)) from None
    return dict(value)  # type: ignore[arg-type]
