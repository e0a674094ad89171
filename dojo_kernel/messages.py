"""Reading the kernel's messages as the untrusted input they are.

Agent code runs inside the kernel and can send anything on the kernel's own sockets: floods
of validly signed messages, messages of thousands of frames, forged or replayed ones, a changed
session key, deeply nested or malformed JSON, lone surrogates. `Inbox` is the one place the env
reads them: it caps frames and bytes per message (and bytes per cell) before decoding, checks
the signature and the message's shape, and hands back either a clean message or a `Rejected`
saying why, so that nothing a kernel sends can raise in the env or hold it past a deadline.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import zmq
from jupyter_client.session import Session

MAX_FRAMES = 32  # a Jupyter message has 6 frames plus routing ids and binary buffers
# A stream message batches what a cell printed in ~0.2 s (100 MB in a print loop): the cap
# bounds what one decode costs the env without dropping output that is merely large.
MAX_MESSAGE_BYTES = 128 * 1024**2
MAX_CELL_BYTES = 1024**3  # of iopub output accepted per cell; past it output is dropped
SMALL_BYTES = 4096  # past the cell's cap, messages this small (status, short lines) still pass
MAX_DEPTH = 32  # how deeply the JSON of a message may nest
SLICE_S = 0.1  # one call of `receive` reads for at most this long, so callers see their deadline


_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Rejected:
    """A message the env would not accept. `fatal`: the kernel broke the protocol (a message
    that fails its signature, is replayed or malformed, or an oversized reply), so it can no
    longer be trusted to report a cell and is restarted; else the message was only dropped."""

    channel: str
    reason: str
    fatal: bool


class Inbox:
    """The shell and iopub sockets of one kernel, read under caps."""

    def __init__(self, session: Session, sockets: dict[str, zmq.Socket]) -> None:
        self.session = session
        self.sockets = sockets
        # Read when the kernel starts (not bound at import), so a test can lower them.
        self.max_frames = MAX_FRAMES
        self.max_message_bytes = MAX_MESSAGE_BYTES
        self.max_cell_bytes = MAX_CELL_BYTES
        self.poller = zmq.Poller()
        for socket in sockets.values():
            self.poller.register(socket, zmq.POLLIN)
        self.begin_cell()

    def begin_cell(self) -> None:
        self.cell_bytes = 0
        self.dropped = 0  # messages dropped this cell (over a cap, or too deeply nested)
        self.dropped_bytes = 0
        self.drop_reasons: list[str] = []

    def receive(self, timeout_s: float) -> Iterator[tuple[str, dict[str, Any] | Rejected]]:
        """Yield (channel, message or Rejected) for what arrives within timeout_s; returns within
        timeout_s + SLICE_S however fast messages keep coming. Shell is read first: a flood on
        iopub must not hide a cell's reply."""
        ready = dict(self.poller.poll(int(timeout_s * 1000)))
        stop = time.monotonic() + SLICE_S
        for name in ("shell", "iopub"):
            socket = self.sockets[name]
            if socket not in ready:
                continue
            while time.monotonic() < stop:
                item = self._read_one(name, socket)
                if item is None:
                    break
                yield name, item

    def _read_one(self, channel: str, socket: zmq.Socket) -> dict[str, Any] | Rejected | None:
        frames: list[zmq.Frame] = []
        count = size = 0
        while True:
            try:
                frame = socket.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                if count == 0:
                    return None
                break
            count += 1
            size += len(frame.buffer)
            if count <= self.max_frames and size <= self.max_message_bytes:
                frames.append(frame)
            else:
                frames.clear()  # dropped undecoded: only libzmq ever held its bytes
            if not socket.get(zmq.RCVMORE):
                break
        if count > self.max_frames or size > self.max_message_bytes:
            what = (f"{count} frames (the cap is {self.max_frames})" if count > self.max_frames
                    else f"{size:,} bytes (the cap is {self.max_message_bytes:,})")
            return self._drop(channel, size, f"a message of {what}", fatal=channel == "shell")
        if channel == "iopub" and size > SMALL_BYTES and self.cell_bytes + size > self.max_cell_bytes:
            return self._drop(channel, size, f"output past the cell's cap of {self.max_cell_bytes:,} bytes",
                              fatal=False)
        self.cell_bytes += size
        return self._decode(channel, frames, size)

    def _drop(self, channel: str, size: int, reason: str, *, fatal: bool) -> Rejected:
        if not fatal:
            self.dropped += 1
            self.dropped_bytes += size
            if reason not in self.drop_reasons:
                self.drop_reasons.append(reason)
        return Rejected(channel, reason, fatal)

    def _decode(self, channel: str, frames: list[zmq.Frame], size: int) -> dict[str, Any] | Rejected:
        try:
            _, parts = self.session.feed_identities(frames, copy=False)
            message = self.session.deserialize(parts, content=True, copy=False)
        except Exception as error:  # bad signature, replay, malformed JSON, nesting past the stack
            return Rejected(channel, f"a message the env could not verify or decode "
                                     f"({type(error).__name__}: {str(error)[:200]})", True)
        try:
            return clean_message(message)
        except TooDeep:
            return self._drop(channel, size, f"a message nested deeper than {MAX_DEPTH} levels",
                              fatal=channel == "shell")
        except Malformed as error:
            return Rejected(channel, f"a malformed message ({error})", True)


