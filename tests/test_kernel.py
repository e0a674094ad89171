"""KernelSession against real ipykernel kernels: outputs, errors, timeouts, deaths, limits."""

from __future__ import annotations

import resource
import textwrap
import threading
import time

import nbformat
import psutil
import pytest

from conftest import assert_nothing_left, processes_under
from dojo_kernel.errors import ConfigError, KernelDeadError, KernelStartError
from dojo_kernel.isolation import LaunchSpec
from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits
from waiting import wait_until

GB = 1024**3


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def assert_valid_nbformat(outputs: list[dict]) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=outputs)])
    nbformat.validate(nbformat.from_dict(notebook))


# -- running cells ---------------------------------------------------------------------------

def test_state_persists_across_cells(make_session):
    session = make_session()
    assert session.run("x = 41").status == "ok"
    result = session.run("x + 1")
    assert result.status == "ok"
    assert result.text == "42\n"
    assert result.restarted is False
    assert result.execution_count == 2


def test_streams_and_result_become_nbformat_outputs(make_session):
    result = make_session().run(code("""
        import sys
        print("to stdout")
        print("to stderr", file=sys.stderr)
        'the value'
    """))
    kinds = [(o["output_type"], o.get("name")) for o in result.outputs]
    assert kinds == [("stream", "stdout"), ("stream", "stderr"), ("execute_result", None)]
    assert result.outputs[0]["text"] == "to stdout\n"
    assert result.outputs[2]["data"]["text/plain"] == "'the value'"
    assert result.outputs[2]["execution_count"] == result.execution_count == 1
    assert result.text == "to stdout\nto stderr\n'the value'\n"


def test_matplotlib_figure_is_an_image_output_and_a_placeholder_in_text(make_session):
    result = make_session().run(code("""
        import matplotlib.pyplot as plt
        plt.plot([1, 2, 3])
        plt.show()
    """))
    assert result.status == "ok", result.text
    images = [o for o in result.outputs if o["output_type"] == "display_data" and "image/png" in o["data"]]
    assert len(images) == 1
    assert "[image/png]" in result.text
    assert "iVBOR" not in result.text  # no base64 in what the LLM reads
    assert_valid_nbformat(result.outputs)


def test_oversized_image_is_dropped_with_a_note(make_session):
    session = make_session(Limits(cell_timeout_s=30, max_image_bytes=1000))
    result = session.run(code("""
        import numpy as np
        from PIL import Image
        from IPython.display import display
        display(Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)))
    """))
    assert result.status == "ok", result.text
    (output,) = result.outputs
    assert "image/png" not in output["data"]
    assert "dropped" in output["data"]["text/plain"] and "1,000-byte image cap" in result.text
    assert_valid_nbformat(result.outputs)


def test_clear_output_removes_earlier_outputs(make_session):
    result = make_session().run(code("""
        from IPython.display import clear_output
        print("old")
        clear_output()
        print("new")
    """))
    assert result.text == "new\n"


def test_error_reports_name_value_and_clean_traceback(make_session):
    session = make_session()
    result = session.run("def f():\n    return 1 / 0\nf()")
    assert result.status == "error"
    assert result.error.name == "ZeroDivisionError"
    assert result.error.value == "division by zero"
    assert any("return 1 / 0" in line for line in result.error.traceback)
    assert "\x1b[" not in result.text and "\x1b[" not in "".join(result.error.traceback)
    assert "ZeroDivisionError: division by zero" in result.text
    assert [o["output_type"] for o in result.outputs] == ["error"]
    assert_valid_nbformat(result.outputs)
    assert session.run("'still alive'").status == "ok"


def test_input_fails_at_once_with_a_clear_message(make_session):
    result = make_session().run("name = input('your name? ')")
    assert result.status == "error"
    assert result.error.name == "StdinNotImplementedError"
    assert "input() is not available" in result.text


def test_background_thread_output_comes_with_the_next_result(make_session, tmp_path):
    session = make_session()
    first = session.run(code("""
        import os, sys, threading, time
        def later():
            while not os.path.exists("go"):  # prints only once the test says its cell is over
                time.sleep(0.01)
            print("printed late")
            sys.stdout.flush()  # returns once the message is on its way
            open("printed", "w").close()
        threading.Thread(target=later).start()
        print("printed now")
    """))
    assert first.text == "printed now\n"
    (tmp_path / "go").touch()
    wait_until((tmp_path / "printed").exists, timeout=30, message="the thread to print")
    second = session.run("print('second cell')")
    assert [o["text"] for o in second.background_outputs] == ["printed late\n"]
    assert second.outputs == [{"output_type": "stream", "name": "stdout", "text": "second cell\n"}]
    assert second.text.index("printed late") < second.text.index("second cell")


