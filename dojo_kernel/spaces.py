"""Gymnasium spaces for free text, Python source code and DojoEnv's actions and observations.

Gymnasium's `Text` space draws from a fixed, enumerated character set (by default letters
and digits): it rejects newlines and unicode, so it cannot hold a notebook cell or a
traceback. `FreeText` holds any string of a bounded length that encodes as UTF-8;
`CodeSpace` is the same set with a sampler that writes small, harmless Python programs.
`ActionSpace` holds every well-formed action (see `actions.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from .actions import ACTION_NAMES, ActionError, parse_action
from .extensions import ActionSet, resolve

# Characters `FreeText.sample` draws from: printable ASCII, whitespace and a few non-ASCII
# letters and symbols, so that samples exercise newlines and unicode.
_SAMPLE_CHARS = (
    [chr(c) for c in range(32, 127)] + ["\n", "\t"] + list("éüßøλπΩжпש中文日本語€°±→✓")
)


def is_text(value: Any) -> bool:
    """A `str` that can travel as UTF-8 (no lone surrogates, which no socket or file can carry)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class FreeText(spaces.Space[str]):
    """Any string of at most `max_length` characters that encodes as UTF-8."""

    def __init__(self, max_length: int, *, seed: int | np.random.Generator | None = None):
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"expected a positive int for max_length, got {max_length!r}")
        self.max_length = max_length
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return is_text(x) and len(x) <= self.max_length

    def sample(self, mask: Any | None = None, probability: Any | None = None) -> str:
        if mask is not None or probability is not None:
            raise NotImplementedError(f"{type(self).__name__}.sample takes no mask or probability")
        length = int(self.np_random.integers(0, min(self.max_length, 200) + 1))
        picks = self.np_random.integers(0, len(_SAMPLE_CHARS), size=length)
        return "".join(_SAMPLE_CHARS[i] for i in picks)

    def to_jsonable(self, sample_n: Any) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: list[Any]) -> list[str]:
        return list(sample_n)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.max_length == self.max_length

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.max_length))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_length={self.max_length})"


# Pieces of the programs `CodeSpace.sample` writes: each is valid Python on its own and
# touches nothing outside the kernel's memory, so a sampled action is safe to execute.
_CODE_TEMPLATES = (
    "{name} = {number}\nprint({name} * 2)",
    "{name} = [{number}, {other}]\nprint(sum({name}), len({name}))",
    "def {name}(x):\n    return x + {number}\n\nprint({name}({other}))",
    "{name} = {{'a': {number}, 'é': {other}}}\nprint(sorted({name}.items()))",
    "# {text}\nprint({text!r})",
    "{name} = '{text}'\nprint({name}.upper())",
)
_NAME_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_TEXT_WORDS = ("data", "model", "λ", "straße", "数据", "score", "ok", "→", "naïve")


class CodeSpace(FreeText):
    """Python source: any UTF-8 string up to `max_length` characters (newlines, tabs and
    unicode included). Whether it compiles is the agent's business, so syntax is not checked.
    `sample()` writes a small program that prints something and has no side effects."""

    def sample(self, mask: Any | None = None, probability: Any | None = None) -> str:
        if mask is not None or probability is not None:
            raise NotImplementedError("CodeSpace.sample takes no mask or probability")
        rng = self.np_random
        lines = []
        for _ in range(int(rng.integers(1, 4))):
            template = _CODE_TEMPLATES[int(rng.integers(len(_CODE_TEMPLATES)))]
            name = "v_" + "".join(_NAME_LETTERS[i] for i in rng.integers(0, 26, size=int(rng.integers(1, 6))))
            text = " ".join(_TEXT_WORDS[i] for i in rng.integers(0, len(_TEXT_WORDS), size=int(rng.integers(1, 4))))
            lines.append(template.format(name=name, number=int(rng.integers(-1000, 1000)),
                                         other=int(rng.integers(0, 100)), text=text))
        code = "\n".join(lines)
        return code[: self.max_length]


