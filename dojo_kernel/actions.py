"""Reading an agent's action: what the agent sent, checked field by field.

An action is a dict `{"action": NAME, ...fields}` or a bare string (the code of an
`execute_code`). The names and fields are MLE-Dojo's, so its agents port over; MLE-Dojo's
nesting of the fields under `"params"` is accepted too. Every way an action can be wrong
yields an `ActionError` whose message says what was expected and what came: the env turns
it into an observation, so an agent's typo never raises and never reaches the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import expected, safe_repr
from .extensions import ActionSet, resolve

ACTION_NAMES = ("request_info", "validate_code", "execute_code", "submit", "restart_kernel", "get_history")
INFO_TYPES = ("overview", "data_structure", "sample_submission", "metadata", "data_path", "output_path",
              "limits", "traceback", "all")

# Fields each action takes: name -> (required fields, optional fields).
_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "request_info": (("info_type",), ()),
    "validate_code": (("code",), ()),
    "execute_code": (("code",), ()),
    "submit": ((), ("final",)),
    "restart_kernel": ((), ()),
    "get_history": ((), ()),
}
# Free text an agent may attach to any action (its reasoning); the recorder keeps it.
MESSAGE_FIELDS = ("message", "reasoning")
MAX_MESSAGE_CHARS = 20_000  # of that text kept per action: the notebook must not grow without bound


@dataclass(frozen=True)
class Action:
    """A well-formed action."""

    name: str
    code: str | None = None
    info_type: str | None = None
    final: bool = False
    message: str | None = None
    fields: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # a registered action's


@dataclass(frozen=True)
class ActionError:
    """Why an action was not accepted; `message` is written for the agent to read."""

    message: str
    name: str | None = None  # the action's name, where it had a readable one


def usage(action_set: ActionSet | None = None) -> str:
    """One line per action: how to call it. Shown to the agent at reset and after a mistake."""
    action_set = action_set or _default_set()
    custom = [action_set.actions[name].usage() for name in action_set.custom]
    return "\n".join([
        '{"action": "request_info", "info_type": ONE_OF(' + ", ".join(action_set.info_types) + ")}",
        '{"action": "validate_code", "code": "..."}   runs the code, grades nothing',
        '{"action": "execute_code", "code": "..."}    runs the code, grades working/submission.csv '
        "if the cell wrote it (a bare string is the same action)",
        '{"action": "submit", "final": false}         grades working/submission.csv; final=true ends the episode',
        '{"action": "restart_kernel"}                  a fresh kernel: every variable is lost',
        '{"action": "get_history"}                     the steps so far and their scores',
        *custom,
        'Any action may carry a "message" (or "reasoning") string, kept in the notebook.',
    ])


def _default_set() -> ActionSet:
    """The actions registered now (the built-ins and any register_action added)."""
    return resolve()


def _describe(value: Any) -> str:
    """`value` as an error message shows it: its type, and its value where that is short."""
    if isinstance(value, (bytes, bytearray)):
        return f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, str) and len(value) > 60:
        return f"a string of {len(value)} characters"
    return f"{type(value).__name__} {safe_repr(value)}"[:200]


def _field_name(key: Any) -> str:
    """A dict key as an error message names it (its str, or a stand-in where str fails)."""
    try:
        return str(key)
    except Exception:
        return safe_repr(key)


def _check_text(field: str, value: Any, *, action: str, limit: int | None = None) -> ActionError | None:
    if isinstance(value, (bytes, bytearray)):
        return ActionError(f"expected field {field!r} of {action} to be a str, got {_describe(value)}. "
                           "Decode it first, e.g. value.decode('utf-8')", action)
    if not isinstance(value, str):
        return ActionError(f"expected field {field!r} of {action} to be a str, got {_describe(value)}", action)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        return ActionError(f"expected field {field!r} of {action} to be text that encodes as UTF-8, got a string "
                           f"with an unpaired surrogate at position {error.start}", action)
    if limit is not None and len(value) > limit:
        return ActionError(f"expected field {field!r} of {action} to have at most {limit} characters, got "
                           f"{len(value)}. Split the work into smaller cells, or raise the env's max_code_chars",
                           action)
    return None


def plain(value: Any, depth: int = 0) -> Any:
    """`value` with str and dict subclasses (whose methods an agent may have overridden to
    raise or lie) turned into plain str and dict, keys included, before anything reads it."""
    if isinstance(value, str):
        return str.__str__(value)  # an exact copy of the characters, whatever the subclass overrides
    if isinstance(value, dict) and depth < 2:  # an action, and its "params"
        return {_plain_key(key): plain(item, depth + 1) for key, item in dict.items(value)}
    return value


def _plain_key(key: Any) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    return f"<{type(key).__name__} key {str.__str__(_field_name(key))[:60]}>"  # never a valid field name


def parse_action(raw: Any, *, max_code_chars: int, action_set: ActionSet | None = None) -> Action | ActionError:
    """Read `raw` as an action of `action_set` (default: every registered action); never raises."""
    try:
        raw = plain(raw)
    except Exception as error:  # a hostile dict subclass; a key whose __str__ raises is handled above
        return ActionError(f"expected an action made of plain str and dict values, got one that could not be read "
                           f"({type(error).__name__})")
    action_set = action_set or _default_set()
    names = action_set.names
    if isinstance(raw, str):
        problem = _check_text("code", raw, action="execute_code", limit=max_code_chars)
        return problem or Action("execute_code", code=raw)
    if not isinstance(raw, dict):
        hint = " Decode it to a str of code, or send a dict" if isinstance(raw, (bytes, bytearray)) else ""
        return ActionError(f"expected an action dict like {{\"action\": \"execute_code\", \"code\": \"...\"}} or a "
                           f"str of code, got {_describe(raw)}.{hint}")
    fields = dict(raw)
    params = fields.pop("params", None)
    if params is not None:
        if not isinstance(params, dict):
            return ActionError(f"expected 'params' to be a dict of the action's fields, got {_describe(params)}")
        clash = sorted(set(params) & set(fields))
        if clash:
            return ActionError(f"expected each field once, got {clash} both at the top level and in 'params'")
        fields.update(params)
    if "action" not in fields:
        return ActionError("expected a field 'action' naming one of " + ", ".join(names) +
                           f", got a dict with keys {sorted(map(_field_name, fields))}")
    name = fields.pop("action")
    if not isinstance(name, str) or name not in names:
        return ActionError(expected("an action among " + ", ".join(names), name))

    message = None
    for key in MESSAGE_FIELDS:
        if key in fields:
            value = fields.pop(key)
            if value is None:
                continue
            problem = _check_text(key, value, action=name, limit=MAX_MESSAGE_CHARS)
            if problem:
                return problem
            message = value if message is None else f"{message}\n{value}"
    if message is not None and len(message) > MAX_MESSAGE_CHARS:
        return ActionError(f"expected the message and reasoning together to have at most {MAX_MESSAGE_CHARS} "
                           f"characters, got {len(message)}. Shorten them", name)

    spec = action_set.actions[name]
    if name in _FIELDS:
        required, optional = _FIELDS[name]
    else:
        required = spec.required
        optional = tuple(f for f in spec.fields if f not in required)
    unknown = sorted(map(_field_name, set(fields) - set(required) - set(optional)))
    if unknown:
        takes = ", ".join(required + optional) or "no fields"
        return ActionError(f"expected the fields of {name} ({takes}; plus an optional message), got unexpected "
                           f"field(s) {unknown}", name)
    missing = [field for field in required if fields.get(field) is None]
    if missing:
        return ActionError(f"expected field {missing[0]!r} for {name}, got none. Usage:\n{usage(action_set)}", name)
    if not spec.builtin:
        for key, value in fields.items():
            problem_text = spec.check_field(key, value)
            if problem_text:
                return ActionError(problem_text, name)
        return Action(name, message=message, fields=fields)

    if name in ("validate_code", "execute_code"):
        problem = _check_text("code", fields["code"], action=name, limit=max_code_chars)
        return problem or Action(name, code=fields["code"], message=message)
    if name == "request_info":
        info_type = fields["info_type"]
        if not isinstance(info_type, str) or info_type not in action_set.info_types:
            return ActionError(expected("info_type among " + ", ".join(action_set.info_types), info_type), name)
        return Action(name, info_type=info_type, message=message)
    if name == "submit":
        final = fields.get("final", False)
        if final is None:
            final = False
        if not isinstance(final, (bool, np.bool_)):
            return ActionError(f"expected field 'final' of submit to be true or false, got {_describe(final)}", name)
        return Action(name, final=bool(final), message=message)
    return Action(name, message=message)
