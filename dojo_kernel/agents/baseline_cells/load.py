# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# A cell of the baseline agent (dojo_kernel/agents/baseline.py); it runs in the episode's kernel, where
# the names that earlier cells defined (train, test, ...) live, so linters cannot see them.
# Load the data once: the sample submission, train and test stay in the kernel for every later cell.

import json  # noqa: F401  (the look cell uses it)
from pathlib import Path

import numpy as np  # noqa: F401  (every later cell uses it)
import pandas as pd

files = sorted(p for p in Path("input").rglob("*") if p.is_file())
print(f"{len(files)} files in input/, e.g.:", ", ".join(str(p.relative_to("input")) for p in files[:12]))


def find_table(word):
    """The shallowest CSV whose name contains `word` (the sample submission aside)."""
    found = [p for p in files if p.suffix.lower() == ".csv" and word in p.stem.lower() and "sample" not in p.stem.lower()]
    return min(found, key=lambda p: (len(p.parts), len(p.name))) if found else None


sample_path = next((p for p in files if p.suffix.lower() == ".csv" and "sample" in p.stem.lower()), None)
sample = pd.read_csv(sample_path)
train = pd.read_csv(find_table("train"))
test_path = find_table("test")
test = pd.read_csv(test_path) if test_path else sample.iloc[:, :1].copy()
print("train", train.shape, "| test", test.shape, "| sample submission", sample.shape)
train.head()
