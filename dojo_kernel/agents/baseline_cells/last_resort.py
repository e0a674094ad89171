# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Nothing else worked: copy the sample submission.

# -- parameters: the agent writes the episode's values here (baseline.py, `cell`) --
SUBMISSION_PATH = "working/submission.csv"
# -- end of parameters --

# Nothing else worked: the sample submission is at least a valid one.
import shutil
from pathlib import Path

sample_file = min(Path("input").rglob("*sample*.csv"), key=lambda p: len(p.parts))
shutil.copy(sample_file, SUBMISSION_PATH)
print("copied", sample_file, "to", SUBMISSION_PATH)
