"""rundir.py: the run dir's layout, creating one, reading a run back, the kernel pointer,
the one atomic write, and opening a workspace (run dir + a real kernel)."""

from __future__ import annotations

import json
import os
import re

import pytest

from conftest import assert_nothing_left
from dojo_kernel.errors import ConfigError, RecorderError
from dojo_kernel.kernel import default_launch_spec
from dojo_kernel.limits import Limits
from dojo_kernel.rundir import (
    RUN_MARKER_FILE,
    RunDir,
    atomic_write,
    find_run_dirs,
    mark_run_dir,
    new_run_dir,
    notebook_path_of,
    open_workspace,
    read_rewards,
    read_run,
    read_summary,
)


def test_the_layout_names_every_file_of_a_run_dir(tmp_path):
    layout = RunDir(tmp_path)
    assert RunDir.of(tmp_path) == layout and RunDir.of(layout) is layout
    assert (layout.input.name, layout.working.name) == ("input", "working")
    assert (layout.notebook.name, layout.rewards.name, layout.summary.name) == (
        "trajectory.ipynb", "rewards.jsonl", "summary.json")
    assert (layout.kernel_pointer.name, layout.kernel_log.name) == ("kernel.json", "kernel.log")
    assert layout.submission("submission.csv") == tmp_path / "working" / "submission.csv"
    assert not tmp_path.joinpath("working").exists()  # naming paths creates nothing
    assert not layout.has_record and not layout.is_finished


def test_new_run_dirs_are_fresh_and_sort_by_time(tmp_path):
    made = [new_run_dir(tmp_path / "runs") for _ in range(5)]
    # empty but for the env's marker
    assert len(set(made)) == 5 and all(path.is_dir() and [p.name for p in path.iterdir()] == [RUN_MARKER_FILE]
                                       for path in made)
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", path.name) for path in made)


def test_a_run_is_read_back_skipping_a_torn_last_line(tmp_path):
    (tmp_path / "runs" / "one").mkdir(parents=True)
    (tmp_path / "runs" / "not-a-run").mkdir()
    layout = RunDir(tmp_path / "runs" / "one")
    mark_run_dir(layout.path)
    lines = [json.dumps({"step": 1, "reward": 0.5}), "[1, 2]", json.dumps({"step": 2, "reward": 0.25}), '{"step": 3, "rew']
    layout.rewards.write_text("\n".join(lines))
    assert read_rewards(layout.path) == read_rewards(layout.rewards) == [{"step": 1, "reward": 0.5}, {"step": 2, "reward": 0.25}]
    run = read_run(layout.path)
    assert run.summary == {} and [number for number, _ in run.lines] == [1, 3]  # line numbers kept
    layout.summary.write_text(json.dumps({"final_score": 0.9}))
    assert read_run(layout.path).summary == {"final_score": 0.9} and layout.is_finished
    assert find_run_dirs(tmp_path / "runs") == [layout.path]


def test_a_summary_that_is_missing_or_broken_reads_as_empty(tmp_path):
    assert read_summary(tmp_path) == {}
    RunDir(tmp_path).summary.write_text("{not json")
    assert read_summary(tmp_path) == {}
    RunDir(tmp_path).summary.write_text("[1]")
    assert RunDir(tmp_path).read_summary() == {}


def test_reading_a_folder_that_is_no_run_says_what_was_expected(tmp_path):
    with pytest.raises(ConfigError, match="expected a run dir with rewards.jsonl"):
        read_run(tmp_path)
    with pytest.raises(ConfigError, match="expected a run dir holding trajectory.ipynb"):
        notebook_path_of(tmp_path)
    RunDir(tmp_path).notebook.write_text("{}")
    assert notebook_path_of(tmp_path) == tmp_path / "trajectory.ipynb"


def test_the_kernel_pointer_round_trips(tmp_path):
    layout = RunDir(tmp_path)
    assert layout.read_kernel_pointer() is None
    layout.write_kernel_pointer(tmp_path / "kernel-1.json", 1234)
    assert layout.read_kernel_pointer() == {"connection_file": str(tmp_path / "kernel-1.json"), "pid": 1234}
    layout.kernel_pointer.write_text('{"pid": 5}')  # no connection file: not a pointer
    assert layout.read_kernel_pointer() is None


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "file.json"
    atomic_write(target, b"old")
    atomic_write(target, "new ", b"bytes")
    assert target.read_bytes() == b"new bytes"
    blocker = tmp_path / f".file.json.{os.getpid()}.tmp"
    blocker.mkdir()  # the temporary file cannot be created where a directory stands
    with pytest.raises(RecorderError, match="could not write .*file.json"):
        atomic_write(target, b"never")
    assert target.read_bytes() == b"new bytes"


def test_open_workspace_lays_out_the_run_dir_and_starts_its_kernel(tmp_path):
    public, private = tmp_path / "comp" / "public", tmp_path / "comp" / "private"
    public.mkdir(parents=True)
    private.mkdir()
    (public / "train.csv").write_text("a\n1\n")
    run_dir = new_run_dir(tmp_path / "runs")
    limits = Limits(cell_timeout_s=30)
    launch = default_launch_spec(limits, isolation="none", input_source=public, hidden_paths=[private])
    workspace = open_workspace(run_dir, launch=launch, limits=limits)
    try:
        layout = RunDir(workspace.run_dir)
        assert layout.working.is_dir() and (layout.input / "train.csv").read_text() == "a\n1\n"
        result = workspace.session.run("import os\nprint(sorted(os.listdir('.')), os.getcwd())")
        assert result.status == "ok" and "'input'" in result.text and "'working'" in result.text
        assert str(layout.path) in result.text
        assert layout.kernel_log.exists()
    finally:
        workspace.discard()
    assert not run_dir.exists()
    assert_nothing_left(tmp_path)