def test_evaluate_reads_the_namespace_without_changing_it(make_session, tmp_path):
    session = make_session()
    session.run("rows = [1, 2, 3]\n41 + 1")
    values = session.evaluate({"size": "len(rows)", "bad": "undefined_name", "last": "_"})
    assert values == {"size": "3", "bad": None, "last": "42"}
    # no execution count spent, no history, no output: the next cell sees the same kernel
    after = session.run("print(len(In), _)")
    assert after.execution_count == 2 and after.text == "3 42\n"
    # a thread's output that arrives during evaluate() reaches the next cell, not the void
    session.run(code("""
        import threading, time
        def later():
            time.sleep(0.2)
            print("late line", flush=True)
            open("printed", "w").close()
        threading.Thread(target=later).start()
    """))
    deadline = time.monotonic() + 30
    while not (tmp_path / "printed").exists() and time.monotonic() < deadline:
        session.evaluate({"one": "1"})
    nxt = session.run("print('next')")
    assert "late line" in "".join(o.get("text", "") for o in nxt.background_outputs)


def test_evaluate_is_cut_at_its_time_cap_and_the_kernel_goes_on(make_session):
    session = make_session()
    started = time.monotonic()
    values = session.evaluate({"slow": "__import__('time').sleep(30)"}, timeout=0.5)
    assert values == {"slow": None} and time.monotonic() - started < 10
    assert session.run("print('alive')").text == "alive\n"


def test_output_flood_is_capped_while_it_arrives(make_session):
    session = make_session(Limits(cell_timeout_s=60, max_output_chars=10_000))
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = session.run(code("""
        print("FIRST LINE")
        for i in range(1000):
            print("x" * 100_000)
        print("LAST LINE")
    """))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
    assert result.status == "ok"
    assert result.truncated_chars > 99_000_000
    assert result.text.startswith("FIRST LINE") and result.text.endswith("LAST LINE\n")
    assert "characters of output cut" in result.text
    assert len(result.text) < 10_200
    assert sum(len(o["text"]) for o in result.outputs) < 10_200
    assert_valid_nbformat(result.outputs)
    assert grown < 1 * GB  # 100 MB printed: the parent holds what is kept, not all of it


def test_environment_is_built_not_inherited(make_session, monkeypatch):
    monkeypatch.setenv("DOJO_TEST_SECRET_TOKEN", "hunter2")
    session = make_session(env={"DOJO_EXTRA": "given"})
    result = session.run("import os; (os.environ.get('DOJO_TEST_SECRET_TOKEN'), os.environ['DOJO_EXTRA'])")
    assert result.text == "(None, 'given')\n"


def test_kernel_runs_in_the_session_cwd(make_session, tmp_path):
    result = make_session().run("import os; os.getcwd()")
    assert result.text == repr(str(tmp_path.resolve())) + "\n"


# -- timeouts --------------------------------------------------------------------------------

TIMEOUT = Limits(cell_timeout_s=1.5)


def test_busy_loop_is_interrupted_and_state_kept(make_session):
    session = make_session(TIMEOUT)
    session.run("kept = 'yes'")
    result = session.run("while True:\n    pass")
    assert result.status == "timeout"
    assert result.restarted is False
    assert result.limit_event.kind == "timeout" and result.limit_event.limit == 1.5
    assert result.error.name == "KeyboardInterrupt"
    assert "timeout" in result.text
    assert session.run("kept").text == "'yes'\n"


def test_sleep_is_interrupted(make_session):
    session = make_session(TIMEOUT)
    result = session.run("import time; time.sleep(60)")
    assert result.status == "timeout" and result.restarted is False


def test_run_timeout_argument_overrides_the_limit(make_session):
    session = make_session(Limits(cell_timeout_s=60))
    result = session.run("import time; time.sleep(60)", timeout=1)
    assert result.status == "timeout" and result.limit_event.limit == 1


