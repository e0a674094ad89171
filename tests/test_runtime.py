"""Attacker tests of the kernel's runtime folder and log (dojo_kernel/runtime.py): links the
kernel plants among its sockets, descriptors of the record it could write through, and the
folders (each holding an HMAC key) that an env killed outright leaves behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import zmq

from dojo_kernel import runtime
from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits
from waiting import wait_until


def test_a_socket_swapped_for_a_link_redirects_nothing(tmp_path) -> None:
    """The control socket (connected only at the first interrupt) replaced by a link to a
    socket of the host: the interrupt still reaches the kernel, nothing reaches the host's."""
    (tmp_path / "run").mkdir()
    host = zmq.Context.instance().socket(zmq.ROUTER)
    host_path = tmp_path / "host.sock"
    host.bind(f"ipc://{host_path}")
    try:
        with KernelSession(tmp_path / "run", Limits(cell_timeout_s=30), isolation="auto") as session:
            planted = session.run(textwrap.dedent(f'''
                import json, os
                from ipykernel import get_connection_file
                info = json.load(open(get_connection_file()))
                path = f"{{info['ip']}}-{{info['control_port']}}"
                os.remove(path)
                os.symlink({str(host_path)!r}, path)
                print(os.path.islink(path))
            '''))
            assert planted.text == "True\n"
            result = session.run("import time\ntime.sleep(60)", timeout=1)
            assert result.status == "timeout" and not result.restarted, result.text  # the interrupt landed
            assert host.poll(500) == 0, "the env connected to the host's socket through the planted link"
            endpoint = session._kernel.client.shell_channel.socket.get(zmq.LAST_ENDPOINT).decode()
            assert endpoint.startswith(f"ipc://{session.runtime_dir}/e"), endpoint
            if session.isolation.mode == "namespaces":  # the env's links are out of the kernel's sight
                seen = session.run(f"import os\nprint(os.path.exists({endpoint[6:]!r}))")
                assert seen.text == "False\n"
    finally:
        host.close(linger=0)


def test_the_kernel_holds_no_descriptor_of_its_log_and_the_log_is_capped(tmp_path) -> None:
    log = tmp_path / "kernel.log"
    (tmp_path / "run").mkdir()
    with KernelSession(tmp_path / "run", Limits(cell_timeout_s=60), isolation="auto", log_path=log) as session:
        result = session.run(textwrap.dedent(f'''
            import os, sys
            links = [os.readlink(f"/proc/self/fd/{{fd}}") for fd in os.listdir("/proc/self/fd")
                     if os.path.islink(f"/proc/self/fd/{{fd}}")]
            print([link for link in links if link.endswith("kernel.log")])
            original = sys.stdout._original_stdstream_copy  # ipykernel's copy of the kernel's own fd 1
            for _ in range({runtime.LOG_MAX_BYTES // 1_000_000 + 3}):
                os.write(original, b"z" * 1_000_000)
            print("wrote")
        '''))
        assert result.text == "[]\nwrote\n"
    wait_until(lambda: "more bytes of kernel log were dropped" in log.read_text(errors="replace"), timeout=30,
               message="the log to say it was capped")
    assert log.stat().st_size < runtime.LOG_MAX_BYTES + 1_000


ORPHAN = textwrap.dedent('''
    import sys, time
    from dojo_kernel.kernel import KernelSession
    session = KernelSession(sys.argv[1], isolation="auto")
    print(session.runtime_dir, flush=True)
    time.sleep(600)
''')


def test_runtime_folders_are_private_and_reaped_after_their_env_was_killed(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env = subprocess.Popen([sys.executable, "-c", ORPHAN, str(tmp_path / "a")], stdout=subprocess.PIPE, text=True)
    try:
        orphaned = env.stdout.readline().strip()
    finally:
        env.send_signal(signal.SIGKILL)
        env.wait()
    assert orphaned.startswith("/tmp/dk-") and os.path.isdir(orphaned)
    assert stat.S_IMODE(os.stat(orphaned).st_mode) == 0o700
    with KernelSession(tmp_path / "b", isolation="auto") as live:
        assert not os.path.exists(orphaned), "the folder of a killed env was not reaped"
        assert stat.S_IMODE(os.stat(live.runtime_dir).st_mode) == 0o700
        with KernelSession(tmp_path / "a", isolation="auto"):
            assert live.runtime_dir.is_dir(), "a live session's folder was reaped"
    assert not live.runtime_dir.exists()
