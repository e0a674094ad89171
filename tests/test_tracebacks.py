"""Short errors from IPython tracebacks (real ones come from the corpus in test_feedback.py)."""

from __future__ import annotations

from dojo_kernel import tracebacks


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
