"""exports.py: a recorded episode as MLE-Dojo's environment history."""

from __future__ import annotations

import json

import pytest

import dojo_kernel.exports as exports
from dojo_kernel.agents import llm_data
from dojo_kernel.exports import export_mle_dojo_history
from dojo_kernel.grading import Grade
from dojo_kernel.trajectory import StepRecord
from recorded_episode import recorder


def test_mle_dojo_history_export(episode, tmp_path):
    run_dir, records = episode
    out = tmp_path / "env_history" / "history.json"
    history = export_mle_dojo_history(run_dir, out)
    assert json.loads(out.read_text()) == history
    assert history["competition"] == "tiny" and history["step_count"] == len(records)
    assert [action["step"] for action in history["actions"]] == [record.step for record in records]
    assert history["best_raw_score"] == 0.9 and history["best_position_score"] == 0.8
    assert history["best_code"] == "print('graded')"
    assert history["total_reward"] == pytest.approx(0.8)
    executed = history["actions"][1]["result"]
    assert executed["status"] == "SUCCESS" and "x is 41" in executed["execution"]["output"]
    failed = history["actions"][4]["result"]
    assert failed["status"] == "FAILED" and "ZeroDivisionError" in failed["execution"]["error"]
    graded = history["actions"][5]["result"]["submission"]
    assert graded["raw_score"] == 0.9 and graded["position_score"]["public"]["position_score"] == 0.8
    assert "avg_score" not in graded["position_score"]  # MLE-Dojo's avg_score averages two boards; this is one
    assert history["actions"][0]["result"]["data"] == {"overview": "## Overview\nPredict label."}
    assert all(action["feedback"]["base"]["feedback_status"] == "SUCCESS" for action in history["actions"])


def test_the_best_score_follows_the_metric_direction(tmp_path):
    run = recorder(tmp_path / "run")
    for step, score in enumerate([0.5, 0.3, 0.4], start=1):
        grade = Grade(valid=True, score=score, split="public", metric="rmse", higher_is_better=False)
        run.record(StepRecord(step=step, action="submit", grade=grade, feedback="graded"))
    run.close({})
    assert export_mle_dojo_history(tmp_path / "run")["best_raw_score"] == 0.3


def test_the_chat_export_keeps_its_old_name_with_a_warning():
    with pytest.warns(DeprecationWarning, match="moved to dojo_kernel.agents.llm_data"):
        assert exports.export_chat_jsonl is llm_data.export_chat_jsonl
    with pytest.raises(AttributeError):
        exports.no_such_name  # noqa: B018


def test_mle_dojo_avg_score_is_the_mean_of_the_public_and_private_positions():
    from dojo_kernel.exports import _submission_result

    grade = {"valid": True, "score": 0.9, "position": 0.6, "rank": 5, "teams": 10, "split": "full",
             "details": {"positions": {"public": 0.8, "private": 0.6}}}
    board = _submission_result(grade)["position_score"]
    assert board["avg_score"] == pytest.approx(0.7)
    assert board["private"]["position_score"] == 0.6 and board["public"]["position_score"] == 0.8
