"""Recorded episodes in other formats: MLE-Dojo's environment history, and chat JSONL for
supervised fine-tuning. Both read only a run dir's `trajectory.ipynb` (see trajectory.py),
whose step cells carry everything a step did in their `dojo` metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import nbformat

from .errors import ConfigError, expected
from .trajectory import (
    CODE_ACTIONS,
    atomic_write,
    load_trajectory,
    message_of,
    notebook_path_of,
    outputs_text,
    step_cells,
)

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
        position_score: dict[str, Any] = dict(scores)
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


def _better(score: float, best: float | None, higher_is_better: bool | None) -> bool:
    if best is None:
        return True
    return score < best if higher_is_better is False else score > best


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
    notebook = load_trajectory(source)
    dojo = notebook.metadata.get("dojo", {})
    actions = []
    total_reward = 0.0
    best_raw = best_position = best_code = None
    last_code: str | None = None
    for cell in step_cells(notebook):
        meta = cell.metadata["dojo"]
        if meta["action"] == "execute_code":
            last_code = cell.source
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
            if _better(grade["score"], best_raw, grade.get("higher_is_better")):
                best_raw, best_position = grade["score"], grade.get("position")
                best_code = cell.source if meta["action"] == "execute_code" else last_code
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
        atomic_write(out, (json.dumps(history, indent=2, ensure_ascii=False) + "\n").encode())
    return history


# ---------------------------------------------------------------------------------------------
# Chat JSONL for supervised fine-tuning

STYLES = ("text", "tools")


def _assistant_text(cell: dict[str, Any], message: str | None) -> str:
    """The reply, as the LLM agent's text protocol reads it: prose, then one ```python block."""
    meta = cell["metadata"]["dojo"]
    prose = (message or "").strip()
    action = meta["action"]
    if action in CODE_ACTIONS:
        code = cell.source
        if code.strip() and code.strip() in prose:  # the message already holds the code
            return prose
        return "\n\n".join(part for part in (prose, f"```python\n{code.rstrip()}\n```") if part)
    arguments = meta.get("arguments") or {}
    if action == "submit" and arguments.get("final"):
        return "\n\n".join(part for part in (prose, "SUBMIT FINAL") if part)
    call = json.dumps({"action": action, **arguments}, ensure_ascii=False)
    return "\n\n".join(part for part in (prose, call) if part)


def _assistant_tool_call(cell: dict[str, Any], message: str | None, call_id: str) -> dict[str, Any]:
    """The reply as an OpenAI-style tool call (the tools the LLM agent offers)."""
    meta = cell["metadata"]["dojo"]
    action = meta["action"]
    arguments = dict(meta.get("arguments") or {})
    if action in CODE_ACTIONS:
        arguments["code"] = cell.source
    return {"role": "assistant", "content": (message or "").strip(),
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": action, "arguments": json.dumps(arguments, ensure_ascii=False)}}]}


def episode_messages(notebook: nbformat.NotebookNode, *, system_prompt: str, style: str = "text") -> list[dict[str, Any]]:
    """One episode as chat messages: system, the task, then per step the agent's reply and
    the observation it got back."""
    dojo = notebook.metadata.get("dojo", {})
    task = dojo.get("initial_observation") or f"Competition: {dojo.get('competition')}"
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}, {"role": "user", "content": task}]
    for cell in step_cells(notebook):
        meta = cell.metadata["dojo"]
        message = message_of(notebook, meta["step"])
        feedback = meta.get("feedback", "")
        if style == "tools":
            call_id = f"call_{meta['step']}"
            messages.append(_assistant_tool_call(cell, message, call_id))
            messages.append({"role": "tool", "tool_call_id": call_id, "content": feedback})
        else:
            messages.append({"role": "assistant", "content": _assistant_text(cell, message)})
            messages.append({"role": "user", "content": feedback})
    if messages[-1]["role"] in ("user", "tool") and len(messages) > 2:
        messages.pop()  # a sample ends on the model's turn: the last observation teaches nothing
    return messages


def export_chat_jsonl(sources: Source | Iterable[Source], out_path: Source, *, system_prompt: str | None = None,
                      style: str = "text", require_messages: bool = False) -> int:
    """Write episodes as chat JSONL for supervised fine-tuning: one line per episode,
    ``{"messages": [...], "metadata": {...}}`` (the OpenAI fine-tuning layout).

    Each assistant turn holds the agent's recorded message followed by its action: with
    style "text", a ```python block (or SUBMIT FINAL, or the action as JSON), the protocol
    the LLM agent parses; with style "tools", an OpenAI tool call answered by a `tool`
    message. system_prompt defaults to the LLM agent's. With require_messages, episodes in
    which the agent recorded no message are skipped. Returns the number of episodes written.
    """
    if style not in STYLES:
        raise ConfigError(expected(f"style in {STYLES}", style))
    if system_prompt is None:
        from .agents.llm import SYSTEM_PROMPT
        system_prompt = SYSTEM_PROMPT
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    lines = []
    for source in sources:
        path = notebook_path_of(source)
        notebook = load_trajectory(path)
        has_messages = any(cell.get("metadata", {}).get("dojo", {}).get("kind") == "message" for cell in notebook.cells)
        if require_messages and not has_messages:
            continue
        dojo = notebook.metadata.get("dojo", {})
        summary = dojo.get("summary") or {}
        metadata = {"competition": dojo.get("competition"), "agent": dojo.get("agent"), "notebook": str(path),
                    "steps": len(step_cells(notebook)), "final_score": summary.get("final_score"),
                    "best_score": summary.get("best_score"), "has_messages": has_messages}
        record = {"messages": episode_messages(notebook, system_prompt=system_prompt, style=style), "metadata": metadata}
        lines.append(json.dumps(record, ensure_ascii=False))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, "".join(line + "\n" for line in lines).encode())
    return len(lines)
