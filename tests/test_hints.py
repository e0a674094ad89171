"""Hints: what they read host-side (names only, never through a link) and in a real kernel
(without changing its namespace). The corpus in test_feedback.py checks them on env steps."""

from __future__ import annotations

import os

from dojo_kernel import hints


def test_a_missing_file_hint_lists_input_and_working_without_following_links(tmp_path):
    public = tmp_path / "public"
    (public / "images").mkdir(parents=True)
    (public / "train.csv").write_text("id,x\n")
    (public / "images" / "1.png").write_bytes(b"")
    run_dir = tmp_path / "run"
    (run_dir / "working").mkdir(parents=True)
    (run_dir / "working" / "model.pkl").write_bytes(b"")
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "answers.csv").write_text("")
    os.symlink(secret, run_dir / "working" / "link")
    hint = hints.for_error("FileNotFoundError", "[Errno 2] No such file or directory: 'input/trian.csv'",
                           [], None, run_dir, public)
    assert hint is not None and hint.startswith("Hint: no file 'input/trian.csv'. Did you mean 'input/train.csv'")
    assert "input/images/1.png" in hint and "working/model.pkl" in hint
    assert "answers.csv" not in hint  # the link's name may show; what is behind it never does


def test_a_submission_hint_compares_with_the_sample_and_never_reads_through_a_link(tmp_path):
    sample = tmp_path / "sample_submission.csv"
    sample.write_text("id,label\n" + "".join(f"{i},0\n" for i in range(40)))
    mine = tmp_path / "submission.csv"
    mine.write_text("id,target\n1,0\n2,1")  # no newline at the end: still 2 rows
    hint = hints.for_submission(sample, mine, "id")
    assert hint is not None
    assert "has 40 rows and columns id, label; yours has 2 rows and columns id, target" in hint
    assert "fill its label column(s)" in hint
    mine.unlink()
    os.symlink(sample, mine)
    linked = hints.for_submission(sample, mine, "id")
    assert linked is not None and "yours" not in linked
    mine.unlink()
    os.mkfifo(mine)  # opening it for reading would wait for a writer forever
    piped = hints.for_submission(sample, mine, "id")
    assert piped is not None and "yours" not in piped


def test_probe_reads_the_namespace_and_leaves_it_as_it_was(make_session):
    session = make_session()
    session.run("import pandas as pd, numpy as np\n"
                "train = pd.DataFrame({'Age': [1.0, None, 3.0], 'city': ['a', 'b', None]})\n"
                "big = np.zeros(2_000_000)")
    before = session.run("sorted(k for k in globals() if not k.startswith('_'))").text
    found = hints.probe(session, ["names", "columns", "missing", "objects", "sizes"], ["train"])
    assert {"train", "big", "pd", "np"} <= set(found["names"])
    assert found["columns"] == {"train": ["Age", "city"]}
    assert found["missing"] == {"train": [3, {"Age": 1, "city": 1}]}
    assert found["objects"]["train"]["city"][1] == ["a", "b"]
    assert found["sizes"][0][:3] == ["big", 16_000_000, "ndarray"]
    after = session.run("sorted(k for k in globals() if not k.startswith('_'))")
    assert after.text == before and after.execution_count == 3  # the probe spent no cell


def test_probe_gives_nothing_when_the_kernel_cannot_answer_in_time(make_session):
    session = make_session()
    # an object that hangs when asked for any attribute: the sizes probe asks for nbytes
    session.run("class Hanging:\n    def __getattr__(self, name):\n        import time\n        time.sleep(60)\n"
                "hanging = Hanging()")
    assert "hanging" in hints.probe(session, ["names"])["names"]  # a look that touches no object works
    assert hints.probe(session, ["sizes"], timeout=1.0) == {}
    result = session.run("print(type(hanging).__name__)")
    assert result.status == "ok" and result.text == "Hanging\n"
