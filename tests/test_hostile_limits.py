"""Hostile agent code against the limits and the sandbox (issue 14, items 1, 5, 6, 8, 10, 12, 17).

Each attack runs as a cell in a real sandboxed kernel (isolation="namespaces"); tests skip with
the reason resolve_mode gives where the OS cannot build the sandbox, and cgroup tests skip where
no cgroup can be created under this process's own.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from dojo_kernel import KernelSession, Limits, cgroups, isolation, seccomp
from dojo_kernel import limits as limits_module
from dojo_kernel.isolation import LaunchSpec, gpu_device_plan
from dojo_kernel.limits import Watchdog
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


CGROUPS = cgroups.mode()
needs_cgroups = pytest.mark.skipif(not CGROUPS.startswith("cgroup"),
                                   reason="no cgroup can be created under this process's own here")


@pytest.fixture(params=["cgroup", "watchdog"])
def enforcement(request, monkeypatch):
    """Run a test with a cgroup per kernel (where cgroups are writable) and with the watchdog
    alone (cgroups switched off: what every machine without them gets)."""
    if request.param == "cgroup" and not CGROUPS.startswith("cgroup"):
        pytest.skip("no cgroup can be created under this process's own here")
    if request.param == "watchdog":
        monkeypatch.setattr(cgroups.KernelCgroup, "create", classmethod(lambda cls, *args: None))
    return request.param


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


# -- 8: threads count against max_processes ------------------------------------------------------

@needs_namespaces
def test_threads_count_against_max_processes(sandboxed, enforcement) -> None:
    session = sandboxed(Limits(max_processes=40, cell_timeout_s=60))
    result = session.run(textwrap.dedent("""
        import threading, time
        stop = threading.Event()
        started = 0
        try:
            for _ in range(300):
                threading.Thread(target=stop.wait, daemon=True).start()
                started += 1
        except RuntimeError:
            pass
        time.sleep(20)
        """))
    assert result.status == "killed", result.text
    assert result.limit_event.kind == "processes" and result.limit_event.limit == 40
    assert session.run("6 * 7").text.strip() == "42"


# -- 5: tmpfs and memfd count as memory ---------------------------------------------------------

_FILL = """
import os, time
{open_it}
for _ in range(16):  # 50 MB more every 50 ms, up to 800 MB, far over the 0.4 GB limit
    os.write(fd, b"x" * (50 * 2**20))
    time.sleep(0.05)
time.sleep(20)
"""


@needs_namespaces
@pytest.mark.parametrize("place", ["/dev/shm", "/tmp", "memfd"])
def test_tmpfs_and_memfd_count_as_memory(sandboxed, enforcement, place) -> None:
    session = sandboxed(Limits(memory_gb=0.4, disk_gb=None, cell_timeout_s=60))
    open_it = ('fd = os.memfd_create("hoard")' if place == "memfd"
               else f'fd = os.open("{place}/hoard", os.O_CREAT | os.O_WRONLY)')
    result = session.run(_FILL.format(open_it=open_it))
    assert result.status == "killed", result.text
    assert result.limit_event.kind == "memory"
    assert session.run("6 * 7").text.strip() == "42"


# -- 6: every writable place counts against the disk limit, from a fixed baseline ------------------

@needs_namespaces
def test_home_and_tmp_count_against_the_disk_limit(sandboxed, enforcement) -> None:
    session = sandboxed(Limits(disk_gb=0.05, memory_gb=None, cell_timeout_s=60))
    result = session.run(textwrap.dedent("""
        import os, time
        for folder in (os.environ["HOME"], "/tmp"):  # 35 MB each: each under the limit, both over it
            with open(os.path.join(folder, "stash.bin"), "wb") as handle:
                handle.write(b"x" * (35 * 2**20))
        time.sleep(20)
        """))
    assert result.status == "killed", result.text
    assert result.limit_event.kind == "disk"


@needs_namespaces
def test_writing_between_cells_does_not_move_the_disk_baseline(sandboxed) -> None:
    session = sandboxed(Limits(disk_gb=0.05, memory_gb=None, cell_timeout_s=60))
    first = session.run(textwrap.dedent("""
        import threading, time
        def hoard():
            time.sleep(1)  # after the cell has ended
            with open("working/hoard.bin", "wb") as handle:
                handle.write(b"x" * (100 * 2**20))
        threading.Thread(target=hoard, daemon=True).start()
        """))
    assert first.status == "ok"
    working = session.cwd / "working" / "hoard.bin"
    wait_until(lambda: working.exists() and working.stat().st_size >= 100 * 2**20 or not session.is_alive,
               timeout=30, message="the background thread to write its file")
    second = session.run("import time; time.sleep(8)")
    # Killed during this cell, or between the cells (then this cell ran in a fresh kernel).
    assert second.restarted and "over the limit of 0.05 GB" in second.text, second.text


# -- 5: the kernel's cgroups: cores pinned, removed with the kernel, nothing else touched --------

def _our_cgroups() -> set[Path]:
    return {folder for hierarchy in cgroups._own_hierarchies() if hierarchy.own.is_dir()
            for folder in hierarchy.own.glob("dojo-*")}


@needs_namespaces
@needs_cgroups
def test_cpus_pin_cores_agent_code_cannot_widen(sandboxed) -> None:
    before = _our_cgroups()
    session = sandboxed(Limits(cpus=1, cell_timeout_s=60))
    seen = run_json(session, """
        import json, os
        pinned = sorted(os.sched_getaffinity(0))
        try:
            os.sched_setaffinity(0, range(os.cpu_count()))
        except OSError:
            pass
        print(json.dumps([pinned, sorted(os.sched_getaffinity(0))]))
        """)
    assert len(seen[0]) == 1 and seen[1] == seen[0]
    assert len(_our_cgroups() - before) >= 2  # memory, pids, cpuset of this kernel
    session.close()
    assert _our_cgroups() <= before  # removed with the kernel, others untouched


# -- 12: a slow disk scan does not blind the memory watchdog -------------------------------------

_BURST_ON_SIGNAL = """
import mmap, os, sys, time
# 600 MB of RAM prepared outside any process's memory (a deleted shared-memory file), so that
# the burst itself takes only the time to map it.
fd = os.open("/dev/shm/dojo-burst-%d" % os.getpid(), os.O_CREAT | os.O_RDWR, 0o600)
os.unlink("/dev/shm/dojo-burst-%d" % os.getpid())
for _ in range(60):
    os.write(fd, b"x" * (10 * 2**20))
