"""KernelSession.fork(): real kernels forked, run, closed in every order, with and without the sandbox."""

from __future__ import annotations

import textwrap

import pytest

from conftest import assert_nothing_left, processes_under
from dojo_kernel.errors import ForkError
from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


@pytest.fixture
def forks():
    """Forked sessions made in a test, closed after it even when it fails."""
    made: list[KernelSession] = []
    yield made
    for session in made:
        session.close()


def test_a_fork_has_the_state_and_is_independent_afterwards(make_session, forks):
    parent = make_session()
    assert parent.run("x = 1\ny = [1, 2]").status == "ok"
    child = parent.fork()
    forks.append(child)
    assert child.pid != parent.pid
    first = child.run("x += 10\ny.append(3)\nprint(x, y)")
    assert first.status == "ok" and first.text == "11 [1, 2, 3]\n"
    assert first.execution_count == 2  # the parent ran one cell; the fork itself is not counted
    assert parent.run("print(x, y)").text == "1 [1, 2]\n"
    assert parent.run("x = 100").status == "ok"
    assert child.run("print(x)").text == "11\n"
    assert child.run("import os; os.getcwd()").text == repr(str(parent.cwd)) + "\n"


def test_a_fitted_model_and_a_dataframe_are_usable_in_the_fork(make_session, forks):
    parent = make_session()
    assert parent.run(code("""
        import numpy as np, pandas as pd
        from sklearn.linear_model import LogisticRegression
        frame = pd.DataFrame({"a": np.arange(100) % 7, "b": np.arange(100) % 3})
        target = (frame.a + frame.b > 4).astype(int)
        model = LogisticRegression().fit(frame, target)
        expected = model.predict(frame).tolist()
    """)).status == "ok"
    child = parent.fork()
    forks.append(child)
    result = child.run(code("""
        frame["c"] = frame.a * 2
        print(model.predict(frame[["a", "b"]]).tolist() == expected, frame.shape, model.score(frame[["a", "b"]], target) > 0.8)
    """))
    assert result.status == "ok", result.text
    assert result.text.splitlines()[-1] == "True (100, 3) True"
    assert parent.run("print(frame.shape)").text == "(100, 2)\n"


def test_closing_the_parent_leaves_the_fork_working_and_nothing_behind(tmp_path):
    parent = KernelSession(tmp_path, Limits(cell_timeout_s=30), isolation="none")
    try:
        parent.run("secret = 'kept'")
        child = parent.fork()
    finally:
        parent.close()
    try:
        assert child.run("print(secret)").text == "kept\n"
        grandchild = child.fork()
        try:
            assert grandchild.run("secret += '!'; print(secret)").text == "kept!\n"
        finally:
            grandchild.close()
        assert child.run("print(secret)").text == "kept\n"
    finally:
        child.close()
    assert_nothing_left(tmp_path)


def test_closing_the_fork_leaves_the_parent_working(make_session):
    parent = make_session()
    parent.run("n = 5")
    child = parent.fork()
    child_pid = child.pid
    child.run("n = 6")
    child.close()
    assert child_pid not in [p.pid for p in processes_under(parent.cwd)]
    assert parent.run("print(n)").text == "5\n"
    again = parent.fork()  # a parent forks as often as asked
    try:
        assert again.run("print(n)").text == "5\n"
    finally:
        again.close()


def test_the_fork_says_first_what_it_could_not_carry(make_session, forks, tmp_path):
    parent = make_session()
    assert parent.run(code("""
        import socket, subprocess, threading, time
        sleeper = threading.Thread(target=time.sleep, args=(120,), name="sleeper", daemon=True)
        sleeper.start()
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        helper = subprocess.Popen(["sleep", "120"])
        data = open("numbers.txt", "w+")
        data.write("0123456789abcdef")
        data.flush()
        data.seek(0)
        head = data.read(4)
    """)).status == "ok"
    try:
        child = parent.fork()
        forks.append(child)
        first = child.run("print(data.read(4), server.getsockname()[1] == port, sleeper.is_alive())")
        assert first.status == "ok", first.text
        note = first.text.splitlines()[-1]
        assert note.startswith("[dojo-kernel] this kernel is a fork")
        assert "sleeper" in note and "1 open network socket" in note and "(sleep)" in note
        # Its own file offset, a socket cut off (no longer bound to the port), no thread.
        assert first.text.splitlines()[0] == "4567 False False"
        assert "[dojo-kernel]" not in child.run("1").text  # said once
        assert parent.run("print(data.read(4), server.getsockname()[1] == port)").text == "4567 True\n"
    finally:
        parent.run("helper.kill(); helper.wait()")


