"""Short errors: a cell's exception as an agent can act on it in a few lines.

IPython's traceback puts the exception's message last and buries the agent's failing line
among library frames. Here the message comes first, then the agent's own frames (the
failing line with a line of context each side), then the library frames collapsed to a
count per package ("... 7 frames in pandas"). `structured` gives the same error as data
for `info["error"]` and `rewards.jsonl`.

The traceback text comes from the kernel, so it is untrusted: it is only parsed with
bounded regular expressions, never run, and every piece of it is clipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("syntax", "runtime", "resource", "timeout", "submission", "environment", "action")
SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")

MESSAGE_CHARS = 400  # the exception's message in the compact view
_LINE_CHARS = 160  # one line of code shown
_CONTEXT = 1  # lines of code shown either side of the failing one
_AGENT_FRAMES = 3  # the agent's frames shown in full; the ones between are counted

_CHAINED = ("The above exception was the direct cause", "During handling of the above exception")
_CELL = re.compile(r"^\s*Cell In\[(\d+)\], line (\d+)(?:, in (.{0,200}))?")
_FILE = re.compile(r"^File (.{1,500}?):(\d+)(?:, in (.{0,200}))?$")
_PLAIN = re.compile(r"^(\S.{0,500}?) in (\S{1,200}?)\(.{0,2000}\)$")  # IPython's fallback frame header
_NUMBERED = re.compile(r"^(-*>)?\s*(\d+)(?: |$)")
_FILE_IN_MESSAGE = re.compile(r"\s*\((?:\d+\.py|<[^>]{1,50}>), line \d+\)$")
_LIBRARY_ROOT = re.compile(r"(?:site-packages|dist-packages)/([^/]+)")
_STDLIB = re.compile(r"/lib/python\d+\.\d+/")


@dataclass
class Frame:
    """One frame of a traceback: where it is and the code lines IPython showed for it."""

    header: str
    package: str | None  # None for the agent's own code (a cell, or a file in the run dir)
    line: int | None = None
    cell: int | None = None  # the execution count of the cell, for frames in a cell
    lines: list[str] = field(default_factory=list)


@dataclass
class ParsedTraceback:
    frames: list[Frame]  # of the last exception in the chain
    causes: list[str]  # the final lines ("Type: message") of the exceptions it was raised from


def clip_middle(text: str, limit: int) -> str:
    """`text` within `limit` characters: head and tail kept, the number cut said between."""
    if len(text) <= limit:
        return text
    marker = f" ... [{len(text) - limit} characters cut] ... "
    keep = max(0, limit - len(marker))
    return text[: keep - keep // 2] + marker + text[len(text) - keep // 2:]


def _package(path: str) -> str | None:
    """The library a frame's file belongs to, or None where it is the agent's own code."""
    path = path.strip()
    if "ipykernel_" in path or path.startswith(("<ipython-input", "Cell In[")):
        return None
    found = _LIBRARY_ROOT.search(path)
    if found:
        return found.group(1).split(".")[0].split("-")[0]
    if _STDLIB.search(path):
        return "the standard library"
    if not path.startswith(("/", "~")):
        # a compiled module shown relative to its package root, e.g. pandas/_libs/index.pyx
        return path.split("/")[0].split(".")[0] or "a library"
    return None  # a file of the agent's, e.g. working/features.py


def _frame(entry: str) -> Frame | None:
    lines = entry.strip("\n").split("\n")
    header = lines[0]
    if header.strip().startswith("[... skipping similar frames"):  # IPython's note on recursion
        return Frame(clip_middle(header.strip(), _LINE_CHARS), None)
    found = _CELL.match(header)
    if found:
        return Frame(header.strip(), None, int(found.group(2)), int(found.group(1)), lines[1:])
    found = _FILE.match(header)
    if found:
        return Frame(header, _package(found.group(1)), int(found.group(2)), None, lines[1:])
    found = _PLAIN.match(header)
    if found:
        return Frame(f"{found.group(1)}, in {found.group(2)}", _package(found.group(1)), None, None, lines[1:])
    return None


def parse(traceback: list[str]) -> ParsedTraceback:
    """The frames of the last exception of an IPython traceback, and the exceptions before it."""
    chains: list[list[str]] = [[]]
    for entry in traceback[:2000]:
        if not isinstance(entry, str):
            continue
        if any(marker in entry[:200] for marker in _CHAINED):
            chains.append([])
        else:
            chains[-1].append(entry[:20_000])
    frames = [frame for frame in map(_frame, chains[-1]) if frame is not None]
    causes = []
    for chain in chains[:-1]:
        last = [entry for entry in chain if entry.strip() and not entry.startswith("---")]
        if last:
            causes.append(last[-1].strip().split("\n")[-1])
    return ParsedTraceback(frames, causes)


def _failing_line(frame: Frame) -> tuple[int | None, str | None]:
    """The line number and text IPython marked with an arrow in `frame`."""
    for text in frame.lines:
        found = _NUMBERED.match(text)
        if found and found.group(1):
            return int(found.group(2)), text[found.end():].strip()
    return frame.line, None


def _context(frame: Frame) -> list[str]:
    """The frame's arrowed line with _CONTEXT lines each side, each clipped."""
    numbered = [i for i, text in enumerate(frame.lines) if _NUMBERED.match(text)]
    arrow = next((i for i in numbered if _NUMBERED.match(frame.lines[i]).group(1)), None)  # type: ignore[union-attr]
    if arrow is None:
        return [clip_middle(text, _LINE_CHARS) for text in frame.lines[:2 * _CONTEXT + 1] if text.strip()]
    position = numbered.index(arrow)
    shown = numbered[max(0, position - _CONTEXT): position + _CONTEXT + 1]
    return [clip_middle(frame.lines[i].rstrip(), _LINE_CHARS) for i in shown]


