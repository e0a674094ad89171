"""Recorded episodes as chat JSONL for supervised fine-tuning, in the protocols the LLM
agent speaks (its text protocol, or OpenAI-style tool calls), beside its prompt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat

from ..errors import ConfigError, expected
from ..notebook_cells import CODE_ACTIONS
from ..rundir import atomic_write, json_bytes, notebook_path_of
from ..trajectory import load_trajectory, message_of, step_cells

Source = str | os.PathLike[str]


STYLES = ("text", "tools")


def _assistant_text(cell: dict[str, Any], message: str | None) -> str:
    """The reply, as the LLM agent's text protocol reads it: prose, then one ```python block."""
    meta = cell["metadata"]["dojo"]
    prose = (message or "").strip()
    action = meta["action"]
    if action in CODE_ACTIONS:
        code = cell["source"]
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
        arguments["code"] = cell["source"]
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
        meta = cell["metadata"]["dojo"]
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
        from .llm import SYSTEM_PROMPT
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
    atomic_write(out, json_bytes("".join(line + "\n" for line in lines)))
    return len(lines)
