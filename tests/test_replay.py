"""replay(): a recorded episode re-executed in a fresh kernel and run dir, compared cell by
cell and by final score. Episodes are recorded by the real env on a tiny real competition."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import dojo_kernel
from conftest import assert_nothing_left
from dojo_kernel.errors import ConfigError
from dojo_kernel.isolation import resolve_mode
from dojo_kernel.replay import normalize_text, replay
from tiny_competition import build, submission_code


@pytest.fixture
def competition(tmp_path):
    name = f"tiny-replay-{tmp_path.name[-24:]}".replace("_", "-")
    return build(tmp_path / "competitions", name=name)


def _record_episode(competition, output_dir: Path, actions: list) -> Path:
    """Play `actions` through a real env; return the episode's notebook."""
    env = dojo_kernel.make(competition.name, output_dir=output_dir, isolation="none", warm_pool=0)
    try:
        env.reset(seed=0)
        for action in actions:
            env.step(action)
        run_dir = env.run_dir
    finally:
        env.close()
    return run_dir / "trajectory.ipynb"


DETERMINISTIC = [
    {"action": "request_info", "info_type": "overview"},
    "import numpy as np\nimport pandas as pd\ntrain = pd.read_csv('input/train.csv')\nprint(train.shape)",
    "class Model:\n    pass\nModel()  # its repr holds a memory address, which replay ignores",
    "threshold = float(np.median(train.x))\nprint('threshold', threshold)",
    "undefined_name + 1",
    submission_code("perfect"),
    {"action": "submit", "final": True},
]


def test_deterministic_episode_replays_to_the_same_outputs_and_score(competition, tmp_path):
    notebook = _record_episode(competition, tmp_path / "runs", DETERMINISTIC)
    report = replay(notebook, run_dir=tmp_path / "replay")
    assert_nothing_left(tmp_path / "replay")

    assert [cell.step for cell in report.cells] == [2, 3, 4, 5, 6]
    assert [cell.replay_status for cell in report.cells] == ["ok", "ok", "ok", "error", "ok"]
    assert all(cell.agrees for cell in report.cells), report.to_text()
    assert "0x…" in report.cells[1].replay_text  # the address was there, and masked
    assert report.recorded_score == 1.0 and report.recorded_score_source == "submission"
    assert report.replay_score == 1.0 and report.replay_grade.split == "private"
    assert report.agrees and report.score_agrees
    assert (tmp_path / "replay" / "working" / "submission.csv").is_file()
    assert (tmp_path / "replay" / "input" / "train.csv").is_file()
    text = report.to_text()
    assert "5 of 5 cells agree; replay AGREES" in text and "recorded 1 (from submission)" in text
    assert json.loads(json.dumps(report.to_dict()))["agrees"] is True


def test_replay_reports_cells_and_scores_that_differ(competition, tmp_path):
    notebook = _record_episode(competition, tmp_path / "runs", [
        "import random\nprint(random.random())",  # differs on every run
        submission_code("perfect"),
    ])
    # Someone edits the recorded submission cell: the replay writes a useless submission.
    loaded = nbformat.read(notebook, as_version=4)
    code_cells = [cell for cell in loaded.cells if cell.cell_type == "code"]
    code_cells[1].source = submission_code("constant")
    nbformat.write(loaded, notebook)

    report = replay(notebook, run_dir=tmp_path / "replay")
    first, second = report.cells
    assert first.status_agrees and not first.output_agrees
    assert "-0." in first.diff() or "+0." in first.diff()
    assert second.agrees
    assert report.recorded_score == 1.0 and report.replay_score == 0.5
    assert not report.score_agrees and not report.agrees
    assert "DIFFERS" in report.to_text()


def test_restart_kernel_steps_are_replayed(competition, tmp_path):
    notebook = _record_episode(competition, tmp_path / "runs", [
        "x = 1\nprint(x)",
        {"action": "restart_kernel"},
        "print(x)",  # NameError: the restart lost x, in the episode and in the replay
    ])
    report = replay(notebook, run_dir=tmp_path / "replay")
    assert [cell.recorded_status for cell in report.cells] == ["ok", "error"]
    assert [cell.replay_status for cell in report.cells] == ["ok", "error"]
    assert "NameError" in report.cells[1].replay_text
    assert report.recorded_score is None and report.replay_score is None and report.agrees


def test_replay_refuses_a_run_dir_in_use(competition, tmp_path):
    notebook = _record_episode(competition, tmp_path / "runs", ["print(1)"])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="new or empty run dir"):
        replay(notebook, run_dir=busy)
    assert (busy / "file.txt").read_text() == "keep me"


def test_env_recorded_notebook_runs_top_to_bottom_with_nbclient_in_its_run_dir(competition, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    notebook_path = _record_episode(competition, tmp_path / "runs", DETERMINISTIC)
    run_dir = notebook_path.parent
    (run_dir / "working" / "submission.csv").unlink()
    notebook = nbformat.read(notebook_path, as_version=4)
    # allow_errors: the episode has one failing cell on purpose (step 5)
    nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(run_dir)}}).execute()
    errors = [cell.metadata["dojo"]["step"] for cell in notebook.cells if cell.cell_type == "code"
              and any(output.output_type == "error" for output in cell.outputs)]
    assert errors == [5]
    assert competition.grade(run_dir / "working" / "submission.csv", split="private").score == 1.0


def test_normalize_text_masks_what_varies_and_keeps_what_matters():
    first = "<Model at 0x7f3a2b1c9d00>\nfit in 1.23s\n 50%|#####     | 5/10 [00:01<00:01, 4.9it/s]\rdone\naccuracy 0.81"
    second = "<Model at 0x7f00deadbeef>\nfit in 0.98s\n 90%|######### | 9/10 [00:02<00:00, 5.1it/s]\rdone\naccuracy 0.81"
    assert normalize_text(first) == normalize_text(second)
    assert normalize_text("accuracy 0.81") != normalize_text("accuracy 0.82")
    assert normalize_text("saved /runs/a/working/x.csv", paths=["/runs/a"]) == "saved <run_dir>/working/x.csv"


def test_replay_takes_sandbox_and_limits_from_the_caller_never_from_the_notebook(competition, tmp_path):
    # A shared notebook whose metadata asks for no sandbox and no limits: replay must not obey it.
    notebook = _record_episode(competition, tmp_path / "runs", ["print(1)"])
    data = nbformat.read(notebook, as_version=4)
    data.metadata["dojo"]["settings"]["isolation"] = "none"
    data.metadata["dojo"]["limits"] = {**data.metadata["dojo"]["limits"], "max_output_chars": None, "memory_gb": None}
    private = Path(competition.private_dir).resolve()
    data.cells.append(nbformat.v4.new_code_cell(f"import os\nprint('sees private:', os.path.exists({str(private)!r}))"))
    data.cells.append(nbformat.v4.new_code_cell("print('x' * 50_000)"))
    nbformat.write(data, notebook)

    report = replay(notebook, run_dir=tmp_path / "replay")
    assert report.isolation == "auto" and report.recorded_isolation == "none"
    assert report.limits["max_output_chars"] == 20_000 and report.limits["memory_gb"] == 4.0
    sees, flood = report.cells[-2], report.cells[-1]
    if resolve_mode("auto").mode == "namespaces":  # the default sandbox hides the answers from replayed code
        assert "sees private: False" in sees.replay_text
    assert flood.replay_text.count("x") < 25_000  # the default output limit held
    text = report.to_text()
    assert "sandbox: auto (recorded: none, not used)" in text and "max_output_chars=None" in text