class ActionSpace(spaces.Space[Any]):
    """Every well-formed DojoEnv action: a dict `{"action": NAME, ...fields}` or a bare
    string of code. `contains` applies exactly the checks `DojoEnv.step` applies."""

    def __init__(self, max_code_chars: int, *, action_set: ActionSet | None = None,
                 seed: int | np.random.Generator | None = None):
        self.code_space = CodeSpace(max_code_chars)
        # Which actions and info types this env offers (built-ins plus registered ones),
        # fixed when the env is made so that a later registration does not change it.
        self.action_set = action_set or resolve()
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def max_code_chars(self) -> int:
        return self.code_space.max_length

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> int | Any:
        seeded = super().seed(seed)
        # The code sampler follows the action sampler, so one seed fixes both.
        self.code_space.seed(int(self.np_random.integers(2**31)))
        return seeded

    def contains(self, x: Any) -> bool:
        return not isinstance(parse_action(x, max_code_chars=self.max_code_chars, action_set=self.action_set),
                              ActionError)

    @property
    def names(self) -> tuple[str, ...]:
        return self.action_set.names

    def tools(self) -> list[dict]:
        """The actions as OpenAI-style function tools (what an LLM agent sends to its model)."""
        return self.action_set.tools()

    def sample(self, mask: Any | None = None, probability: Any | None = None) -> dict[str, Any]:
        """A random well-formed action; code actions carry a harmless sampled program."""
        if mask is not None or probability is not None:
            raise NotImplementedError("ActionSpace.sample takes no mask or probability")
        names = self.action_set.names
        name = names[int(self.np_random.integers(len(names)))]
        action: dict[str, Any] = {"action": name}
        spec = self.action_set.actions[name]
        if not spec.builtin:
            for field in spec.required:
                action[field] = self._sample_field(spec.schema["properties"][field])
            return action
        if name in ("validate_code", "execute_code"):
            action["code"] = self.code_space.sample()
        elif name == "request_info":
            info_types = self.action_set.info_types
            action["info_type"] = info_types[int(self.np_random.integers(len(info_types)))]
        elif name == "submit":
            action["final"] = bool(self.np_random.integers(2))
        return action

    def _sample_field(self, schema: dict[str, Any]) -> Any:
        """A value of a registered action's field: one of its enum, else a small one of its type."""
        if schema.get("enum"):
            return schema["enum"][int(self.np_random.integers(len(schema["enum"])))]
        kind = schema.get("type")
        if kind == "boolean":
            return bool(self.np_random.integers(2))
        if kind == "integer":
            return int(self.np_random.integers(0, 10))
        if kind == "number":
            return float(self.np_random.random())
        if kind == "array":
            return []
        if kind == "object":
            return {}
        return "".join(_NAME_LETTERS[i] for i in self.np_random.integers(0, 26, size=int(self.np_random.integers(1, 8))))

    def to_jsonable(self, sample_n: Any) -> list[Any]:
        return list(sample_n)

    def from_jsonable(self, sample_n: list[Any]) -> list[Any]:
        return list(sample_n)

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and other.max_code_chars == self.max_code_chars
                and other.names == self.names and other.action_set.info_types == self.action_set.info_types)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.max_code_chars, self.names))

    def __repr__(self) -> str:
        extra = self.action_set.custom
        return f"ActionSpace(max_code_chars={self.max_code_chars}" + (f", actions={extra})" if extra else ")")


