"""The verifiers adapter: a `verifiers` `MultiTurnEnv` whose rollouts are dojo-kernel episodes
and whose rubric is the episode's reward.

    from dojo_kernel.adapters.verifiers_env import load_environment
    env = load_environment(competitions=["penguin-species"], max_turns=10, settings={"output_dir": "runs"})
    outputs = await env.run_group([env.get_dataset()[0]] * 8, client, model, {})

Each dataset row names a competition (`info.competition`) and a seed. A rollout resets a
`DojoTextEnv` in `setup_state` (its opening messages become the rollout's prompt), answers
each model reply with the env's observation in `env_response`, and stops when the episode
ends (`final_env_response`): by SUBMIT FINAL, the env's budget, or `max_turns` replies, at
which the current submission is graded as final. The rubric's one function, `dojo_return`,
is the sum of the episode's rewards under the env's reward mode (with the default
`improvement`, the best position score reached); `dojo_final_position` is logged as a
metric (weight 0). Kernels are closed in the rollout's cleanup, before scoring.

Written for verifiers' classic stack (`vf.MultiTurnEnv`, 0.1.9 up to 0.3.x; 0.4 moved it
to `verifiers.legacy` and then dropped it). Needs the `verifiers` extra.
"""

from __future__ import annotations

import asyncio
from typing import Any

try:
    import verifiers as vf
    from datasets import Dataset
except ImportError as error:  # pragma: no cover - the message is the point
    from ..errors import ConfigError
    raise ConfigError("the verifiers adapter needs the verifiers extra: pip install 'dojo-kernel[verifiers]'") \
        from error

from ..agents.llm import SYSTEM_PROMPT
from ..errors import ConfigError, expected
from .text import DojoTextEnv

try:
    from verifiers.utils.message_utils import normalize_messages  # pyright: ignore[reportMissingImports]
except ImportError:  # older layouts take plain dict messages as they are
    def normalize_messages(messages: Any, field_name: str = "") -> Any:
        return messages


async def dojo_return(state: Any, **_: Any) -> float:
    """The rubric: the episode's return (the sum of its rewards)."""
    return float(state.get("dojo_return") or 0.0)


async def dojo_final_position(state: Any, **_: Any) -> float:
    """The final submission's private position score (0 when it was invalid or missing)."""
    final = (state.get("dojo_metadata") or {}).get("final_grade") or {}
    return float(final.get("position") or 0.0) if final.get("valid") else 0.0


class DojoMultiTurnEnv(vf.MultiTurnEnv):
    """Dojo-kernel episodes as verifiers rollouts (see the module docstring)."""

    def __init__(self, dataset: Dataset, *, max_turns: int = 10, settings: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ConfigError(expected("max_turns as an int >= 1 (replies per episode)", max_turns))
        rubric = vf.Rubric(funcs=[dojo_return, dojo_final_position], weights=[1.0, 0.0])
        # verifiers' own turn limit stops before the last reply is played; the text env's
        # limit plays it and grades the final submission, then ends the rollout.
        super().__init__(dataset=dataset, rubric=rubric, max_turns=-1, **kwargs)
        self.dojo_max_turns = max_turns
        self.dojo_settings = dict(settings or {})
        self._envs: dict[str, DojoTextEnv] = {}  # by trajectory id, while a rollout runs

    async def setup_state(self, state: Any) -> Any:
        info = state.get("info") or {}
        competition = info.get("competition") if isinstance(info, dict) else None
        if not isinstance(competition, str):
            raise ConfigError(expected("info['competition'] in the dataset row", info))
        loop = asyncio.get_running_loop()
        env = await loop.run_in_executor(None, lambda: DojoTextEnv(competition, max_turns=self.dojo_max_turns,
                                                                   **self.dojo_settings))
        self._envs[state["trajectory_id"]] = env
        opening, metadata = await env.areset(seed=info.get("seed"))
        state["prompt"] = normalize_messages(opening, field_name="prompt")
        state["dojo_return"] = 0.0
        state["dojo_metadata"] = metadata
        return state

    async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> Any:
        env = self._envs[state["trajectory_id"]]
        out = await env.astep(_reply_of(messages[-1]))
        state["dojo_return"] = env.total_reward
        state["dojo_metadata"] = out["metadata"]
        observations = normalize_messages(out["observations"], field_name="env_response")
        if out["done"]:
            state["final_env_response"] = observations
        return observations

    @vf.cleanup
    async def close_dojo_env(self, state: Any) -> None:
        env = self._envs.pop(state.get("trajectory_id"), None)
        if env is not None:
            await asyncio.get_running_loop().run_in_executor(None, env.close)


def _reply_of(message: Any) -> dict[str, Any]:
    """A verifiers assistant message (a pydantic model or a dict) as an OpenAI-style message."""
    data = message.model_dump() if hasattr(message, "model_dump") else dict(message)
    content = data.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    reply: dict[str, Any] = {"role": "assistant", "content": content or ""}
    calls = data.get("tool_calls") or []
    if calls:
        call = calls[0]
        function = call.get("function") or {"name": call.get("name"), "arguments": call.get("arguments")}
        reply["tool_calls"] = [{"id": call.get("id") or "call_0", "type": "function",
                                "function": {"name": function.get("name"),
                                             "arguments": function.get("arguments") or "{}"}}]
    return reply


def load_environment(competitions: list[str] | str = "penguin-species", *, seeds: int = 1, max_turns: int = 10,
                     settings: dict[str, Any] | None = None, **kwargs: Any) -> DojoMultiTurnEnv:
    """verifiers' entry point: one dataset row per (competition, seed)."""
    if isinstance(competitions, str):
        competitions = [competitions]
    rows = [{"prompt": [{"role": "user", "content": f"Solve the {name} competition."}], "answer": "",
             "info": {"competition": name, "seed": seed, "env_id": "dojo"}}
            for name in competitions for seed in range(seeds)]
    return DojoMultiTurnEnv(Dataset.from_list(rows), max_turns=max_turns, settings=settings,
                            system_prompt=SYSTEM_PROMPT, **kwargs)
