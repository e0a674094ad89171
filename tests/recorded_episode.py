"""A small episode recorded from a real kernel, shared by the tests of the recorder and of
the exports that read its notebook (test_trajectory, test_exports, test_llm_data)."""

from __future__ import annotations

from pathlib import Path

from dojo_kernel.grading import Grade
from dojo_kernel.limits import Limits
from dojo_kernel.trajectory import StepRecord, TrajectoryRecorder

LIMITS = Limits(cell_timeout_s=30)


def recorder(run_dir: Path, **options) -> TrajectoryRecorder:
    options.setdefault("initial_observation", "Predict label from x. Files are in input/.")
    return TrajectoryRecorder(run_dir, competition="tiny", agent="scripted", limits=LIMITS,
                              settings={"reward_mode": "improvement"}, **options)


def code_step(session, step: int, code: str, **fields) -> StepRecord:
    result = session.run(code)
    return StepRecord(step=step, action=fields.pop("action", "execute_code"), code=code, result=result,
                      feedback=result.text, elapsed_s=float(step), budget_left={"steps": 10 - step}, **fields)


def record_episode(run_dir: Path, session) -> tuple[Path, list[StepRecord]]:
    """Messages, prints, a value, a plot, an error, a request_info, a graded step and an
    invalid action, recorded into `run_dir`. Returns (run_dir, records)."""
    rec = recorder(run_dir)
    grade = Grade(valid=True, score=0.9, position=0.8, rank=3, teams=10, split="public",
                  metric="accuracy", higher_is_better=True)
    records = [
        StepRecord(step=1, action="request_info", feedback="## Overview\nPredict label.",
                   info_markdown="## Overview\nPredict label.", arguments={"info_type": "overview"}),
        code_step(session, 2, "x = 41\nprint('x is', x)", message="First, a variable."),
        code_step(session, 3, "x + 1"),
        code_step(session, 4, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"),
        code_step(session, 5, "1 / 0", message="This will fail."),
        code_step(session, 6, "print('graded')", grade=grade, reward=0.8,
                  scores={"score": 0.9, "position": 0.8}, best={"score": 0.9, "position": 0.8, "step": 6}),
        StepRecord(step=7, action="invalid", feedback="expected an action name, got 'dance'"),
    ]
    for record in records:
        rec.record(record)
    rec.close({"final_score": 0.9, "end_reason": "steps", "steps": len(records)})
    return run_dir, records