def test_a_kernel_that_holds_a_gpu_refuses_to_fork(make_session):
    parent = make_session()
    # What torch reports once it has made a CUDA context (no GPU on this machine to make one).
    assert parent.run(code("""
        import sys, types
        sys.modules["torch"] = types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True))
        kept = 42
    """)).status == "ok"
    before = {p.pid for p in processes_under(parent.cwd)}
    with pytest.raises(ForkError, match="torch has initialised CUDA.*fork before the first GPU use"):
        parent.fork()
    assert {p.pid for p in processes_under(parent.cwd)} == before
    assert parent.run("print(kept)").text == "42\n"


def test_memory_of_a_branch_is_counted_by_pss(make_session, forks):
    """Shared pages count half to each branch: a fork whose RSS passes the limit only because
    it shares its parent's pages keeps running; one that really allocates too much is killed."""
    parent = make_session(Limits(cell_timeout_s=60, memory_gb=0.4))
    assert parent.run("import numpy as np\nbig = np.ones(300 * 2**20 // 8)").status == "ok"
    child = parent.fork()
    forks.append(child)
    grown = child.run("more = np.ones(120 * 2**20 // 8); print(big.sum() > 0)")
    assert grown.status == "ok", grown.text
    import psutil
    # Its RSS (which counts the shared pages in full) is over the limit; its PSS is not.
    # The margins (about 60 MB each way) leave room for a kernel's own size varying by host.
    assert psutil.Process(child.pid).memory_info().rss > 0.4 * 1024**3
    assert psutil.Process(child.pid).memory_full_info().pss < 0.4 * 1024**3
    too_much = child.run("even_more = np.ones(300 * 2**20 // 8)")
    assert too_much.status == "killed" and too_much.limit_event.kind == "memory"
    assert parent.run("print(big.shape)").status == "ok"


def test_fork_under_the_sandbox(make_session, forks, tmp_path):
    from dojo_kernel.isolation import resolve_mode
    try:
        resolve_mode("namespaces")
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"no sandbox here: {error}")
    parent = make_session(isolation="namespaces")
    assert parent.run("import os, socket\nvalue = 'p'").status == "ok"
    child = parent.fork()
    forks.append(child)
    seen = child.run("print(value, os.getuid(), socket.gethostname())")
    assert seen.status == "ok" and seen.text.splitlines()[0] == "p 65534 dojo-kernel"
    assert child.run("value = 'c'").status == "ok"
    assert parent.run("print(value)").text == "p\n"
    assert parent._kernel is not None
    reaper = parent._kernel.reaper  # the root's group reaper: the sandbox takes it over
    assert reaper is not None
    parent.close()  # the root retires; its branch keeps running in the sandbox
    assert child.run("print(value)").text == "c\n"
    assert child.run("open('/etc/hostname-probe', 'w')").status == "error"  # still read-only
    assert parent.runtime_dir.exists()  # the sandbox's folder, still used by the branch
    child.close()
    assert_nothing_left(tmp_path)
    assert not parent.runtime_dir.exists() and not child.runtime_dir.exists()
    # reaped, not left a zombie whose Popen warns "subprocess N is still running" when collected
    assert reaper.returncode is not None


