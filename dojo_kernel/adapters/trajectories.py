"""Trajectories as training data: GRPO group advantages, and chat records in the layout of
the fine-tuning export (`export_chat_jsonl`: one `{"messages": [...], "metadata": {...}}` per
episode, ending on the model's turn)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def group_advantages(returns: Sequence[float], *, eps: float = 1e-6) -> list[float]:
    """GRPO's advantage of each member of a group: (return - group mean) / (group std + eps);
    all zeros for a group whose returns are equal (nothing to learn from it)."""
    if not returns:
        return []
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((value - mean) ** 2 for value in returns) / len(returns))
    return [(value - mean) / (std + eps) if std > 0 else 0.0 for value in returns]


def chat_record(trajectory: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """One trajectory (from RolloutService or DojoTextEnv.messages) as a fine-tuning record:
    its messages up to the model's last reply, and metadata (the competition, the return,
    the final grade, and whatever is passed, e.g. the group and the advantage)."""
    messages = [dict(message) for message in trajectory["messages"]]
    if len(messages) > 2 and messages[-1].get("role") in ("user", "tool"):
        messages.pop()  # a sample ends on the model's turn: the last observation teaches nothing
    final = trajectory.get("final_grade") or {}
    return {"messages": messages,
            "metadata": {"competition": trajectory.get("competition"), "seed": trajectory.get("seed"),
                         "steps": sum(1 for message in messages if message.get("role") == "assistant"),
                         "return": trajectory.get("return"), "final_score": final.get("score"),
                         "best_score": trajectory.get("best_score"), "run_dir": trajectory.get("run_dir"),
                         **metadata}}


def write_chat_jsonl(records: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> int:
    """Append records to a JSONL file (created with its folder if missing); returns how many."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(out, "a", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        file.flush()
        os.fsync(file.fileno())
    return count
