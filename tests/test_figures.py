"""Figures a cell displays: saved in the run dir, listed in the observation, read back safely."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import numpy as np

import dojo_kernel
from dojo_kernel.figures import MAX_FIGURES, displayed_pngs, png_size, read_figure, save_figures
from dojo_kernel.spaces import FigureList, observation_space

sys.path.insert(0, str(Path(__file__).parent))
import tiny_competition  # noqa: E402
from figure_cells import plotting_code, tiny_png  # noqa: E402


def display(data: bytes | str, mime: str = "image/png") -> dict:
    encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {"output_type": "display_data", "data": {mime: encoded, "text/plain": "<Figure>"}, "metadata": {}}


def test_only_pngs_are_kept_in_order_and_capped():
    png = tiny_png(4, 3)
    assert png_size(png) == (4, 3)
    outputs = [{"output_type": "stream", "name": "stdout", "text": "hi"},
               display(b"not a png at all, just some bytes"),
               display("%%% not base64 %%%"),
               display(png),
               display(tiny_png(5, 1)),
               display(tiny_png(7, 7), mime="image/jpeg")]
    assert displayed_pngs(outputs) == [png, tiny_png(5, 1)]
    assert len(displayed_pngs([display(png)] * (MAX_FIGURES + 3))) == MAX_FIGURES


def test_saved_figures_are_files_whose_entries_fit_the_space(tmp_path):
    entries = save_figures(tmp_path, 3, [display(tiny_png(4, 3)), display(tiny_png(2, 2))])
    assert [entry["path"] for entry in entries] == ["figures/step-0003-1.png", "figures/step-0003-2.png"]
    assert (tmp_path / entries[0]["path"]).read_bytes() == tiny_png(4, 3)
    assert int(entries[0]["bytes"]) == len(tiny_png(4, 3))
    assert (int(entries[0]["width"]), int(entries[0]["height"])) == (4, 3)
    assert tuple(entries) in FigureList(MAX_FIGURES)
    assert tuple(entries) not in FigureList(1)  # the cap is part of the contract
    assert read_figure(tmp_path, entries[1]["path"]) == tiny_png(2, 2)
    assert save_figures(tmp_path, 4, [{"output_type": "stream", "name": "stdout", "text": "x"}]) == []


def test_links_planted_in_the_run_dir_are_neither_followed_nor_read(tmp_path):
    """What agent code could plant without the sandbox: a link at figures/, a figure replaced by a
    link to a secret, a path out of the folder. Nothing is written through them or read from them."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(tiny_png(9, 9))  # even a PNG: it is not a figure the env saved
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (run_dir / "figures").symlink_to(outside)
    assert save_figures(run_dir, 1, [display(tiny_png())]) == []
    assert list(outside.iterdir()) == []
    (run_dir / "figures").unlink()
    entries = save_figures(run_dir, 1, [display(tiny_png())])
    figure = run_dir / entries[0]["path"]
    figure.unlink()
    figure.symlink_to(secret)
    assert read_figure(run_dir, entries[0]["path"]) is None
    assert read_figure(run_dir, "figures/../../secret.png") is None
    assert read_figure(run_dir, "secret.png") is None
    (run_dir / "figures" / "notes.png").write_bytes(b"text, not a PNG")
    assert read_figure(run_dir, "figures/notes.png") is None
    # a step that saves again replaces the link with a file and leaves the secret alone
    save_figures(run_dir, 1, [display(tiny_png())])
    assert not figure.is_symlink() and secret.read_bytes() == tiny_png(9, 9)


def test_figure_list_space_samples_inside_and_compares():
    space = FigureList(3, seed=1)
    for _ in range(20):
        sample = space.sample()
        assert sample in space and len(sample) <= 3
    assert FigureList(3) == FigureList(3) != FigureList(4)
    assert [] not in space and ({"path": "figures/a.png"},) not in space
    assert observation_space(2_000)["images"] == FigureList(MAX_FIGURES)


def test_a_cell_that_plots_lists_its_figures_in_the_observation(tmp_path):
    tiny_competition.build(tmp_path / "data")
    env = dojo_kernel.make(tiny_competition.NAME, output_dir=tmp_path / "runs", isolation="none")
    try:
        obs, _ = env.reset()
        assert obs["images"] == () and obs in env.observation_space
        obs, *_ = env.step(plotting_code(figures=2))
        assert obs in env.observation_space
        assert [image["path"] for image in obs["images"]] == ["figures/step-0001-1.png", "figures/step-0001-2.png"]
        for image in obs["images"]:
            data = (env.run_dir / image["path"]).read_bytes()
            assert image["bytes"] == len(data) and isinstance(image["bytes"], np.ndarray)
            assert (image["width"], image["height"]) == png_size(data)
        assert "[figure 2: image/png" in obs["feedback"]
        obs, *_ = env.step("print('no figure')")
        assert obs["images"] == ()
        obs, *_ = env.step({"action": "request_info", "info_type": "overview"})
        assert obs["images"] == ()
    finally:
        env.close()
    assert sorted(os.listdir(env.run_dir / "figures")) == ["step-0001-1.png", "step-0001-2.png"]
