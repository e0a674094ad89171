"""`DojoTextEnv`: a DojoEnv for RL trainers that speak text, the one class the adapters share.

    env = DojoTextEnv("penguin-species", max_turns=10)
    messages, metadata = env.reset(seed=0)        # [system, user(the task)]
    out = env.step(model_reply)                   # {"observations", "reward", "done", "metadata"}

The model's raw reply goes in: a ```python fenced block (the next cell), a tool call (an
OpenAI-style assistant message with `tool_calls`, or `<tool_call>{...}</tool_call>` in the
text), or SUBMIT FINAL. It is read by the LLM agent's parser (`agents/llm.py`), so a model
trained here acts the same way under `dojo run --agent llm`. A reply holding no action is
answered with feedback that says how to act, never with an exception; it uses a turn.

Out come chat messages (the env's feedback as a `user` message, or a `tool` message that
answers the model's tool call), the step's reward, whether the episode is over, and the
structured info as plain-JSON metadata (score, position, best so far, cell status, the
final private grade at the end). When `max_turns` replies have been given, the episode ends
with the current submission graded as final.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np
from gymnasium.error import ResetNeeded

from ..agents.base import Action
from ..agents.llm import SYSTEM_PROMPT, TOOLS, action_from_reply, tool_call_in_text
from ..env import DojoEnv, make
from ..errors import ConfigError, expected, safe_repr
from ..tracebacks import of_action

Message = dict[str, Any]

NO_ACTION = ("Your reply held no action. Answer with one ```python fenced block (it runs as the next "
             "notebook cell), a tool call (execute_code, request_info or submit), or SUBMIT FINAL to end "
             "the episode with your current submission.")

# The info keys a trainer logs or shapes rewards with; the rest of info stays on the env.
METADATA_KEYS = ("action", "status", "error", "score", "position", "best_score", "best_position", "step",
                 "reward_mode", "end_reason", "grade", "final_grade", "final_public_grade", "limit_event",
                 "kernel_restarted", "run_dir", "competition", "timings")


_FINAL_SUBMIT = {"action": "submit", "final": True}
_FINAL_KEYS = ("final_grade", "final_public_grade", "end_reason", "best_score", "best_position", "score", "position")
StepResult = tuple[dict[str, Any], float, bool, bool, dict[str, Any]]


class TextStep(TypedDict):
    """What `step()` returns: SkyRL-Gym's `BaseTextEnvStepOutput` layout."""

    observations: list[Message]
    reward: float
    done: bool
    metadata: dict[str, Any]


