"""Token usage and cost: checked on the way in, summed per episode, taken from agents' stats."""

from __future__ import annotations

import pytest

from dojo_kernel.errors import ConfigError
from dojo_kernel.usage import add_usage, check_usage, stats_snapshot, usage_delta


def test_usage_is_checked_and_its_total_derived():
    assert check_usage({"prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.5}) == {
        "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.5, "total_tokens": 15}
    with pytest.raises(ConfigError, match="usage keys among"):
        check_usage({"tokens": 3})
    for bad in (-1, float("nan"), "12", True):
        with pytest.raises(ConfigError, match="a finite number >= 0 for usage 'prompt_tokens'"):
            check_usage({"prompt_tokens": bad})


def test_the_growth_of_an_agents_counters_is_a_steps_usage():
    before = stats_snapshot({"model": "m", "prompt_tokens": 10, "total_tokens": 12, "cost_usd": 0.1})
    after = stats_snapshot({"model": "m", "prompt_tokens": 30, "total_tokens": 40, "cost_usd": 0.1, "requests": 2})
    assert usage_delta(before, after) == {"prompt_tokens": 20, "total_tokens": 28, "requests": 2}
    assert stats_snapshot(None) == {} and stats_snapshot({"cells": 3}) == {}
    total: dict = {}
    add_usage(total, {"total_tokens": 5})
    assert add_usage(total, {"total_tokens": 7, "cost_usd": 0.5}) == {"total_tokens": 12, "cost_usd": 0.5}
