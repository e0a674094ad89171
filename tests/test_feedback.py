"""Compact feedback on real env steps: the corpus of common agent cells (tests/feedback_corpus.py),
the structured error in info and rewards.jsonl, the full traceback on request, and the
rendering helpers on real pandas output."""

from __future__ import annotations

import json
import os

import feedback_corpus as corpus
import nbformat
import numpy as np
import pandas as pd
import pytest
import tiny_competition as tiny

import dojo_kernel
from dojo_kernel import compact, tracebacks
from dojo_kernel.env import DojoEnv

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def competition(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("competitions"))


@pytest.fixture
def make_env(competition, tmp_path):
    made: list[DojoEnv] = []

    def make(**settings) -> DojoEnv:
        settings.setdefault("warm_pool", 0)
        settings.setdefault("isolation", os.environ.get("DOJO_TEST_ISOLATION", "auto"))
        env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", **settings)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


def test_every_corpus_case_gets_what_it_needs(make_env):
    assert len(corpus.CASES) >= 30
    failures = {}
    seen = 0
    for case, obs, info in corpus.run(make_env):
        seen += 1
        found = corpus.problems(case, obs["feedback"], info)
        if found:
            failures[case.name] = found + [obs["feedback"][:1500]]
        assert info["feedback_chars"] == len(obs["feedback"])
        assert 0 < info["feedback_tokens"] < len(obs["feedback"])
    assert seen == len(corpus.CASES)
    assert not failures, json.dumps(failures, indent=1)


def test_errors_are_structured_in_info_and_rewards_and_the_notebook_keeps_the_traceback(make_env):
    env = make_env()
    env.reset()
    env.step("import pandas as pd\ntrain = pd.read_csv('input/train.csv')")
    obs, _, _, _, info = env.step("a = 1\ntrain['lable']")
    assert info["error"] == {"category": "runtime", "type": "KeyError", "message": "'lable'", "line": 2}
    assert obs["feedback"].startswith("KeyError: 'lable'\n")
    assert "site-packages" not in obs["feedback"] and len(obs["feedback"]) < 600

    obs, _, _, _, info = env.step({"action": "request_info", "info_type": "traceback"})
    assert "site-packages/pandas" in obs["feedback"] and "Traceback" in obs["feedback"]
    assert "error" not in info

    env.step({"action": "bogus"})
    rewards = [json.loads(line) for line in (env.run_dir / "rewards.jsonl").read_text().splitlines()]
    assert [entry["error"] and entry["error"]["category"] for entry in rewards] == [
        None, "runtime", None, "action"]
    assert rewards[1]["error"]["line"] == 2
    notebook = nbformat.read(env.run_dir / "trajectory.ipynb", as_version=4)
    errors = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if output.output_type == "error"]
    assert len(errors) == 1 and any("site-packages/pandas" in line for line in errors[0].traceback)


def test_full_style_keeps_the_whole_traceback_and_the_setting_is_checked(make_env):
    env = make_env(feedback="full")
    env.reset()
    obs, _, _, _, info = env.step("import pandas as pd\npd.DataFrame({'a': [1]})['b']")
    assert obs["feedback"].startswith("execute_code [1]: error")
    assert "site-packages/pandas" in obs["feedback"] and info["error"]["type"] == "KeyError"
    with pytest.raises(dojo_kernel.errors.ConfigError, match="feedback among compact, full"):
        make_env(feedback="short")
    with pytest.raises(dojo_kernel.errors.ConfigError, match="feedback_chars"):
        make_env(feedback_chars=10)


def test_traceback_before_any_error_says_there_is_none(make_env):
    env = make_env()
    env.reset()
    obs, _, _, _, _ = env.step({"action": "request_info", "info_type": "traceback"})
    assert obs["feedback"].startswith("No cell has failed yet")


def test_the_budget_holds_for_every_part(make_env):
    env = make_env(feedback_chars=1_500)
    env.reset()
    code = "print('x' * 50_000)\nfor i in range(500): print(i)\nraise ValueError('late ' * 400)"
    obs, *_ = env.step(code)
    assert obs["feedback"].startswith("ValueError: late late")
    assert len(obs["feedback"]) <= 1_500 and "left out" in obs["feedback"]
    assert "raise ValueError('late ' * 400)" in obs["feedback"]


# ------------------------------------------------------------------ the helpers, on real pandas output

def test_a_wide_dataframe_becomes_a_small_table():
    frame = pd.DataFrame(np.arange(60 * 40).reshape(60, 40), columns=[f"feature_{i}" for i in range(40)])
    with pd.option_context("display.max_columns", 20, "display.max_rows", 60):
        html = frame._repr_html_()
    table = compact.dataframe(html)
    assert table is not None and len(table) < 2_500
    lines = table.split("\n")
    assert lines[-1].startswith("[DataFrame: 60 rows x 40 columns; showing 12 rows")
    assert "feature_0" in lines[0] and "feature_39" in lines[0] and "..." in lines[0]
    assert lines[1].split()[:2] == ["0", "0"] and lines[-2].split()[0] == "59"
    assert max(len(line) for line in lines[:-1]) <= compact.TABLE_WIDTH
    assert compact.dataframe("<table><tr><td>1</td></tr></table>") is None  # not pandas'


def test_clip_text_keeps_head_and_tail_and_counts_what_it_left_out():
    text = "\n".join(f"row {i}" for i in range(1_000))
    clipped = compact.clip_text(text, 500)
    assert len(clipped) <= 500 and clipped.startswith("row 0\n") and clipped.endswith("row 999")
    marker = next(line for line in clipped.split("\n") if "left out" in line)
    kept = [line for line in clipped.split("\n") if line.startswith("row ")]
    assert f"({1000 - len(kept)} lines)" in marker
    one_line = compact.clip_text("y" * 10_000, 300)
    assert len(one_line) <= 300 and "characters left out" in one_line


def test_library_frames_are_counted_by_package():
    parsed = tracebacks.parse([
        "-----", "ValueError    Traceback (most recent call last)",
        "Cell In[4], line 2\n      1 a = 1\n----> 2 fit(a)\n      3 b = 2\n",
        "File /usr/lib/python3/site-packages/sklearn/base.py:10, in fit(x)\n---> 10 check(x)\n",
        "File /usr/lib/python3/site-packages/sklearn/utils.py:20, in check(x)\n---> 20 raise ValueError\n",
        "File /opt/py/lib/python3.11/json/decoder.py:5, in decode()\n",
        "ValueError: bad"])
    assert [frame.package for frame in parsed.frames] == [None, "sklearn", "sklearn", "the standard library"]
    text = tracebacks.compact("ValueError", "bad", [
        "Cell In[4], line 2\n      1 a = 1\n----> 2 fit(a)\n      3 b = 2\n",
        "File /x/site-packages/sklearn/base.py:10, in fit(x)\n---> 10 check(x)\n",
        "File /x/site-packages/sklearn/utils.py:20, in check(x)\n---> 20 raise ValueError\n"])
    assert text.split("\n") == ["ValueError: bad", "Cell In[4], line 2:", "      1 a = 1", "----> 2 fit(a)",
                                "      3 b = 2", "... 2 frames in sklearn"]