def _collapsed(frames: list[Frame]) -> str:
    counts: dict[str, int] = {}
    for frame in frames:
        counts[frame.package or "your code"] = counts.get(frame.package or "your code", 0) + 1
    parts = [f"{count} frame{'s' if count > 1 else ''} in {package}" for package, count in counts.items()]
    return "... " + ", ".join(parts)


def message_line(name: str, value: str) -> str:
    """`Type: message` with the message clipped (its first lines kept whole where they fit)."""
    value = _FILE_IN_MESSAGE.sub("", value.strip()) if name in SYNTAX_ERRORS else value.strip()
    return clip_middle(f"{name}: {value}" if value else name, MESSAGE_CHARS)


def syntax_column(frame: Frame, code: str | None) -> int | None:
    """The 1-based column of a syntax error's caret, in the agent's own line where it has it.

    Python prints the offending line without its leading whitespace, indented by 4, with
    the caret below it: the column is the caret's offset plus that stripped indentation.
    """
    for shown, caret in zip(frame.lines, frame.lines[1:]):
        if caret.strip() and set(caret.strip()) <= {"^", "~"}:
            offset = len(caret) - len(caret.lstrip()) - (len(shown) - len(shown.lstrip()))
            indent = 0
            if code is not None and frame.line is not None:
                source = code.split("\n")
                if 0 < frame.line <= len(source):
                    indent = len(source[frame.line - 1]) - len(source[frame.line - 1].lstrip())
            return max(1, offset + indent + 1)
    return None


