"""The `dojo` command: real episodes of the baseline agent on every built-in competition,
replay, report, attach, and the one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dojo_kernel.cli import main
from dojo_kernel.prepare.builtin import CORE_NAMES

# Small models and few folds: the point is the whole path, not the last decimal. One thread per
# kernel: on a shared 2-core machine, OpenMP threads that wait for each other cost 10x.
FAST_AGENT = ["--agent-option", "n_estimators=25", "--agent-option", "folds=2", "--agent-option", "max_cv_rows=3000",
              "--cpus", "1"]


def one_error_line(text: str, command: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {lines}"
    assert lines[0].startswith(f"dojo {command}: error: "), lines[0]
    assert "Traceback" not in text
    return lines[0]


def run_baseline(name: str, out: Path, *extra: str, quiet: bool = True) -> dict:
    summary_file = out / "summary-of-run.json"
    code = main(["run", name, "--out", str(out), "--max-steps", "20", "--json", str(summary_file),
                 *(["--quiet"] if quiet else []), *FAST_AGENT, *extra])
    assert code == 0
    return json.loads(summary_file.read_text())


# -- every built-in competition, end to end ---------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", CORE_NAMES)
def test_baseline_beats_the_sample_submission_and_its_notebook_replays(name, data_root, tmp_path, capsys):
    from dojo_kernel import get_competition

    summary = run_baseline(name, tmp_path / "runs")
    printed = capsys.readouterr().out
    assert f"notebook: {summary['notebook']}" in printed

    competition = get_competition(name)
    sample = competition.grade(competition.sample_submission_path, split="private")
    assert sample.valid, sample.error
    assert summary["stopped_by"] == "final_submit"
    assert summary["agent_stats"]["fallbacks"] == 0, "the baseline needed its fallback"
    final = summary["final_score"]
    assert final is not None
    if competition.higher_is_better:
        assert final > sample.score, f"{name}: baseline {final} vs sample {sample.score}"
    else:
        assert final < sample.score, f"{name}: baseline {final} vs sample {sample.score}"

    notebook = nbformat.read(summary["notebook"], as_version=4)
    nbformat.validate(notebook)
    messages = [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
    assert any("Cross-validate" in text or "Backtest" in text for text in messages), "the agent's reasoning is kept"

    assert main(["replay", summary["notebook"]]) == 0
    assert "replay AGREES" in capsys.readouterr().out


# -- report, replay and attach on real run dirs ------------------------------------------------

def test_report_of_real_runs_writes_png_and_html(data_root, tmp_path, capsys):
    runs = tmp_path / "runs"
    run_baseline("iris-species", runs, quiet=False)
    live = capsys.readouterr().out  # the live table, as it stood at the end
    for column in ("step", "action", "status", "score", "best", "budget left"):
        assert column in live
    assert "steps 12" in live  # 20 steps, 8 used: the budget left after the last one
    run_baseline("sunspots-yearly-forecast", runs)
    capsys.readouterr()
    assert main(["report", str(runs), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    page = tmp_path / "report" / "report.html"
    assert f"report: {page}" in printed.replace("\n", "")
    pngs = list((tmp_path / "report").glob("*.png"))
    assert len(pngs) == 2 and all(png.stat().st_size > 5_000 for png in pngs)
    html = page.read_text()
    assert "iris-species" in html and "sunspots-yearly-forecast" in html
    assert html.count("trajectory.ipynb</a>") >= 2


def test_attach_prints_the_live_kernel_and_it_shares_the_agents_state(data_root, tmp_path, capsys):
    from jupyter_client import BlockingKernelClient

    import dojo_kernel

    env = dojo_kernel.make("iris-species", output_dir=tmp_path / "runs", isolation="none")
    try:
        env.reset()
        env.step("answer = 41 + 1")
        assert main(["attach", str(env.run_dir)]) == 0
        printed = capsys.readouterr().out
        connection = json.loads((env.run_dir / "kernel.json").read_text())["connection_file"]
        assert f"jupyter console --existing {connection}" in printed

        outputs: list[dict] = []
        client = BlockingKernelClient(connection_file=connection)
        client.load_connection_file()
        client.start_channels()
        try:
            reply = client.execute_interactive("print(answer)", timeout=30, output_hook=lambda msg: outputs.append(msg))
            client.execute_interactive("print('typed at the console')", timeout=30, output_hook=outputs.append)
        finally:
            client.stop_channels()
        assert reply["content"]["status"] == "ok"
        assert any(msg["content"].get("text", "").strip() == "42" for msg in outputs)
        # What a person runs in the attached console is theirs: not shown to the agent as its output
        obs, *_ = env.step("print('the agent cell')")
        assert "the agent cell" in obs["feedback"] and "typed at the console" not in obs["feedback"]
    finally:
        env.close()
    assert main(["attach", str(env.run_dir)]) == 2
    assert "has ended" in one_error_line(capsys.readouterr().err, "attach")


# -- errors are one line and exit code 2 ------------------------------------------------------

def test_unknown_competition(data_root, tmp_path, capsys):
    assert main(["run", "iris-specis", "--out", str(tmp_path)]) == 2
    line = one_error_line(capsys.readouterr().err, "run")
    assert "iris-specis" in line and "iris-species" in line  # the closest name is offered


def test_bad_flag_values(capsys):
    for argv, needle in ((["run", "iris-species", "--memory-gb", "lots"], "expected a number > 0, got 'lots'"),
                         (["run", "iris-species", "--max-steps", "0"], "expected an integer > 0, got '0'"),
                         (["run", "iris-species", "--reward-mode", "best"], "invalid choice: 'best'")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        line = one_error_line(capsys.readouterr().err, "run")
        assert needle in line and "--help" in line


def test_unknown_agent_and_malformed_agent_option(data_root, capsys):
    assert main(["run", "iris-species", "--agent", "nope"]) == 2
    assert "expected an agent among" in one_error_line(capsys.readouterr().err, "run")
    assert main(["run", "iris-species", "--agent-option", "folds"]) == 2
    assert "KEY=VALUE" in one_error_line(capsys.readouterr().err, "run")
    assert main(["run", "iris-species", "--agent-option", "folds=1"]) == 2
    assert "folds" in one_error_line(capsys.readouterr().err, "run")


def test_batch_reports_bad_input_without_a_traceback(capsys, tmp_path):
    def error_of(*argv: str) -> str:
        assert main(["batch", *argv, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dojo batch: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
        return err

    assert "--parallel at most 1" in error_of("alpha", "--out", str(tmp_path), "--gpus", "0", "--per-gpu", "1",
                                              "--parallel", "2", "--gpu-memory-gb", "8")
    assert "--out DIR" in error_of("alpha")
    # `--ray` takes an optional address: written first, it would swallow a competition's name
    assert "--ray=ADDRESS" in error_of("--ray", "alpha", "beta", "--out", str(tmp_path))
    assert "expected --set KEY=VALUE, got 'max_steps'" in error_of("alpha", "--out", str(tmp_path), "--set", "max_steps")
    assert "--gpus as comma-separated indices" in error_of("alpha", "--out", str(tmp_path), "--gpus", "zero")


def test_missing_paths(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.ipynb")]) == 2
    assert "does not exist" in one_error_line(capsys.readouterr().err, "replay")
    assert main(["report", str(tmp_path)]) == 2
    assert "dojo run" in one_error_line(capsys.readouterr().err, "report")
    assert main(["attach", str(tmp_path)]) == 2
    assert "kernel.json" in one_error_line(capsys.readouterr().err, "attach")


def test_help_on_every_command_and_the_console_script():
    for command in ("list", "prepare", "run", "batch", "replay", "report", "attach"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
    script = Path(sys.executable).with_name("dojo")
    done = subprocess.run([str(script), "run", "--cell-timeout", "-1", "x"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    one_error_line(done.stderr, "run")


def test_list_shows_builtins_with_their_metric_and_build_state(data_root, capsys):
    assert main(["list"]) == 0
    printed = capsys.readouterr().out
    for name in CORE_NAMES:
        assert name in printed
    assert "multiclass_log_loss" in printed
    assert "suites: lite (10 built-ins), full (" in printed


def test_list_shows_one_suite_and_refuses_an_unknown_one(data_root, capsys):
    from dojo_kernel.prepare.builtin import suite

    assert main(["list", "--suite", "lite"]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in suite("lite")) and "iris-species" not in printed
    assert main(["list", "--suite", "heavy"]) == 2
    assert "expected a suite among lite, full, got 'heavy'" in capsys.readouterr().err


# -- the notebooks in notebooks/ ---------------------------------------------------------------

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_example_episode_is_a_recorded_baseline_episode():
    notebook = nbformat.read(NOTEBOOKS / "example-episode.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["dojo"]["agent"] == "baseline"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) >= 4 and all(cell.outputs for cell in code)
    assert notebook.metadata["dojo"]["summary"]["end_reason"] == "final_submit"


def test_prepare_builds_a_builtin_and_names_the_fix_for_unknown_ones(data_root, tmp_path, capsys):
    assert main(["prepare", "wine-cultivars"]) == 0
    assert (data_root / "wine-cultivars" / "competition.toml").is_file()
    assert "prepared wine-cultivars" in capsys.readouterr().out.replace("\n", "")
    assert main(["prepare", "no-such-competition-xyz"]) == 2
    assert "no-such-competition-xyz" in one_error_line(capsys.readouterr().err, "prepare")
    assert main(["prepare", "wine-cultivars", "--raw-dir", str(tmp_path)]) == 2
    assert "--raw-dir only for Kaggle" in one_error_line(capsys.readouterr().err, "prepare")


def test_list_all_adds_the_kaggle_catalog(data_root, capsys):
    from dojo_kernel.prepare.catalog import load_catalog

    assert main(["list", "--all"]) == 0
    printed = capsys.readouterr().out
    assert "spaceship-titanic" in printed and "no (Kaggle)" in printed and "no (listed only)" in printed
    listed = {name for name in load_catalog() if name in printed}
    assert len(listed) >= 200
    preparable = sum(1 for entry in load_catalog().values() if not entry.unsupported)
    assert f"catalog: {len(load_catalog())} Kaggle competitions, {preparable} prepare and grade here" in " ".join(printed.split())
    assert preparable >= 200
