"""What a person at the terminal sees from `dojo` (issue 19): one-line errors from every
subcommand, every default in --help, `python -m dojo_kernel`, the unisolated warning, paths
that stay whole at 80 columns, the run-dir layout, replays that leave nothing behind, the
live row of a running cell, and Ctrl-C in the human agent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tiny_competition  # noqa: E402
from dojo_kernel.cli import build_parser, main  # noqa: E402
from waiting import wait_until  # noqa: E402

SUBCOMMANDS = ("list", "prepare", "run", "batch", "replay", "report", "attach", "leaderboard")


def one_line(text: str, command: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"dojo {command}: expected one line, got {lines}"
    assert lines[0].startswith(f"dojo {command}: error: "), lines[0]
    return lines[0]


@pytest.fixture
def wrong_inputs(tmp_path):
    """For every subcommand, inputs a person gets wrong: missing files, files of another kind,
    bad values. Each must end in one line on stderr and exit code 2."""
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a notebook\n")
    fake_notebook = tmp_path / "fake.ipynb"
    fake_notebook.write_text('{"cells": "no"}')
    bad_grid = tmp_path / "grid.toml"
    bad_grid.write_text("competitions = [\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = str(tmp_path / "missing")
    return {
        "list": [["list", "--bogus"]],
        "prepare": [["prepare", "no-such-competition-xyz"], ["prepare"]],
        "run": [["run", "no-such-competition-xyz"], ["run", "iris-species", "--memory-gb", "-1"],
                ["run", "iris-species", "--agent", "nope"], ["run", "iris-species", "--agent-option", "x"],
                ["run", "iris-species", "--agent", "no_such_module_xyz:Agent"]],
        "batch": [["batch", "iris-species"], ["batch", str(bad_grid), "--out", str(tmp_path / "b")],
                  ["batch", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "b")]],
        "replay": [["replay", missing], ["replay", str(text_file)], ["replay", str(fake_notebook)],
                   ["replay", str(empty)]],
        "report": [["report", missing], ["report", str(empty)], ["report", str(text_file)]],
        "attach": [["attach", missing], ["attach", str(empty)]],
        "leaderboard": [["leaderboard", missing], ["leaderboard", str(empty)], ["leaderboard"]],
    }


def test_every_subcommand_answers_wrong_input_in_one_line(wrong_inputs, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DOJO_DATA", str(tmp_path / "data"))
    assert set(wrong_inputs) == set(SUBCOMMANDS)
    for command, cases in wrong_inputs.items():
        for argv in cases:
            try:
                code = main([*argv, *(["--no-progress"] if command == "batch" else [])])
            except SystemExit as exit_info:  # argparse's own errors
                code = exit_info.code
            assert code == 2, argv
            captured = capsys.readouterr()
            assert "Traceback" not in captured.err + captured.out, argv
            one_line(captured.err, command)


def test_help_shows_every_default():
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.choices and "run" in action.choices)
    assert set(SUBCOMMANDS) <= set(subparsers.choices)
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0:  # positionals, flags, --help
                continue
            text = action.help or ""
            assert "default" in text or "(required)" in text, f"dojo {name} {action.option_strings[0]}: no default in its help"


def test_python_m_dojo_kernel_is_the_dojo_command():
    done = subprocess.run([sys.executable, "-m", "dojo_kernel", "run", "--max-steps", "zero", "x"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "expected an integer > 0, got 'zero'" in one_line(done.stderr, "run")


def test_gpu_without_a_gpu_is_an_error(capsys, tmp_path, monkeypatch):
    from dojo_kernel.limits import NVML

    if NVML.available():
        pytest.skip("this machine has a GPU: --gpu 0 is valid here")
    monkeypatch.setenv("DOJO_DATA", str(tmp_path))
    tiny_competition.build(tmp_path)
    assert main(["run", tiny_competition.NAME, "--gpu", "0", "--out", str(tmp_path / "runs")]) == 2
    assert "expected a GPU for --gpu 0, got none" in one_line(capsys.readouterr().err, "run")
    assert not (tmp_path / "runs").exists()  # refused before anything started


def test_an_unisolated_run_says_so_keeps_paths_whole_and_replays_without_leftovers(tmp_path):
    """`python -m dojo_kernel run` at 80 columns, unisolated; then its notebook is replayed."""
    data, scratch = tmp_path / "data", tmp_path / "tmp"
    scratch.mkdir()
    tiny_competition.build(data)
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "runs"
    env = {**os.environ, "DOJO_DATA": str(data), "COLUMNS": "80", "TMPDIR": str(scratch),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "dojo_kernel", "run", tiny_competition.NAME, "--max-steps", "3",
                           "--isolation", "none", "--quiet", "--out", str(deep), "--agent-option", "folds=2"],
                          capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    assert "the kernel is NOT isolated" in done.stderr  # said before the first step
    assert "NOT isolated" in done.stdout  # and in the summary box
    # one layout: OUT/COMPETITION/<time>-<id>
    (run_dir,) = (deep / tiny_competition.NAME).iterdir()
    assert f"run dir:  {run_dir}\n" in done.stdout  # whole on one line, though longer than 80 columns
    assert f"notebook: {run_dir / 'trajectory.ipynb'}\n" in done.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["final_valid"] is True and summary["steps"] == 3  # the baseline submitted within 3 steps
    if subprocess.run(["which", "jupyter-lab"], capture_output=True, env=env).returncode != 0:
        assert "pip install 'dojo-kernel[jupyter]'" in done.stdout

    replayed = subprocess.run([sys.executable, "-m", "dojo_kernel", "replay", str(run_dir), "--isolation", "none"],
                              capture_output=True, text=True, timeout=240, env=env)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "run dir is removed" in replayed.stdout
    assert list(scratch.iterdir()) == []  # no dojo-replay-* folder left in the temp dir


@pytest.fixture
def tiny_env(tmp_path):
    import dojo_kernel

    env = dojo_kernel.make(tiny_competition.build(tmp_path / "data"), output_dir=tmp_path / "runs", isolation="none")
    env.reset()
    yield env
    env.close()


def test_the_live_table_shows_a_running_cells_time_and_memory(tiny_env):
    from rich.console import Console

    from dojo_kernel.console_view import LiveSteps

    live = LiveSteps(Console(), tiny_competition.NAME, "test", env=tiny_env)
    code = "import time\nblock = b'x' * (300 * 1024**2)\nfor _ in range(100):\n    time.sleep(0.05)\n"
    live.on_action(1, code)
    step = threading.Thread(target=tiny_env.step, args=(code,))
    step.start()
    try:
        def shown() -> str:
            console = Console(record=True, width=200)
            console.print(live.render())
            return console.export_text()

        def peak_mb() -> int:
            text = shown()
            return int(text.split("peak ")[1].split(" MB")[0]) if "running" in text and " MB" in text else 0

        # the 300 MB block is counted while the cell still runs
        wait_until(lambda: peak_mb() >= 300, timeout=30, message="the running row's peak to reach 300 MB")
    finally:
        step.join(timeout=60)


def test_ctrl_c_interrupts_the_cell_and_a_second_one_ends_the_episode(tiny_env):
    from dojo_kernel.agents.human import CtrlC

    with CtrlC(tiny_env, window_s=2.0) as ctrl_c:
        started = Path(tiny_env.run_dir) / "working" / "started"

        def press_once_the_cell_runs() -> None:
            wait_until(started.exists, timeout=30)
            os.kill(os.getpid(), signal.SIGINT)

        presser = threading.Thread(target=press_once_the_cell_runs)
        presser.start()
        ctrl_c.on_action(1, "")
        obs, _, terminated, truncated, info = tiny_env.step(
            "import time, pathlib\nkept = 7\npathlib.Path('working/started').touch()\ntime.sleep(60)")
        ctrl_c.on_step(None)
        presser.join()
        assert info["status"] == "error" and "KeyboardInterrupt" in obs["feedback"]
        assert not (terminated or truncated)
        obs, *_ = tiny_env.step("print(kept * 6)")  # the kernel and its variables live on
        assert "42" in obs["feedback"]
        ctrl_c._last = None
        ctrl_c._on_signal(signal.SIGINT, None)  # one press at the prompt: nothing ends
        with pytest.raises(KeyboardInterrupt):
            ctrl_c._on_signal(signal.SIGINT, None)  # a second within the window ends the episode
