"""Text from a run or a competition dir reaches the terminal shown as written: control
characters as visible escapes, square brackets never read as rich markup."""

from __future__ import annotations

import json

import pytest

from dojo_kernel.agents import StopEpisode
from dojo_kernel.cli import main
from dojo_kernel.printable import plain, printable
from tiny_competition import build

HOSTILE = "[/bold]\x1b]0;pwned\x07\x1b[2J[red]x"


class MarkupAgent:
    """Names its one action with markup and escape sequences, then stops."""

    def reset(self, observation):
        self.done = False

    def act(self, observation):
        if self.done:
            raise StopEpisode("done")
        self.done = True
        return {"action": HOSTILE}


def test_printable_shows_control_characters_and_plain_escapes_markup():
    assert printable("a\x1b[31mb\x07\tc\nd\u2028\x9b") == "a\\x1b[31mb\\x07\tc\nd\\u2028\\x9b"
    assert printable("a\nb\tc", newlines=False) == "a\\nb\\tc"
    assert printable("lone \ud800") == "lone \\ud800"  # encodable for any terminal
    assert plain("[/bold]") == "\\[/bold]"
    from rich.console import Console
    from rich.text import Text

    console = Console(record=True, width=200)
    console.print(plain(HOSTILE))  # would raise MarkupError unescaped
    assert Text.from_markup(plain(HOSTILE)).plain == printable(HOSTILE)


@pytest.mark.parametrize("quiet", [False, True])
def test_dojo_run_shows_an_action_named_with_markup_as_written(tmp_path, capsys, quiet):
    competition = build(tmp_path / "competitions", name=f"tiny-markup-{int(quiet)}")
    summary_file = tmp_path / "summary.json"
    code = main(["run", competition.name, "--agent", "test_terminal_text:MarkupAgent", "--out", str(tmp_path / "runs"),
                 "--max-steps", "3", "--json", str(summary_file), *(["--quiet"] if quiet else [])])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "\x1b" not in captured.out and "\x07" not in captured.out
    if not quiet:  # the live table shows the name, escaped
        assert "\\x1b]0;pwned" in captured.out
    assert json.loads(summary_file.read_text())["steps"] >= 1


def test_replay_text_shows_cell_output_and_recorded_settings_escaped(tmp_path):
    from dojo_kernel.replay import ReplayCell, ReplayReport

    report = ReplayReport(notebook=tmp_path / "trajectory.ipynb", run_dir=tmp_path, competition="c", split="private",
                          recorded_isolation="none\x1b[2J", recorded_limits={"memory_gb": None})
    report.cells.append(ReplayCell(index=1, step=1, action="execute_code", recorded_status="ok", replay_status="ok",
                                   recorded_text="\x1b]0;title\x07old", replay_text="new\x1b[2J", duration_s=0.1))
    text = report.to_text()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;title\\x07old" in text and "recorded: none\\x1b[2J, not used" in text
