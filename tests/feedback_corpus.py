"""Cells that ML agents commonly get wrong (or print too much with), and what the feedback on
each must hold for an agent to go on. tests/test_feedback.py checks every case;
bench/feedback.py measures the feedback's length on them, before and after compaction.

All cases run on the tiny competition (tests/tiny_competition.py): input/train.csv (id, x,
label), input/test.csv (id, x), input/sample_submission.csv (id, label, 40 rows). SETUP runs
first in every episode; "limits" cases run in an episode of their own with tight limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    must: tuple[str, ...] = ()  # each must be in the feedback
    first: str | None = None  # must be in the feedback's first line
    fix: tuple[str, ...] = ()  # what names the fix; all present = "the hint names the fix"
    category: str | None = None  # info["error"]["category"]; None for a cell that runs fine
    max_chars: int | None = None  # the longest the feedback may be
    episode: str = "main"  # main | limits (cell_timeout_s and memory_gb tight)


SETUP = """\
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
train = pd.read_csv('input/train.csv')
test = pd.read_csv('input/test.csv')
sample = pd.read_csv('input/sample_submission.csv')
df = train.copy()
df['city'] = np.where(df['x'] > 30, 'paris', 'lyon')
df.loc[::7, 'x'] = np.nan
print(train.shape, test.shape)
"""

LIMITS = {"cell_timeout_s": 5, "memory_gb": 0.5}

CASES: tuple[Case, ...] = (
    # -- pandas: columns and indexing
    Case("column_typo", "train['lable'].mean()", first="KeyError: 'lable'",
         must=("train['lable'].mean()", "frames in pandas"), fix=("'label'",), category="runtime"),
    Case("column_list_typo", "X = train[['x', 'lables']]", first="KeyError",
         must=("not in index", "X = train[['x', 'lables']]"), fix=("'label'",), category="runtime"),
    Case("attribute_typo", "train.lable.value_counts()", first="AttributeError",
         must=("has no attribute 'lable'",), fix=("label",), category="runtime"),
    Case("merge_key", "merged = train.merge(test, on='idx')", first="KeyError: 'idx'",
         must=("train.merge(test, on='idx')",), fix=("'id'",), category="runtime"),
    Case("drop_missing", "train.drop(columns=['target'])", first="KeyError",
         must=("not found in axis",), fix=("label",), category="runtime"),
    Case("iloc_out_of_bounds", "train.iloc[1000]", first="IndexError",
         must=("out-of-bounds",), category="runtime"),
    Case("dict_key", "params = {'lr': 0.1}\nparams['learning_rate']", first="KeyError: 'learning_rate'",
         must=("params['learning_rate']",), category="runtime"),
    # -- files
    Case("file_typo", "pd.read_csv('input/trian.csv')", first="FileNotFoundError",
         must=("input/trian.csv",), fix=("input/train.csv",), category="runtime"),
    Case("file_wrong_dir", "pd.read_csv('data/train.csv')", first="FileNotFoundError",
         must=("data/train.csv",), fix=("input/train.csv",), category="runtime"),
    Case("file_kaggle_path", "pd.read_csv('/kaggle/input/tiny/train.csv')", first="FileNotFoundError",
         fix=("input/train.csv",), category="runtime"),
    # -- names and imports
    Case("undefined_model", "model.fit(train[['x']], train['label'])", first="NameError: name 'model'",
         must=("model.fit(",), category="runtime"),
    Case("variable_typo", "print(trian.shape)", first="NameError: name 'trian'", fix=("train",),
         category="runtime"),
    Case("missing_module", "import lightgbmx", first="ModuleNotFoundError: No module named 'lightgbmx'",
         category="runtime"),
    # -- syntax
    Case("unclosed_paren", "print(train.shape", first="SyntaxError",
         must=("line 1", "column"), category="syntax"),
    Case("bad_indent", "for i in range(3):\nprint(i)", first="IndentationError",
         must=("line 2", "print(i)"), category="syntax"),
    Case("unexpected_indent", "a = 1\n  b = 2", first="IndentationError: unexpected indent",
         must=("line 2", "column 3"), category="syntax"),
    Case("invalid_syntax", "if x = 1:\n    pass", first="SyntaxError", must=("line 1",), category="syntax"),
    # -- scikit-learn and numpy
    Case("sklearn_nan", "LogisticRegression().fit(df[['x']], df['label'])", first="ValueError: Input X contains NaN",
         must=("fit(df[['x']]",), fix=("x",), category="runtime"),
    Case("sklearn_strings", "LogisticRegression().fit(df[['city']], df['label'])",
         first="ValueError: could not convert string to float", fix=("city",), category="runtime"),
    Case("sklearn_lengths", "LogisticRegression().fit(train[['x']], train['label'][:100])",
         first="ValueError: Found input variables with inconsistent numbers of samples", category="runtime"),
    Case("sklearn_1d", "LogisticRegression().fit(train['x'], train['label'])", first="ValueError: Expected a 2-dimensional",
         category="runtime"),
    Case("numpy_shapes", "np.ones((3, 4)) @ np.ones((3, 4))", first="ValueError: matmul", category="runtime"),
    Case("numpy_reshape", "np.arange(10).reshape(3, 4)", first="ValueError: cannot reshape array of size 10",
         category="runtime"),
    Case("type_error", "train['x'] + 'a'", first="TypeError", category="runtime"),
    Case("value_error_int", "int('abc')", first="ValueError: invalid literal for int()", category="runtime"),
    # -- the agent's own functions
    Case("error_in_function", "def rate(a, b):\n    return a / b\n\nrate(1, 0)", first="ZeroDivisionError",
         must=("rate(1, 0)", "return a / b", "in rate"), category="runtime"),
    # (a low recursion limit: IPython takes seconds to format a traceback 3,000 frames deep)
    Case("recursion", "import sys\nsys.setrecursionlimit(300)\ndef down(n):\n    return down(n + 1)\n\n"
                      "try:\n    down(0)\nfinally:\n    sys.setrecursionlimit(3000)", first="RecursionError",
         must=("return down(n + 1)",), max_chars=1_200, category="runtime"),
    Case("output_then_error", "print('training fold 1')\nscore = 1 / 0", first="ZeroDivisionError",
         must=("training fold 1", "score = 1 / 0"), category="runtime"),
    # -- submissions
    Case("submission_rows", "sample.head(5).to_csv('working/submission.csv', index=False)",
         must=("invalid", "expected 40 rows"), fix=("40",), category="submission"),
    Case("submission_columns", "test[['id']].assign(target=0).to_csv('working/submission.csv', index=False)",
         must=("invalid",), fix=("label",), category="submission"),
    # -- displays
    Case("wide_dataframe", "pd.DataFrame(np.random.rand(60, 40))", must=("60 rows x 40 columns",), max_chars=2_500),
    Case("long_frame_head", "train", must=("200 rows x 3 columns", "label"), max_chars=2_000),
    Case("describe", "df.describe(include='all')", must=("mean", "city"), max_chars=2_000),
    Case("long_series", "pd.Series(np.arange(1000))", must=("Length: 1000", "999"), max_chars=1_500),
    Case("print_flood", "for i in range(3000):\n    print('epoch', i, 'loss', 1 / (i + 1))",
         must=("epoch 0 ", "epoch 2999 ", "left out"), max_chars=2_500),
    Case("figure", "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
                   "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
         must=("[figure 1: image/png", "kept in trajectory.ipynb, step"), max_chars=400),
    Case("info", "df.info()", must=("RangeIndex", "city"), max_chars=1_500),
    # -- limits
    Case("timeout", "import time\nfor step in range(1000):\n    time.sleep(0.05)", first="Timeout",
         must=("time.sleep(0.05)", "5 s"), category="timeout", episode="limits"),
    Case("memory_heavy", "kept = np.ones(28 * 1024 * 1024)\nkept.nbytes", must=("234881024",), episode="limits"),
    Case("memory", "blocks = [np.ones(32 * 1024 * 1024) for _ in range(40)]", first="Limit reached (memory)",
         must=("memory", "restarted"), fix=("kept (ndarray, 224 MB)",), category="resource", episode="limits"),
)


def run(make_env: Callable[..., Any], cases: tuple[Case, ...] = CASES,
        **settings: Any) -> Iterator[tuple[Case, dict[str, Any], dict[str, Any]]]:
    """Each case through a real env: (case, obs, info). `make_env(**settings)` makes the env;
    cases run in one episode per `episode` kind, after SETUP."""
    for episode in ("main", "limits"):
        chosen = [case for case in cases if case.episode == episode]
        if not chosen:
            continue
        env = make_env(**settings, **(LIMITS if episode == "limits" else {}))
        try:
            env.reset()
            _, _, _, _, info = env.step(SETUP if episode == "main" else "import numpy as np")
            assert info["status"] == "ok", info
            for case in chosen:
                obs, _, _, _, info = env.step(case.code)
                yield case, obs, info
        finally:
            env.close()


def problems(case: Case, feedback: str, info: dict[str, Any], *, hints: bool = True) -> list[str]:
    """What `feedback` lacks of what the case asks for (empty when it has everything)."""
    found = []
    first_line = feedback.split("\n", 1)[0]
    if case.first is not None and case.first not in first_line:
        found.append(f"first line {first_line!r} lacks {case.first!r}")
    for text in case.must + (case.fix if hints else ()):
        if text not in feedback:
            found.append(f"feedback lacks {text!r}")
    if case.max_chars is not None and len(feedback) > case.max_chars:
        found.append(f"feedback has {len(feedback)} characters, over {case.max_chars}")
    error = info.get("error")
    category = error.get("category") if isinstance(error, dict) else None
    if category != case.category:
        found.append(f"info['error'] category {category!r}, expected {case.category!r}")
    return found