class Malformed(Exception):
    """A message whose shape is not a Jupyter message's."""


class TooDeep(Exception):
    """A message nested deeper than MAX_DEPTH."""


def clean_message(message: Any) -> dict[str, Any]:
    """The message with its shape checked (dict header with a str msg_type, dict parent header
    and content) and every string made valid UTF-8 (lone surrogates replaced)."""
    if not isinstance(message, dict):
        raise Malformed(f"expected a dict, got {type(message).__name__}")
    header, parent, content = message.get("header"), message.get("parent_header"), message.get("content")
    if not isinstance(header, dict) or not isinstance(header.get("msg_type"), str):
        raise Malformed("expected a header with a str msg_type")
    if not isinstance(parent, dict) or not isinstance(content, dict):
        raise Malformed("expected dicts for parent_header and content")
    return {"header": clean(header), "parent_header": clean(parent), "content": clean(content),
            "metadata": clean(message.get("metadata") if isinstance(message.get("metadata"), dict) else {}),
            "msg_type": header["msg_type"], "msg_id": header.get("msg_id")}


def clean(value: Any, depth: int = 0) -> Any:
    """JSON `value` with every string valid UTF-8; TooDeep past MAX_DEPTH levels."""
    if depth > MAX_DEPTH:
        raise TooDeep
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(key)): clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [clean(item, depth + 1) for item in value]
    return value