class FigureList(spaces.Sequence):
    """The figures of one step: a tuple of at most `max_items` dicts {"path" (run-dir relative),
    "bytes", "width", "height"}. A gymnasium Sequence (vector envs batch it as one) with a cap."""

    def __init__(self, max_items: int, max_path_chars: int = 256, *, seed: int | np.random.Generator | None = None):
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ValueError(f"expected a positive int for max_items, got {max_items!r}")
        self.max_items = max_items
        count = spaces.Box(0, 2**31 - 1, shape=(), dtype=np.int64)  # bounds whose sampler cannot overflow
        item = spaces.Dict({"path": FreeText(max_path_chars), "bytes": count, "width": count, "height": count})
        super().__init__(item, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, tuple) and len(x) <= self.max_items and super().contains(x)

    def sample(self, mask: Any | None = None, probability: Any | None = None) -> tuple[Any, ...]:
        if mask is not None or probability is not None:
            raise NotImplementedError("FigureList.sample takes no mask or probability")
        length = int(self.np_random.integers(0, self.max_items + 1))
        items = [self.feature_space.sample() for _ in range(length)]
        # the counts as 0-d arrays, as the env writes them (Box samples numpy scalars)
        return tuple({key: value if key == "path" else np.asarray(value, dtype=np.int64)
                      for key, value in item.items()} for item in items)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.max_items == self.max_items and super().__eq__(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.max_items))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_items={self.max_items})"


# What `obs["action"]` and `obs["status"]` index. "reset" is the first observation,
# "invalid" a malformed action; "none" a step that ran no code.
OBSERVATION_ACTIONS = ("reset", "invalid") + ACTION_NAMES
CELL_STATUSES = ("none", "ok", "error", "timeout", "killed", "died")

_FLOAT_MAX = float(np.finfo(np.float64).max)  # finite bounds: scores have no natural range
_INT_MAX = int(np.iinfo(np.int64).max)


def observation_space(max_feedback_chars: int, action_names: tuple[str, ...] = ACTION_NAMES,
                      max_figures: int = 8) -> spaces.Dict:
    """DojoEnv's observation space. Every observation has all of these keys.

    feedback          the text an LLM reads: output, error and traceback, grading, budget left
    action, status    indices into OBSERVATION_ACTIONS and CELL_STATUSES (registered actions
                      follow the built-ins: ("reset", "invalid") + the env's action names)
    graded            1 when this step graded a submission (valid or not)
    valid_submission  1 when that submission was valid
    score, position   its metric value and leaderboard position (0..1); 0 when not graded
    has_best          1 once any valid submission was graded
    best_score, best_position   the best so far (public split); 0 until has_best
    step              steps taken in this episode
    steps_left        -1 when there is no step limit
    time_left_s       -1 when there is no time limit
    kernel_restarted  1 when the kernel lost its state during this step
    limit_exceeded    1 when a memory, time, process or disk limit stopped the cell
    images            the PNG figures this step's cell displayed, saved in the run dir: a tuple of
                      {"path": "figures/step-0003-1.png", "bytes", "width", "height"}, at most
                      `max_figures`; () for steps that displayed none
    """
    def flag() -> spaces.Discrete:
        return spaces.Discrete(2)

    return spaces.Dict({
        "feedback": FreeText(max_feedback_chars),
        "action": spaces.Discrete(2 + len(action_names)),
        "status": spaces.Discrete(len(CELL_STATUSES)),
        "graded": flag(),
        "valid_submission": flag(),
        "score": spaces.Box(-_FLOAT_MAX, _FLOAT_MAX, shape=(), dtype=np.float64),
        "position": spaces.Box(0.0, 1.0, shape=(), dtype=np.float64),
        "has_best": flag(),
        "best_score": spaces.Box(-_FLOAT_MAX, _FLOAT_MAX, shape=(), dtype=np.float64),
        "best_position": spaces.Box(0.0, 1.0, shape=(), dtype=np.float64),
        "step": spaces.Box(0, _INT_MAX, shape=(), dtype=np.int64),
        "steps_left": spaces.Box(-1, _INT_MAX, shape=(), dtype=np.int64),
        "time_left_s": spaces.Box(-1.0, _FLOAT_MAX, shape=(), dtype=np.float64),
        "kernel_restarted": flag(),
        "limit_exceeded": flag(),
        "images": FigureList(max_figures),
    })
