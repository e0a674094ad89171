"""Compact rendering of a cell's results within one per-observation budget of characters.

The notebook keeps every output in full; what an agent reads is this view of it:
DataFrames as a small table (head and tail rows, the first and last columns that fit a
line), long text as head + tail with the number of characters left out, images as a
placeholder that names where the image is kept. Every part of the observation shares
one budget: the error and the status line are kept whole, the outputs get what is left.

Outputs come from the kernel and are untrusted: HTML is only parsed (never rendered or
followed), every size is bounded before work is done on it.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from typing import Any

from . import tracebacks
from .feedback import duration, size
from .outputs import strip_ansi

TABLE_ROWS = (8, 4)  # DataFrame rows shown: head, tail
TABLE_WIDTH = 110  # characters per table line
CELL_CHARS = 18  # characters per table cell
TEXT_LINES = (12, 6)  # lines of a long text result shown: head, tail
STREAM_LINES = (25, 15)  # lines of printed output shown: head, tail
LINE_CHARS = 1_000  # characters per line of text shown (a printed JSON line an agent parses stays whole)
_HTML_LIMIT = 400_000  # larger HTML is not parsed (it falls back to its text/plain)
_OVERWRITTEN = re.compile(r"[^\r\n]*\r(?!\n)")  # a progress bar redrawn with \r reads as its last state
_DIMENSIONS = re.compile(r"(\d[\d,]*) rows × (\d[\d,]*) columns")
_TOKEN = re.compile(r"\w{1,4}|[^\w\s]")
# The kernel's note where its output cap cut a cell's output: kept whole, as a part of its own
_CAP_NOTE = re.compile(r"(\n?\[\.\.\. [\d,]+ characters of output cut[^\]\n]{0,200}\]\n?)")


def approx_tokens(text: str) -> int:
    """About how many tokens an LLM's tokenizer makes of `text`: a word piece per 4 letters,
    a token per punctuation mark (close to BPE tokenizers on code, tables and tracebacks)."""
    return len(_TOKEN.findall(text))


def clip_text(text: str, limit: int) -> str:
    """`text` within about `limit` characters: whole head and tail lines (two of the head for
    each of the tail), the number of characters and lines left out said between them."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    room = max(0, limit - 60)
    head: list[str] = []
    tail: list[str] = []
    used, first, last = 0, 0, len(lines) - 1
    while first <= last:
        from_head = len(head) < 2 * len(tail) + 2
        line = _clip_line(lines[first] if from_head else lines[last], LINE_CHARS)
        if used + len(line) + 1 > room:
            break
        used += len(line) + 1
        if from_head:
            head.append(line)
            first += 1
        else:
            tail.append(line)
            last -= 1
    if not head or first > last and not tail or len(lines) < 3:  # a line longer than the room: characters
        keep = max(0, limit - 50)
        return (text[: keep - keep // 2] + f" ... [{len(text) - keep:,} characters left out] ... "
                + text[len(text) - keep // 2:])
    cut = len(text) - used
    marker = f"[... {cut:,} characters ({last - first + 1} lines) left out ...]"
    return "\n".join(head + [marker] + tail[::-1])


def _clip_line(line: str, limit: int) -> str:
    if len(line) <= limit:
        return line
    return line[: limit - 25] + f"... [{len(line) - limit + 25} more]"


# ---------------------------------------------------------------------------------------------
# DataFrames, from the HTML table pandas displays


class _TableParser(HTMLParser):
    """The rows of the first <table> in pandas' HTML repr, and its "N rows × M columns" note."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.header_rows = 0
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._depth = 0
        self._in_head = False
        self.done = False
        self.text_after: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "table":
            self._depth += 1
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._depth:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            span = next((value for name, value in attrs if name == "colspan"), None)
            self._cell = []
            self._span = int(span) if span and span.isdigit() and int(span) < 1000 else 1

    def handle_endtag(self, tag: str) -> None:
        if self.done:
            return
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            text = " ".join("".join(self._cell).split())
            self._row.extend([text] + [""] * (self._span - 1))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self.header_rows += self._in_head
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self._depth -= 1
            self.done = self._depth == 0

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data[:1000])
        elif self.done:
            self.text_after.append(data[:200])


def dataframe(html: str) -> str | None:
    """A DataFrame's HTML repr as a small fixed-width table, or None where it is not one."""
    if len(html) > _HTML_LIMIT or 'class="dataframe"' not in html[:5000]:
        return None
    parser = _TableParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; anything it still rejects falls back to the text
        return None
    rows = [row for row in parser.rows if row]
    if not rows or parser.header_rows == 0:
        return None
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    header, body = rows[: parser.header_rows], rows[parser.header_rows:]
    shape = _DIMENSIONS.search(" ".join(parser.text_after))
    n_rows = int(shape.group(1).replace(",", "")) if shape else len(body)
    n_cols = int(shape.group(2).replace(",", "")) if shape else width - 1
    index_cols = max(1, sum(1 for cell in body[0] if cell == "") if body else 1)
    index_cols = 1 if index_cols >= width else index_cols

    head, tail = TABLE_ROWS
    if len(body) > head + tail + 1:
        body = body[:head] + [["..."] * width] + body[-tail:]
    table = header + body
    cells = [[_clip_line(cell, CELL_CHARS) for cell in row] for row in table]
    widths = [max(len(row[c]) for row in cells) for c in range(width)]
    chosen = _columns_that_fit(widths, index_cols)
    lines = []
    for row in cells:
        parts = [row[c].rjust(widths[c]) if c >= 0 else "..." for c in chosen]
        lines.append("  ".join(parts).rstrip())
    shown_cols = sum(1 for c in chosen if c >= index_cols and cells[0][c] != "...")
    shown_rows = sum(1 for row in body if any(cell not in ("...", "") for cell in row))
    table_text = "\n".join(lines)
    if shown_cols >= n_cols and shown_rows >= n_rows:
        return table_text  # nothing hidden: the table speaks for itself
    return (f"{table_text}\n[DataFrame: {n_rows:,} rows x {n_cols:,} columns; "
            f"showing {shown_rows} rows, {shown_cols} columns]")


def _columns_that_fit(widths: list[int], index_cols: int) -> list[int]:
    """The index columns, then data columns from both ends until a line is TABLE_WIDTH wide;
    -1 marks the gap between the first and the last columns shown."""
    chosen_left = list(range(min(index_cols, len(widths))))
    used = sum(widths[c] + 2 for c in chosen_left)
    left, right = index_cols, len(widths) - 1
    chosen_right: list[int] = []
    take_left = True
    while left <= right:
        column = left if take_left else right
        if used + widths[column] + 2 + 5 > TABLE_WIDTH:
            break
        used += widths[column] + 2
        if take_left:
            chosen_left.append(column)
            left += 1
        else:
            chosen_right.insert(0, column)
            right -= 1
        take_left = not take_left if left <= right else take_left
        if len(chosen_left) - index_cols > 2 * len(chosen_right) + 1:
            take_left = False
        elif chosen_right and not take_left:
            take_left = len(chosen_left) - index_cols <= 2 * len(chosen_right)
    if left <= right:
        return chosen_left + [-1] + chosen_right
    return chosen_left + chosen_right


# ---------------------------------------------------------------------------------------------
# Images


def image_placeholder(mime: str, data: Any, number: int, where: str) -> str:
    """`[figure N: image/png 640x480, 22 KB; kept in WHERE]`."""
    text = data if isinstance(data, str) else ""
    size = len(text) * 3 // 4 if mime != "image/svg+xml" else len(text)
    dimensions = ""
    if mime == "image/png" and len(text) >= 32:
        try:
            head = base64.b64decode(text[:32])
            if head[12:16] == b"IHDR":
                dimensions = f" {int.from_bytes(head[16:20], 'big')}x{int.from_bytes(head[20:24], 'big')}"
        except (ValueError, TypeError):
            pass
    return f"[figure {number}: {mime}{dimensions}, {size / 1024:.0f} KB; kept in {where}]"


# ---------------------------------------------------------------------------------------------
# A cell's outputs


def pieces(outputs: list[dict[str, Any]], where: str) -> list[str]:
    """The outputs as text pieces (streams joined, tables compacted), errors left out."""
    found: list[str] = []
    stream: list[str] = []
    figures = 0

    def flush() -> None:
        if stream:
            segments = _CAP_NOTE.split(_OVERWRITTEN.sub("", strip_ansi("".join(stream))))
            for number, text in enumerate(segments):
                text = text.strip("\n")
                if _CAP_NOTE.fullmatch(text):
                    found.append(text)
                elif text.strip():  # around a cap note: the head before it, the tail after it
                    head, tail = STREAM_LINES
                    shown = (head if number == 0 else 0, tail if number == len(segments) - 1 else 0)
                    found.append(_long_text(text, shown if len(segments) > 1 else STREAM_LINES))
            stream.clear()

    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            stream.append(str(output.get("text", "")))
            continue
        flush()
        if kind not in ("execute_result", "display_data"):
            continue
        data = output.get("data") or {}
        images = [mime for mime in data if str(mime).startswith("image/")]
        plain = data.get("text/plain")
        plain = strip_ansi(plain) if isinstance(plain, str) else None
        html = data.get("text/html")
        table = dataframe(html) if isinstance(html, str) else None
        if table is not None:
            found.append(table)
        elif images:
            for mime in images:
                figures += 1
                found.append(image_placeholder(mime, data[mime], figures, where))
        elif plain is not None:
            found.append(_long_text(plain, TEXT_LINES))
        elif data:
            found.append(f"[{next(iter(data))}]")
    flush()
    return found


def _long_text(text: str, shown: tuple[int, int]) -> str:
    """Printed text or a result's repr (a Series, a list) cut to its head and tail lines."""
    lines = text.split("\n")
    head, tail = shown
    if len(lines) > head + tail + 1:
        middle = lines[head:len(lines) - tail]
        cut = sum(len(line) + 1 for line in middle)
        lines = (lines[:head] + [f"[... {cut:,} characters ({len(middle)} lines) left out ...]"]
                 + lines[len(lines) - tail:])
    return "\n".join(_clip_line(line, LINE_CHARS) for line in lines)


def fit(parts: list[str], budget: int) -> list[str]:
    """`parts` within `budget` characters in all: short parts whole, the longer ones sharing
    what is left equally (water-filling), each cut by `clip_text`."""
    total = sum(len(part) + 1 for part in parts)
    if total <= budget:
        return parts
    shares = {i: len(part) + 1 for i, part in enumerate(parts)}
    left = budget
    pending = sorted(shares, key=shares.get)  # type: ignore[arg-type]
    allowed: dict[int, int] = {}
    while pending:
        fair = left // len(pending)
        i = pending[0]
        if shares[i] <= fair:
            allowed[i] = shares[i]
            left -= shares[i]
            pending.pop(0)
        else:
            for j in pending:
                allowed[j] = max(80, fair)
            break
    return [part if allowed[i] >= len(part) + 1 else clip_text(part, allowed[i] - 1)
            for i, part in enumerate(parts)]


# ---------------------------------------------------------------------------------------------
# One code step: the problem first, then the outputs in what is left of the budget

FULL_TRACEBACK_ACTION = '{"action": "request_info", "info_type": "traceback"}'


def _kernel_notes(result: Any) -> list[str]:
    """The env's own notes at the end of the cell's text ("[dojo-kernel] ..."), less those that
    repeat the limit message shown on the first line."""
    notes = []
    for line in reversed(str(result.text).rstrip("\n").split("\n")[-20:]):
        if not line.startswith("[dojo-kernel] "):
            break
        notes.append(line)
    event = result.limit_event
    return [note for note in reversed(notes) if event is None or event.message not in note]


def problem(result: Any, code: str | None) -> str | None:
    """What went wrong in the cell, first line first; None where nothing did."""
    error = result.error
    event = result.limit_event
    if result.status == "ok":
        return None
    if result.status == "error" and error is not None:
        return tracebacks.compact(error.name, error.value, error.traceback, code)
    if result.status == "timeout":
        lines = [f"Timeout after {duration(result.duration_s)}: "
                 + (event.message if event else "the cell ran past its time limit")]
        if error is not None:  # the KeyboardInterrupt's frames say which line was running
            frames = tracebacks.compact(error.name, error.value, error.traceback, code).split("\n")[1:]
            if frames:
                lines += ["Running when interrupted:"] + frames
        return "\n".join(lines)
    if result.status == "killed":
        kind = (event.kind if event else "resource").replace("_", " ")
        return f"Limit reached ({kind}): " + (event.message if event else "a limit was crossed")
    return "Kernel died: " + (event.message if event else f"status {result.status}")


def cell_view(action: str, result: Any, *, code: str | None, budget: int, hint: str | None = None,
              where: str = "trajectory.ipynb") -> str:
    """A code step's feedback within `budget` characters. An error comes first (its message
    on line one), then the hint, then the outputs, then the notes and the status line."""
    count = f" [{result.execution_count}]" if result.execution_count is not None else ""
    status = (f"{action}{count}: {result.status} in {result.duration_s:.2f}s, "
              f"peak memory {size(result.peak_rss_bytes)}")
    if result.peak_gpu_bytes:
        status += f", peak GPU memory {size(result.peak_gpu_bytes)}"
    first = problem(result, code)
    error = result.error
    if first and error is not None and len("\n".join(error.traceback)) > len(first) + 200:
        status += f". Full traceback: {FULL_TRACEBACK_ACTION}"  # only where frames were left out
    notes = _kernel_notes(result)
    if result.restarted:
        notes.append("The kernel was restarted: every variable is gone (files in working/ remain). "
                     "Rerun your imports and data loading.")
    notes += [f"Warning: {warning}" for warning in result.warnings]
    if action == "validate_code" and result.status == "ok":
        notes.append("The code ran without error (validate_code grades nothing).")

    fixed = [part for part in (first and clip_text(first, budget // 2),
                               hint and clip_text(hint, budget // 4)) if part]
    tail = [clip_text("\n".join(notes), budget // 4)] if notes else []
    tail.append(status)
    outputs = pieces(result.background_outputs, where)
    if outputs:
        outputs[0] = "[printed after their cell ended, by threads of earlier cells]\n" + outputs[0]
    outputs += pieces(result.outputs, where)
    room = budget - sum(len(part) + 1 for part in fixed + tail)
    shown = fit(outputs, max(room, 200)) if outputs else []
    if shown and first:
        shown[0] = "Output:\n" + shown[0]
    if first:
        return "\n".join(fixed + shown + tail)
    body = fixed + shown + tail[:-1]
    return "\n".join([status] + (body or ["(no output)"]))


RESERVED_CHARS = 400  # of the budget, kept for the budget line or the episode's end that follow


def feedback_size(feedback: str) -> dict[str, int]:
    """The feedback's size for `info`: characters and an approximate token count."""
    return {"feedback_chars": len(feedback), "feedback_tokens": approx_tokens(feedback)}
