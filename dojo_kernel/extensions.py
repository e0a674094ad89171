"""Registries that extend DojoEnv without editing it: actions, request_info providers,
reward functions and feedback formatters.

    dojo_kernel.register_action("inspect_data", handler, schema={...}, description="...")
    dojo_kernel.register_info("data_dictionary", provider)

A handler gets an `EpisodeContext` and the action's fields as keyword arguments, and returns
feedback text or an `ActionResult`. The context holds only what the agent may see: the
competition's PUBLIC side, the run dir, a way to run code in the episode's kernel (under the
episode's cell timeout) and the budget. It holds no path to the private answers, so a
registered action cannot leak them to the agent.

The built-in actions are entries of the same registry (`builtin=True`: DojoEnv runs them
itself); a registered action with a built-in's name is refused, so an env always means the
same thing by `execute_code`. Names are resolved when an env is made, so competition.toml may
name extras (`actions = [...]`, `info_providers = [...]`) without importing any code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .errors import ConfigError, expected

# JSON-schema types a field may have, and the Python values that match each.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "number": (int, float),
    "array": (list, tuple), "object": (dict,),
}


@dataclass(frozen=True)
class ActionSpec:
    """One action: its fields (a JSON schema of type object), how to call it, who runs it."""

    name: str
    handler: Callable[..., Any] | None
    schema: Mapping[str, Any]
    description: str
    builtin: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.schema.get("required", ()))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.schema.get("properties", {}))

    def usage(self) -> str:
        """One line for the agent: the action as a dict, and what it does."""
        parts = [f'"action": "{self.name}"'] + [f'"{name}": ...' for name in self.fields]
        return "{" + ", ".join(parts) + "}   " + self.description

    def tool(self) -> dict[str, Any]:
        """The action as an OpenAI-style function tool."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": dict(self.schema)}}

    def check_field(self, name: str, value: Any) -> str | None:
        """Why `value` does not fit field `name`'s declared type (None when it does)."""
        wanted = self.schema.get("properties", {}).get(name, {}).get("type")
        if wanted is None or wanted not in _JSON_TYPES:
            return None
        kinds = _JSON_TYPES[wanted]
        good = isinstance(value, kinds) and not (wanted in ("integer", "number") and isinstance(value, bool))
        return None if good else f"expected field {name!r} of {self.name} to be a {wanted}, got {type(value).__name__}"


@dataclass(frozen=True)
class InfoSpec:
    """One request_info type; built-ins are answered by the env itself."""

    name: str
    provider: Callable[[EpisodeContext], str] | None
    description: str = ""
    builtin: bool = False


@dataclass(frozen=True)
class ActionResult:
    """What a registered action did, recorded like a built-in's.

    feedback  the text the agent reads
    code      code the action ran in the kernel: recorded as a code cell (with `result`'s outputs)
    markdown  the notebook's markdown for the step (default: the feedback)
    reward    added to the step's reward
    info      extra keys for the step's info dict (under info["action_info"])
    error     marks the step as failed in the record
    """

    feedback: str = ""
    code: str | None = None
    result: Any = None
    markdown: str | None = None
    reward: float = 0.0
    info: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class PublicCompetition:
    """The part of a competition an agent may see: no private dir, no answers, no grader."""

    name: str
    title: str
    metric: str
    higher_is_better: bool
    public_dir: Path
    submission_file: str
    id_column: str
    target_columns: tuple[str, ...]

    @classmethod
    def of(cls, competition: Any) -> PublicCompetition:
        return cls(competition.name, competition.title, competition.metric, bool(competition.higher_is_better),
                   Path(competition.public_dir), competition.submission_file, competition.id_column,
                   tuple(competition.target_columns))


