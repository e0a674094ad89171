"""Results across runs: per-agent totals and Elo (dojo_kernel.leaderboard), `dojo leaderboard`,
and the report page (dojo_kernel.report_html) rendered in a real headless browser."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tiny_competition  # noqa: E402
from dojo_kernel.cli import main  # noqa: E402
from dojo_kernel.leaderboard import RunResult, agent_table, elo_ratings, head_to_head  # noqa: E402


def result(agent: str, competition: str, score: float | None, seed: int = 0, **fields) -> RunResult:
    return RunResult(path=Path(f"/runs/{competition}/{agent}/{seed}"), competition=competition, agent=agent,
                     seed=seed, final_score=score, valid=score is not None, finished=True,
                     higher_is_better=fields.pop("higher_is_better", True), **fields)


def test_elo_is_fitted_to_head_to_head_results_on_shared_competitions():
    runs = [result("strong", "a", 0.9), result("weak", "a", 0.5), result("mid", "a", 0.7),
            result("strong", "b", 0.8), result("weak", "b", 0.2), result("mid", "b", 0.2),
            result("strong", "c", 0.9, seed=1), result("weak", "c", 0.1, seed=2),  # different seeds: no game
            result("loner", "d", 1.0)]  # no rival on its competition: no rating
    games = head_to_head(runs)
    assert ("mid", "weak", 0.5) in games and ("strong", "weak", 1.0) in games
    assert not any("loner" in game[:2] for game in games) and len(games) == 6
    ratings = elo_ratings(runs)
    assert set(ratings) == {"strong", "mid", "weak"}
    assert ratings["strong"] > ratings["mid"] > ratings["weak"]
    assert sum(ratings.values()) / 3 == pytest.approx(1500, abs=25)
    assert elo_ratings(list(reversed(runs))) == pytest.approx(ratings)  # the order of the games does not matter


def test_lower_is_better_and_missing_submissions_decide_games():
    runs = [result("a", "x", 1.0, higher_is_better=False), result("b", "x", 2.0, higher_is_better=False),
            result("c", "x", None, higher_is_better=False)]
    assert sorted(head_to_head(runs)) == [("a", "b", 1.0), ("a", "c", 1.0), ("b", "c", 1.0)]


def test_agent_totals():
    runs = [result("x", "a", 0.9, medal="gold", above_median=True, rank=1, teams=10, position=0.9,
                   tokens=100, cost_usd=0.5),
            result("x", "b", 0.5, medal=None, above_median=False, rank=8, teams=10, position=0.2, tokens=50),
            result("x", "c", None),
            result("y", "a", 0.1, above_median=False, rank=10, teams=10, position=0.1)]
    rows = {row["agent"]: row for row in agent_table(runs)}
    x = rows["x"]
    assert (x["runs"], x["competitions"], x["gold"]) == (3, 3, 1)
    assert x["medal_rate"] == pytest.approx(1 / 3) and x["valid_rate"] == pytest.approx(2 / 3)
    assert x["above_median_rate"] == pytest.approx(1 / 3)
    assert x["mean_rank"] == pytest.approx(4.5)
    assert x["mean_position"] == pytest.approx((0.9 + 0.2 + 0.0) / 3)  # no valid submission beats nobody
    assert (x["tokens"], x["cost_usd"]) == (150, 0.5)
    assert x["elo"] > rows["y"]["elo"]
    assert list(rows) == ["x", "y"]  # best Elo first


class Scripted:
    """Writes one submission (perfect or constant), then submits it as final."""

    def __init__(self, kind: str) -> None:
        self.kind, self.name = kind, kind

    def reset(self, observation):
        self.steps = 0

    def act(self, observation):
        self.steps += 1
        if self.steps == 1:
            return {"action": "execute_code", "code": tiny_competition.submission_code(self.kind)}
        return {"action": "submit", "final": True}


@pytest.fixture(scope="module")
def two_agents_runs(tmp_path_factory):
    """Real episodes of two agents on the tiny competition, in the env's own run dirs."""
    import dojo_kernel
    from dojo_kernel.agents import run_episode

    root = tmp_path_factory.mktemp("runs")
    competition = tiny_competition.build(root / "data")
    for kind in ("perfect", "constant"):
        env = dojo_kernel.make(competition, output_dir=root / "runs" / competition.name, agent=kind,
                               isolation="none", warm_pool=0)
        summary = run_episode(env, Scripted(kind), seed=0)
        assert summary["stopped_by"] == "final_submit"
    return root / "runs"


def test_dojo_leaderboard_prints_the_agents_and_writes_csv(two_agents_runs, tmp_path, capsys):
    target = tmp_path / "board.csv"
    assert main(["leaderboard", str(two_agents_runs), "--csv", str(target), "--runs-csv", str(tmp_path / "runs.csv")]) == 0
    printed = capsys.readouterr().out
    assert "perfect" in printed and "constant" in printed and "elo" in printed
    with open(target, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["agent"] for row in rows] == ["perfect", "constant"]  # best Elo first
    assert float(rows[0]["elo"]) > 1500 > float(rows[1]["elo"])
    assert rows[0]["valid_rate"] == "1" and rows[0]["medal_rate"] == "1"
    with open(tmp_path / "runs.csv", newline="") as file:
        runs = {row["agent"]: row for row in csv.DictReader(file)}
    assert runs["perfect"]["final_score"] == "1" and runs["perfect"]["medal"] == "gold"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_the_report_page_is_self_contained_and_renders_in_a_browser(two_agents_runs, tmp_path):
    page = tmp_path / "report" / "report.html"
    assert main(["report", str(two_agents_runs), "--out", str(page.parent)]) == 0
    text = page.read_text()
    for table in ("agents-table", "runs-table"):
        assert f"id='{table}'" in text
    assert text.count("<svg") == 1  # one chart: one competition
    assert "<img" not in text and "<link" not in text and "src=" not in text  # nothing fetched
    assert text.count("trajectory.ipynb</a>") == 2
    notebook_links = [part.split("'")[0] for part in text.split("<a href='")[1:] if "ipynb" in part.split("'")[0]]
    assert all((page.parent / link).resolve().is_file() for link in notebook_links)

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); the page was checked as text")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-rendered="yes"' in dom  # the page's script ran: it loaded without a script error
    assert "Uncaught" not in done.stderr  # no script error in the console log
    assert 'id="agents-table"' in dom and 'id="runs-table"' in dom
    for agent in ("perfect", "constant"):
        assert f">{agent}<" in dom
    assert "gold" in dom  # the perfect run's medal, in the runs table
