"""The agent protocol, the agent registry, and `run_episode`, the loop that joins an agent to an env.

An agent is any object with `reset(observation)` and `act(observation) -> action`. An action is
what `DojoEnv.step` takes: a dict `{"action": NAME, ...}` or a bare string of code. A dict may
carry a `"message"`: the agent's reasoning for the step, which the recorder keeps in the notebook.
Optional: `bind_env(env)` (called before reset, to read the env's actions) and `end_episode()`
(called when the episode is over, however it ended).
"""

from __future__ import annotations

import importlib
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

from ..errors import ConfigError, DojoError, expected
from ..rundir import RunDir
from ..usage import stats_snapshot, usage_delta

Action = dict[str, Any] | str
Observation = dict[str, Any]


@runtime_checkable
class Agent(Protocol):
    """What the env loop needs from an agent."""

    def reset(self, observation: Observation) -> None:
        """Start a new episode; `observation` is what `env.reset()` returned."""

    def act(self, observation: Observation) -> Action:
        """The next action, given the latest observation."""
        ...


class AgentError(DojoError, RuntimeError):
    """The agent could not produce an action (an LLM endpoint that keeps failing, a bad reply)."""


class StopEpisode(Exception):
    """Raised by `act` when the agent wants to end the episode without a final submission
    (a person typing :quit). `run_episode` stops, closes the env and reports it."""


# Built-in agents, imported on first use so that `import dojo_kernel.agents` stays light
# (the llm agent needs the optional `openai` package, openai-agents the `openai-agents` one).
_FACTORIES: dict[str, Callable[..., Agent] | str] = {
    "baseline": "dojo_kernel.agents.baseline:BaselineAgent",
    "llm": "dojo_kernel.agents.llm:LLMAgent",
    "human": "dojo_kernel.agents.human:HumanAgent",
    "aide": "dojo_kernel.agents.aide:AideAgent",
    "openai-agents": "dojo_kernel.agents.openai_agents:OpenAIAgentsAgent",
    "tree": "dojo_kernel.agents.tree:TreeAgent",
}


def register_agent(name: str, factory: Callable[..., Agent] | str) -> None:
    """Make `get_agent(name, **options)` build an agent with `factory(**options)`.

    `factory` is a class or function, or a "module:attribute" string imported on first use.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ConfigError(expected("an agent name without ':'", name))
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise ConfigError(expected("a class, a function or a 'module:attribute' string", factory))
    _FACTORIES[name] = factory


def list_agents() -> list[str]:
    return sorted(_FACTORIES)


def _import_factory(spec: str) -> Callable[..., Agent]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(expected("an agent as 'module:Class'", spec, "e.g. my_agents:GreedyAgent"))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"cannot import module {module_name!r} for agent {spec!r}: {error}. "
                          "Check the name and that the module is on PYTHONPATH") from None
    factory = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ConfigError(f"module {module_name!r} has no attribute {attribute!r} (agent {spec!r})")
    if not callable(factory):
        raise ConfigError(expected(f"a class or function at {spec!r}", factory))
    return cast(Callable[..., Agent], factory)  # an agent factory by contract: whatever it builds is run as one


def get_agent(name: str, **options: Any) -> Agent:
    """Build the agent registered as `name` (or given as 'module:Class') with `options`."""
    if not isinstance(name, str) or not name:
        raise ConfigError(expected("an agent name", name))
    factory = _FACTORIES.get(name)
    if factory is None:
        if ":" not in name:
            raise ConfigError(expected(f"an agent among {list_agents()} or 'module:Class'", name))
        factory = name
    if isinstance(factory, str):
        factory = _import_factory(factory)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as error:
        raise ConfigError(f"agent {name!r} does not take these options {sorted(options)}: {error}") from None
    except ValueError:  # builtins without a signature: let the call itself complain
        pass
    agent = factory(**options)
    missing = [method for method in ("reset", "act") if not callable(getattr(agent, method, None))]
    if missing:
        raise ConfigError(expected(f"an agent with reset() and act() from {name!r}", agent,
                                   f"it lacks {', '.join(missing)}"))
    return agent


def action_name(action: Action) -> str:
    """The name of an action as the env reads it (a bare string is execute_code)."""
    if isinstance(action, str):
        return "execute_code"
    if isinstance(action, dict):
        return str(action.get("action", "?"))
    return "?"


@dataclass
class StepEvent:
    """One step as `run_episode` saw it; handed to `on_step`, e.g. for a progress display."""

    index: int  # 1-based
    action: Action
    observation: Observation
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]
    total_reward: float
    elapsed_s: float

    @property
    def action_name(self) -> str:
        return action_name(self.action)

    @property
    def status(self) -> str | None:
        """The cell's status (ok, error, timeout, ...), or None for actions that ran no code."""
        return self.info.get("status")

    @property
    def score(self) -> float | None:
        """The score of this step's graded submission, if it had a valid one."""
        return _number(self.info.get("score"))

    @property
    def best_score(self) -> float | None:
        return _number(self.info.get("best_score"))

    @property
    def budget(self) -> dict[str, Any]:
        """What is left of the episode's budget (steps_left, time_left_s, ...), as the env reports it."""
        value = self.info.get("budget")
        return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class EpisodeSummary:
    """What `run_episode` returns (as a dict): the loop's view plus the env's summary.json."""

    competition: str | None
    agent: str
    steps: int = 0
    total_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    stopped_by: str = "running"  # final_submit | max_steps | episode_time | agent_quit
    best_score: float | None = None
    final_score: float | None = None
    duration_s: float = 0.0
    run_dir: str | None = None
    notebook: str | None = None
    agent_stats: dict[str, Any] = field(default_factory=dict)
    env_summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _agent_label(agent: Agent) -> str:
    return getattr(agent, "name", None) or type(agent).__name__