ENV_SCRIPT = """
import sys, time
from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits
parent = KernelSession(sys.argv[1], Limits(), isolation=sys.argv[2])
fork = parent.fork()
helper = fork.run("import subprocess; helper = subprocess.Popen(['sleep', '600']); print(helper.pid)")
print(parent.pid, fork.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("isolation", ["none", "namespaces"])
def test_nothing_outlives_an_env_killed_with_sigkill(tmp_path, isolation):
    import subprocess
    import sys

    import psutil

    if isolation == "namespaces":
        from dojo_kernel.isolation import resolve_mode
        try:
            resolve_mode("namespaces")
        except Exception as error:  # noqa: BLE001
            pytest.skip(f"no sandbox here: {error}")
    env = subprocess.Popen([sys.executable, "-c", ENV_SCRIPT, str(tmp_path), isolation],
                           stdout=subprocess.PIPE, text=True)
    try:
        parent_pid, fork_pid = (int(word) for word in env.stdout.readline().split())
        assert psutil.pid_exists(fork_pid) and fork_pid != parent_pid
        assert len(processes_under(tmp_path)) >= 3  # the parent, its fork, the fork's helper
    finally:
        env.kill()
        env.wait()
    assert_nothing_left(tmp_path, within_s=10)


def test_the_sandbox_root_retires_on_restart_and_its_branch_lives_on(make_session, forks, tmp_path):
    from dojo_kernel.isolation import resolve_mode
    try:
        resolve_mode("namespaces")
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"no sandbox here: {error}")
    parent = make_session(isolation="namespaces")
    parent.run("value = 1")
    child = parent.fork()
    forks.append(child)
    old_sandbox = parent.pid
    parent.restart()  # a fresh sandbox for the parent; the old one stays for the branch
    assert parent.pid != old_sandbox and psutil_exists(old_sandbox)
    assert parent.run("'value' in dir()").text == "False\n"
    assert child.run("print(value)").text == "1\n"
    child.close()
    assert not psutil_exists(old_sandbox)  # the last branch took the retired root's sandbox along
    assert not (parent.runtime_dir / "g1").exists() and (parent.runtime_dir / "g2").exists()


def psutil_exists(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_forged_fork_report_is_refused_and_the_real_fork_ends_by_itself(make_session, tmp_path):
    """Agent code owns the kernel: here it makes the fork report name the env's own process.
    The env refuses it, adopts nothing, and the fork it was not told about exits alone."""
    import os

    from waiting import wait_until

    parent = make_session(startup_timeout=8)  # the fork not adopted ends 18 s after it started
    assert parent.run(code(f"""
        import sys
        class Forger:
            def __init__(self, real):
                self.real = real
            def write(self, text):
                if '__dojo_fork__ {{"pid"' in text:
                    text = '\\n__dojo_fork__ {{"pid": {os.getpid()}, "lost": {{}}}}\\n'
                return self.real.write(text)
            def __getattr__(self, name):
                return getattr(self.real, name)
        sys.stdout = Forger(sys.stdout)
    """)).status == "ok"
    before = {p.pid for p in processes_under(tmp_path)}
    with pytest.raises(ForkError, match=f"process {os.getpid()}"):
        parent.fork()
    assert os.getpid() and parent.run("print('still here')").text == "still here\n"
    wait_until(lambda: {p.pid for p in processes_under(tmp_path)} <= before, timeout=40,
               message="the unadopted fork to exit")


def test_a_fork_is_interrupted_and_restarted_like_any_kernel(make_session, forks):
    parent = make_session()
    parent.run("kept = 'yes'")
    child = parent.fork()
    forks.append(child)
    stopped = child.run("import time\ntime.sleep(60)", timeout=3)
    assert stopped.status == "timeout" and not stopped.restarted
    assert child.run("print(kept)").text == "yes\n"
    died = child.run("import os; os._exit(3)")
    assert died.status == "died" and died.restarted
    assert child.run("'kept' in dir()").text == "False\n"  # a fresh kernel, as after any death
    assert parent.run("print(kept)").text == "yes\n"


def test_closing_a_sandbox_root_while_it_runs_a_cell_returns_at_once(make_session, forks):
    import threading

    from dojo_kernel.isolation import resolve_mode
    try:
        resolve_mode("namespaces")
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"no sandbox here: {error}")
    parent = make_session(isolation="namespaces")
    child = parent.fork()
    forks.append(child)
    results = []
    runner = threading.Thread(target=lambda: results.append(parent.run("import time\ntime.sleep(60)")))
    runner.start()
    from waiting import wait_until
    wait_until(lambda: parent._watchdog._in_cell, message="the cell to start")
    parent.close()
    runner.join(timeout=20)
    assert not runner.is_alive() and results[0].status == "died"
    assert child.run("print('branch ok')").text == "branch ok\n"


def test_under_the_sandbox_each_branch_is_accounted_on_its_own(make_session, forks):
    """The root's watchdog watches the whole sandbox but leaves its forks' trees out: a fork
    growing past what the two could hold together does not get the root killed."""
    from dojo_kernel.isolation import resolve_mode
    try:
        resolve_mode("namespaces")
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"no sandbox here: {error}")
    parent = make_session(Limits(cell_timeout_s=60, memory_gb=0.4), isolation="namespaces")
    assert parent.run("import numpy as np\nbig = np.ones(150 * 2**20 // 8)").status == "ok"
    child = parent.fork()
    forks.append(child)
    assert child.run("more = np.ones(250 * 2**20 // 8)").status == "ok"
    # Sampled at 20 Hz for the whole cell, with the fork holding its memory meanwhile.
    watched = parent.run("import time\ntime.sleep(1.5)\nprint(big.shape)")
    assert watched.status == "ok", watched.text
    assert watched.peak_rss_bytes < 0.4 * 1024**3
    assert child.run("print(more.shape)").status == "ok"


def test_output_threads_print_during_a_fork_is_kept_for_the_next_cell(make_session, forks):
    parent = make_session()
    first = parent.run(code("""
        import threading, time
        def chatter():
            for i in range(40):
                print("tick", i, flush=True)
                time.sleep(0.05)
        threading.Thread(target=chatter, daemon=True).start()
    """))
    seen = [first.text]
    child = parent.fork()
    forks.append(child)
    from waiting import wait_until

    def until_the_end():
        seen.append(parent.run("time.sleep(0.2)").text)
        return "tick 39" in seen[-1]
    wait_until(until_the_end, timeout=30, message="the thread's last line")
    ticks = [line for text in seen for line in text.splitlines() if line.startswith("tick")]
    assert ticks == [f"tick {i}" for i in range(40)]  # none lost while the kernel forked
    assert "Thread-" in child.run("1").text  # the fork was told the thread is gone