@pytest.mark.parametrize("cell", [
    "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass",
    "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)",
], ids=["swallowed-interrupt", "sigint-ignored"])
@pytest.mark.parametrize("isolation", ["none", "auto"])
def test_cell_that_resists_the_interrupt_is_killed_and_the_kernel_restarted(make_session, cell, isolation):
    session = make_session(TIMEOUT, isolation=isolation)
    session.run("kept = 1")
    old_pid = session.pid
    result = session.run(cell)
    assert result.status == "timeout"
    assert result.restarted is True
    assert "restarted" in result.text and "every variable" in result.text
    assert session.pid != old_pid and not psutil.pid_exists(old_pid)
    after = session.run("'kept' in dir()")
    assert after.status == "ok" and after.text == "False\n"


def once_running(marker, action) -> threading.Thread:
    """A thread that calls `action` once the cell has created `marker`: the cell is running then,
    so the action never lands on an idle kernel, however loaded the machine."""
    def wait_then_act() -> None:
        wait_until(marker.exists, timeout=60, message="the cell to start")
        action()
    thread = threading.Thread(target=wait_then_act)
    thread.start()
    return thread


def marked_sleep(marker) -> str:
    return f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\ntime.sleep(60)"


def test_interrupt_from_another_thread(make_session, tmp_path):
    session = make_session()
    marker = tmp_path / "running"
    thread = once_running(marker, session.interrupt)
    result = session.run(marked_sleep(marker))
    thread.join()
    assert result.status == "error" and result.error.name == "KeyboardInterrupt"


# -- deaths ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "exit_code"), [
    ("import ctypes; ctypes.string_at(0)", -11),
    ("import os; os._exit(3)", 3),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -9),
], ids=["segfault", "os-exit", "sigkill"])
def test_dead_kernel_is_noticed_reported_and_replaced(make_session, cell, exit_code):
    session = make_session(Limits(cell_timeout_s=60))
    check_death(session, cell, exit_code)


def test_dead_kernel_under_default_isolation(make_session):
    session = make_session(Limits(cell_timeout_s=60), isolation="auto")
    check_death(session, "import ctypes; ctypes.string_at(0)", -11)


def check_death(session, cell, exit_code):
    session.run("x = 1")
    result = session.run(cell)
    assert result.status == "died"  # noticed: a death found only at the 60 s timeout says "timeout"
    assert result.exit_code == exit_code
    assert result.restarted is True
    assert result.limit_event.kind == "died"
    assert session.run("'x' in dir()").text == "False\n"


def test_exit_ends_the_kernel_and_a_fresh_one_follows(make_session):
    session = make_session()
    session.run("x = 1")
    result = session.run("exit()")
    assert result.status == "died" and result.exit_code == 0 and result.restarted
    assert "exit()" in result.text
    assert session.run("'x' in dir()").text == "False\n"


def test_sys_exit_is_an_error_not_a_death(make_session):
    session = make_session()
    session.run("x = 1")
    result = session.run("import sys; sys.exit(2)")
    assert result.status == "error" and result.error.name == "SystemExit"
    assert session.run("x").text == "1\n"


def test_kernel_that_shuts_itself_down_is_replaced_at_the_next_cell(make_session):
    session = make_session()
    session.run("get_ipython().kernel.do_shutdown(False)")
    wait_until(lambda: not session.is_alive, message="the kernel to shut itself down")
    result = session.run("1 + 1")
    assert result.status == "ok" and result.restarted is True
    assert result.text.startswith("2\n") and "fresh kernel" in result.text


# -- the watchdog inside a session ----------------------------------------------------------

MEMORY = Limits(memory_gb=1, cell_timeout_s=60)

STEPPED_BOMB = """
import time
blocks = []
for _ in range(30):  # 100 MB more every 50 ms, up to 3 GB
    blocks.append(b"x" * (100 * 2**20))
    time.sleep(0.05)
"""


@pytest.mark.parametrize("isolation", ["none", "auto"])
def test_memory_bomb_is_killed_and_the_kernel_restarted(make_session, isolation):
    session = make_session(MEMORY, isolation=isolation)
    session.run("x = 1")
    result = session.run(STEPPED_BOMB)
    assert result.status == "killed"
    event = result.limit_event
    assert event.kind == "memory" and event.limit == 1 and 1 < event.peak < 3
    assert result.peak_rss_bytes > 1 * GB
    assert result.restarted is True
    assert "memory" in result.text and "every variable" in result.text
    assert session.run("'x' in dir()").text == "False\n"


