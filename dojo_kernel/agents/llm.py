"""An agent behind any OpenAI-compatible chat-completions endpoint.

The model sees the env's feedback text and answers with a tool call (`execute_code`,
`submit`, `request_info`) or, for endpoints without tools, a ```python fenced block. The
conversation is trimmed to a token budget, transient HTTP failures are retried with
backoff, and token usage is counted in `agent.stats`.

Needs the optional extra: pip install 'dojo-kernel[llm]'.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from pathlib import Path
from typing import Any, cast

from ..actions import INFO_TYPES
from ..errors import ConfigError, expected
from ..outputs import clip
from .base import Action, AgentError, Observation
from .vision import FIGURES_INTRO, content_tokens, image_parts, without_images

SYSTEM_PROMPT = """You are a data scientist solving a Kaggle-style competition in a Jupyter notebook, \
one cell at a time. The kernel is persistent: variables survive between cells.
The competition's files are in input/ (read-only); write everything to working/. Use relative paths.
Write your predictions to working/submission.csv with the same columns and ids as \
input/sample_submission.csv; every cell that writes it is graded and you see the score.
Act with the tools: execute_code runs a cell, request_info shows the task's details, \
submit grades the current submission (final=true ends the episode when you are done).
If you cannot call tools, answer with one ```python fenced block: it runs as the next cell; \
answer SUBMIT FINAL (without code) to end the episode.
Keep cells short, print what you need to see, and explain each step in one sentence."""

TOOLS = [
    {"type": "function", "function": {
        "name": "execute_code",
        "description": "Run Python code as the next notebook cell in the persistent kernel.",
        "parameters": {"type": "object", "properties": {
            "code": {"type": "string", "description": "the cell's Python source"}},
            "required": ["code"]}}},
    {"type": "function", "function": {
        "name": "request_info",
        "description": "Show details of the competition: " + ", ".join(INFO_TYPES) + ".",
        "parameters": {"type": "object", "properties": {
            "info_type": {"type": "string", "enum": list(INFO_TYPES), "description": "what to show"}},
            "required": ["info_type"]}}},
    {"type": "function", "function": {
        "name": "submit",
        "description": "Grade working/submission.csv; final=true ends the episode.",
        "parameters": {"type": "object", "properties": {
            "final": {"type": "boolean", "description": "true to end the episode with this submission"}},
            "required": []}}},
]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_FINAL = re.compile(r"\bSUBMIT[ _]FINAL\b", re.IGNORECASE)
_NUDGE = ("Your reply had no code. Answer with a tool call, or with one ```python fenced block "
          "that runs as the next cell.")


def extract_code(text: str) -> tuple[str | None, str]:
    """Split a reply into (code, the prose around it).

    Python-tagged blocks win over untagged ones; several blocks are joined in order, since a
    person reading the reply would run them all.
    """
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text or "")]
    chosen = [body for lang, body in blocks if lang in ("python", "py", "python3", "ipython")]
    if not chosen:
        chosen = [body for lang, body in blocks if lang == ""]
    prose = _FENCE.sub("", text or "").strip()
    if not chosen:
        return None, prose
    return "\n\n".join(body.strip("\n") for body in chosen), prose