def compact(name: str, value: str, traceback: list[str], code: str | None = None) -> str:
    """The error as an agent reads it: message first, its own failing lines, library frames counted."""
    lines = [message_line(name, value)]
    parsed = parse(traceback)
    if name in SYNTAX_ERRORS:
        frame = next((f for f in parsed.frames), None)
        if frame is not None:
            column = syntax_column(frame, code)
            lines.append(frame.header + (f", column {column}" if column else "") + ":")
            lines += [clip_middle(text.rstrip(), _LINE_CHARS) for text in frame.lines
                      if text.strip() and not text.strip().startswith(name)][:3]
        return "\n".join(lines)
    for cause in parsed.causes[-1:]:
        if cause and cause != lines[0]:
            lines.append("(raised while handling " + clip_middle(cause, 200) + ")")
    frames = parsed.frames
    mine = [i for i, frame in enumerate(frames) if frame.package is None]
    if len(mine) > _AGENT_FRAMES:  # deep recursion in the agent's code: first one, last ones
        mine = mine[:1] + mine[-(_AGENT_FRAMES - 1):]
    shown_until = 0
    for i in mine:
        if i > shown_until:
            lines.append(_collapsed(frames[shown_until:i]))
        lines.append(frames[i].header + (":" if frames[i].lines else ""))
        lines += _context(frames[i])
        shown_until = i + 1
    if shown_until < len(frames):
        lines.append(_collapsed(frames[shown_until:]))
    return "\n".join(lines)


def failing_line(traceback: list[str], execution_count: int | None = None) -> int | None:
    """The line of the running cell where the error happened (its outermost frame in that cell)."""
    parsed = parse(traceback)
    cells = [frame for frame in parsed.frames if frame.cell is not None]
    for frame in cells:
        if execution_count is None or frame.cell == execution_count:
            number, _ = _failing_line(frame)
            return number
    plain = [frame for frame in parsed.frames if frame.package is None and "ipykernel_" in frame.header]
    return _failing_line(plain[0])[0] if plain else None


def failing_code(traceback: list[str]) -> str | None:
    """The text of the agent's innermost failing line (where a hint looks for names)."""
    for frame in reversed(parse(traceback).frames):
        if frame.package is None:
            _, text = _failing_line(frame)
            if text:
                return text
    return None


# ---------------------------------------------------------------------------------------------
# The error as data: info["error"] and rewards.jsonl


def structured(category: str, kind: str, message: str, line: int | None = None) -> dict[str, Any]:
    """The error of one step as data: category, exception type, message, line (in the cell)."""
    assert category in CATEGORIES, category
    return {"category": category, "type": kind, "message": clip_middle(message, 2_000), "line": line}


def of_cell(result: Any) -> dict[str, Any] | None:
    """`structured` for a CellResult that did not end well; None for one that did."""
    if result.status == "ok":
        return None
    error = result.error
    event = result.limit_event
    line = failing_line(error.traceback, result.execution_count) if error is not None else None
    if result.status == "timeout":
        return structured("timeout", "Timeout", event.message if event else "the cell ran past its timeout", line)
    if result.status == "killed":
        kind = event.kind if event else "limit"
        return structured("resource", f"{kind}_limit", event.message if event else "a limit was crossed", line)
    if result.status == "died":
        return structured("environment", "KernelDied", event.message if event else "the kernel died", line)
    if error is None:
        return structured("runtime", "Error", result.status, line)
    if error.name in SYNTAX_ERRORS:
        category = "syntax"
    elif error.name == "MemoryError":
        category = "resource"
    else:
        category = "runtime"
    return structured(category, error.name, message_line(error.name, error.value).split(": ", 1)[-1], line)


def of_grade(grade: Any) -> dict[str, Any]:
    """`structured` for an invalid submission."""
    return structured("submission", "InvalidSubmission", str(grade.error or "invalid submission"))


def of_action(message: str) -> dict[str, Any]:
    """`structured` for an action the env could not accept (nothing ran)."""
    return structured("action", "InvalidAction", message)


def traceback_text(result: Any) -> str | None:
    """The whole traceback of a failed cell, as IPython wrote it (what the notebook keeps)."""
    error = result.error
    if error is None:
        return None
    return "\n".join(error.traceback) if error.traceback else f"{error.name}: {error.value}"


def last_traceback(text: str | None) -> str:
    """The answer to request_info "traceback"."""
    if text is None:
        return "No cell has failed yet in this episode: there is no traceback to show."
    return "## Full traceback of the last failed cell\n" + text