def test_memory_bomb_in_a_child_process_is_killed(make_session):
    session = make_session(MEMORY)
    cell = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {STEPPED_BOMB!r}])"
    result = session.run(cell)
    assert result.status == "killed" and result.limit_event.kind == "memory"


def test_forked_workers_sharing_memory_are_not_counted_twice(make_session):
    session = make_session(Limits(memory_gb=1.5, cell_timeout_s=60))
    result = session.run(code("""
        import os, time
        data = b"x" * (600 * 2**20)
        children = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:  # share the 600 MB copy-on-write, touch nothing
                time.sleep(1.5)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        len(data)
    """))
    assert result.status == "ok", result.text
    assert 0.55 * GB < result.peak_rss_bytes < 1.5 * GB


def test_process_count_limit(make_session):
    # The limit counts tasks (an idle kernel has about a dozen threads); where a pids cgroup
    # stops a fork past the limit, the cell carries on and the watchdog still kills it.
    session = make_session(Limits(max_processes=24, cell_timeout_s=60))
    result = session.run(code("""
        import subprocess, sys, time
        workers = []
        try:
            for _ in range(20):
                workers.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        except OSError:
            pass
        time.sleep(30)
    """))
    assert result.status == "killed"
    assert result.limit_event.kind == "processes" and result.limit_event.limit == 24


def test_disk_limit_on_the_working_directory(make_session, tmp_path):
    (tmp_path / "working").mkdir()
    session = make_session(Limits(disk_gb=0.05, cell_timeout_s=60), disk_path=tmp_path / "working")
    result = session.run(code("""
        import time
        with open("working/big.bin", "wb") as handle:
            for _ in range(20):  # 5 MB every 0.1 s, up to 100 MB
                handle.write(b"x" * (5 * 2**20))
                handle.flush()
                time.sleep(0.1)
        time.sleep(5)
    """))
    assert result.status == "killed"
    assert result.limit_event.kind == "disk" and result.limit_event.limit == 0.05


def test_gpu_limit_without_nvml_is_reported_unenforceable(make_session):
    from dojo_kernel.limits import NVML
    if NVML.available():
        pytest.skip("NVML finds a GPU here: the limit is enforceable")
    session = make_session(Limits(gpu_memory_gb=2, cell_timeout_s=30))
    assert any("GPU memory limit unenforceable" in w for w in session.warnings)
    result = session.run("1")
    assert any("GPU memory limit unenforceable" in w for w in result.warnings)
    assert result.peak_gpu_bytes is None


@pytest.mark.gpu
def test_gpu_memory_over_the_limit_is_killed(make_session):
    from dojo_kernel.limits import NVML
    if not NVML.available():
        pytest.skip(f"no GPU to test on: {NVML.error}")
    pytest.importorskip("torch")
    session = make_session(Limits(gpu_device=0, gpu_memory_gb=1, memory_gb=None, cell_timeout_s=120))
    result = session.run(code("""
        import time, torch
        blocks = []
        for _ in range(12):  # 256 MB more every 50 ms, up to 3 GB
            blocks.append(torch.ones(256 * 2**20, dtype=torch.uint8, device="cuda"))
            torch.cuda.synchronize()
            time.sleep(0.05)
    """))
    assert result.status == "killed", result.text
    assert result.limit_event.kind == "gpu_memory" and result.limit_event.limit == 1
    assert result.peak_gpu_bytes > 1 * GB and result.restarted


# -- lifecycle -------------------------------------------------------------------------------

@pytest.mark.parametrize("isolation", ["none", "auto"])
def test_close_kills_long_lived_subprocesses(tmp_path, isolation):
    session = KernelSession(tmp_path, Limits(cell_timeout_s=30), isolation=isolation)
    result = session.run(code("""
        import subprocess, sys
        same_group = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        own_session = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                       start_new_session=True)
        (same_group.pid, own_session.pid)
    """))
    children = eval(result.text)
    assert all(psutil.pid_exists(pid) for pid in children)
    session.close()
    session.close()  # idempotent
    assert not session.is_alive
    assert_nothing_left(tmp_path)
    with pytest.raises(KernelDeadError):
        session.run("1")


def test_close_from_another_thread_ends_a_running_cell(tmp_path):
    session = KernelSession(tmp_path, Limits(cell_timeout_s=60), isolation="none")
    marker = tmp_path / "running"
    thread = once_running(marker, session.close)
    result = session.run(marked_sleep(marker))
    thread.join()
    assert result.status == "died" and "closed" in result.text
    assert_nothing_left(tmp_path)


