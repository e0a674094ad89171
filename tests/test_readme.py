"""README's Python examples run as written, README points only at files in the repository,
and each notebook in notebooks/ runs top to bottom with `jupyter nbconvert --execute` where it sits."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# Examples that need what a test machine lacks: Kaggle data, an LLM endpoint, a metric of the reader's.
NEEDS_ELSEWHERE = ("spaceship-titanic", "titanic", "register_metric", "OPENAI_BASE_URL")


def python_examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    return [block for block in blocks if not any(word in block for word in NEEDS_ELSEWHERE)]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("dojo-data")


def test_readme_has_the_examples_this_test_runs():
    examples = python_examples()
    assert len(examples) >= 4
    assert any("KernelSession(cwd=" in block for block in examples)
    assert any("run_episode(" in block for block in examples)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_examples())))
def test_readme_python_example_runs_verbatim(index, data_root, tmp_path):
    block = python_examples()[index]
    env = {**os.environ, "DOJO_DATA": str(data_root)}
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240, env=env)
    assert done.returncode == 0, f"README example {index} failed:\n{block}\n{done.stderr[-3000:]}"


def test_readme_points_only_at_files_in_the_repository():
    assert "shared folder" not in README
    for link in re.findall(r"\]\(([^)#]+)\)", README):  # markdown links that are not web pages
        if not re.match(r"[a-z]+://", link):
            assert (REPO / link).exists(), link
    for name in re.findall(r"`((?:notebooks|bench|tests|prepare|metrics|dojo_kernel)/[\w./-]+)`", README):
        made_by_running = name.rstrip("/") in ("notebooks/runs", "notebooks/input")  # outputs, not sources
        if "<" not in name and not made_by_running:
            assert (REPO / name).exists(), name
    for notebook in (REPO / "notebooks").glob("*.ipynb"):
        assert f"notebooks/{notebook.name}" in README  # every notebook is mentioned


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(path.name for path in (REPO / "notebooks").glob("*.ipynb")))
def test_notebook_runs_where_it_sits_with_nbconvert(name, data_root, tmp_path):
    # `jupyter nbconvert` of this interpreter: its python3 kernel is the one dojo_kernel is installed in
    command = [sys.executable, "-m", "nbconvert"]
    if subprocess.run([*command, "--version"], capture_output=True).returncode != 0:
        pytest.skip("nbconvert is not installed (pip install -e '.[jupyter]')")
    runs = REPO / "notebooks" / "runs"
    before = set(runs.rglob("*")) if runs.exists() else set()
    env = {**os.environ, "DOJO_DATA": str(data_root)}
    try:
        done = subprocess.run([*command, "--to", "notebook", "--execute", f"notebooks/{name}", "--output-dir",
                               str(tmp_path), "--ExecutePreprocessor.timeout=600"],
                              cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    finally:
        # what this run added under notebooks/runs (ignored by git) goes; a reader's own runs stay
        for path in sorted(set(runs.rglob("*")) - before if runs.exists() else (), reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr[-3000:]
    executed = nbformat.read(tmp_path / name, as_version=4)
    errors = [output for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs
              if output.get("output_type") == "error"]
    assert not errors
    if name == "quickstart.ipynb":
        texts = "\n".join(output.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                          for output in cell.outputs)
        assert "replay AGREES" in texts
