"""The watchdog and the process-tree helpers, on real processes (no kernel)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import psutil
import pytest

from dojo_kernel.limits import NVML, Breach, CellPeaks, Limits, Watchdog, tree_pids
from dojo_kernel.spawn import kill_tree
from waiting import wait_until

GB = 1024**3
NO_LIMITS = Limits(memory_gb=None, max_processes=None, disk_gb=None)


def spawn(script: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], **kwargs)


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []

    def start(script: str, **kwargs) -> subprocess.Popen:
        process = spawn(script, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        kill_tree(process.pid)
        process.wait(timeout=10)


PARENT_OF_TWO = """
    import subprocess, sys, time
    inner = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    subprocess.Popen([sys.executable, "-c", inner])
    print("ready", flush=True)
    time.sleep(60)
"""


def wait_for_tree(root: int, size: int) -> list[int]:
    def whole() -> list[int] | None:
        pids = tree_pids(root)
        return pids if len(pids) >= size else None
    return wait_until(whole, timeout=20, message=f"a process tree of {size}")


def test_tree_pids_finds_grandchildren(processes):
    parent = processes(PARENT_OF_TWO)
    pids = wait_for_tree(parent.pid, 3)
    assert pids[0] == parent.pid and len(pids) == 3
    assert set(pids[1:]) == {p.pid for p in psutil.Process(parent.pid).children(recursive=True)}


def test_tree_pids_of_a_missing_process_is_empty():
    process = spawn("pass")
    process.wait()
    assert tree_pids(process.pid) == []


class Recorder:
    def __init__(self) -> None:
        self.breaches: list[Breach] = []
        self.seen = threading.Event()

    def __call__(self, breach: Breach) -> None:
        self.breaches.append(breach)
        self.seen.set()


def sampled_peaks(dog: Watchdog, above: int = 0) -> CellPeaks | None:
    """The peaks of a cell that ends now, if the watchdog measured more than `above` bytes by
    then; else None, and a new cell begins (for wait_until to ask again)."""
    peaks = dog.end_cell()
    if peaks.rss_bytes > above:
        return peaks
    dog.begin_cell()
    return None


def watch(limits: Limits, root: int, disk_path, recorder: Recorder) -> Watchdog:
    dog = Watchdog(limits, disk_path=disk_path, on_breach=recorder)
    dog.attach(root)
    dog.begin_cell()
    return dog


def test_memory_breach_is_reported_with_limit_and_peak(processes, tmp_path):
    hog = processes("""
        import time
        blocks = []
        for _ in range(20):
            blocks.append(b"x" * (50 * 2**20))
            time.sleep(0.05)
        time.sleep(60)
    """)
    recorder = Recorder()
    dog = watch(Limits(memory_gb=0.5, max_processes=None, disk_gb=None), hog.pid, tmp_path, recorder)
    try:
        assert recorder.seen.wait(30)
    finally:
        dog.stop()
    (breach,) = recorder.breaches
    assert breach.kind == "memory" and breach.limit == 0.5 and breach.peak > 0.5
    assert breach.root_pid == hog.pid and "0.5 GB" in breach.message
    assert dog.breach == breach


def test_shared_pages_of_forked_children_count_once(processes, tmp_path):
    forker = processes("""
        import os, time
        data = b"x" * (300 * 2**20)
        for _ in range(4):
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
        print("forked", flush=True)
        time.sleep(60)
    """, stdout=subprocess.PIPE)
    assert forker.stdout.readline() == b"forked\n"
    recorder = Recorder()
    dog = watch(Limits(memory_gb=0.75, max_processes=None, disk_gb=None), forker.pid, tmp_path, recorder)
    try:
        peaks = wait_until(lambda: sampled_peaks(dog), timeout=20, message="the watchdog to sample the tree")
        assert dog.sample(forker.pid) is None  # one more measurement, in this thread
        rss_sum = sum(psutil.Process(pid).memory_info().rss for pid in tree_pids(forker.pid))
    finally:
        dog.stop()
    assert rss_sum > 1.2 * GB  # summed RSS would have crossed the limit ...
    assert recorder.breaches == []  # ... but PSS did not
    assert 0.25 * GB < peaks.rss_bytes < 0.75 * GB


def test_process_count_breach(processes, tmp_path):
    parent = processes(PARENT_OF_TWO)
    wait_for_tree(parent.pid, 3)
    recorder = Recorder()
    dog = watch(Limits(memory_gb=None, max_processes=2, disk_gb=None), parent.pid, tmp_path, recorder)
    try:
        assert recorder.seen.wait(10)
    finally:
        dog.stop()
    assert recorder.breaches[0].kind == "processes" and recorder.breaches[0].peak == 3


def test_disk_breach_measures_the_folder_it_is_given(processes, tmp_path):
    (tmp_path / "working").mkdir()
    (tmp_path / "outside.bin").write_bytes(b"x" * (3 * 2**20))  # not in working/: not counted
    sleeper = processes("import time; time.sleep(60)")
    recorder = Recorder()
    dog = watch(Limits(memory_gb=None, max_processes=None, disk_gb=0.002), sleeper.pid, tmp_path / "working",
                recorder)
    try:
        assert not recorder.seen.wait(1.5)
        (tmp_path / "working" / "inside.bin").write_bytes(b"x" * (3 * 2**20))
        assert recorder.seen.wait(10)
    finally:
        dog.stop()
    assert recorder.breaches[0].kind == "disk" and "working" in recorder.breaches[0].message


def test_idle_peaks_are_the_last_sample(processes, tmp_path):
    sleeper = processes("import time; data = b'x' * (100 * 2**20); time.sleep(60)")
    dog = Watchdog(NO_LIMITS, disk_path=tmp_path, on_breach=Recorder())
    dog.attach(sleeper.pid)
    try:
        # A cell that begins and ends at once reports the last idle sample as its peak.
        peaks = wait_until(lambda: sampled_peaks(dog, above=100 * 2**20), timeout=20,
                           message="an idle sample of the sleeper's 100 MB")
    finally:
        dog.stop()
    assert peaks.rss_bytes > 100 * 2**20


def test_attach_none_stops_watching(processes, tmp_path):
    hog = processes("import time; data = b'x' * (200 * 2**20); time.sleep(60)")
    recorder = Recorder()
    dog = Watchdog(Limits(memory_gb=0.1, max_processes=None, disk_gb=None), disk_path=tmp_path,
                   on_breach=recorder)
    dog.attach(None)
    try:
        assert not recorder.seen.wait(1.0)
    finally:
        dog.stop()
    assert hog.poll() is None


def test_gpu_limit_without_a_gpu_is_a_warning():
    if NVML.available():
        pytest.skip("NVML finds a GPU here")
    dog = Watchdog(Limits(gpu_memory_gb=1), disk_path=__import__("pathlib").Path("."), on_breach=Recorder())
    dog.stop()
    assert len(dog.warnings) == 1 and "GPU memory limit unenforceable" in dog.warnings[0]
    assert "gpu_memory_gb=1" in dog.warnings[0]


@pytest.mark.gpu
def test_gpu_memory_breach_from_torch(processes, tmp_path):
    if not NVML.available():
        pytest.skip(f"no GPU: {NVML.error}")
    pytest.importorskip("torch")
    hog = processes("""
        import time, torch
        blocks = [torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda") for _ in range(12)]
        time.sleep(60)
    """)
    recorder = Recorder()
    dog = watch(Limits(gpu_memory_gb=1, memory_gb=None, max_processes=None, disk_gb=None),
                hog.pid, tmp_path, recorder)
    try:
        assert recorder.seen.wait(60)
    finally:
        dog.stop()
    assert recorder.breaches[0].kind == "gpu_memory" and recorder.breaches[0].peak > 1


def test_nvml_total_memory_is_none_for_a_gpu_it_cannot_see():
    """The batch's GPU slots ask the same NVML layer as the watchdog for a GPU's memory."""
    assert NVML.total_memory_bytes(NVML.device_count()) is None  # one past the last GPU
    assert NVML.total_memory_bytes(-1) is None
    if NVML.available():
        assert NVML.total_memory_bytes(0) > 0
    else:
        assert NVML.device_count() == 0 and NVML.error