def test_restart_loses_state_and_keeps_working(make_session):
    session = make_session()
    session.run("x = 1")
    old_pid = session.pid
    session.restart()
    assert session.pid != old_pid and session.is_alive
    assert session.run("'x' in dir()").text == "False\n"


def test_context_manager_closes(tmp_path):
    with KernelSession(tmp_path, isolation="none") as session:
        assert session.run("1").status == "ok"
        assert session.connection_file.exists()
    assert not session.is_alive
    assert not session.runtime_dir.exists()
    assert_nothing_left(tmp_path)


def test_many_sessions_from_many_threads(make_session):
    sessions = [make_session() for _ in range(3)]
    results: dict[int, str] = {}

    def work(index: int) -> None:
        sessions[index].run(f"value = {index}")
        results[index] = sessions[index].run("value * 10").text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {0: "0\n", 1: "10\n", 2: "20\n"}
    assert len({s.connection_file.parent for s in sessions}) == 3


def test_kernel_that_is_not_ready_in_time_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(KernelStartError, match="startup_timeout") as caught:
        KernelSession(tmp_path, isolation="none", startup_timeout=0.01)
    assert "kernel.log" in str(caught.value)
    assert_nothing_left(tmp_path)


def test_bad_arguments_say_what_was_expected(tmp_path, make_session):
    with pytest.raises(ConfigError, match="existing directory"):
        KernelSession(tmp_path / "missing")
    with pytest.raises(ConfigError, match="Limits"):
        KernelSession(tmp_path, limits={"memory_gb": 1})
    with pytest.raises(ConfigError, match="LaunchSpec for launch"):
        KernelSession(tmp_path, launch="none")
    with pytest.raises(ConfigError, match="either launch= or the options"):
        KernelSession(tmp_path, launch=LaunchSpec("none"), isolation="none")
    session = make_session()
    with pytest.raises(ConfigError, match="str of Python code"):
        session.run(b"1")
    with pytest.raises(ConfigError, match="positive number"):
        session.run("1", timeout=0)


def test_one_launch_spec_serves_several_kernels(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    (public / "train.csv").write_text("a\n1\n")
    spec = LaunchSpec("none", input_source=public, env={"DOJO_TEST_MARK": "spec"})
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        with KernelSession(tmp_path / name, Limits(cell_timeout_s=30), launch=spec) as session:
            assert session.launch is spec and session.isolation == spec.plan
            result = session.run("import os; print(os.environ['DOJO_TEST_MARK'], open('input/train.csv').read().split()[1])")
            assert result.text == "spec 1\n", result.text
    assert_nothing_left(tmp_path)


def test_default_isolation_runs_cells_and_leaves_nothing(make_session, tmp_path):
    session = make_session(Limits(cell_timeout_s=1.5), isolation="auto")
    assert session.run("y = 2; y * 3").text == "6\n"
    assert session.run("import time; time.sleep(60)").status == "timeout"
    assert session.run("y").text == "2\n"
    assert processes_under(tmp_path)  # the kernel is running in the cwd


def test_a_cell_that_leaves_the_run_dir_is_told_how_to_go_back(tmp_path):
    with KernelSession(tmp_path, Limits(), isolation="none") as session:
        assert session.run("1").cwd == str(tmp_path.resolve())
        moved = session.run("import os\nos.chdir('/')")
        assert moved.cwd == "/"
        assert "working directory is now '/'" in moved.text and f"os.chdir({str(tmp_path.resolve())!r})" in moved.text
        back = session.run(f"os.chdir({str(tmp_path.resolve())!r})")
        assert "working directory" not in back.text


def test_thread_counts_default_to_the_kernels_share_of_the_cores(make_session):
    """No cpus limit still sets BLAS/OpenMP/joblib threads: the usable cores less one for the env."""
    from dojo_kernel.isolation import THREAD_VARIABLES, default_threads, usable_cores

    assert default_threads() == max(1, usable_cores() - 1)
    code = f"import os; print(' '.join(os.environ.get(name, '-') for name in {THREAD_VARIABLES!r}))"
    shared = make_session(Limits(cell_timeout_s=30)).run(code)
    assert shared.text.split() == [str(default_threads())] * len(THREAD_VARIABLES)
    pinned = make_session(Limits(cell_timeout_s=30, cpus=3)).run(code)
    assert pinned.text.split() == ["3"] * len(THREAD_VARIABLES)
