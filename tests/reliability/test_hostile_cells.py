"""The hostile-cell catalogue: cells that try to hang, crash, flood or escape the kernel,
each run as one step of a real env under small limits.

Every case runs the same episode: set a canary variable, run the hostile cell, then a
recovery cell that writes a valid submission and prints the canary. It must hold that

- the hostile step returns (pytest-timeout bounds the test; the step itself within its
  cell timeout plus a generous 30 s),
- its observation is in the observation space and says what happened in words an agent
  can act on (the `says` words of the case),
- the recovery step runs and grades its submission, and the canary is either still there
  or its loss was reported by the hostile step (`kernel_restarted` and "every variable"),
- the notebook validates and every line of the reward log is JSON, after every step,
- after close(), no process the episode started is left running.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import dojo_kernel
from dojo_kernel.isolation import resolve_mode

from .support import (
    CANARY,
    HOSTILE_LIMITS,
    MARKER_VARIABLE,
    RECOVERY_CELL,
    check_record,
    checked_step,
    describe,
    kill_strays,
    status_of,
    wait_until_gone,
)

# The catalogue runs under the isolation the machine allows; DOJO_RELIABILITY_ISOLATION=none
# runs it without the sandbox, to see what the watchdog alone holds.
ISOLATION_SETTING = os.environ.get("DOJO_RELIABILITY_ISOLATION", "auto")
ISOLATION = resolve_mode(ISOLATION_SETTING)
GENEROUS_S = 30.0  # on top of a cell's timeout: the step must return within it


@dataclass(frozen=True)
class Hostile:
    """One hostile cell and what the env must make of it.

    statuses  the cell statuses the observation may report
    says      words the feedback must hold (case-insensitive); a tuple inside means any one of
    state     "kept": the canary survives; "lost": the kernel was restarted and the feedback
              says so; "either": one of the two; "cleared": gone by the cell's own hand (%reset)
    graded    for cells that write the submission: the step grades it and finds it invalid
    needs_namespaces   why the case is only safe (or only meaningful) inside the sandbox
    settings  env settings on top of HOSTILE_LIMITS
    before    a cell run before the hostile one (after the canary)
    cleanup   a cell run after it, before the recovery (e.g. removing a huge file); it must
              end "ok" and its feedback hold the words of `cleanup_says`
    recovery_says     words the recovery step's feedback must hold
    recovery_may_fail the recovery cell may fail with one of these words in its feedback
                      (the kernel's state makes it impossible and the feedback says why)
    """

    name: str
    code: str
    statuses: tuple[str, ...]
    says: tuple[str | tuple[str, ...], ...] = ()
    state: str = "kept"
    graded: bool = False
    needs_namespaces: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    before: str | None = None
    cleanup: str | None = None
    cleanup_says: tuple[str, ...] = ()
    recovery_says: tuple[str, ...] = ()
    recovery_may_fail: tuple[str, ...] = ()
    never_says: tuple[str, ...] = ()  # what the hostile step's feedback must not hold


LOST = ("restarted", "every variable")

CATALOGUE = [
    # -- time -------------------------------------------------------------------------------
    Hostile("busy_loop", "while True:\n    pass", ("timeout",), ("timeout", "interrupted"), "kept"),
    Hostile("sleep", "import time\ntime.sleep(600)", ("timeout",), ("timeout", "interrupted"), "kept"),
    Hostile("swallowed_keyboard_interrupt",
            "import time\nwhile True:\n    try:\n        time.sleep(600)\n    except KeyboardInterrupt:\n"
            "        print('not stopping')",
            ("timeout",), ("timeout", "killed", *LOST), "lost"),
    Hostile("sigint_ignored",
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)",
            ("timeout",), ("timeout", "killed", *LOST), "lost"),
    # A product that takes longer than the timeout and its grace: no interrupt lands in C code.
    Hostile("long_c_call",
            "import numpy as np\na = np.ones((6000, 6000), dtype=np.float32)\nfor _ in range(20):\n"
            "    b = a @ a", ("timeout",), ("timeout",), "either", settings={"memory_gb": 2}),
    Hostile("long_single_c_call",
            "import numpy as np\na = np.ones((7000, 7000), dtype=np.float64)\nb = a @ a @ a @ a @ a",
            ("timeout",), ("timeout",), "either", settings={"memory_gb": 2}),
    # -- the kernel ends -------------------------------------------------------------------
    Hostile("os_exit", "import os\nos._exit(3)", ("died",), ("died", "exit code 3", *LOST), "lost"),
    Hostile("segfault", "import ctypes\nctypes.string_at(0)", ("died",), ("died", "SIGSEGV", *LOST), "lost"),
    # IPython turns SystemExit into an error and keeps the kernel (exit() and quit() end it).
    Hostile("sys_exit", "import sys\nsys.exit()", ("error",), ("SystemExit",), "kept"),
    Hostile("exit", "exit()", ("died",), ("exit()", *LOST), "lost"),
    Hostile("quit", "quit()", ("died",), (("exit()", "quit()"), *LOST), "lost"),
    # A shutdown_request sent to the kernel's own control channel, as a frontend would. The
    # kernel stops once the cell ends. Importing jupyter_client and connecting took over 3 s on
    # a loaded machine, so this case has 30 s (a shutdown that never came ends the cell "ok").
    Hostile("kernel_shuts_itself_down",
            "from ipykernel import get_connection_file\nfrom jupyter_client import BlockingKernelClient\n"
            "client = BlockingKernelClient(connection_file=get_connection_file())\n"
            "client.load_connection_file()\nclient.start_channels()\nclient.shutdown()\n"
            "import time\ntime.sleep(2)", ("died",), ("died", "exit code 0", *LOST), "lost",
            settings={"cell_timeout_s": 30}),
    Hostile("sigterm_to_itself", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)",
            ("died",), ("died", "SIGTERM", *LOST), "lost"),
    # Inside the sandbox the kernel's group leader lies outside its PID namespace: the call
    # fails there (ProcessLookupError); without the sandbox the kernel dies and is replaced.
    Hostile("kill_own_process_group", "import os\nos.killpg(os.getpgid(0), 9)",
            ("died", "error"), (("SIGKILL", "ProcessLookupError"),), "either"),
    # -- memory and processes --------------------------------------------------------------
    Hostile("memory_bomb", "hoard = []\nwhile True:\n    hoard.append(b'x' * 50_000_000)",
            ("killed",), ("memory", "1 GB", *LOST), "lost"),
    Hostile("memory_bomb_in_child",
            "import subprocess, sys\nsubprocess.run([sys.executable, '-c', "
            "'hoard = []\\nwhile True: hoard.append(b\"x\" * 50_000_000)'])",
            ("killed",), ("memory", *LOST), "lost"),
    Hostile("200_sleeping_children",
            "import subprocess\nchildren = [subprocess.Popen(['sleep', '600']) for _ in range(200)]",
            ("killed", "error"), ("process",), "either"),
    # -- output ----------------------------------------------------------------------------
    Hostile("100_mb_of_output", "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000 + '\\n')",
            ("ok", "timeout"), ("characters of output cut",), "either", settings={"cell_timeout_s": 60}),
    Hostile("invalid_utf8_on_stdout", "import os\nos.write(1, b'\\xff\\xfe\\n')\nprint('still here')",
            ("ok",), ("still here",), "kept"),
    Hostile("20_mb_image",
            "import base64, os\nfrom IPython.display import display\n"
            "display({'image/png': base64.b64encode(os.urandom(20_000_000)).decode(), 'text/plain': 'big'}, raw=True)",
            ("ok",), ("image", "dropped"), "kept", settings={"cell_timeout_s": 30}),
    Hostile("input", "name = input('your name? ')", ("error",), ("input()", "not available"), "kept"),
    Hostile("thread_printing_after_its_cell",
            "import threading, time\ndef chatter():\n    for i in range(100_000):\n"
            "        print('tick', i, flush=True)\n        time.sleep(0.01)\n"
            "threading.Thread(target=chatter, daemon=True).start()",
            ("ok",), (), "kept", cleanup="import time\ntime.sleep(1)", cleanup_says=("tick",)),
    Hostile("daemon_subprocess",
            "import subprocess\nsubprocess.Popen(['sleep', '600'], start_new_session=True)\n"
            "subprocess.Popen(['sh', '-c', '(setsid sleep 600 &) ; exit 0'])\nprint('spawned')",
            ("ok",), ("spawned",), "kept",
            needs_namespaces="without a PID namespace a double-forked daemon leaves both the kernel's "
                             "process tree and its process group, so nothing finds it to end it"),
    # -- the file system -------------------------------------------------------------------
    Hostile("chdir_before_a_submission", "import os\nos.chdir('/')\nprint(os.getcwd())",
            ("ok",), ("working directory is now '/'", "os.chdir("), "kept",
            recovery_may_fail=("working/submission.csv", "input/sample_submission.csv")),
    Hostile("delete_input",
            "import os, shutil\nfor name in os.listdir('input'):\n    os.remove(os.path.join('input', name))",
            ("error",), (("Read-only file system", "Permission denied"),), "kept",
            needs_namespaces="without namespaces input/ links to the competition's own files, "
                             "which agent code can then delete"),
    Hostile("fill_the_disk_of_working",
            "with open('working/fill.bin', 'wb') as sink:\n    while True:\n"
            "        sink.write(b'\\1' * 10_000_000)\n        sink.flush()",
            ("killed",), ("working directory", "over the limit of 0.2 GB", "delete", *LOST), "lost",
            cleanup="import os\nos.remove('working/fill.bin')"),
    # -- hostile submissions ---------------------------------------------------------------
    Hostile("submission_is_a_symlink_to_the_answers",
            "import os\nos.symlink(ANSWERS, 'working/submission.csv')", ("ok",),
            ("invalid", "a link or lies outside it"), "kept", graded=True, cleanup="import os\nos.remove('working/submission.csv')"),
    Hostile("submission_is_a_fifo", "import os\nos.mkfifo('working/submission.csv')", ("ok",),
            ("invalid", "regular file"), "kept", graded=True, cleanup="import os\nos.remove('working/submission.csv')"),
    Hostile("submission_of_5_gb_sparse",
            "with open('working/submission.csv', 'wb') as sink:\n    sink.truncate(5 * 1024**3)", ("ok",),
            ("invalid", "5,368,709,120"), "kept", graded=True),
    Hostile("submission_with_one_100_mb_line",
            "with open('working/submission.csv', 'w') as sink:\n    sink.write('id,species\\n' + 'a' * 100_000_000)",
            ("ok",), ("invalid", "bytes"), "kept", graded=True, settings={"cell_timeout_s": 30}),
    # -- the kernel's own channels (issue 14): forged, re-keyed, escape sequences -----------
    Hostile("changes_its_session_key", "get_ipython().kernel.session.key = b'a key of my own'",
            ("died",), ("could not verify", *LOST), "lost"),
    Hostile("forges_a_malformed_output",
            "k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'error', {'ename': 1, 'traceback': 'x'}, "
            "parent=k.get_parent())", ("died",), ("could not use", *LOST), "lost"),
    Hostile("terminal_escape_sequences",
            "print('\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\x9b0m \\u202eright-to-left \\x07bell')",
            ("ok",), ("red", "\\x07bell", "\\u202eright"), "kept", never_says=("\x1b", "\x9b", "\x07", "\u202e")),
    # -- the namespace ---------------------------------------------------------------------
    Hostile("reset_magic", "%reset -f", ("ok",), (), "cleared"),
]


def _has(feedback: str, words: str | tuple[str, ...]) -> bool:
    options = (words,) if isinstance(words, str) else words
    return any(option.lower() in feedback.lower() for option in options)


def _assert_says(feedback: str, says: tuple[str | tuple[str, ...], ...], what: str) -> None:
    missing = [words for words in says if not _has(feedback, words)]
    assert not missing, f"the {what} feedback does not say {missing}:\n{feedback[:3000]}"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_hostile_cell(case: Hostile, reliability_competition, tmp_path):
    if case.needs_namespaces and ISOLATION.mode != "namespaces":
        why = f"isolation here is {ISOLATION.mode!r}" + (f": {ISOLATION.warning}" if ISOLATION.warning else "")
        pytest.skip(f"needs namespaces ({why}): {case.needs_namespaces}")
    marker = uuid.uuid4().hex
    settings = {**HOSTILE_LIMITS, **case.settings}
    env = dojo_kernel.make(reliability_competition.name, output_dir=tmp_path / "runs", warm_pool=0,
                           isolation=ISOLATION_SETTING, kernel_env={MARKER_VARIABLE: marker}, **settings)
    steps = 0
    try:
        _, info = env.reset(seed=0)
        run_dir = Path(info["run_dir"])

        def step(action: Any):
            nonlocal steps
            result = checked_step(env, action)
            steps += 1
            check_record(run_dir, steps=steps)
            return result

        obs, *_ = step(f"_canary = {CANARY}")
        assert status_of(obs) == "ok", obs["feedback"]
        if case.before:
            step(case.before)

        # ANSWERS: where the private answers lie (the kernel may not see them; a link may name them)
        answers = Path(reliability_competition.private_dir) / "test_answer.csv"
        obs, _, terminated, truncated, info, took = step(case.code.replace("ANSWERS", repr(str(answers))))
        feedback = obs["feedback"]
        assert not (terminated or truncated), feedback
        assert took < settings["cell_timeout_s"] + GENEROUS_S, f"the step took {took:.1f} s"
        assert status_of(obs) in case.statuses, f"status {status_of(obs)}, expected {case.statuses}:\n{feedback[:3000]}"
        _assert_says(feedback, case.says, "hostile step's")
        assert not [text for text in case.never_says if text in feedback], repr(feedback[:3000])
        restarted = bool(obs["kernel_restarted"])
        if case.state == "lost" or (case.state == "either" and restarted):
            assert restarted, f"expected a restart to be reported:\n{feedback[:3000]}"
            _assert_says(feedback, LOST, "hostile step's")
        elif case.state in ("kept", "cleared"):
            assert not restarted, f"the kernel was restarted though the case keeps its state:\n{feedback[:3000]}"
        if case.graded:
            assert int(obs["graded"]) == 1 and int(obs["valid_submission"]) == 0, feedback[:3000]
            assert info.get("grade", {}).get("error"), info.get("grade")

        if case.cleanup:  # it must run: a cell may always clean up what a stopped cell left
            obs, *_ = step(case.cleanup)
            assert status_of(obs) == "ok", obs["feedback"][:3000]
            _assert_says(obs["feedback"], case.cleanup_says, "cleanup step's")
        obs, _, _, _, info, _ = step(RECOVERY_CELL)
        feedback = obs["feedback"]
        if case.recovery_may_fail and status_of(obs) == "error":
            _assert_says(feedback, (case.recovery_may_fail,), "recovery step's")
        else:
            assert status_of(obs) == "ok", feedback[:3000]
            assert int(obs["graded"]) == 1 and int(obs["valid_submission"]) == 1, feedback[:3000]
            canary = str(CANARY) if case.state == "kept" or (case.state == "either" and not restarted) else "None"
            assert f"alive {canary}" in feedback, feedback[:3000]
        _assert_says(feedback, case.recovery_says, "recovery step's")
    finally:
        env.close()
    if steps:
        check_record(run_dir, steps=steps)
        assert (run_dir / "summary.json").is_file()
    left = wait_until_gone(tmp_path, marker, within_s=5.0)
    kill_strays(left)
    assert not left, f"left running after close(): {describe(left)}"