def _run_dir(env: Any) -> Path | None:
    for source in (env, getattr(env, "unwrapped", None)):
        value = getattr(source, "run_dir", None)
        if value is not None:
            return Path(value)
    return None


def _record_usage(env: Any, usage: dict[str, Any]) -> None:
    """Hand the env what the agent's last act() cost, where the env keeps such a record."""
    record = getattr(getattr(env, "unwrapped", env), "record_usage", None)
    if usage and callable(record):
        record(**usage)


def _end_agent_episode(agent: Agent) -> None:
    """An agent's `end_episode()`, where it has one: what it started for the episode (aide's
    branches, the SDK's run still waiting on a tool call) ends with the episode."""
    end = getattr(agent, "end_episode", None)
    if callable(end):
        end()


def run_episode(env: Any, agent: Agent, *, on_step: Callable[[StepEvent], None] | None = None,
                seed: int | None = None, options: dict[str, Any] | None = None,
                close: bool = True, on_action: Callable[[int, Action], None] | None = None) -> dict[str, Any]:
    """Play one episode of `agent` in `env` and return its summary as a dict.

    The env is reset (with `seed`), the agent acts until the env terminates or truncates
    the episode or the agent raises `StopEpisode`; then the env is closed (unless
    `close=False`) so that its summary.json exists, and that summary is merged in.
    An exception from the agent is not an episode result: the env is closed and it propagates.
    `on_action(step_number, action)` is called as each step starts (a live view of a running cell).
    An agent's `end_episode()`, where it has one, is called when the episode ends, before the env's.
    """
    competition = getattr(getattr(env, "unwrapped", env), "competition", None)
    summary = EpisodeSummary(competition=getattr(competition, "name", competition), agent=_agent_label(agent))
    started = time.monotonic()
    bind = getattr(agent, "bind_env", None)
    if callable(bind):  # an agent that builds tools from the env's actions (e.g. llm)
        bind(env)
    for hook, callback in (("on_branch_step", on_step), ("on_branch_action", on_action)):
        if callback is not None and hasattr(agent, hook):  # an agent that steps branches itself (tree): shown too
            setattr(agent, hook, callback)
    observation, info = env.reset(seed=seed, options=options)
    try:
        agent.reset(observation)
        while True:
            before = stats_snapshot(getattr(agent, "stats", None))
            try:
                action = agent.act(observation)
            except StopEpisode:
                summary.stopped_by = "agent_quit"
                break
            _record_usage(env, usage_delta(before, stats_snapshot(getattr(agent, "stats", None))))
            if on_action is not None:
                on_action(summary.steps + 1, action)
            observation, reward, terminated, truncated, info = env.step(action)
            summary.steps += 1
            summary.total_reward += float(reward or 0.0)
            event = StepEvent(summary.steps, action, observation, float(reward or 0.0), bool(terminated),
                              bool(truncated), info if isinstance(info, dict) else {},
                              summary.total_reward, time.monotonic() - started)
            if event.best_score is not None:
                summary.best_score = event.best_score
            elif event.score is not None and summary.best_score is None:
                summary.best_score = event.score
            if on_step is not None:
                on_step(event)
            if terminated or truncated:
                summary.terminated, summary.truncated = bool(terminated), bool(truncated)
                summary.stopped_by = str(event.info.get("end_reason")
                                         or ("final_submit" if terminated else "budget"))
                break
    except BaseException:
        try:
            _end_agent_episode(agent)
        finally:
            if close:
                env.close()  # what ran so far is recorded and the kernel is ended, then the error goes on
        raise
    _end_agent_episode(agent)
    summary.duration_s = time.monotonic() - started
    stats = getattr(agent, "stats", None)
    if isinstance(stats, dict):
        summary.agent_stats = dict(stats)
    if close:
        env.close()
    # An agent that searched over branches of the episode (tree) names the one it chose, which it
    # ended itself: the episode's result is that branch's.
    chosen = getattr(agent, "result_run_dir", None)
    run_dir = Path(chosen) if isinstance(chosen, (str, Path)) and chosen else _run_dir(env)
    if run_dir is not None:
        summary.run_dir = str(run_dir)
        layout = RunDir(run_dir)
        summary.notebook = str(layout.notebook) if layout.notebook.exists() else None
        if layout.is_finished:
            summary.env_summary = layout.read_summary()
            env_best = _number(summary.env_summary.get("best_score"))
            env_final = _number(summary.env_summary.get("final_score"))
            summary.best_score = env_best if env_best is not None else summary.best_score
            summary.final_score = env_final
            if chosen and run_dir != _run_dir(env):
                summary.steps = int(summary.env_summary.get("steps") or summary.steps)
                summary.stopped_by = str(summary.env_summary.get("end_reason") or summary.stopped_by)
    return summary.to_dict()
