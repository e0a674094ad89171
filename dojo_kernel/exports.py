"""Recorded episodes in other formats: MLE-Dojo's environment history. It reads only a run
dir's `trajectory.ipynb` (see trajectory.py), whose step cells carry everything a step did in
their `dojo` metadata. Chat JSONL for fine-tuning lives beside the LLM agent's prompt, in
`dojo_kernel.agents.llm_data` (the names stay importable from here, with a warning).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from .replay import outputs_text
from .rundir import atomic_write, json_bytes
from .trajectory import load_trajectory, step_cells

Source = str | os.PathLike[str]


# ---------------------------------------------------------------------------------------------
# MLE-Dojo's environment history


def _execution_result(cell: dict[str, Any]) -> dict[str, Any]:
    """The dict MLE-Dojo's sandbox run gives: status, output, error, execution_time."""
    dojo = cell["metadata"]["dojo"]
    outputs = cell.get("outputs", [])
    errors = [output for output in outputs if output.get("output_type") == "error"]
    error = "\n".join(f"{output.get('ename')}: {output.get('evalue')}" for output in errors)
    if dojo.get("limit_event"):
        error = "\n".join(part for part in (error, dojo["limit_event"].get("message", "")) if part)
    ok = dojo.get("status") == "ok"
    if not ok and not error:
        error = f"the cell ended with status {dojo.get('status')}"
    return {
        "status": "SUCCESS" if ok else "FAILED",
        "output": outputs_text(output for output in outputs if output.get("output_type") != "error"),
        "error": error,
        "execution_time": f"{dojo.get('duration_s') or 0.0:.2f}s",
    }


