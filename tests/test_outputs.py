"""A cell's outputs (dojo_kernel/outputs.py): the cap applied while they arrive, the text an LLM
reads, and `clip`, the one way the project shortens text (kernel, feedback, agents)."""

from __future__ import annotations

import base64

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dojo_kernel.outputs import _OutputCollector, clip, render_text, strip_ansi
from dojo_kernel.printable import terminal_safe


def stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def assert_valid_nbformat(outputs: list[dict]) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=outputs)])
    nbformat.validate(nbformat.from_dict(notebook))


# -- clip ------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab\n .", max_size=400), limit=st.integers(min_value=1, max_value=300))
def test_clip_never_exceeds_its_limit_and_keeps_head_and_tail(text, limit):
    clipped = clip(text, limit)
    assert len(clipped) <= limit
    if len(text) <= limit:
        assert clipped == text
    elif "characters cut" in clipped:
        head, _, tail = clipped.partition("\n[... ")
        tail = tail.split(" characters cut ...]\n", 1)[1]
        assert text.startswith(head) and text.endswith(tail)
        assert abs(len(head) - len(tail)) <= 1  # as much of the start as of the end
        cut = int(clipped[len(head) + 6:].split(" ", 1)[0].replace(",", ""))
        assert cut == len(text) - len(head) - len(tail)  # the note counts exactly what went
    else:  # a limit too small for the note: the head alone
        assert clipped == text[:limit]


def test_clip_without_a_limit_keeps_everything():
    assert clip("x" * 10_000, None) == "x" * 10_000


def test_clip_says_how_much_was_cut():
    clipped = clip("A" * 5_000 + "B" * 5_000, 1_000)
    assert clipped.startswith("A" * 400) and clipped.endswith("B" * 400)
    assert "characters cut" in clipped and len(clipped) <= 1_000


# -- rendering for an LLM --------------------------------------------------------------------

def test_render_text_reads_streams_results_images_and_errors():
    outputs = [stream("loading 10%\rloading 100%\n"),
               {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}},
               {"output_type": "execute_result", "data": {"text/plain": "\x1b[31m42\x1b[0m"}, "metadata": {},
                "execution_count": 1},
               {"output_type": "error", "ename": "ValueError", "evalue": "bad",
                "traceback": ["\x1b[31mTraceback\x1b[0m", "ValueError: bad"]}]
    assert render_text(outputs) == "loading 100%\n[image/png]\n42\nTraceback\nValueError: bad\n"


def test_a_long_traceback_is_clipped_to_the_cap():
    error = {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["frame\n" * 2_000]}
    text = render_text([error], max_chars=500)
    assert len(text) <= 501 and "characters cut" in text  # the clip, plus the final newline


def test_strip_ansi_removes_colour_codes():
    assert strip_ansi("\x1b[1;32mgreen\x1b[0m plain") == "green plain"


# -- the collector ---------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.text(alphabet="ab\n", max_size=40), max_size=30),
       max_chars=st.integers(min_value=1, max_value=100))
def test_capped_streams_keep_exactly_the_head_and_the_tail(chunks, max_chars):
    collector = _OutputCollector(max_chars, None)
    for chunk in chunks:
        collector.add(stream(chunk))
    outputs = collector.finish()
    full = "".join(chunks)
    kept = "".join(o["text"] for o in outputs)
    if len(full) <= max_chars:
        assert kept == full and collector.cut_chars == 0
    else:
        head, tail = max_chars - max_chars // 2, max_chars // 2
        assert collector.cut_chars == len(full) - max_chars
        assert kept.startswith(full[:head]) and kept.endswith(full[len(full) - tail:])
        assert f"{collector.cut_chars:,} characters of output cut" in kept


def test_an_image_over_the_byte_cap_is_dropped_with_a_note():
    collector = _OutputCollector(1_000, max_image_bytes=100)
    picture = base64.b64encode(b"\x89PNG" + bytes(1_000)).decode()
    collector.add({"output_type": "display_data", "data": {"image/png": picture, "text/plain": "<Figure>"},
                   "metadata": {}})
    outputs = collector.finish()
    assert "image/png" not in outputs[0]["data"]
    assert "dropped: over the 100-byte image cap" in outputs[0]["data"]["text/plain"]
    assert_valid_nbformat(outputs)


def test_clear_output_with_wait_clears_when_the_next_output_comes():
    collector = _OutputCollector(1_000, None)
    collector.add(stream("old\n"))
    collector.clear(wait=True)
    assert collector.finish() == [stream("old\n")]  # nothing new yet: still shown
    collector.add(stream("new\n"))
    assert collector.finish() == [stream("new\n")]
    collector.clear(wait=False)
    assert collector.finish() == []


def test_errors_are_kept_whatever_the_cap():
    collector = _OutputCollector(10, None)
    collector.add(stream("x" * 100))
    error = {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["E: v"]}
    collector.add(error)
    outputs = collector.finish()
    assert outputs[-1] == error
    assert_valid_nbformat(outputs)


@pytest.mark.parametrize("raw, shown", [
    ("a\x1b]0;window title\x07b", "ab"),  # OSC: sets the terminal's title
    ("\x1b]52;c;cGF5bG9hZA==\x1b\\after", "after"),  # OSC 52: writes the clipboard
    ("\x1b[2J\x1b[31mred\x1b[0m", "red"),
    ("\x9b31m8-bit CSI", "8-bit CSI"),
    ("\x1bPdevice control\x1b\\", ""),
    ("bell\x07 nul\x00 backspace\x08 del\x7f", "bell\\x07 nul\\x00 backspace\\x08 del\\x7f"),
    ("rtl \u202eevil", "rtl \\u202eevil"),
    ("tabs\tand\nnewlines\r\n", "tabs\tand\nnewlines\n"),
    ("a lone escape \x1b", "a lone escape \\x1b"),
])
def test_terminal_safe_removes_sequences_and_shows_control_characters(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


@given(st.text())
def test_terminal_safe_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    safe = terminal_safe(text)
    assert not any(ord(ch) < 32 and ch not in "\t\n" or 0x7f <= ord(ch) <= 0x9f for ch in safe)
    assert not any("\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069" for ch in safe)
