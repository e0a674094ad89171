"""An episode driver for the crash-consistency test, meant to be killed with SIGKILL.

    python crash_driver.py COMPETITION_DIR OUTPUT_DIR SIDE_FILE MARKER ISOLATION CHILD

It registers the competition at COMPETITION_DIR, makes an env (isolation ISOLATION) whose
kernels carry MARKER in their environment, resets it and then steps quick cells forever
(with CHILD "child" the first starts a child process of the kernel; every third writes a
submission, every fifth step is a `submit`). Into SIDE_FILE it writes `ready RUN_DIR` once
the episode has begun, and `step N` after each step has returned, fsynced, so that the test
knows which steps finished before the kill: each of them must be in the notebook and the
reward log.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _append(side: int, line: str) -> None:
    os.write(side, (line + "\n").encode())
    os.fsync(side)


def _action(number: int, with_child: bool) -> object:
    if number == 1 and with_child:  # a child of the kernel, which must die with it
        return "import subprocess\nsleeper = subprocess.Popen(['sleep', '600'])"
    if number % 5 == 0:
        return {"action": "submit"}
    if number % 3 == 0:
        return ("import shutil\n"
                "shutil.copy('input/sample_submission.csv', 'working/submission.csv')\n"
                f"print('submission {number}')")
    return f"value_{number} = {number} * 2\nprint(value_{number})"


def main(competition_dir: str, output_dir: str, side_file: str, marker: str, isolation: str, child: str) -> None:
    from support import HOSTILE_LIMITS, MARKER_VARIABLE

    import dojo_kernel
    from dojo_kernel.competition import register

    competition = register(Path(competition_dir), name=Path(competition_dir).name)
    env = dojo_kernel.make(competition.name, output_dir=output_dir, warm_pool=0, isolation=isolation,
                           kernel_env={MARKER_VARIABLE: marker}, **HOSTILE_LIMITS)
    side = os.open(side_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    _, info = env.reset(seed=0)
    _append(side, f"ready {info['run_dir']}")
    number = 0
    while True:  # until killed
        number += 1
        env.step(_action(number, with_child=child == "child"))
        _append(side, f"step {number}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main(*sys.argv[1:7])
