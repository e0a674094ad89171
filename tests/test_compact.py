"""Compact rendering on real pandas output: small tables, head and tail text, the budget."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dojo_kernel import compact


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


def test_fit_keeps_short_parts_whole_and_shares_the_rest():
    short, long_a, long_b = "status line", "a\n" * 3_000, "b\n" * 500
    fitted = compact.fit([short, long_a, long_b], 1_000)
    assert fitted[0] == short
    assert sum(len(part) + 1 for part in fitted) <= 1_000
    assert all("left out" in part for part in fitted[1:])
    assert compact.fit(["x", "y"], 1_000) == ["x", "y"]


def test_an_image_is_a_placeholder_with_its_size_and_where_it_is_kept():
    import base64
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure = plt.figure(figsize=(4, 3), dpi=50)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    outputs = [{"output_type": "stream", "name": "stdout", "text": "before\r50%\r100%\n"},
               {"output_type": "display_data", "data": {"image/png": data, "text/plain": "<Figure>"}}]
    assert compact.pieces(outputs, "trajectory.ipynb, step 3") == [
        "100%", f"[figure 1: image/png 200x150, {len(data) * 3 // 4 / 1024:.0f} KB; kept in trajectory.ipynb, step 3]"]


def test_the_kernels_note_on_cut_output_is_kept_whole():
    note = "\n[... 5,000,000 characters of output cut: the first and last 20,000 in all are kept ...]\n"
    outputs = [{"output_type": "stream", "name": "stdout", "text": "line\n" * 5_000 + note + "tail\n" * 5_000}]
    found = compact.pieces(outputs, "trajectory.ipynb")
    assert len(found) == 3 and found[1] == note.strip("\n")
    assert all(part in "\n".join(compact.fit(found, 800)) for part in (note.strip("\n"), "line", "tail"))
    assert len("\n".join(found)) < 3_000  # head lines before the note, tail lines after it
