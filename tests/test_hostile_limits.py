"""Hostile agent code against the limits and the sandbox (issue 14, items 1, 5, 6, 8, 10, 12, 17).

Each attack runs as a cell in a real sandboxed kernel (isolation="namespaces"); tests skip with
the reason resolve_mode gives where the OS cannot build the sandbox, and cgroup tests skip where
no cgroup can be created under this process's own.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from dojo_kernel import KernelSession, Limits, isolation, seccomp

from waiting import wait_until

_plan = isolation.resolve_mode("auto")
needs_namespaces = pytest.mark.skipif(
    _plan.mode != "namespaces", reason=f"namespaces unavailable here: {_plan.warning}")
GB = 1024**3


def run_json(session: KernelSession, code: str, timeout: float = 120):
    """Run a cell whose last line prints one JSON value; return that value."""
    result = session.run(textwrap.dedent(code), timeout=timeout)
    assert result.status == "ok", result.text
    return json.loads(result.text.strip().splitlines()[-1])


@pytest.fixture
def sandboxed(tmp_path):
    """A factory of sandboxed KernelSessions in tmp_path/run, closed after the test."""
    if _plan.mode != "namespaces":
        pytest.skip(f"namespaces unavailable here: {_plan.warning}")
    sessions: list[KernelSession] = []

    def make(limits: Limits | None = None, **options) -> KernelSession:
        run_dir = tmp_path / "run"
        (run_dir / "working").mkdir(parents=True, exist_ok=True)
        session = KernelSession(run_dir, limits or Limits(cell_timeout_s=60), isolation="namespaces",
                                disk_path=run_dir / "working", **options)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


# -- 1: process-control calls are refused; the sandbox dies with the env ------------------------

_SYSCALLS = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    result = getattr(libc, name)(*args)
    return "ok" if result != -1 else os.strerror(ctypes.get_errno())
outcome = {
    "ptrace_attach_init": call("ptrace", 16, 1, None, None),    # PTRACE_ATTACH to the sandbox's init
    "ptrace_traceme": call("ptrace", 0, 0, None, None),         # PTRACE_TRACEME
    "process_vm_readv": call("syscall", SYS["process_vm_readv"], 1, None, 0, None, 0, 0),
    "kcmp": call("syscall", SYS["kcmp"], 1, os.getpid(), 0, 0, 0),
    "personality_no_aslr": call("personality", 0x0040000),     # ADDR_NO_RANDOMIZE
    "personality_query": call("personality", 0xffffffff),
    "getpid": call("getpid"),
}
print(json.dumps(outcome))
"""


@needs_namespaces
@pytest.mark.skipif(not seccomp.supported(), reason="no seccomp filter for this architecture")
def test_process_control_calls_are_refused_in_the_sandbox(sandboxed) -> None:
    import platform
    numbers = seccomp._ARCHES[platform.machine()][1]
    session = sandboxed()
    seen = run_json(session, f"SYS = {json.dumps(numbers)}\n" + _SYSCALLS)
    refused = os.strerror(errno.EPERM)
    assert seen == {"ptrace_attach_init": refused, "ptrace_traceme": refused, "process_vm_readv": refused,
                    "kcmp": refused, "personality_no_aslr": refused, "personality_query": "ok", "getpid": "ok"}
    assert session.run("6 * 7").text.strip() == "42"


def test_the_filter_is_a_valid_program_for_this_machine() -> None:
    program = seccomp.program("x86_64")
    assert program is not None and len(program) % 8 == 0 and len(program) // 8 < 4096
    assert seccomp.program("riscv-unknown") is None
    # Every blocked name has a number on every architecture known.
    for _, numbers in seccomp._ARCHES.values():
        assert set(seccomp.BLOCKED) | {"personality"} <= set(numbers)


_ENV_THAT_DIES = """
import sys, time
from dojo_kernel import KernelSession, Limits
session = KernelSession(sys.argv[1], Limits(cell_timeout_s=60), isolation="namespaces")
result = session.run("import os; print(os.getpid())")
print(session.pid, flush=True)
time.sleep(600)
"""


@needs_namespaces
def test_the_sandbox_dies_when_the_env_is_killed(tmp_path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "working").mkdir(parents=True)
    env = subprocess.Popen([sys.executable, "-c", _ENV_THAT_DIES, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        sandbox_pid = int(env.stdout.readline())
        tree = [sandbox_pid] + [child.pid for child in psutil.Process(sandbox_pid).children(recursive=True)]
        assert len(tree) >= 3  # bwrap, the sandbox's init, the kernel
    finally:
        env.kill()
        env.wait()
    wait_until(lambda: not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                               for pid in tree), timeout=15, message="the sandbox to die with its env")