class DojoTextEnv:
    """One competition as a text-in, messages-out environment (see the module docstring).

    competition, settings  as for `dojo_kernel.make` (output_dir, limits, warm_pool, ...)
    max_turns              replies per episode (None: no limit besides the env's own budget)
    system_prompt          the first message (default: the LLM agent's system prompt)
    """

    def __init__(self, competition: str, *, max_turns: int | None = None, system_prompt: str | None = None,
                 env: DojoEnv | None = None, **settings: Any) -> None:
        if max_turns is not None and (isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1):
            raise ConfigError(expected("max_turns as an int >= 1, or None for no limit", max_turns))
        self.competition = competition
        self.settings = dict(settings)
        self.max_turns = max_turns
        self.system_prompt = system_prompt or SYSTEM_PROMPT
        self.env = env if env is not None else make(competition, **settings)
        # for trainers that offer the model tools: the env's actions, registered ones included
        tools = getattr(self.env.action_space, "tools", None)
        self.tools = copy.deepcopy(tools() if callable(tools) else TOOLS)
        self.turns = 0
        self.done = False
        self.total_reward = 0.0
        self.seed: int | None = None
        self.messages: list[Message] = []  # the conversation so far, replies included
        self.replies: list[Any] = []  # every reply of this episode, in order (group rollouts replay them)
        self.last_metadata: dict[str, Any] = {}  # of the latest reset or step

    # ------------------------------------------------------------------ the episode

    def reset(self, seed: int | None = None) -> tuple[list[Message], dict[str, Any]]:
        """A new episode: the opening messages (system prompt, the task) and metadata."""
        obs, info = self.env.reset(seed=seed)
        return self._opened(seed, obs, info)

    async def areset(self, seed: int | None = None) -> tuple[list[Message], dict[str, Any]]:
        obs, info = await self.env.areset(seed=seed)
        return self._opened(seed, obs, info)

    def step(self, reply: Any) -> TextStep:
        """Play the model's reply; see the module docstring for what it may hold."""
        action, answer_to = self._read(reply)
        result = self.env.step(action) if action is not None else None
        final = self.env.step(_FINAL_SUBMIT) if self._out_of_turns(result) else None
        return self._turn(action, result, final, answer_to)

    async def astep(self, reply: Any) -> TextStep:
        """`step()` without blocking the event loop (the env's step runs in a worker thread)."""
        action, answer_to = self._read(reply)
        result = await self.env.astep(action) if action is not None else None
        final = await self.env.astep(_FINAL_SUBMIT) if self._out_of_turns(result) else None
        return self._turn(action, result, final, answer_to)

    def close(self) -> None:
        self.env.close()

    def fork(self, n: int = 1) -> list[DojoTextEnv]:
        """`n` independent copies of this episode at its current turn (see adapters/group.py)."""
        from .group import fork_episode
        return fork_episode(self, n)

    def __enter__(self) -> DojoTextEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _opened(self, seed: int | None, obs: dict[str, Any], info: dict[str, Any]) -> tuple[list[Message], dict]:
        self.turns, self.done, self.total_reward, self.seed = 0, False, 0.0, seed
        self.replies = []
        self.last_metadata = metadata_of(info)
        self.messages = [{"role": "system", "content": self.system_prompt},
                         {"role": "user", "content": obs["feedback"]}]
        return [dict(message) for message in self.messages], dict(self.last_metadata)

    def _read(self, reply: Any) -> tuple[Action | None, str | None]:
        """(the action in the reply or None, the tool call id an answer must name or None)."""
        if self.env._episode is None:  # the env's own guard, for replies that never reach env.step
            raise ResetNeeded("expected reset() before step(), got step() first: call env.reset()")
        self.turns += 1
        self.replies.append(_kept(reply))
        message = _as_message(reply)
        if message is None:
            self.messages.append({"role": "assistant", "content": safe_repr(reply)[:2000]})
            return None, None
        self.messages.append(message)
        if not message.get("tool_calls"):
            embedded = tool_call_in_text(str(message.get("content") or ""))
            if embedded is not None:  # a tool call written into the text: answered as a user message
                message = {**message, "tool_calls": [embedded]}
                action = action_from_reply(message)
                return action, None
        action = action_from_reply(message)
        answer_to = message["tool_calls"][0].get("id") if message.get("tool_calls") else None
        return action, answer_to

    def _out_of_turns(self, result: StepResult | None) -> bool:
        """Whether this turn was the last one allowed while the episode still runs."""
        over = self.done or (result is not None and (result[2] or result[3]))
        return not over and self.max_turns is not None and self.turns >= self.max_turns

    def _turn(self, action: Action | None, result: StepResult | None, final: StepResult | None,
              answer_to: str | None) -> TextStep:
        """The observation, reward and metadata of one turn."""
        if result is None:
            feedback, reward, info = NO_ACTION, 0.0, {"action": "no_action",
                                               "error": of_action("the reply held no action")}
            over = self.done
        else:
            obs, reward, terminated, truncated, info = result
            feedback, over = obs["feedback"], bool(terminated or truncated)
        reward = float(reward)
        if final is not None:
            # Out of turns: the episode ends the way an agent ends it, by submitting what it has.
            obs, final_reward, _, _, final_info = final
            reward += float(final_reward)
            feedback = f"{feedback}\n\nThat was the last turn ({self.max_turns}).\n\n{obs['feedback']}"
            info = {**info, **{key: final_info[key] for key in _FINAL_KEYS if key in final_info}}
            over = True
        self.done = self.done or over
        self.total_reward += reward
        if answer_to is not None:
            observation: Message = {"role": "tool", "tool_call_id": answer_to, "content": feedback}
        else:
            observation = {"role": "user", "content": feedback}
        self.messages.append(observation)
        metadata = metadata_of(info)
        metadata.update(turn=self.turns, total_reward=self.total_reward,
                        parse_error=None if action is not None else NO_ACTION)
        if "best_score" not in metadata and "best_score" in self.last_metadata:  # a no-action turn keeps it
            metadata["best_score"] = self.last_metadata["best_score"]
        self.last_metadata = metadata
        return TextStep(observations=[dict(observation)], reward=reward, done=self.done, metadata=metadata)


def _kept(reply: Any) -> Any:
    """A copy of the reply to replay later, safe from the caller changing it; the reply
    itself where it cannot be copied (it is then read as no action anyway)."""
    if not isinstance(reply, (dict, list)):
        return reply
    try:
        return copy.deepcopy(reply)
    except Exception:  # an object inside that refuses to be copied
        return reply


def _as_message(reply: Any) -> Message | None:
    """The reply as an assistant message, or None when it is neither text nor a message."""
    if isinstance(reply, str):
        return {"role": "assistant", "content": reply}
    if isinstance(reply, Mapping):
        content = reply.get("content")
        calls = reply.get("tool_calls")
        if content is not None and not isinstance(content, str):
            return None
        if calls is not None and not _well_formed_calls(calls):
            return {"role": "assistant", "content": content or ""}  # read its text, ignore the broken calls
        message: Message = {"role": "assistant", "content": content or ""}
        if calls:
            call = calls[0]
            function = call["function"]
            arguments = function.get("arguments") or "{}"
            if isinstance(arguments, Mapping):  # some trainers hand the arguments over parsed
                arguments = json.dumps(dict(arguments), default=safe_repr)
            message["tool_calls"] = [{"id": call.get("id"), "type": "function",
                                      "function": {"name": function["name"], "arguments": arguments}}]
        return message
    return None


def _well_formed_calls(calls: Any) -> bool:
    if not isinstance(calls, list) or not calls or not isinstance(calls[0], Mapping):
        return False
    function = calls[0].get("function")
    return (isinstance(function, Mapping) and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments", "{}") or "{}", (str, Mapping)))


def metadata_of(info: Mapping[str, Any]) -> dict[str, Any]:
    """The trainer's view of a step's info: the keys in METADATA_KEYS, as plain JSON values."""
    return {key: plain(info[key]) for key in METADATA_KEYS if info.get(key) is not None}


def plain(value: Any) -> Any:
    """`value` with numpy scalars and arrays turned into Python numbers and lists, tuples
    into lists, and NaN or infinity into None: what json.dumps and Ray carry as-is."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