class KernelAccess:
    """The episode's kernel as an action may use it: run code (under the episode's cell
    timeout). The session itself stays private to the env (it knows the launch spec)."""

    __slots__ = ("_run",)

    def __init__(self, run: Callable[[str], Any]):
        self._run = run

    def run(self, code: str) -> Any:
        """Run `code` in the kernel; returns its CellResult (`.text`, `.status`, `.outputs`)."""
        return self._run(code)


@dataclass(frozen=True)
class EpisodeContext:
    """What a registered action or info provider gets."""

    competition: PublicCompetition
    run_dir: Path
    input_dir: Path
    working_dir: Path
    kernel: KernelAccess
    budget: dict[str, Any]
    step: int


@dataclass(frozen=True)
class Feedback:
    """A feedback formatter's view of one step: everything it needs to rewrite the text."""

    text: str
    action: str
    step: int
    reward: float
    graded: bool
    score: float | None
    error: str | None


_LOCK = threading.Lock()
_ACTIONS: dict[str, ActionSpec] = {}
_INFOS: dict[str, InfoSpec] = {}
_REWARDS: dict[str, Callable[..., float]] = {}
_FEEDBACKS: dict[str, Callable[[Feedback], str]] = {}


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(expected(f"a {kind} name made of letters, digits and _", name))
    return name


def _check_schema(name: str, schema: Any) -> dict[str, Any]:
    if schema is None:
        return {"type": "object", "properties": {}, "required": []}
    if not isinstance(schema, Mapping) or not isinstance(schema.get("properties", {}), Mapping):
        raise ConfigError(expected(f"schema of {name} as a JSON schema dict with 'properties'", schema))
    properties = dict(schema.get("properties", {}))
    required = list(schema.get("required", []))
    unknown = [field for field in required if field not in properties]
    if unknown:
        raise ConfigError(f"expected each required field of {name} among its properties, got {unknown}")
    if {"action", "params", "message", "reasoning"} & set(properties):
        raise ConfigError(f"expected the fields of {name} to avoid action, params, message and reasoning "
                          f"(the env reads those), got {sorted(properties)}")
    return {"type": "object", "properties": properties, "required": required}


def action_spec(name: str, handler: Callable[..., Any], *, schema: Mapping[str, Any] | None = None,
                description: str = "") -> ActionSpec:
    """A checked ActionSpec (what `register_action` stores, and what `make(actions=...)` takes)."""
    _check_name("action", name)
    if not callable(handler):
        raise ConfigError(expected(f"a callable handler for action {name!r}", handler))
    return ActionSpec(name, handler, _check_schema(name, schema), description or (handler.__doc__ or name).strip()
                      .splitlines()[0])


def register_action(name: str, handler: Callable[..., Any], *, schema: Mapping[str, Any] | None = None,
                    description: str = "", replace: bool = False) -> ActionSpec:
    """Register an action every env made afterwards offers. `handler(ctx, **fields)` returns
    feedback text or an ActionResult; `schema` is a JSON schema of its fields."""
    spec = action_spec(name, handler, schema=schema, description=description)
    with _LOCK:
        existing = _ACTIONS.get(name)
        if existing is not None and (existing.builtin or not replace):
            raise ConfigError(f"expected a new action name, got {name!r} which is " +
                              ("a built-in action" if existing.builtin else
                               "already registered; pass replace=True to replace it"))
        _ACTIONS[name] = spec
    return spec


def register_info(info_type: str, provider: Callable[[EpisodeContext], str], *, description: str = "",
                  replace: bool = False) -> InfoSpec:
    """Register a request_info type: `provider(ctx)` returns the text shown to the agent."""
    _check_name("info type", info_type)
    if info_type == "all":
        raise ConfigError("expected a new info type, got 'all' which request_info uses for every type at once")
    if not callable(provider):
        raise ConfigError(expected(f"a callable provider for info type {info_type!r}", provider))
    spec = InfoSpec(info_type, provider, description or (provider.__doc__ or info_type).strip().splitlines()[0])
    with _LOCK:
        existing = _INFOS.get(info_type)
        if existing is not None and (existing.builtin or not replace):
            raise ConfigError(f"expected a new info type, got {info_type!r} which is " +
                              ("a built-in one" if existing.builtin else "already registered; pass replace=True"))
        _INFOS[info_type] = spec
    return spec


