"""A cell's outputs: collected under a cap while they arrive, rendered as the text an LLM reads.

`clip` is the one way the project shortens text for a reader (kernel tracebacks, an agent's
feedback, what an LLM agent is sent): it keeps the head and the tail, where errors are.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# A bar redrawn with carriage returns (tqdm) reads as its last state, as in a terminal.
_OVERWRITTEN = re.compile(r"[^\r\n]*\r(?!\n)")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _image_mimes(data: Mapping[str, Any]) -> list[str]:
    return [mime for mime in data if mime.startswith("image/")]


def _text_size(output: Mapping[str, Any]) -> int:
    """The characters an output adds to what the LLM reads (what the cap counts)."""
    kind = output["output_type"]
    if kind == "stream":
        return len(output["text"])
    if kind in ("execute_result", "display_data"):
        data = output.get("data", {})
        if _image_mimes(data):
            return 16
        return len(data.get("text/plain", ""))
    return 0


def _new_stream(name: str, text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


class _OutputCollector:
    """One cell's outputs, capped while they arrive so a flood never fills the parent's memory.

    Text (streams and text/plain) is held to `max_chars`: the first half is kept as it comes,
    the last half in a window that slides, and what falls between is counted and replaced by
    a note. Images over `max_image_bytes` are dropped with a note, and so are images past
    IMAGES_PER_CELL times that in all; the text beside an image is held to BESIDE_IMAGE_CHARS.
    Errors are kept (the first ERRORS_PER_CELL), each traceback clipped to `max_chars`. So what
    one cell adds to the notebook is bounded whatever kind of output it makes.
    """

    IMAGES_PER_CELL = 4
    BESIDE_IMAGE_CHARS = 1_000
    ERRORS_PER_CELL = 5

    def __init__(self, max_chars: int | None, max_image_bytes: int | None) -> None:
        self.max_chars = max_chars
        self.max_image_bytes = max_image_bytes
        self._reset()

    def _reset(self) -> None:
        self.head: list[dict[str, Any]] = []
        self.tail: deque[dict[str, Any]] = deque()
        self.errors: list[dict[str, Any]] = []
        self._head_open = True
        self._head_used = 0
        self._tail_used = 0
        self._rich_used = 0
        self._image_used = 0
        self.dropped_errors = 0
        self._clear_pending = False
        self.cut_chars = 0

    @property
    def _head_budget(self) -> int:
        assert self.max_chars is not None
        return self.max_chars - self.max_chars // 2

    @property
    def _tail_budget(self) -> int:
        assert self.max_chars is not None
        return self.max_chars // 2

    def clear(self, wait: bool) -> None:
        """clear_output: with wait=True the clearing happens when the next output arrives."""
        if wait:
            self._clear_pending = True
        else:
            self._reset()

    def add(self, output: dict[str, Any]) -> None:
        if self._clear_pending:
            self._reset()
        kind = output["output_type"]
        if kind == "error":
            self._add_error(output)
            return
        if kind in ("execute_result", "display_data"):
            self._guard_bundle(output)
        if self.max_chars is None:
            self._append(self.head, output)
            return
        size = _text_size(output)
        if self._head_open:
            room = self._head_budget - self._head_used
            if size <= room:
                self._append(self.head, output)
                self._head_used += size
                return
            self._head_open = False
            if kind == "stream" and room > 0:
                self._append(self.head, _new_stream(output["name"], output["text"][:room]))
                self._head_used += room
                output = _new_stream(output["name"], output["text"][room:])
                size -= room
        if kind != "stream" and size > self._tail_budget and not _image_mimes(output["data"]):
            plain = output["data"]["text/plain"]
            output["data"]["text/plain"] = plain[: self._tail_budget]
            self.cut_chars += size - self._tail_budget
            size = self._tail_budget
        self._append(self.tail, output)
        self._tail_used += size
        self._trim_tail()

    def _add_error(self, output: dict[str, Any]) -> None:
        if len(self.errors) >= self.ERRORS_PER_CELL:
            self.dropped_errors += 1
            self.cut_chars += sum(map(len, output.get("traceback", []))) + len(output.get("evalue", ""))
            return
        if self.max_chars is not None:
            traceback = "\n".join(output.get("traceback", []))
            if len(traceback) > self.max_chars:
                self.cut_chars += len(traceback) - self.max_chars
                output["traceback"] = clip(traceback, self.max_chars).split("\n")
            output["ename"] = clip(output.get("ename", ""), 200)
            output["evalue"] = clip(output.get("evalue", ""), self.max_chars // 4)
        self.errors.append(output)

    def _trim_tail(self) -> None:
        while self._tail_used > self._tail_budget and self.tail:
            first = self.tail[0]
            excess = self._tail_used - self._tail_budget
            size = _text_size(first)
            if first["output_type"] == "stream" and size > excess:
                first["text"] = first["text"][excess:]
                removed = excess
            else:
                self.tail.popleft()
                removed = size
            self._tail_used -= removed
            self.cut_chars += removed

    @staticmethod
    def _append(outputs: list[dict[str, Any]] | deque[dict[str, Any]], output: dict[str, Any]) -> None:
        if (output["output_type"] == "stream" and outputs and outputs[-1]["output_type"] == "stream"
                and outputs[-1]["name"] == output["name"]):
            outputs[-1]["text"] += output["text"]
        else:
            outputs.append(output)

    def _guard_bundle(self, output: dict[str, Any]) -> None:
        """Drop images over the byte cap, and rich text (HTML...) past 10x the text cap."""
        data = output.get("data", {})
        notes = []
        for mime in list(data):
            value = data[mime]
            if mime == "text/plain":
                continue
            text = value if isinstance(value, str) else str(value)
            if mime.startswith("image/"):
                size = len(text) * 3 // 4 if mime != "image/svg+xml" else len(text)
                if self.max_image_bytes is not None and size > self.max_image_bytes:
                    del data[mime]
                    notes.append(f"[{mime} of {size:,} bytes dropped: over the "
                                 f"{self.max_image_bytes:,}-byte image cap]")
                elif (self.max_image_bytes is not None and
                      self._image_used + size > self.IMAGES_PER_CELL * self.max_image_bytes):
                    del data[mime]
                    notes.append(f"[{mime} of {size:,} bytes dropped: the cell's images are over "
                                 f"{self.IMAGES_PER_CELL * self.max_image_bytes:,} bytes in all]")
                else:
                    self._image_used += size
            elif self.max_chars is not None:
                self._rich_used += len(text)
                if self._rich_used > 10 * self.max_chars:
                    del data[mime]
                    notes.append(f"[{mime} of {len(text):,} characters dropped: over the output cap]")
        plain = data.get("text/plain", "")
        if self.max_chars is not None and _image_mimes(data) and len(plain) > self.BESIDE_IMAGE_CHARS:
            self.cut_chars += len(plain) - self.BESIDE_IMAGE_CHARS
            plain = data["text/plain"] = clip(plain, self.BESIDE_IMAGE_CHARS)  # not counted with the text
        if notes:
            data["text/plain"] = "\n".join(notes + ([plain] if plain else []))

    def finish(self) -> list[dict[str, Any]]:
        outputs: list[dict[str, Any]] = []
        for output in self.head:
            self._append(outputs, output)
        if self.dropped_errors:
            self._append(outputs, _new_stream("stderr", f"[{self.dropped_errors:,} more error outputs dropped: "
                                                        f"the first {self.ERRORS_PER_CELL} are kept]\n"))
        if self.cut_chars:
            self._append(outputs, _new_stream(
                "stdout", f"\n[... {self.cut_chars:,} characters of output cut: the first and last "
                          f"{self.max_chars:,} in all are kept ...]\n"))
        for output in [*self.tail, *self.errors]:
            self._append(outputs, output)
        return outputs


def clip(text: str, max_chars: int | None) -> str:
    """`text` held to `max_chars` characters, a note of the cut included, keeping its head and
    its tail (where errors are); None leaves it as is."""
    if max_chars is None or len(text) <= max_chars:
        return text
    # The note is sized with the longest count it can hold, so the result never overshoots.
    widest = len(_cut_note(len(text)))
    if max_chars <= widest:
        return text[:max_chars]
    keep = max_chars - widest
    head = keep - keep // 2
    return text[:head] + _cut_note(len(text) - keep) + text[len(text) - keep // 2:]


def _cut_note(cut: int) -> str:
    return f"\n[... {cut:,} characters cut ...]\n"


def render_text(outputs: list[dict[str, Any]], max_chars: int | None = None) -> str:
    """What an LLM reads of `outputs`: streams, text/plain, `[image/png]` placeholders, errors."""
    parts: list[str] = []

    def add(piece: str) -> None:
        if parts and not parts[-1].endswith("\n"):
            parts.append("\n")
        parts.append(piece)

    for output in outputs:
        kind = output["output_type"]
        if kind == "stream":
            if parts and parts[-1].endswith("\r"):
                parts[-1] = parts[-1].rsplit("\n", 1)[0] + "\n" if "\n" in parts[-1] else ""
            parts.append(_OVERWRITTEN.sub("", output["text"]))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            images = _image_mimes(data)
            if images:
                add(" ".join(f"[{mime}]" for mime in images))
            elif "text/plain" in data:
                add(strip_ansi(data["text/plain"]))
            elif data:
                add(f"[{next(iter(data))}]")
        elif kind == "error":
            add(clip(strip_ansi("\n".join(output.get("traceback") or
                                           [f"{output['ename']}: {output['evalue']}"])), max_chars))
    text = "".join(parts)
    return text if not text or text.endswith("\n") else text + "\n"
