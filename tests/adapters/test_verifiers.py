"""The verifiers adapter against the real verifiers package: a rollout through its own
MultiTurnEnv loop, stop conditions, cleanup and rubric scoring (run_rollout / run_group),
with a scripted model behind verifiers' own Client interface."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

vf = pytest.importorskip("verifiers", reason="needs the verifiers extra: pip install 'dojo-kernel[verifiers]'")
if not hasattr(vf, "MultiTurnEnv"):
    pytest.skip("this verifiers has no classic MultiTurnEnv (0.4+): install 'verifiers<0.4'", allow_module_level=True)

from verifiers.clients import Client  # noqa: E402
from verifiers.types import Response, ResponseMessage  # noqa: E402

import tiny_competition as tiny  # noqa: E402
from dojo_kernel.adapters.verifiers_env import DojoMultiTurnEnv, load_environment  # noqa: E402

pytestmark = pytest.mark.timeout(240)


class ScriptedClient(Client):
    """A 'model' that answers from a list of replies, one per call, through verifiers' Client
    interface (as its OpenAI clients do); it records the prompts it was shown."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__(object())
        self.replies = itertools.cycle(replies)
        self.prompts: list[list] = []

    def setup_client(self, config):  # pragma: no cover - built from an object, never a config
        return object()

    async def to_native_tool(self, tool):
        return tool

    async def to_native_prompt(self, messages):
        return messages, {}

    async def get_native_response(self, prompt, model, sampling_args, tools=None, **kwargs):
        self.prompts.append(list(prompt))
        return next(self.replies)

    async def raise_from_native_response(self, response):
        return None

    async def from_native_response(self, response):
        return Response(id="scripted", created=int(time.time()), model="scripted",
                        message=ResponseMessage(content=response, finish_reason="stop", is_truncated=False))

    async def close(self):
        return None


def test_a_rollout_is_an_episode_and_the_rubric_is_its_return(competition, text_settings):
    env = load_environment(competitions=[competition.name], max_turns=4, settings=text_settings)
    assert isinstance(env, DojoMultiTurnEnv) and isinstance(env, vf.MultiTurnEnv)
    row = env.get_dataset()[0]
    client = ScriptedClient([f"```python\n{tiny.submission_code('perfect')}\n```", "thinking...", "SUBMIT FINAL"])

    output = asyncio.run(env.run_rollout(row, client, "scripted", {}))
    assert output["reward"] > 0.9  # improvement mode: the return is the best position score (0.95..1)
    assert output["metrics"]["dojo_final_position"] == output["reward"]
    assert output.get("error") is None
    # The model saw the task, then the graded cell, then the nudge after its reply without code.
    first_prompt = client.prompts[0]
    assert "Tiny threshold" in str(first_prompt[-1])
    assert "leaderboard" in str(client.prompts[1][-1])
    assert "held no action" in str(client.prompts[2][-1])
    assert len(client.prompts) == 3 and env._envs == {}  # the episode ended on SUBMIT FINAL; kernels closed


def test_a_group_scores_each_rollout_and_max_turns_ends_it(competition, text_settings):
    env = load_environment(competitions=[competition.name], max_turns=2, settings=text_settings)
    row = env.get_dataset()[0]
    client = ScriptedClient([f"```python\n{tiny.submission_code('constant')}\n```", "no action"])
    outputs = asyncio.run(env.run_group([row, row], client, "scripted", {}))
    assert len(outputs) == 2
    for output in outputs:
        assert output.get("error") is None
        assert 0.0 < output["reward"] < 0.5  # the all-zero submission beats few of the leaderboard
    assert len(client.prompts) == 4 and env._envs == {}