def register_reward(name: str, function: Callable[..., float], *, replace: bool = False) -> None:
    """Register a reward function chosen with `reward_mode=name`: `function(grade, tracker)`
    is called for each grade during the episode (after the tracker counted it) and returns
    the step's reward. See rewards.py for the tracker's fields."""
    _check_name("reward", name)
    if not callable(function):
        raise ConfigError(expected(f"a callable reward function for {name!r}", function))
    if name in ("improvement", "position", "raw", "final"):
        raise ConfigError(f"expected a new reward name, got {name!r} which is a built-in reward mode")
    with _LOCK:
        if name in _REWARDS and not replace:
            raise ConfigError(f"expected a new reward name, got {name!r} which is already registered")
        _REWARDS[name] = function


def register_feedback(name: str, formatter: Callable[[Feedback], str], *, replace: bool = False) -> None:
    """Register a feedback formatter chosen with `feedback=name`: it gets a Feedback and
    returns the text the agent reads."""
    _check_name("feedback", name)
    if not callable(formatter):
        raise ConfigError(expected(f"a callable feedback formatter for {name!r}", formatter))
    with _LOCK:
        if name in _FEEDBACKS and not replace:
            raise ConfigError(f"expected a new feedback name, got {name!r} which is already registered")
        _FEEDBACKS[name] = formatter


def registered_actions() -> list[str]:
    return list(_ACTIONS)


def registered_infos() -> list[str]:
    return list(_INFOS)


def unregister(name: str) -> None:
    """Forget a registered (not built-in) action, info type, reward or feedback of that name."""
    with _LOCK:
        for table in (_ACTIONS, _INFOS):
            spec = table.get(name)
            if spec is not None and not spec.builtin:
                del table[name]
        _REWARDS.pop(name, None)
        _FEEDBACKS.pop(name, None)


def reward_function(name: str) -> Callable[..., float] | None:
    return _REWARDS.get(name)


def reward_names() -> list[str]:
    return list(_REWARDS)


def feedback_formatter(choice: Any) -> tuple[str, Callable[[Feedback], str] | None]:
    """(name, formatter) for `feedback=`: None/"default" is the built-in text."""
    if choice is None or choice == "default":
        return "default", None
    if callable(choice):
        return getattr(choice, "__name__", type(choice).__name__), cast("Callable[[Feedback], str]", choice)
    if isinstance(choice, str) and choice in _FEEDBACKS:
        return choice, _FEEDBACKS[choice]
    raise ConfigError(expected("feedback among compact, full (the built-in styles), a registered formatter name (" +
                               ", ".join(_FEEDBACKS) + ") or a callable", choice))


