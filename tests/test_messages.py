"""Attacker tests of what the env accepts from a kernel (dojo_kernel/messages.py): agent code
holds the kernel's session key and sockets, so it can flood, forge, replay and corrupt
messages. Each test runs a real kernel in the sandbox where the machine allows it (CI sets
DOJO_REQUIRE_ISOLATION=1) and checks that `run()` returns, in time, with a result that says
what happened, and that the session keeps working."""

from __future__ import annotations

import json
import textwrap
import time

import nbformat
import pytest

from dojo_kernel import messages
from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits

# A helper defined in the kernel: send `content` as a message of type `kind` on iopub,
# parented to the running cell, signed with the kernel's key; `raw` frames bypass the packer.
HELPERS = textwrap.dedent('''
    import json as _json, threading as _threading, time as _time
    _k = get_ipython().kernel
    def _parent():
        return _k.get_parent()
    def _send_raw(header, parent, metadata, content, extra=()):
        parts = [header, parent, metadata, content]
        _k.iopub_socket.send_multipart([b"<IDS|MSG>", _k.session.sign(parts), *parts, *extra])
    def _forged(kind, content_bytes, extra=()):
        header = _json.dumps(_k.session.msg_header(kind), default=str).encode()
        _send_raw(header, _json.dumps(_parent()["header"], default=str).encode(), b"{}", content_bytes, extra)
''')


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


@pytest.fixture
def session(tmp_path):
    with KernelSession(tmp_path, Limits(cell_timeout_s=30), isolation="auto") as session:
        assert session.run(HELPERS).status == "ok"
        yield session


def assert_recovered(session: KernelSession) -> None:
    """The session still runs cells (after a restart, the helpers again)."""
    result = session.run("print(6 * 7)")
    assert (result.status, result.text) == ("ok", "42\n")


def assert_recordable(result) -> None:
    """What the recorder writes: valid nbformat outputs, encodable as UTF-8."""
    cell = nbformat.v4.new_code_cell("", outputs=result.outputs, execution_count=result.execution_count)
    nbformat.validate(nbformat.v4.new_notebook(cells=[cell]))
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")


def test_a_flood_of_signed_messages_cannot_hold_a_cell_past_its_deadline(session: KernelSession) -> None:
    started = time.monotonic()
    result = session.run(code('''
        def _flood():
            parent, end = _parent(), _time.monotonic() + 90
            while _time.monotonic() < end:
                _k.session.send(_k.iopub_socket, "stream", {"name": "stdout", "text": "x" * 1000}, parent=parent)
        _threading.Thread(target=_flood, daemon=True).start()
        _time.sleep(90)
    '''), timeout=2)
    assert time.monotonic() - started < 20  # 2 s timeout, 2.5 s grace, a restart on a loaded machine
    assert result.status in ("timeout", "killed")
    assert "timeout" in result.text
    assert len(result.text) < 2 * 20_000 + 2_000
    session.restart()  # stops the flooding thread


@pytest.mark.parametrize("attack, words", [
    ("get_ipython().kernel.session.key = b'a key of my own'", "could not verify"),
    ("_m = _k.session.msg('stream', {'name': 'stdout', 'text': 'twice'}, parent=_parent())\n"
     "_k.session.send(_k.iopub_socket, _m)\n_k.session.send(_k.iopub_socket, _m)", "could not verify"),
    ("_forged('stream', b'{not json')", "could not verify"),
    ("_forged('stream', b'[1, 2]')", "malformed"),
    ("_forged('stream', _json.dumps({'name': 'stdout', 'text': ['not', 'a', 'str']}).encode())", "could not use"),
    ("_forged('error', _json.dumps({'ename': 1, 'evalue': None, 'traceback': 'x'}).encode())", "could not use"),
], ids=["changed-key", "replayed", "bad-json", "content-not-a-dict",
        "stream-text-not-str", "error-fields-wrong"])
def test_a_forged_or_broken_message_ends_in_a_restart_not_a_raise(session: KernelSession, attack: str,
                                                                  words: str) -> None:
    result = session.run(attack)
    assert result.status == "died" and result.restarted
    assert words in result.text and "every variable" in result.text
    assert_recordable(result)
    assert_recovered(session)


