"""Text from a run or a competition dir, made safe to show on a terminal.

Action names, run names, `competition.toml` fields and cell output are chosen by agent code
or by whoever made a folder. Printed as they are, an escape sequence in them can move the
cursor, retitle the window or hide lines, and square brackets are read by rich as markup (an
action named `[/bold]` made `dojo run` raise). `printable` shows every control character as
a visible escape; `plain` does that and escapes rich markup, for text given to rich.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls, and the line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


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


def plain(text: Any, *, newlines: bool = True) -> str:
    """`printable(text)` with rich markup escaped: shown as written, never read as style."""
    from rich.markup import escape

    return escape(printable(text, newlines=newlines))


_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str, every surrogate is a lone one


def without_surrogates(text: str) -> str:
    """`text` with each lone surrogate (kernel output can carry one; no encoder takes it)
    replaced by U+FFFD, so that an agent can send, print or save what it reads."""
    return _SURROGATE.sub("\ufffd", text)
