"""What the reliability tests share: a private copy of a built-in competition, the small
limits hostile cells run under, finding every process an episode started, and checking the
files an episode leaves behind."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import psutil

import dojo_kernel
from dojo_kernel.competition import Competition, register
from dojo_kernel.spaces import CELL_STATUSES, OBSERVATION_ACTIONS

BUILTIN = "iris-species"  # 150 rows: grading takes milliseconds
# Small limits, so that every hostile cell meets one within seconds.
HOSTILE_LIMITS: dict[str, Any] = {"cell_timeout_s": 3, "memory_gb": 1, "max_processes": 64, "disk_gb": 0.2}
# The environment variable every kernel of a test carries (through kernel_env), so that a
# process it started can be found even after it left the kernel's tree and its directory.
MARKER_VARIABLE = "DOJO_RELIABILITY_MARK"

# A cell that writes a valid submission (the sample) and shows whether the state survived.
RECOVERY_CELL = ("import shutil\n"
                 "shutil.copy('input/sample_submission.csv', 'working/submission.csv')\n"
                 "print('alive', globals().get('_canary'))\n")
CANARY = 48_611


def private_competition(root: Path, name: str = "iris-reliability") -> Competition:
    """A copy of the built-in competition under `root`, registered as `name`: hostile cells
    that delete or fill files can only ever harm the copy, never the shared data cache."""
    source = Path(dojo_kernel.get_competition(BUILTIN).public_dir).parent
    target = root / name
    if not target.exists():
        shutil.copytree(source, target)
    return register(target, name=name)


def action_of(obs: dict[str, Any]) -> str:
    return OBSERVATION_ACTIONS[int(obs["action"])]


def status_of(obs: dict[str, Any]) -> str:
    return CELL_STATUSES[int(obs["status"])]


def checked_step(env: Any, action: Any) -> tuple[dict, float, bool, bool, dict, float]:
    """env.step(action), checked for the Gymnasium contract; also returns its wall time."""
    started = time.monotonic()
    obs, reward, terminated, truncated, info = env.step(action)
    took = time.monotonic() - started
    assert obs in env.observation_space, f"observation outside its space: {_short(obs)}"
    assert isinstance(reward, float) and np.isfinite(reward), reward
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    assert isinstance(info, dict)
    return obs, reward, terminated, truncated, info, took


def _short(obs: Any) -> str:
    return repr(obs)[:500]


# ------------------------------------------------------------------ the files of a run dir

def check_record(run_dir: Path, *, steps: int | None = None) -> tuple[nbformat.NotebookNode, list[dict]]:
    """The notebook validates and every line of the reward log is a JSON object; with `steps`,
    both hold exactly steps 1..steps. Returns both; the entries are the reward log's."""
    notebook = nbformat.read(run_dir / "trajectory.ipynb", as_version=4)
    nbformat.validate(notebook)
    raw = (run_dir / "rewards.jsonl").read_bytes() if (run_dir / "rewards.jsonl").exists() else b""
    assert raw == b"" or raw.endswith(b"\n"), f"rewards.jsonl ends in a torn line: {raw[-200:]!r}"
    entries = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        entry = json.loads(line)  # every line, not only the readable ones
        assert isinstance(entry, dict), f"line {number} of rewards.jsonl is not an object: {line[:200]}"
        entries.append(entry)
    assert [entry["step"] for entry in entries] == list(range(1, len(entries) + 1)), \
        f"reward log steps out of order: {[entry['step'] for entry in entries]}"
    recorded = [cell.metadata["dojo"]["step"] for cell in notebook.cells
                if cell.get("metadata", {}).get("dojo", {}).get("kind") == "step"]
    logged = [entry["step"] for entry in entries]
    if steps is not None:
        assert recorded == logged == list(range(1, steps + 1)), \
            f"expected steps 1..{steps} in both files, got {recorded} in the notebook, {logged} in the reward log"
    else:
        # The notebook is written first, then the log line: a crash between the two leaves
        # the notebook one step ahead, never behind and never out of order.
        assert recorded[: len(logged)] == logged and len(recorded) <= len(logged) + 1, (recorded, logged)
    return notebook, entries


# ------------------------------------------------------------------ processes left behind

def _carries_marker(process: psutil.Process, marker: str) -> bool:
    try:
        return process.environ().get(MARKER_VARIABLE) == marker
    except (psutil.Error, OSError):
        return False


def stray_processes(root: Path, marker: str | None = None) -> list[psutil.Process]:
    """Live processes of this test: working in `root` or below it, or carrying `marker` in
    their environment (a daemon that changed directory still carries it)."""
    root_text = str(root.resolve())
    me = os.getpid()
    found = []
    for process in psutil.process_iter(["cwd", "status", "pid"]):
        if process.info["pid"] == me or process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cwd = process.info.get("cwd") or ""
        if cwd == root_text or cwd.startswith(root_text + "/") or (marker and _carries_marker(process, marker)):
            found.append(process)
    return found


def describe(processes: list[psutil.Process]) -> list[str]:
    shown = []
    for process in processes:
        try:
            shown.append(f"{process.pid} {' '.join(process.cmdline())[:120]} (cwd {process.cwd()})")
        except psutil.Error:
            shown.append(f"{process.pid} (gone)")
    return shown


def wait_until_gone(root: Path, marker: str | None = None, within_s: float = 5.0) -> list[psutil.Process]:
    """The processes still left after up to `within_s` seconds (an empty list when none are)."""
    deadline = time.monotonic() + within_s
    while True:
        left = stray_processes(root, marker)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def kill_strays(processes: list[psutil.Process]) -> None:
    """Clean up after a failed check, so that one failure does not slow every later test."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
