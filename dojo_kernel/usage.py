"""Token usage and cost of an agent's steps: per step in rewards.jsonl, totals in summary.json.

The env cannot see an agent's model calls, so the agent loop tells it: before a step,
`DojoEnv.record_usage(prompt_tokens=..., completion_tokens=..., cost_usd=...)` says what
producing that step's action cost, and the env keeps it with the step. `run_episode` does
this for any agent whose `stats` dict counts tokens (the llm agent does), from the growth
of those counters across `act()`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, expected

# What a step's usage may hold: token counts (integers) and a cost in US dollars.
TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
COST_KEY = "cost_usd"
USAGE_KEYS = (*TOKEN_KEYS, COST_KEY, "requests")


def check_usage(usage: Mapping[str, Any]) -> dict[str, float | int]:
    """The usage as a clean dict; a ConfigError naming the key for anything else."""
    clean: dict[str, float | int] = {}
    for key, value in usage.items():
        if key not in USAGE_KEYS:
            raise ConfigError(expected(f"usage keys among {', '.join(USAGE_KEYS)}", key))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(expected(f"a finite number >= 0 for usage {key!r}", value))
        clean[key] = float(value) if key == COST_KEY else int(value)
    if "total_tokens" not in clean and any(key in clean for key in TOKEN_KEYS):
        clean["total_tokens"] = int(clean.get("prompt_tokens", 0)) + int(clean.get("completion_tokens", 0))
    return clean


def add_usage(total: dict[str, float | int], step: Mapping[str, float | int]) -> dict[str, float | int]:
    """`total` with `step` added to it, key by key (in place; returned for convenience)."""
    for key, value in step.items():
        total[key] = total.get(key, 0) + value
    return total


def usage_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, float | int]:
    """What an agent's `stats` counters grew by across one `act()`; only the usage keys."""
    delta: dict[str, float | int] = {}
    for key in USAGE_KEYS:
        new, old = after.get(key), before.get(key, 0)
        if _number(new) and _number(old) and new > old:
            delta[key] = new - old
    return delta


def stats_snapshot(stats: Any) -> dict[str, Any]:
    """The usage counters of an agent's `stats` (an empty dict where it has none)."""
    if not isinstance(stats, Mapping):
        return {}
    return {key: stats[key] for key in USAGE_KEYS if _number(stats.get(key))}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