@dataclass(frozen=True)
class ActionSet:
    """The actions and info types one env offers, in order: built-ins first, so their
    observation indices never move."""

    actions: dict[str, ActionSpec] = field(default_factory=dict)
    infos: dict[str, InfoSpec] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.actions)

    @property
    def info_types(self) -> tuple[str, ...]:
        return tuple(self.infos) + ("all",)

    @property
    def custom(self) -> list[str]:
        return [name for name, spec in self.actions.items() if not spec.builtin]

    @property
    def custom_infos(self) -> list[str]:
        return [name for name, spec in self.infos.items() if not spec.builtin]

    def tools(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """OpenAI-style tools for the agent: `names` (default: every action but the
        built-ins an LLM does not need as tools) with request_info's enum filled in."""
        chosen = list(names) if names is not None else [n for n in self.actions if n not in _NOT_TOOLS]
        tools = []
        for name in chosen:
            tool = self.actions[name].tool()
            if name == "request_info":
                parameters = tool["function"]["parameters"]
                parameters["properties"] = {"info_type": {**parameters["properties"]["info_type"],
                                                          "enum": list(self.info_types)}}
                tool["function"]["description"] = "Show details of the competition: " + ", ".join(self.info_types)
            tools.append(tool)
        return tools


# Built-ins the llm agent never got as tools (it writes code, and restarts by code too).
_NOT_TOOLS = ("validate_code", "restart_kernel", "get_history")


def resolve(actions: Any = None, infos: Any = None) -> ActionSet:
    """The ActionSet of an env: every registered action and info type, plus `actions`
    (names, ActionSpecs, or a {name: handler} dict) and `infos` (names or a {name: provider}
    dict). Unknown names raise ConfigError listing the known ones."""
    with _LOCK:
        chosen_actions = {name: spec for name, spec in _ACTIONS.items() if spec.builtin}
        chosen_infos = {name: spec for name, spec in _INFOS.items() if spec.builtin}
        registered_actions, registered_infos = dict(_ACTIONS), dict(_INFOS)
    chosen_actions.update({name: spec for name, spec in registered_actions.items() if not spec.builtin})
    chosen_infos.update({name: spec for name, spec in registered_infos.items() if not spec.builtin})
    for item in _items(actions, "actions"):
        if isinstance(item, ActionSpec):
            spec = item
        elif isinstance(item, tuple):
            spec = action_spec(item[0], item[1])
        elif item in registered_actions:
            spec = registered_actions[item]
        else:
            raise ConfigError(expected("an action among the registered ones (" + ", ".join(registered_actions) +
                                       "); register it with dojo_kernel.register_action first", item))
        if spec.name in chosen_actions and chosen_actions[spec.name].builtin and not spec.builtin:
            raise ConfigError(f"expected a new action name, got {spec.name!r} which is a built-in action")
        chosen_actions[spec.name] = spec
    for item in _items(infos, "info_providers"):
        if isinstance(item, tuple):
            _check_name("info type", item[0])
            spec_info = InfoSpec(item[0], item[1], item[0])
        elif item in registered_infos:
            spec_info = registered_infos[item]
        else:
            raise ConfigError(expected("an info type among the registered ones (" + ", ".join(registered_infos) +
                                       "); register it with dojo_kernel.register_info first", item))
        chosen_infos[spec_info.name] = spec_info
    return ActionSet(chosen_actions, chosen_infos)


def _items(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (list, tuple)) and not (len(value) == 2 and callable(value[1])):
        return list(value)
    raise ConfigError(expected(f"{what} as a list of names or a dict of name to function", value))


def _builtin(name: str, schema: dict[str, Any], description: str) -> None:
    _ACTIONS[name] = ActionSpec(name, None, schema, description, builtin=True)


_CODE_SCHEMA = {"type": "object", "properties": {"code": {"type": "string", "description": "the cell's Python source"}},
                "required": ["code"]}
_builtin("request_info", {"type": "object", "properties": {"info_type": {"type": "string", "description": "what to show"}},
                          "required": ["info_type"]}, "shows details of the competition")
_builtin("validate_code", _CODE_SCHEMA, "runs the code, grades nothing")
_builtin("execute_code", _CODE_SCHEMA, "Run Python code as the next notebook cell in the persistent kernel.")
_builtin("submit", {"type": "object", "properties": {"final": {
    "type": "boolean", "description": "true to end the episode with this submission"}}, "required": []},
    "Grade working/submission.csv; final=true ends the episode.")
_builtin("restart_kernel", {"type": "object", "properties": {}, "required": []},
         "a fresh kernel: every variable is lost")
_builtin("get_history", {"type": "object", "properties": {}, "required": []}, "the steps so far and their scores")
for _name in ("overview", "data_structure", "sample_submission", "metadata", "data_path", "output_path", "limits",
              "traceback"):
    _INFOS[_name] = InfoSpec(_name, None, builtin=True)
