"""What an episode writes stays readable whatever text agent code produces: line separators
inside rewards.jsonl strings are escaped (every reader splits lines on `\\n` only), and a
lone surrogate in kernel output neither makes step() raise nor breaks the exports."""

from __future__ import annotations

import json

import nbformat

import dojo_kernel
from dojo_kernel.agents.llm_data import export_chat_jsonl
from dojo_kernel.rundir import json_line, read_rewards
from tiny_competition import build

SEPARATORS = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e\r"
# Agent code can hand the iopub socket a message it packed itself: JSON with a lone surrogate.
LONE_SURROGATE = (
    "k = get_ipython().kernel\n"
    "k.session.send(k.iopub_socket, 'stream', parent=k.get_parent('shell'), ident=b'stream',\n"
    "               content=b'{\"name\": \"stdout\", \"text\": \"before \\\\ud800 after\\\\n\"}')\n"
)


def test_a_json_line_holds_no_character_any_reader_splits_at():
    line = json_line({"text": f"a{SEPARATORS}b", "lone": "\udcff"})
    text = line.decode("utf-8")  # valid UTF-8: the surrogate is escaped
    assert len(text.splitlines()) == 1 and text.endswith("\n")
    assert json.loads(text) == {"text": f"a{SEPARATORS}b", "lone": "\udcff"}


def test_every_step_is_read_back_when_a_grade_message_quotes_line_separators(tmp_path):
    competition = build(tmp_path / "competitions", name="tiny-separators")
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="none", warm_pool=0)
    try:
        env.reset()
        env.step("import pandas as pd\n"
                 f"pd.DataFrame({{'id': [{'x' + SEPARATORS + 'y'!r}], 'label': [1]}})"
                 ".to_csv('working/submission.csv', index=False)")
        env.step({"action": "submit"})  # invalid: its message quotes the id
        env.step("print('third')")
        run_dir = env.run_dir
    finally:
        env.close()
    raw = (run_dir / "rewards.jsonl").read_text(encoding="utf-8")
    assert "\\u2028" in raw  # the grade message quoted the id, escaped
    assert len(raw.splitlines()) == 3  # any reader, however it splits lines
    assert [entry["step"] for entry in read_rewards(run_dir)] == [1, 2, 3]


def test_a_lone_surrogate_in_kernel_output_is_recorded_and_exported(tmp_path):
    competition = build(tmp_path / "competitions", name="tiny-surrogate")
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", isolation="none", warm_pool=0)
    try:
        env.reset()
        observation, *_ = env.step(LONE_SURROGATE)
        run_dir = env.run_dir
    finally:
        env.close()
    feedback = observation["feedback"]
    assert "before \ufffd after" in feedback
    feedback.encode("utf-8")  # what the agent reads can be sent and printed
    notebook = nbformat.read(run_dir / "trajectory.ipynb", as_version=4)  # the notebook is valid JSON
    assert "before" in json.dumps(notebook)
    out = tmp_path / "chat.jsonl"
    assert export_chat_jsonl(run_dir, out) == 1
    assert all(json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line)