print("ready", flush=True)
sys.stdin.readline()
if os.fork() == 0:  # a child of the watched tree maps all of it for 0.3 s, then is gone
    view = mmap.mmap(fd, 600 * 2**20, mmap.MAP_SHARED | mmap.MAP_POPULATE, mmap.PROT_READ)
    time.sleep(0.3)
    os._exit(0)
os.wait()
print("done", flush=True)
time.sleep(60)
"""


def _slow_folder(folder: Path, at_least_s: float) -> float:
    """Fill `folder` with hard links until one disk scan takes at_least_s; the scan's cost."""
    folder.mkdir()
    count, cost = 0, 0.0
    while cost < at_least_s and count < 200_000:
        sub = folder / str(count)
        sub.mkdir()
        seed = sub / "seed"  # one per folder: a file takes at most 65,000 links on ext4
        seed.write_bytes(b"x")
        for index in range(5_000):
            os.link(seed, sub / str(index))
        count += 5_000
        started = time.monotonic()
        limits_module._disk_bytes(folder)
        cost = time.monotonic() - started
    return cost


def test_a_slow_disk_scan_does_not_blind_the_memory_watchdog(tmp_path) -> None:
    # The burst lasts well under one scan and starts as the scans of attach() and begin_cell()
    # begin: a sampler that waits on the scan never sees it.
    scan_s = _slow_folder(tmp_path / "working", at_least_s=1.0)
    if scan_s < 1.0:
        pytest.skip(f"could not make a disk scan slow enough here ({scan_s:.2f} s)")
    parent = subprocess.Popen([sys.executable, "-c", _BURST_ON_SIGNAL], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    seen: list = []
    assert parent.stdout.readline() == "ready\n"
    dog = Watchdog(Limits(memory_gb=0.4, disk_gb=100, max_processes=None), disk_path=tmp_path / "working",
                   on_breach=seen.append)
    try:
        dog.attach(parent.pid)
        dog.begin_cell()
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline() == "done\n"
    finally:
        dog.stop()
        parent.kill()
        parent.wait()
    assert [breach.kind for breach in seen] == ["memory"], (seen, scan_s)


# -- 17: only the assigned GPU's device file; NVML failures fail closed ----------------------------

def test_only_the_assigned_gpu_device_file_is_bound() -> None:
    present = [Path(f"/dev/{name}") for name in ("nvidia0", "nvidia1", "nvidia2", "nvidiactl", "nvidia-uvm",
                                                 "nvidia-uvm-tools", "nvidia-modeset", "nvidia-caps")]
    plan = isolation.IsolationPlan("none")
    assigned = gpu_device_plan(LaunchSpec(plan, gpu_minor=1), present)
    assert [p.name for p in assigned] == ["nvidia-caps", "nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools",
                                          "nvidia1", "nvidiactl"]
    assert len(gpu_device_plan(LaunchSpec(plan), present)) == len(present)  # no GPU assigned: all
    assert gpu_device_plan(LaunchSpec(plan, gpu_minor=1, expose_gpus=False), present) == []
    with pytest.raises(Exception, match="gpu_minor"):
        LaunchSpec(plan, gpu_minor=-1)


class _FailingNvml:
    """Stands in for the NVML layer (no GPU here): available, then every query fails as a
    driver fault would."""

    error = None

    def available(self) -> bool:
        return True

    def memory_by_pid(self) -> dict:
        import pynvml
        raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)


def test_an_nvml_failure_fails_closed(monkeypatch, tmp_path) -> None:
    pytest.importorskip("pynvml")
    monkeypatch.setattr(limits_module, "NVML", _FailingNvml())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    seen: list = []
    dog = Watchdog(Limits(gpu_memory_gb=1, memory_gb=None, max_processes=None, disk_gb=None), disk_path=tmp_path,
                   on_breach=seen.append)
    try:
        dog.attach(sleeper.pid)
        wait_until(lambda: seen, timeout=10, message="the watchdog to stop the kernel")
    finally:
        dog.stop()
        sleeper.kill()
        sleeper.wait()
    assert seen[0].kind == "gpu_memory" and "NVML failed" in seen[0].message
