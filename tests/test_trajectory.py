"""TrajectoryRecorder: the notebook and reward log of an episode, and crash safety.

Episodes are recorded from real CellResults of a real kernel session; the crash test kills a
real recording process with SIGKILL at random moments.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import nbformat
import pytest

from dojo_kernel.errors import ConfigError, RecorderError
from dojo_kernel.grading import Grade
from dojo_kernel.kernel import CellResult
from dojo_kernel.replay import outputs_text
from dojo_kernel.rundir import read_rewards
from dojo_kernel.trajectory import (
    StepRecord,
    TrajectoryRecorder,
    load_trajectory,
    step_cells,
)
from recorded_episode import LIMITS
from recorded_episode import code_step as _code_step
from recorded_episode import recorder as _recorder


def test_recorded_episode_is_a_valid_notebook_with_one_code_cell_per_executed_step(episode):
    run_dir, records = episode
    notebook = nbformat.read(run_dir / "trajectory.ipynb", as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    executed = [record for record in records if record.result is not None]
    assert len(code_cells) == len(executed) == 5
    for cell, record in zip(code_cells, executed):
        assert cell.source == record.code
        assert record.result.execution_count is not None
        assert cell.execution_count == record.result.execution_count
        assert cell.metadata["dojo"]["step"] == record.step
        assert cell.metadata["dojo"]["status"] == record.result.status
        assert cell.outputs, f"step {record.step} recorded no outputs"
    texts = [outputs_text(cell.outputs) for cell in code_cells]
    assert "x is 41" in texts[0]
    assert texts[1] == "42"
    assert any(output.get("data", {}).get("image/png") for output in code_cells[2].outputs)
    assert "ZeroDivisionError" in texts[3]
    assert code_cells[3].metadata["dojo"]["status"] == "error"
    assert code_cells[3].metadata["papermill"]["status"] == "failed"


def test_cell_metadata_holds_timings_peaks_reward_and_grade(episode):
    run_dir, _ = episode
    notebook = load_trajectory(run_dir)
    graded = next(cell for cell in notebook.cells if cell.get("id") == "step-6")
    execution = graded.metadata["execution"]
    assert execution["iopub.execute_input"] <= execution["shell.execute_reply"]
    assert graded.metadata["papermill"]["duration"] > 0
    dojo = graded.metadata["dojo"]
    assert dojo["reward"] == 0.8 and dojo["scores"] == {"score": 0.9, "position": 0.8}
    assert dojo["peak_rss_bytes"] > 0 and dojo["duration_s"] > 0
    assert dojo["grade"]["score"] == 0.9 and dojo["budget_left"] == {"steps": 4}
    # the grade gets its own markdown cell right after the code cell
    after = notebook.cells[notebook.cells.index(graded) + 1]
    assert after.cell_type == "markdown" and "0.9" in after.source and "rank 3 of 10" in after.source


def test_messages_info_and_invalid_actions_are_markdown(episode):
    run_dir, _ = episode
    notebook = load_trajectory(run_dir)
    ids = [cell.get("id") for cell in notebook.cells]
    assert ids[0] == "title" and "tiny" in notebook.cells[0].source
    assert ids.index("step-2-message") == ids.index("step-2") - 1
    assert notebook.cells[ids.index("step-2-message")].source == "First, a variable."
    info = notebook.cells[ids.index("step-1")]
    assert info.cell_type == "markdown" and "## Overview" in info.source
    invalid = notebook.cells[ids.index("step-7")]
    assert invalid.cell_type == "markdown" and "dance" in invalid.source
    assert [cell.metadata["dojo"]["step"] for cell in step_cells(notebook)] == list(range(1, 8))


def test_reward_log_and_summary(episode):
    run_dir, records = episode
    lines = (run_dir / "rewards.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [entry["step"] for entry in entries] == [record.step for record in records]
    graded = entries[5]
    assert graded["reward"] == 0.8 and graded["score"] == 0.9 and graded["best"]["step"] == 6
    assert graded["status"] == "ok" and graded["grade"]["position"] == 0.8
    assert entries[4]["status"] == "error" and entries[6]["status"] == "invalid"
    assert json.loads((run_dir / "summary.json").read_text())["final_score"] == 0.9
    notebook = load_trajectory(run_dir)
    dojo = notebook.metadata["dojo"]
    assert dojo["summary"]["end_reason"] == "steps"
    assert dojo["limits"]["cell_timeout_s"] == 30 and dojo["settings"] == {"reward_mode": "improvement"}
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.cells[-1].get("id") == "summary"


def test_close_is_idempotent_and_record_after_close_fails(tmp_path):
    recorder = _recorder(tmp_path / "run")
    recorder.close({"end_reason": "done"})
    recorder.close({"end_reason": "second close is ignored"})
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {"end_reason": "done"}
    with pytest.raises(RecorderError, match="after close"):
        recorder.record(StepRecord(step=1, action="get_history", feedback="nothing yet"))


def test_a_prepared_recorder_leaves_a_valid_notebook_until_the_first_step_writes_the_episode(tmp_path):
    """begin=False (the warm pool's): a valid notebook without a start, no reward log; begin()
    writes nothing, so a crash before the first step leaves that notebook; record() writes all."""
    run_dir = tmp_path / "run"
    recorder = _recorder(run_dir, initial_observation=None, begin=False)
    prepared = load_trajectory(run_dir)  # validates
    assert prepared.metadata["dojo"]["started_at"] is None and "not yet" in prepared.cells[0].source
    assert not (run_dir / "rewards.jsonl").exists()
    with pytest.raises(RecorderError, match="before begin"):
        recorder.record(StepRecord(step=1, action="get_history", feedback="nothing yet"))
    before = (run_dir / "trajectory.ipynb").read_bytes()
    recorder.begin("Predict label from x.")
    assert (run_dir / "trajectory.ipynb").read_bytes() == before  # what a crash here would leave: valid
    assert (run_dir / "rewards.jsonl").read_bytes() == b""
    with pytest.raises(RecorderError, match="begin\\(\\) twice"):
        recorder.begin("again")
    recorder.record(StepRecord(step=1, action="get_history", feedback="nothing yet"))
    notebook = load_trajectory(run_dir)
    dojo = notebook.metadata["dojo"]
    assert dojo["initial_observation"] == "Predict label from x." and dojo["started_at"].endswith("Z")
    assert dojo["started_at"] in notebook.cells[0].source and len(step_cells(notebook)) == 1
    assert [entry["step"] for entry in read_rewards(run_dir)] == [1]
    recorder.close({"end_reason": "done"})
    assert load_trajectory(run_dir).metadata["dojo"]["summary"] == {"end_reason": "done"}


def test_bad_input_is_refused_with_a_clear_message(tmp_path):
    recorder = _recorder(tmp_path / "run")
    with pytest.raises(ConfigError, match="expected an action among"):
        recorder.record(StepRecord(step=1, action="dance"))
    recorder.record(StepRecord(step=1, action="get_history", feedback="nothing yet"))
    with pytest.raises(ConfigError, match="step number above the last one recorded"):
        recorder.record(StepRecord(step=1, action="get_history"))
    with pytest.raises(RecorderError, match="new run dir"):
        _recorder(tmp_path / "run")  # one run dir, one episode
    with pytest.raises(ConfigError, match="expected Limits or a dict"):
        TrajectoryRecorder(tmp_path / "other", competition="tiny", agent=None, limits=4, settings={})


def test_outputs_a_notebook_cannot_hold_become_notes(tmp_path):
    recorder = _recorder(tmp_path / "run")
    outputs = [
        {"output_type": "display_data", "data": {"text/plain": "shown"}, "metadata": {},
         "transient": {"display_id": "abc"}},  # kernel-only key: dropped, output kept
        {"output_type": "stream", "name": "stdout", "text": 5},  # not text: replaced by a note
    ]
    result = CellResult(status="ok", outputs=outputs, execution_count=1, duration_s=0.1)
    recorder.record(StepRecord(step=1, action="execute_code", code="show()", result=result))
    notebook = load_trajectory(tmp_path / "run")
    cell = notebook.cells[-1]
    assert cell.outputs[0]["data"]["text/plain"] == "shown" and "transient" not in cell.outputs[0]
    assert cell.outputs[1]["name"] == "stderr" and "could not be recorded" in cell.outputs[1]["text"]


def test_nan_and_numpy_values_are_written_as_json(tmp_path):
    numpy = pytest.importorskip("numpy")
    recorder = _recorder(tmp_path / "run")
    recorder.record(StepRecord(step=1, action="submit", reward=float("nan"),
                               scores={"score": numpy.float64(0.5), "position": numpy.int64(3)},
                               grade=Grade(valid=False, error="expected 40 rows, got 39", split="public")))
    entry = json.loads((tmp_path / "run" / "rewards.jsonl").read_text())  # strict: no NaN literal
    assert entry["reward"] is None and entry["scores"] == {"score": 0.5, "position": 3}
    assert "expected 40 rows" in load_trajectory(tmp_path / "run").cells[-1].source


RECORDING_CHILD = textwrap.dedent("""
    import sys
    from dojo_kernel.kernel import CellResult
    from dojo_kernel.limits import Limits
    from dojo_kernel.trajectory import StepRecord, TrajectoryRecorder

    recorder = TrajectoryRecorder(sys.argv[1], competition="tiny", agent="crash-test", limits=Limits(),
                                  settings={})
    print("ready", flush=True)
    text = "a line of output that makes the notebook grow\\n" * 40
    for step in range(1, 100_000):
        result = CellResult(status="ok", outputs=[{"output_type": "stream", "name": "stdout", "text": text}],
                            text=text, execution_count=step, duration_s=0.01)
        recorder.record(StepRecord(step=step, action="execute_code", code=f"print({step})", result=result,
                                   reward=0.001 * step, feedback=text, message=f"step {step}"))
        print(step, flush=True)
""")


def test_kill_9_at_random_moments_leaves_valid_files_with_every_finished_step(tmp_path):
    rng = random.Random(20261127)
    for attempt in range(5):
        run_dir = tmp_path / f"run{attempt}"
        child = subprocess.Popen([sys.executable, "-c", RECORDING_CHILD, str(run_dir)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.8))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        finished = [int(line) for line in child.stdout.read().split()]
        child.stdout.close()
        last_finished = finished[-1] if finished else 0

        notebook = nbformat.read(run_dir / "trajectory.ipynb", as_version=4)
        nbformat.validate(notebook)
        in_notebook = [cell.metadata["dojo"]["step"] for cell in step_cells(notebook)]
        assert in_notebook == list(range(1, len(in_notebook) + 1))
        assert len(in_notebook) >= last_finished  # every step record() returned for is there
        lines = (run_dir / "rewards.jsonl").read_text().splitlines()
        logged = [json.loads(line)["step"] for line in lines]  # every line parses: none torn
        assert logged == list(range(1, len(logged) + 1))
        assert len(logged) >= last_finished
        # the kill can fall between the two writes of a step, never further apart
        assert len(in_notebook) - 1 <= len(logged) <= len(in_notebook)
        assert read_rewards(run_dir) == [json.loads(line) for line in lines]


def test_stale_temporary_file_is_cleaned_up(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".trajectory.ipynb.12345.tmp").write_text('{"cells": [')
    _recorder(run_dir)
    assert not list(run_dir.glob(".*.tmp"))


def test_notebook_runs_top_to_bottom_in_its_run_dir(tmp_path, make_session):
    nbclient = pytest.importorskip("nbclient")
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "test.csv").write_text("id,x\n1,10\n2,70\n")
    (tmp_path / "working").mkdir()
    session = make_session(LIMITS)
    recorder = _recorder(tmp_path)
    cells = ["import pandas as pd\ntest = pd.read_csv('input/test.csv')",
             "test['label'] = (test.x >= 50).astype(int)\nprint(test.label.tolist())",
             "test[['id', 'label']].to_csv('working/submission.csv', index=False)"]
    for step, code in enumerate(cells, start=1):
        recorder.record(_code_step(session, step, code))
    recorder.close({"end_reason": "done"})
    (tmp_path / "working" / "submission.csv").unlink()

    notebook = nbformat.read(tmp_path / "trajectory.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (tmp_path / "working" / "submission.csv").read_text() == "id,label\n1,0\n2,1\n"
    assert outputs_text(notebook.cells[2].outputs).strip() == "[0, 1]"


def test_context_manager_closes_with_a_summary_even_on_error(tmp_path):
    with pytest.raises(RuntimeError, match="agent crashed"):
        with _recorder(tmp_path / "run") as recorder:
            recorder.record(StepRecord(step=1, action="get_history", feedback="nothing yet"))
            raise RuntimeError("agent crashed")
    assert recorder.closed
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {"end_reason": "error", "steps": 1}
    assert load_trajectory(tmp_path / "run").metadata["dojo"]["summary"]["end_reason"] == "error"


def test_a_failed_write_raises_and_leaves_the_previous_steps(tmp_path):
    run_dir = tmp_path / "run"
    recorder = _recorder(run_dir)
    recorder.record(StepRecord(step=1, action="get_history", feedback="one"))
    blocker = run_dir / f".trajectory.ipynb.{os.getpid()}.tmp"
    blocker.mkdir()  # the temporary notebook cannot be created where a directory stands
    with pytest.raises(RecorderError, match="could not write .*trajectory.ipynb"):
        recorder.record(StepRecord(step=2, action="get_history", feedback="two"))
    assert [cell.metadata["dojo"]["feedback"] for cell in step_cells(load_trajectory(run_dir))] == ["one"]
    blocker.rmdir()
    recorder.record(StepRecord(step=2, action="get_history", feedback="two, again"))
    notebook = load_trajectory(run_dir)
    assert [cell.metadata["dojo"]["feedback"] for cell in step_cells(notebook)] == ["one", "two, again"]
    assert [entry["step"] for entry in read_rewards(run_dir)] == [1, 2]


