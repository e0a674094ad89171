"""Scripted policies for the rollout service's tests and the worked example: importable by
Ray workers (tests/ is on their PYTHONPATH), so they travel by reference."""

from __future__ import annotations

from typing import Any

import tiny_competition as tiny


def perfect_then_final(messages: list[dict[str, Any]], metadata: dict[str, Any]) -> str:
    """Write the perfect submission, then end the episode."""
    if metadata.get("turn", 0) == 0:
        return f"I write the rule as a submission.\n\n```python\n{tiny.submission_code('perfect')}\n```"
    return "Done. SUBMIT FINAL"


async def async_constant_then_final(messages: list[dict[str, Any]], metadata: dict[str, Any]) -> str:
    """An async policy: the all-zero submission, then the end."""
    if metadata.get("turn", 0) == 0:
        return f"```python\n{tiny.submission_code('constant')}\n```"
    return "SUBMIT FINAL"