def test_lone_surrogates_and_negative_counts_are_cleaned(session: KernelSession) -> None:
    surrogate = session.run(
        "_forged('stream', _json.dumps({'name': 'stdout', 'text': 'a\\ud800b'}).encode())")
    assert surrogate.status == "ok"
    assert "a\ufffdb" in surrogate.text
    assert_recordable(surrogate)
    session.run("get_ipython().execution_count = -7")
    negative = session.run("41 + 1")
    assert negative.status == "ok" and negative.text == "42\n"
    assert negative.execution_count is None
    assert all(output.get("execution_count") is None for output in negative.outputs)
    assert_recordable(negative)


@pytest.mark.parametrize("depth", [100, 100_000])
def test_a_deeply_nested_display_is_dropped_and_said(session: KernelSession, depth: int) -> None:
    nested = session.run(code(f'''
        _value = b'{{"data": {{"application/json": ' + b'[' * {depth} + b']' * {depth} + b'}}, "metadata": {{}}}}'
        _forged('display_data', _value)
        print("after")
    '''))
    assert nested.status in ("ok", "died")  # died: where the decoder itself gives up on the depth
    assert "nested deeper" in nested.text or "could not verify or decode" in nested.text
    assert_recordable(nested)
    assert_recovered(session)


@pytest.mark.parametrize("expressions", [
    "{'cwd': {'status': 'ok', 'data': []}}",
    "{'cwd': {'status': 'ok', 'data': {'text/plain': '-' * 100000 + '1'}}}",
    "{'cwd': {'status': 'ok', 'data': {'text/plain': 5}}}",
    "[]",
])
def test_a_patched_working_directory_answer_is_ignored(session: KernelSession, expressions: str) -> None:
    result = session.run(f"get_ipython().user_expressions = lambda expressions: {expressions}\nprint('ran')")
    assert result.status in ("ok", "died")  # a reply that is not a Jupyter reply restarts the kernel
    assert result.cwd is None
    assert_recovered(session)


def test_many_frames_sharing_one_buffer_are_dropped_before_decoding(session: KernelSession) -> None:
    result = session.run(code('''
        _buffer = b"x" * 100_000
        _forged('stream', _json.dumps({'name': 'stdout', 'text': 'frames'}).encode(), [_buffer] * 200)
        print("after")
    '''))
    assert result.status == "ok" and "after" in result.text
    assert "frames" not in result.text.replace("frames (the cap", "")
    # 200 buffers, 5 message frames and the topic; none of them decoded
    assert f"a message of 206 frames (the cap is {messages.MAX_FRAMES})" in result.text


def test_output_past_the_cells_byte_cap_is_dropped_and_said(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messages, "MAX_CELL_BYTES", 1_000_000)
    with KernelSession(tmp_path, Limits(cell_timeout_s=30), isolation="auto") as session:
        result = session.run(code('''
            import sys, time
            for i in range(20):
                print("y" * 200_000)
                sys.stdout.flush()
                time.sleep(0.01)
            print("END")
        '''))
        assert result.status == "ok"
        assert "past the cell's cap of 1,000,000 bytes" in result.text
        assert result.truncated_chars < 1_000_000  # of 4 MB printed, the messages past the cap were dropped
        assert session.run("print('next cell')").text == "next cell\n"  # the cap is per cell


def test_every_output_kind_is_capped_so_a_cell_cannot_bloat_the_notebook(session: KernelSession) -> None:
    """Images with megabytes of text beside them, many images under the image cap, and many
    error outputs with huge messages: what one cell adds stays bounded (issue 14, item 7)."""
    result = session.run(code('''
        import base64, os
        from IPython.display import display
        picture = base64.b64encode(os.urandom(1_500_000)).decode()
        for _ in range(12):
            display({'image/png': picture, 'text/plain': 'beside ' * 500_000}, raw=True)
        for _ in range(30):
            try:
                raise ValueError('v' * 2_000_000)
            except ValueError:
                get_ipython().showtraceback()
        print("done")
    '''))
    assert result.status == "ok" and "done" in result.text
    size = len(json.dumps(result.outputs))
    limits = session.limits
    assert size < 4 * limits.max_image_bytes * 4 // 3 + 12 * 20_000 + 20 * limits.max_output_chars, size
    # of twelve 1.5 MB images, those within four times the 2 MB image cap in all
    assert sum("image/png" in output.get("data", {}) for output in result.outputs) == 4 * 2_000_000 // 1_500_000
    assert "more error outputs dropped" in result.text
    assert_recordable(result)
