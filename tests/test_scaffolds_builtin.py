"""Each scaffold (aide, openai-agents, tree) plays a whole episode of a built-in competition,
penguin-species, against a scripted chat-completions server on 127.0.0.1: real data, real
kernels (forks included), a graded final submission and a valid notebook."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nbformat
import pytest

import dojo_kernel
from chat_server import ChatServer, completion
from conftest import assert_nothing_left
from dojo_kernel.agents import get_agent, run_episode

# What the scripted model writes: class priors from the training labels, a valid submission.
PRIORS_CELL = """import pandas as pd
train = pd.read_csv("input/train.csv")
sample = pd.read_csv("input/sample_submission.csv")
prior = train["species"].value_counts(normalize=True)
for column in sample.columns[1:]:
    sample[column] = prior.get(column, 0.0)
sample.to_csv("working/submission.csv", index=False)
print(len(sample), "rows")
"""


def fenced_model(body: dict) -> dict:
    """aide and tree ask for code: every answer is a plan and one fenced cell."""
    return completion(f"Predict the class priors.\n\n```python\n{PRIORS_CELL}```\n")


def tool_model(body: dict) -> dict:
    """openai-agents calls tools: run the cell first, then answer (the final output submits)."""
    if any(message["role"] == "tool" for message in body["messages"]):
        return completion("The priors are submitted.")
    reply = completion(None, tool_call=("execute_code", {"code": PRIORS_CELL}))
    reply["choices"][0]["message"]["tool_calls"][0]["id"] = "call_priors"
    return reply


SCAFFOLDS = {
    "aide": (fenced_model, {"fork": True, "steps": 2, "num_drafts": 1, "seed": 0}, "aide"),
    "openai-agents": (tool_model, {}, "agents"),
    "tree": (fenced_model, {"max_nodes": 2, "children": 2}, None),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCAFFOLDS))
def test_scaffold_plays_a_built_in_competition(name, data_root, tmp_path):
    model, options, package = SCAFFOLDS[name]
    if package is not None:
        pytest.importorskip(package, reason=f"the {name} agent needs its extra (see README)")
    with ChatServer(model) as server:
        agent = get_agent(name, model="test-model", base_url=server.base_url, api_key="sk-test", **options)
        env = dojo_kernel.make("penguin-species", output_dir=tmp_path / "runs", warm_pool=0, agent=name)
        summary = run_episode(env, agent, seed=0)
    assert server.requests, "the agent never asked the model"
    assert summary["stopped_by"] == "final_submit", summary
    final = summary["env_summary"]["final_grade"]
    assert final["valid"] and math.isfinite(final["score"]), final
    run_dir = Path(summary["run_dir"])
    notebook = nbformat.read(run_dir / "trajectory.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert any("value_counts" in cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert json.loads((run_dir / "summary.json").read_text())["competition"] == "penguin-species"
    assert_nothing_left(tmp_path)