def _submission_result(grade: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Grade as MLE-Dojo's submission result (position_score keyed by leaderboard)."""
    if grade is None:
        return None
    if not grade.get("valid"):
        return {"status": "FAILED", "error_type": "InvalidSubmissionError", "error": grade.get("error"),
                "details": grade.get("error"), "potential_causes": None}
    result: dict[str, Any] = {"status": "SUCCESS", "raw_score": grade.get("score"),
                              "details": "Submission processed successfully"}
    if grade.get("position") is not None:
        board = "private" if grade.get("split") == "full" else grade.get("split")
        scores = {board: {"position": grade.get("rank"), "total": grade.get("teams"), "position_score": grade["position"]}}
        # MLE-Dojo's avg_score is the mean of the public and private boards' positions: only a
        # full-split grade placed on both boards has it. A one-board grade exports that board alone.
        both = (grade.get("details") or {}).get("positions") or {}
        for other, position in both.items():
            scores.setdefault(other, {"position": None, "total": None, "position_score": position})
        position_score: dict[Any, Any] = dict(scores)  # keyed by board name
        if {"public", "private"} <= set(both):
            position_score["avg_score"] = (both["public"] + both["private"]) / 2
        result["position_score"] = position_score
    return result


def _history_result(cell: dict[str, Any]) -> dict[str, Any]:
    dojo = cell["metadata"]["dojo"]
    action = dojo["action"]
    if action == "execute_code":
        execution = _execution_result(cell)
        submission = _submission_result(dojo.get("grade"))
        ok = execution["status"] == "SUCCESS" and (submission is None or submission["status"] == "SUCCESS")
        return {"status": "SUCCESS" if ok else "FAILED", "execution": execution, "submission": submission}
    if action == "validate_code":
        runtime = _execution_result(cell)
        syntax_failed = any(output.get("output_type") == "error" and output.get("ename") in ("SyntaxError", "IndentationError")
                            for output in cell.get("outputs", []))
        syntax = ({"status": "FAILED", "error_type": "CodeSyntaxError", "error": "Code syntax validation failed",
                   "details": runtime["error"], "potential_causes": None} if syntax_failed
                  else {"status": "SUCCESS", "details": "Code syntax is valid"})
        ok = syntax["status"] == "SUCCESS" and runtime["status"] == "SUCCESS"
        return {"syntax": syntax, "runtime": runtime, "status": "SUCCESS" if ok else "FAILED"}
    if action == "submit":
        submission = _submission_result(dojo.get("grade"))
        ok = submission is not None and submission["status"] == "SUCCESS"
        return {"status": "SUCCESS" if ok else "FAILED", "submission": submission}
    if action == "request_info":
        info_type = (dojo.get("arguments") or {}).get("info_type", "all")
        return {"status": "SUCCESS", "data": {info_type: dojo.get("feedback", "")}}
    if action == "invalid":
        return {"status": "FAILED", "error_type": "InvalidAction", "error": dojo.get("feedback", ""),
                "details": None, "potential_causes": None}
    return {"status": "SUCCESS", "data": dojo.get("feedback", "")}


def export_mle_dojo_history(source: Source, out_path: Source | None = None) -> dict[str, Any]:
    """An episode as the history JSON that MLE-Dojo's environment writes
    (`<output_dir>/env_history/history.json`), so its analysis scripts read our runs.

    The shape matched (MLE-Dojo's KaggleEnvironment `_init_history` / `_update_history`):
    ``{"competition", "actions": [...], "total_reward", "best_code", "best_raw_score",
    "best_position_score", "step_count", "created_at"}``, each action
    ``{"step", "action", "timestamp", "result", "feedback": {"base": {"feedback_status",
    "feedback"}}}``. `result` for execute_code is ``{"status": "SUCCESS"|"FAILED", "execution":
    {"status", "output", "error", "execution_time": "1.23s"}, "submission": {"status",
    "raw_score", "details", "position_score": {<board>: {"position", "total",
    "position_score"}, "avg_score" (only for a full-split grade placed on both boards)}} | error dict | None}``; for validate_code ``{"syntax",
    "runtime", "status"}``; for request_info ``{"status", "data": {info_type: text}}``.
    Our own actions (submit, restart_kernel, invalid) keep their names; each action also
    carries its `reward`. `source` is a run dir or a notebook; with `out_path` the JSON is also
    written there (atomically).
    """
    from .metrics.registry import is_better  # imported where used: it brings pandas

    notebook = load_trajectory(source)
    dojo = notebook.metadata.get("dojo", {})
    actions = []
    total_reward = 0.0
    best_raw = best_position = best_code = None
    last_code: str | None = None
    for cell in step_cells(notebook):
        meta = cell["metadata"]["dojo"]
        if meta["action"] == "execute_code":
            last_code = cell["source"]
        reward = float(meta.get("reward") or 0.0)
        total_reward += reward
        actions.append({
            "step": meta["step"],
            "action": meta["action"],
            "timestamp": meta.get("time"),
            "result": _history_result(cell),
            "feedback": {"base": {"feedback_status": "SUCCESS", "feedback": meta.get("feedback", "")}},
            "reward": reward,
        })
        grade = meta.get("grade")
        if grade and grade.get("valid") and grade.get("score") is not None:
            if is_better(grade["score"], best_raw, grade.get("higher_is_better")):
                best_raw, best_position = grade["score"], grade.get("position")
                best_code = cell["source"] if meta["action"] == "execute_code" else last_code
    history = {
        "competition": dojo.get("competition"),
        "actions": actions,
        "total_reward": total_reward,
        "best_code": best_code,
        "best_raw_score": best_raw,
        "best_position_score": best_position,
        "step_count": len(actions),
        "created_at": dojo.get("started_at"),
    }
    if out_path is not None:
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, json_bytes(json.dumps(history, indent=2, ensure_ascii=False) + "\n"))
    return history


_MOVED = {"STYLES", "episode_messages", "export_chat_jsonl"}


def __getattr__(name: str) -> Any:
    """The chat export moved to dojo_kernel.agents.llm_data; its old names keep working."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"dojo_kernel.exports.{name} moved to dojo_kernel.agents.llm_data.{name}",
                  DeprecationWarning, stacklevel=2)
    import importlib

    return getattr(importlib.import_module("dojo_kernel.agents.llm_data"), name)
