"""An agent built on the OpenAI Agents SDK (the `openai-agents` package, imported as `agents`).

The SDK runs its own loop (model call, tool calls, model call, ...) while dojo-kernel's loop
(`run_episode`) asks an agent for one action at a time. The two meet here: the SDK's runner
works on an event loop in a background thread, and its tools are the env's actions
(`request_info`, `validate_code`, `execute_code`, `submit`, and any registered action). A tool
call hands its action to `act()`, which returns it to the env loop; the next `act()` brings the
env's feedback back as the tool's result. So each tool call is one env step, and the episode
ends when the env is done or the SDK's agent gives its final output (which becomes a final
submit carrying that output as its message).

The model is any OpenAI-compatible chat-completions endpoint (the SDK's chat-completions model
class over an AsyncOpenAI client on `base_url`); the SDK's tracing export is off, so nothing
leaves the machine but the model calls.

Needs the optional extra: pip install 'dojo-kernel[agents]'.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
from concurrent.futures import Future
from typing import Any, cast

from ..errors import ConfigError, expected
from ..outputs import clip
from .base import Action, AgentError, Observation, StopEpisode

INSTRUCTIONS = """You are a data scientist solving a Kaggle-style competition in a Jupyter notebook, \
one cell at a time. The kernel is persistent: variables survive between cells.
The competition's files are in input/ (read-only); write everything to working/. Use relative paths.
Write your predictions to working/submission.csv with the same columns and ids as \
input/sample_submission.csv; every cell run with execute_code that writes it is graded and you see the score.
Tools: execute_code runs a cell, validate_code runs a cell without grading, request_info shows \
the task's details, submit grades the current submission (final=true ends the episode).
Keep cells short and print what you need to see. When you are done, call submit with final=true."""

# The env's actions offered as tools (registered actions are added): the ones an agent needs.
TOOL_ACTIONS = ("request_info", "validate_code", "execute_code", "submit")

# How long act() waits between checks that the runner thread is still alive.
_POLL_S = 0.5
# How long ending a run may take before it is abandoned to its daemon thread.
_STOP_S = 5.0


def _import_sdk() -> Any:
    try:
        import agents
    except ImportError as error:
        raise ConfigError("the openai-agents agent needs the 'openai-agents' package: "
                          f"pip install 'dojo-kernel[agents]' ({error})") from None
    return agents


def action_from_call(name: str, arguments: str) -> dict[str, Any]:
    """The env action for a tool call: the tool's name and its JSON arguments. Arguments that
    are not a JSON object become none, so the env answers the malformed action with a readable
    error, as it does any other (a model's mistake is feedback, never an exception)."""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    parsed.pop("action", None)  # the tool's name says which action; an argument cannot override it
    return {**parsed, "action": name}


class OpenAIAgentsAgent:
    """An Agents SDK agent whose tools are the env's actions, on any OpenAI-compatible model.

    model / base_url / api_key default to DOJO_LLM_MODEL / OPENAI_BASE_URL / OPENAI_API_KEY, as
    for the llm agent. max_turns bounds the SDK's model calls in one episode (the env's own
    budget usually ends it first); max_observation_chars cuts long feedback (head and tail kept).
    """

    name = "openai-agents"

    def __init__(self, *, model: str | None = None, base_url: str | None = None, api_key: str | None = None,
                 instructions: str | None = None, temperature: float | None = None, max_tokens: int | None = None,
                 max_turns: int = 1000, max_observation_chars: int = 8_000, max_retries: int = 2,
                 request_timeout_s: float = 300.0, client: Any = None) -> None:
        self.model = model or os.environ.get("DOJO_LLM_MODEL")
        if not self.model:
            raise ConfigError(expected("a model name for the openai-agents agent", self.model,
                                       "pass model=... (dojo run --model NAME) or set DOJO_LLM_MODEL"))
        for label, value, least in (("max_turns", max_turns, 1), ("max_observation_chars", max_observation_chars, 256),
                                    ("max_retries", max_retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(expected(f"an int >= {least} for {label}", value))
        self._sdk = _import_sdk()
        self.instructions = instructions or INSTRUCTIONS
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_turns = max_turns
        self.max_observation_chars = max_observation_chars
        self._owns_client = client is None
        self._client_args = (base_url, api_key, max_retries, request_timeout_s)
        self._client = client or self._make_client(*self._client_args)
        self._tool_schemas: list[dict[str, Any]] = _default_tools()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._run: Future | None = None  # the SDK run of the current episode
        self._events: queue.Queue = queue.Queue()
        self._pending: asyncio.Future | None = None  # the tool call the next observation answers
        self._finished = False
        self.stats: dict[str, Any] = {}
        self._reset_stats()

    @staticmethod
    def _make_client(base_url: str | None, api_key: str | None, max_retries: int, timeout_s: float) -> Any:
        import openai

        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        # Local servers (vLLM, llama.cpp, Ollama) take any key; the client insists on one.
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=max_retries, timeout=timeout_s)

    def _reset_stats(self) -> None:
        self.stats = {"model": self.model, "requests": 0, "prompt_tokens": 0, "completion_tokens": 0,
                      "total_tokens": 0, "tool_calls": 0}

    # -- the protocol ---------------------------------------------------------------

    def bind_env(self, env: Any) -> None:
        """Take the env's own tool schemas (run_episode calls this): request_info's info types
        and registered actions appear as the model sees them."""
        action_set = getattr(getattr(getattr(env, "unwrapped", env), "action_space", None), "action_set", None)
        tools = getattr(action_set, "tools", None)
        if callable(tools):
            custom = list(getattr(action_set, "custom", []) or [])
            self._tool_schemas = cast("list[dict[str, Any]]", tools([*TOOL_ACTIONS, *custom]))

    def reset(self, observation: Observation) -> None:
        """Start the SDK's run for a new episode, the task (the reset feedback) as its input."""
        self._cancel_run()
        self._reset_stats()
        self._events = queue.Queue()
        self._pending = None
        self._finished = False
        loop = self._ensure_loop()
        self._run = asyncio.run_coroutine_threadsafe(self._play(self._feedback(observation), self._events), loop)

    def act(self, observation: Observation) -> Action:
        if self._run is None:
            self.reset(observation)
        elif self._pending is not None:
            self._answer(self._pending, self._feedback(observation))
            self._pending = None
        if self._finished:
            raise StopEpisode("the agent already gave its final output")
        kind, value = self._next_event()
        if kind == "action":
            action, self._pending = value
            return action
        self._finished = True
        if kind == "error":
            raise value
        return {"action": "submit", "final": True, "message": value}  # the final output

    def end_episode(self) -> None:
        """Stop the SDK's run (run_episode calls this when the episode ends): a tool call still
        waiting for feedback the env will never send is cancelled, not left hanging."""
        self._cancel_run()

    def close(self) -> None:
        """End the run and stop the background loop (the agent starts a new one if used again)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:  # collected on its own loop: it cannot wait for itself
            loop.call_soon_threadsafe(loop.stop)
            return
        self._cancel_run()
        if self._owns_client and self._client is not None:
            self._on_loop(self._client.close())
            self._client = None  # its connections belonged to this loop: the next one gets a new client
        self._loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- the bridge between the two loops -------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        """One event loop per agent, kept across episodes (the async HTTP client's connections
        belong to the loop they were opened on)."""
        if self._client is None:
            self._client = self._make_client(*self._client_args)
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="openai-agents-runner", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def _answer(self, pending: asyncio.Future, text: str) -> None:
        def deliver() -> None:
            if not pending.done():
                pending.set_result(text)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(deliver)

    def _next_event(self) -> tuple[str, Any]:
        """The runner's next event: ("action", (action, pending)), ("final", text) or
        ("error", AgentError). The run always posts one before it ends; the liveness check
        guards against a loop that died under it."""
        while True:
            try:
                return self._events.get(timeout=_POLL_S)
            except queue.Empty:
                if self._run is None or (self._run.done() and self._events.empty()):
                    return "error", AgentError("the Agents SDK run ended without an action or a final output")

    def _cancel_run(self) -> None:
        """Cancel the episode's run and wait until it has unwound, with the tasks the SDK
        started for it (tool calls), so nothing of it is left pending on the loop."""
        self._run, self._pending = None, None
        if self._loop is not None:
            self._on_loop(_cancel_tasks())

    def _on_loop(self, coroutine: Any) -> None:
        assert self._loop is not None
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=_STOP_S)
        except Exception:  # a run that does not unwind in time is abandoned on its daemon thread
            pass

    def _feedback(self, observation: Observation) -> str:
        text = observation.get("feedback") if isinstance(observation, dict) else None
        return clip(str(text if text is not None else observation), self.max_observation_chars)

    async def _play(self, task: str, events: queue.Queue) -> None:
        """The SDK's run of one episode; every outcome is posted to `events`."""
        sdk = self._sdk
        try:
            said: dict[str, str] = {}  # the model's words beside its tool calls, for the notebook
            result = await sdk.Runner.run(self._build_agent(events, said), task, max_turns=self.max_turns,
                                          hooks=self._hooks(said), run_config=self._run_config())
            events.put(("final", str(result.final_output or "").strip() or "The agent ended its run."))
        except asyncio.CancelledError:
            raise
        except sdk.MaxTurnsExceeded:
            events.put(("final", f"The agent reached its limit of {self.max_turns} turns."))
        except Exception as error:
            events.put(("error", AgentError(f"the Agents SDK run failed: {_short(error)}. "
                                            "Check the model name, OPENAI_BASE_URL and OPENAI_API_KEY")))

    def _build_agent(self, events: queue.Queue, said: dict[str, str]) -> Any:
        sdk = self._sdk
        tools = [self._tool(schema["function"], events, said) for schema in self._tool_schemas]
        settings = sdk.ModelSettings(temperature=self.temperature, max_tokens=self.max_tokens)
        model = sdk.OpenAIChatCompletionsModel(model=str(self.model), openai_client=self._client)
        return sdk.Agent(name="dojo-openai-agents", instructions=self.instructions, tools=tools,
                         model=model, model_settings=settings)

    def _tool(self, function: dict[str, Any], events: queue.Queue, said: dict[str, str]) -> Any:
        """A FunctionTool that hands its call to the env loop and waits for the step's feedback.
        The tool parses its arguments itself (no strict schema) so that a malformed call still
        reaches the env, which explains the mistake in its feedback."""
        name = str(function["name"])

        async def invoke(_context: Any, arguments: str) -> str:
            self.stats["tool_calls"] += 1
            answered: asyncio.Future = asyncio.get_running_loop().create_future()
            action = action_from_call(name, arguments)
            message = said.pop("text", "")  # the first of several calls in one reply carries it
            if message:
                action["message"] = message
            events.put(("action", (action, answered)))
            return await answered

        return self._sdk.FunctionTool(name=name, description=str(function.get("description") or name),
                                      params_json_schema=function.get("parameters") or {"type": "object", "properties": {}},
                                      on_invoke_tool=invoke, strict_json_schema=False)

    def _hooks(self, said: dict[str, str]) -> Any:
        stats = self.stats

        class CountUsage(self._sdk.RunHooks):
            async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
                said["text"] = _reply_text(response)
                usage = getattr(response, "usage", None)
                stats["requests"] += max(1, int(getattr(usage, "requests", 1) or 1))
                stats["prompt_tokens"] += int(getattr(usage, "input_tokens", 0) or 0)
                stats["completion_tokens"] += int(getattr(usage, "output_tokens", 0) or 0)
                stats["total_tokens"] += int(getattr(usage, "total_tokens", 0) or 0)

        return CountUsage()

    def _run_config(self) -> Any:
        # No trace export (it would post to OpenAI's servers); a call to a tool the agent does
        # not have goes back to the model as text instead of ending the run.
        return self._sdk.RunConfig(tracing_disabled=True, tool_not_found_behavior="return_error_to_model")


async def _cancel_tasks() -> None:
    """Cancel every task on this loop but the caller, and wait for them to finish."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _reply_text(response: Any) -> str:
    """The text of a model response's message items (what the model said beside its calls)."""
    parts = []
    for item in getattr(response, "output", None) or []:
        if getattr(item, "type", None) == "message":
            parts.extend(str(getattr(part, "text", "") or "") for part in getattr(item, "content", None) or [])
    return "\n".join(part for part in parts if part.strip()).strip()


def _default_tools() -> list[dict[str, Any]]:
    from ..extensions import resolve

    return resolve().tools(list(TOOL_ACTIONS))


def _short(error: Exception) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= 300 else text[:300] + "..."