_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def tool_call_in_text(text: str) -> dict[str, Any] | None:
    """The first `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` in a raw reply
    (the way open models write tool calls in plain text), as an OpenAI-style tool call; None
    when there is none or it is not a JSON object with a string name."""
    match = _TOOL_CALL_TAG.search(text or "")
    if match is None:
        return None
    try:
        call = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    arguments = call.get("arguments", call.get("parameters", {}))
    return {"id": "call_0", "type": "function",
            "function": {"name": call["name"],
                         "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}}


def action_from_reply(message: dict[str, Any]) -> Action | None:
    """The action in a model's reply (an assistant message: `content`, maybe `tool_calls`),
    or None when the reply holds no action (no tool call, no code block, no SUBMIT FINAL).

    A tool call wins over text; an unknown tool or missing arguments still make an action,
    which the env answers with a readable error, as it would any malformed action.
    """
    prose = str(message.get("content") or "").strip()
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        name = call["function"]["name"]
        try:
            arguments = json.loads(call["function"]["arguments"] or "{}")
        except ValueError:
            arguments = {}
        if not isinstance(arguments, dict):
            arguments = {}
        if name == "execute_code" and isinstance(arguments.get("code"), str):
            action: dict[str, Any] = {"action": "execute_code", "code": arguments["code"]}
        elif name == "submit":
            action = {"action": "submit", "final": bool(arguments.get("final", False))}
        elif name == "request_info":
            action = {"action": "request_info", "info_type": str(arguments.get("info_type", "overview"))}
        else:
            action = {"action": name, **arguments}
        if prose:
            action["message"] = prose
        return action
    code, prose = extract_code(prose)
    if code is not None and code.strip():
        action = {"action": "execute_code", "code": code}
    elif _FINAL.search(prose):
        action = {"action": "submit", "final": True}
    else:
        return None
    if prose:
        action["message"] = prose
    return action


def count_tokens(text: str) -> int:
    """Tokens in `text`: tiktoken's count where installed, else about 4 characters a token."""
    encoder = _encoder()
    if encoder is not None:
        return len(encoder.encode(text, disallowed_special=()))
    return len(text) // 4 + 1


_ENCODER: Any = False


def _encoder() -> Any:
    global _ENCODER
    if _ENCODER is False:
        try:
            import tiktoken
            _ENCODER = tiktoken.get_encoding("cl100k_base")
        except Exception:  # not installed, or its data files cannot be fetched offline
            _ENCODER = None
    return _ENCODER


def _message_tokens(message: dict[str, Any]) -> int:
    tokens = content_tokens(message.get("content"), count_tokens)
    if message.get("tool_calls"):
        tokens += count_tokens(json.dumps(message["tool_calls"]))
    return tokens + 4  # a few tokens of per-message framing


class LLMAgent:
    """An agent that asks a chat-completions model for every step.

    model / base_url / api_key default to DOJO_LLM_MODEL / OPENAI_BASE_URL / OPENAI_API_KEY.
    max_context_tokens bounds the prompt (system + task + the most recent turns);
    max_observation_chars cuts long feedback (head and tail kept) before it is sent.
    vision=True sends the figures a cell displayed (obs["images"]) as image parts, at most
    max_images and max_image_bytes of PNG per step, in the next request only (then a note).
    """

    name = "llm"

    def __init__(self, *, model: str | None = None, base_url: str | None = None, api_key: str | None = None,
                 use_tools: bool = True, temperature: float | None = None, max_tokens: int | None = None,
                 max_context_tokens: int = 24_000, max_observation_chars: int = 8_000,
                 max_retries: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 request_timeout_s: float = 300.0, max_nudges: int = 2, system_prompt: str | None = None,
                 client: Any = None, prompt_usd_per_mtok: float | None = None,
                 completion_usd_per_mtok: float | None = None, vision: bool = False, max_images: int = 4,
                 max_image_bytes: int = 4_000_000) -> None:
        self.model = model or os.environ.get("DOJO_LLM_MODEL")
        if not self.model:
            raise ConfigError(expected("a model name for the llm agent", self.model,
                                       "pass model=... (dojo run --agent-option model=NAME) or set DOJO_LLM_MODEL"))
        for label, value in (("max_context_tokens", max_context_tokens), ("max_observation_chars", max_observation_chars)):
            if not isinstance(value, int) or value < 256:
                raise ConfigError(expected(f"an int >= 256 for {label}", value))
        for label, price in (("prompt_usd_per_mtok", prompt_usd_per_mtok),
                             ("completion_usd_per_mtok", completion_usd_per_mtok)):
            if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0):
                raise ConfigError(expected(f"a price >= 0 in US dollars per million tokens for {label}", price))
        self.prices = (prompt_usd_per_mtok, completion_usd_per_mtok)
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(expected("an int >= 0 for max_retries", max_retries))
        if not isinstance(vision, bool):
            raise ConfigError(expected("true or false for vision", vision))
        for label, value in (("max_images", max_images), ("max_image_bytes", max_image_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(expected(f"an int >= 1 for {label}", value))
        self.vision, self.max_images, self.max_image_bytes = vision, max_images, max_image_bytes
        self._env: Any = None  # bind_env(): where the figures of obs["images"] are read from
        self.use_tools = use_tools
        self.tools: list[dict[str, Any]] = TOOLS  # bind_env() swaps in the env's own (registered actions too)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_context_tokens = max_context_tokens
        self.max_observation_chars = max_observation_chars
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_nudges = max_nudges
        self.system_prompt = system_prompt or SYSTEM_PROMPT
        self._client = client or self._make_client(base_url, api_key, request_timeout_s)
        self.history: list[dict[str, Any]] = []  # everything since reset; the prompt is a trimmed view
        self._pending_tool_call: str | None = None  # id of the tool call the next observation answers
        self.stats: dict[str, Any] = {}
        self._reset_stats()

    @staticmethod
    def _make_client(base_url: str | None, api_key: str | None, timeout_s: float) -> Any:
        try:
            import openai
        except ImportError:
            raise ConfigError("the llm agent needs the 'openai' package: pip install 'dojo-kernel[llm]'") from None
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        # Local servers (vLLM, llama.cpp, Ollama) take any key; the client insists on one.
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        # Retries are ours (below), so that each one is counted and backs off the same way.
        return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout_s)

    def _reset_stats(self) -> None:
        self.stats = {"model": self.model, "requests": 0, "retries": 0, "prompt_tokens": 0,
                      "completion_tokens": 0, "total_tokens": 0, "cost_usd": 0.0, "replies_without_code": 0,
                      "trimmed_messages": 0}

    # -- the protocol ---------------------------------------------------------------

    def bind_env(self, env: Any) -> None:
        """Offer the model the env's actions as tools (run_episode calls this): registered
        actions and info types appear in the schema the model sees."""
        self._env = env
        tools = getattr(getattr(getattr(env, "unwrapped", env), "action_space", None), "tools", None)
        if callable(tools):
            self.tools = cast("list[dict[str, Any]]", tools())

    def reset(self, observation: Observation) -> None:
        self._reset_stats()
        self._pending_tool_call = None
        self.history = [{"role": "user", "content": self._feedback(observation)}]

    def act(self, observation: Observation) -> Action:
        if self.history and self.history[-1]["role"] == "assistant":
            self._add_observation(observation)
        elif not self.history:
            self.reset(observation)
        for _ in range(self.max_nudges + 1):
            message = self._complete()
            action = self._action_from(message)
            if action is not None:
                return action
            self.stats["replies_without_code"] += 1
            self.history.append({"role": "user", "content": _NUDGE})
        # The model keeps talking without acting: show it the task again rather than stall.
        return {"action": "request_info", "info_type": "overview",
                "message": "The model replied without code; showing it the task again."}

    def _cost(self, usage: Any, counts: dict[str, int]) -> float:
        """The call's cost in US dollars: the endpoint's own figure where it sends one (OpenRouter's
        usage.cost), else the configured prices per million tokens, else 0."""
        reported = getattr(usage, "cost", None)
        if isinstance(reported, (int, float)) and not isinstance(reported, bool) and reported >= 0:
            return float(reported)
        prompt_price, completion_price = self.prices
        return ((prompt_price or 0.0) * counts["prompt_tokens"] + (completion_price or 0.0) * counts["completion_tokens"]) / 1e6

    # -- the conversation -----------------------------------------------------------

    def _feedback(self, observation: Observation) -> str:
        text = observation.get("feedback") if isinstance(observation, dict) else None
        text = str(text if text is not None else observation)
        return clip(text, self.max_observation_chars)

    def _add_observation(self, observation: Observation) -> None:
        content = self._feedback(observation)
        if self._pending_tool_call is not None:
            self.history.append({"role": "tool", "tool_call_id": self._pending_tool_call, "content": content})
            self._pending_tool_call = None
        else:
            self.history.append({"role": "user", "content": content})
        if self.vision and isinstance(observation, dict):
            self._add_figures(observation.get("images"))

    def _add_figures(self, images: Any) -> None:
        """The step's figures as a user message of image parts (a tool result holds text only).
        Earlier figures leave the conversation (a note stays): the model sees each figure in
        the request right after its cell, and a prompt carries one step's at most."""
        self.history = [without_images(message) for message in self.history]
        env = getattr(self._env, "unwrapped", self._env)
        run_dir = getattr(env, "run_dir", None)
        parts = image_parts(Path(run_dir) if run_dir is not None else None, images,
                            max_images=self.max_images, max_bytes=self.max_image_bytes)
        if parts:
            self.history.append({"role": "user", "content": [{"type": "text", "text": FIGURES_INTRO}, *parts]})
            self.stats["images_sent"] = self.stats.get("images_sent", 0) + len(parts)

    def _prompt(self) -> list[dict[str, Any]]:
        """System prompt + the task (first message) + the latest turns that fit the budget.

        Turns are dropped whole: a tool message never appears without the assistant message
        that called it, which endpoints reject.
        """
        system = {"role": "system", "content": self.system_prompt}
        first, rest = self.history[:1], self.history[1:]
        budget = self.max_context_tokens - _message_tokens(system) - sum(map(_message_tokens, first))
        kept: list[dict[str, Any]] = []
        for message in reversed(rest):
            cost = _message_tokens(message)
            if cost > budget and kept:
                break
            kept.append(message)
            budget -= cost
        kept.reverse()
        while kept and kept[0]["role"] == "tool":  # its assistant call was dropped
            kept.pop(0)
        dropped = len(rest) - len(kept)
        if dropped:
            self.stats["trimmed_messages"] = max(self.stats["trimmed_messages"], dropped)
            first = first + [{"role": "user", "content": f"[{dropped} earlier messages omitted to fit the context]"}]
        return [system, *first, *kept]

    def _complete(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": self._prompt()}
        if self.use_tools:
            kwargs["tools"] = self.tools
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        response = self._with_retries(kwargs)
        usage = getattr(response, "usage", None)
        counts = {key: int(getattr(usage, key, 0) or 0) for key in ("prompt_tokens", "completion_tokens", "total_tokens")}
        for key, count in counts.items():
            self.stats[key] += count
        self.stats["cost_usd"] += self._cost(usage, counts)
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise AgentError(f"the endpoint returned no choices for model {self.model!r}")
        reply = choices[0].message
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or ""}
        tool_calls = list(getattr(reply, "tool_calls", None) or [])
        if tool_calls:
            # One action per step: keep the first call, so the next observation answers it.
            call = tool_calls[0]
            message["tool_calls"] = [{"id": call.id, "type": "function",
                                      "function": {"name": call.function.name,
                                                   "arguments": call.function.arguments or "{}"}}]
        self.history.append(message)
        return message

    def _with_retries(self, kwargs: dict[str, Any]) -> Any:
        import openai

        attempt = 0
        while True:
            self.stats["requests"] += 1
            try:
                return self._client.chat.completions.create(**kwargs)
            except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as error:
                transient = error
            except openai.APIStatusError as error:
                if error.status_code not in (408, 409, 425) and error.status_code < 500:
                    raise AgentError(f"the LLM endpoint refused the request (HTTP {error.status_code}): "
                                     f"{_short(error)}. Check the model name, OPENAI_BASE_URL and OPENAI_API_KEY") from None
                transient = error
            if attempt >= self.max_retries:
                raise AgentError(f"the LLM endpoint kept failing after {attempt + 1} tries: {_short(transient)}. "
                                 "Check that it is up (OPENAI_BASE_URL) or raise max_retries") from None
            self.stats["retries"] += 1
            time.sleep(self._delay(attempt, transient))
            attempt += 1

    def _delay(self, attempt: int, error: Exception) -> float:
        """Exponential backoff with jitter; a server's Retry-After wins when it says more."""
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)
        response = getattr(error, "response", None)
        retry_after = getattr(response, "headers", {}).get("retry-after") if response is not None else None
        if retry_after is not None:
            try:
                delay = max(delay, min(self.max_backoff_s, float(retry_after)))
            except (TypeError, ValueError):
                pass
        return delay

    def _action_from(self, message: dict[str, Any]) -> Action | None:
        action = action_from_reply(message)
        if action is not None and message.get("tool_calls"):
            self._pending_tool_call = message["tool_calls"][0]["id"]
        return action


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:300] + "..."
