"""Text from a run or a competition dir, made safe to show on a terminal.

Action names, run names, `competition.toml` fields and cell output are chosen by agent code
or by whoever made a folder. Printed as they are, an escape sequence in them can move the
cursor, retitle the window or hide lines, and square brackets are read by rich as markup (an
action named `[/bold]` made `dojo run` raise). `printable` shows every control character as
a visible escape; `plain` does that and escapes rich markup, for text given to rich.
`terminal_safe` is for kernel output an agent reads: it drops escape sequences (colour too)
and shows the other control characters as `printable` does.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls, the line and paragraph separators, and
# the bidirectional overrides and isolates that reorder the text shown around them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# What a terminal acts on: CSI sequences (ESC [ or the 8-bit CSI), string sequences (OSC, DCS,
# APC, PM, SOS: a window title, a hyperlink, a clipboard write) up to BEL or ST, and the other
# ESC sequences.
_ESCAPE_SEQUENCE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                              r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                              r"|\x1b[ -/]*[0-~]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any, *, newlines: bool = True) -> str:
    """`text` (str() of anything) with control characters shown as `\\xNN` escapes; with
    newlines=False, newlines and tabs too (for one table cell or one line)."""
    text = str(text)
    if not newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    # lone surrogates (undecodable bytes) cannot be encoded for a terminal: show them too
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(_escape, text)


def terminal_safe(text: str) -> str:
    """`text` that a terminal shows as it is: escape sequences removed (colour included), other
    control characters written as visible escapes (`\\x07`); newlines and tabs kept. For every
    text an agent reads as feedback and everything printed to a person's terminal."""
    return _CONTROL.sub(_escape, _ESCAPE_SEQUENCE.sub("", text.replace("\r\n", "\n")))


def plain(text: Any, *, newlines: bool = True) -> str:
    """`printable(text)` with rich markup escaped: shown as written, never read as style."""
    from rich.markup import escape

    return escape(printable(text, newlines=newlines))


_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str, every surrogate is a lone one


def without_surrogates(text: str) -> str:
    """`text` with each lone surrogate (kernel output can carry one; no encoder takes it)
    replaced by U+FFFD, so that an agent can send, print or save what it reads."""
    return _SURROGATE.sub("\ufffd", text)
