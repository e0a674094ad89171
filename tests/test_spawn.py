"""Starting and reaping kernel processes (dojo_kernel/spawn.py), on real processes: the spawner
thread, death with the parent, the group reaper, kill_tree, and the run dir a kernel starts in."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from conftest import assert_nothing_left
from dojo_kernel.errors import ConfigError
from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits, tree_pids
from dojo_kernel.spawn import kill_tree, link_input, popen, prepare_workspace
from waiting import wait_until

# A parent with a child and a grandchild, all sleeping.
PARENT_OF_TWO = """
import subprocess, sys, time
inner = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
subprocess.Popen([sys.executable, "-c", inner])
time.sleep(60)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def whole_tree(root: int, size: int) -> list[int] | None:
    pids = tree_pids(root)
    return pids if len(pids) == size else None


# -- kill_tree -------------------------------------------------------------------------------

def test_kill_tree_kills_every_descendant():
    parent = subprocess.Popen([sys.executable, "-c", PARENT_OF_TWO])
    try:
        pids = wait_until(lambda: whole_tree(parent.pid, 3), timeout=30, message="a tree of three processes")
        kill_tree(parent.pid)
        parent.wait(timeout=10)
        wait_until(lambda: all(gone(pid) for pid in pids[1:]), timeout=5, message="the descendants to die")
    finally:
        kill_tree(parent.pid)
        parent.wait(timeout=10)


def test_kill_tree_of_a_missing_process_does_nothing():
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    kill_tree(done.pid, process_group=done.pid)  # no error, nothing else touched


# -- the spawner thread ----------------------------------------------------------------------

def test_a_process_started_from_a_short_lived_thread_outlives_it():
    """PR_SET_PDEATHSIG follows the forking thread: the spawner's thread keeps such a child alive."""
    started: list[subprocess.Popen] = []
    thread = threading.Thread(target=lambda: started.append(
        popen([sys.executable, "-c", "import time; time.sleep(60)"], stdin=subprocess.DEVNULL)))
    thread.start()
    thread.join()
    child = started[0]
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=1.0)  # still running after its starting thread ended
    finally:
        child.kill()
        child.wait()


def test_the_spawner_hands_back_errors_to_the_caller(tmp_path):
    with pytest.raises(FileNotFoundError):
        popen([str(tmp_path / "no-such-program")])


def _run_in_forked_child(cwd: str, queue) -> None:
    with KernelSession(cwd, Limits(), isolation="none") as child_session:
        queue.put(child_session.run("6 * 7").text)


def test_a_process_forked_after_a_kernel_started_can_run_its_own(tmp_path):
    (tmp_path / "parent").mkdir()
    (tmp_path / "child").mkdir()
    with KernelSession(tmp_path / "parent", Limits(), isolation="none") as parent:
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_run_in_forked_child, args=(str(tmp_path / "child"), queue))
        child.start()
        assert queue.get(timeout=60).strip() == "42"
        child.join(30)
        assert child.exitcode == 0
        # the child's exit must not have closed the parent's kernel
        assert parent.run("1 + 1").text.strip() == "2"


# -- the end of the parent process -----------------------------------------------------------

PARENT_SCRIPT = """
import sys, threading
from dojo_kernel.kernel import KernelSession
from dojo_kernel.limits import Limits
sessions = []
# started from a thread that ends at once: the kernel must outlive that thread
thread = threading.Thread(target=lambda: sessions.append(KernelSession(sys.argv[1], Limits(), isolation="none")))
thread.start(); thread.join()
session = sessions[0]
result = session.run("import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); child.pid")
print(session.pid, result.text.strip(), flush=True)
if sys.argv[2] == "wait":
    sys.stdin.read()  # until the test kills this process
"""


def run_parent(tmp_path, mode: str) -> tuple[subprocess.Popen, int, int]:
    parent = subprocess.Popen([sys.executable, "-c", PARENT_SCRIPT, str(tmp_path), mode],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    kernel_pid, child_pid = (int(word) for word in parent.stdout.readline().split())
    return parent, kernel_pid, child_pid


def test_parent_exit_without_close_leaves_nothing(tmp_path):
    parent, kernel_pid, child_pid = run_parent(tmp_path, "exit")
    assert parent.wait(timeout=60) == 0
    assert_nothing_left(tmp_path)


def test_kernel_dies_when_its_parent_is_killed(tmp_path):
    parent, kernel_pid, child_pid = run_parent(tmp_path, "wait")
    assert psutil.pid_exists(kernel_pid)
    parent.kill()
    parent.wait()
    wait_until(lambda: gone(kernel_pid), timeout=10, message="the kernel to die with its parent")
    # The kernel's own child goes too: the group reaper kills the kernel's process group.
    wait_until(lambda: gone(child_pid), timeout=5, message="the kernel's child to be reaped")


# -- the run dir a kernel starts in ----------------------------------------------------------

def test_prepare_workspace_makes_working_and_links_the_public_data_repeatably(tmp_path: Path):
    public, run_dir = tmp_path / "public", tmp_path / "run"
    public.mkdir()
    run_dir.mkdir()
    (public / "train.csv").write_text("a\n1\n")
    for _ in range(2):
        link = prepare_workspace(run_dir, public)
        assert link == run_dir / "input" and link.is_symlink()
        assert (link / "train.csv").read_text() == "a\n1\n"
        assert (run_dir / "working").is_dir()
    assert prepare_workspace(run_dir, None) is None
    with pytest.raises(ConfigError, match="public data directory"):
        prepare_workspace(run_dir, tmp_path / "missing")


def test_link_input_moves_a_link_to_other_data_and_keeps_an_empty_folder_out(tmp_path: Path):
    old, new, run_dir = tmp_path / "old", tmp_path / "new", tmp_path / "run"
    for folder in (old, new, run_dir / "input"):
        folder.mkdir(parents=True)
    assert link_input(run_dir, old) == run_dir / "input"  # an empty folder is replaced by the link
    link_input(run_dir, new)
    assert (run_dir / "input").readlink() == new.resolve()


def test_link_input_refuses_to_replace_a_folder_with_content(tmp_path: Path):
    public, run_dir = tmp_path / "public", tmp_path / "run"
    public.mkdir()
    (run_dir / "input").mkdir(parents=True)
    (run_dir / "input" / "mine.csv").write_text("x")
    with pytest.raises(ConfigError, match="fresh output directory"):
        link_input(run_dir, public)
    assert (run_dir / "input" / "mine.csv").read_text() == "x"