def clean_text(text: str) -> str:
    """`text` with lone surrogates (which no file or terminal can hold) replaced by U+FFFD."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


# -- the shapes the session relies on --------------------------------------------------------------

def text_field(content: dict[str, Any], key: str, default: str = "") -> str:
    value = content.get(key, default)
    if not isinstance(value, str):
        raise Malformed(f"expected {key!r} to be a str, got {type(value).__name__}")
    return value


def count_field(content: dict[str, Any], key: str = "execution_count") -> int | None:
    """An execution count: a non-negative int, else None (a forged or patched one is ignored)."""
    value = content.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def checked_output(message: dict[str, Any]) -> dict[str, Any]:
    """The nbformat v4 output of an iopub output message, its fields checked; Malformed if not."""
    kind, content = message["header"]["msg_type"], message["content"]
    if kind == "stream":
        name = text_field(content, "name")
        return {"output_type": "stream", "name": name if name in ("stdout", "stderr") else "stdout",
                "text": text_field(content, "text")}
    if kind in ("display_data", "execute_result", "update_display_data"):
        data, metadata = content.get("data", {}), content.get("metadata", {})
        if not isinstance(data, dict) or not isinstance(metadata, dict):
            raise Malformed("expected dicts for data and metadata")
        for mime, value in data.items():
            if not isinstance(value, (str, dict, list)) or (mime.startswith(("text/", "image/")) and
                                                            not isinstance(value, str)):
                raise Malformed(f"expected a str for {mime!r}")
        output = {"output_type": "execute_result" if kind == "execute_result" else "display_data",
                  "data": data, "metadata": metadata}
        if kind == "execute_result":
            output["execution_count"] = count_field(content)
        return output
    if kind == "error":
        traceback = content.get("traceback", [])
        if not isinstance(traceback, list) or not all(isinstance(line, str) for line in traceback):
            raise Malformed("expected the traceback as a list of str")
        return {"output_type": "error", "ename": text_field(content, "ename"),
                "evalue": text_field(content, "evalue"), "traceback": traceback}
    raise Malformed(f"expected an output message, got {kind!r}")


def checked_reply(content: dict[str, Any]) -> dict[str, Any]:
    """The fields of an execute_reply the session reads, checked; Malformed if not."""
    expressions, payload = content.get("user_expressions", {}), content.get("payload", [])
    traceback = content.get("traceback", [])
    if not isinstance(expressions, dict) or not isinstance(payload, list):
        raise Malformed("expected a dict of user_expressions and a list payload")
    if not isinstance(traceback, list) or not all(isinstance(line, str) for line in traceback):
        raise Malformed("expected the traceback as a list of str")
    return {"status": text_field(content, "status"), "execution_count": count_field(content),
            "ename": text_field(content, "ename", "Error"), "evalue": text_field(content, "evalue"),
            "traceback": traceback, "user_expressions": expressions,
            "payload": [item for item in payload if isinstance(item, dict)]}


# -- what a running cell's messages tell the session -----------------------------------------------

_OUTPUT_KINDS = ("stream", "display_data", "execute_result", "error", "update_display_data")


@dataclass
class Progress:
    """What a running cell's messages have told so far."""

    msg_id: str
    reply: dict[str, Any] | None = None  # the checked execute_reply
    idle: bool = False
    violation: str | None = None  # why the kernel can no longer be trusted, if it broke the protocol


def take(channel: str, message: dict[str, Any] | Rejected, progress: Progress, cell: Any, background: Any) -> None:
    """One message from the kernel: into the cell's outputs, the reply, or a violation."""
    if isinstance(message, Rejected):
        if message.fatal and progress.violation is None:
            progress.violation = message.reason
        return
    kind, content = message["header"]["msg_type"], message["content"]
    try:
        if message["parent_header"].get("msg_id") != progress.msg_id or not progress.msg_id:
            if channel == "iopub" and kind in _OUTPUT_KINDS:
                background.add(checked_output(message))
        elif channel == "shell":
            if kind == "execute_reply":
                progress.reply = checked_reply(content)
        elif kind == "status":
            progress.idle = progress.idle or content.get("execution_state") == "idle"
        elif kind == "clear_output":
            cell.clear(bool(content.get("wait")))
        elif kind in _OUTPUT_KINDS:
            cell.add(checked_output(message))
    except Exception as error:  # Malformed, or a shape the collector could not take
        if progress.violation is None:
            progress.violation = f"a {kind!r} message the env could not use ({type(error).__name__}: " \
                                 f"{str(error)[:200]})"


def evaluated_text(expression_reply: Any) -> str | None:
    """The str value of a user expression from its text/plain repr, or None if it failed or
    is not a short str literal (agent code can patch what the expression calls)."""
    if not isinstance(expression_reply, dict) or expression_reply.get("status") != "ok":
        return None
    data = expression_reply.get("data")
    text = data.get("text/plain") if isinstance(data, dict) else None
    if not isinstance(text, str) or len(text) > 4096 or not text.startswith(("'", '"')):
        return None
    try:
        value = ast.literal_eval(text)
    except Exception:  # SyntaxError, ValueError, MemoryError, RecursionError
        return None
    return clean_text(value) if isinstance(value, str) else None
