"""`dojo report` draws tree.json, which is untrusted: bad JSON, links, FIFOs, cycles, huge
trees and escape codes in names give a clear message or are shown safely. (The tree of a
real forked episode is drawn in test_tree_agent.py.)"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from dojo_kernel.cli import main
from dojo_kernel.episode_tree import MAX_DRAWN, read_tree_file, walk
from dojo_kernel.rundir import mark_run_dir


def make_runs(root: Path, names: list[str]) -> Path:
    """Run dirs in the env's file formats (a reward line and a summary each), under root."""
    for name in names:
        run = root / name
        run.mkdir(parents=True)
        mark_run_dir(run)
        (run / "rewards.jsonl").write_text(json.dumps({"step": 1, "reward": 0.1, "score": 0.5}) + "\n")
        (run / "summary.json").write_text(json.dumps({"competition": "toy", "agent": "tree", "best_score": 0.5}))
    return root


def write_tree(root: Path, nodes: dict) -> Path:
    path = root / "tree.json"
    path.write_text(json.dumps({"format": 1, "nodes": nodes}))
    return path


def report(root: Path, tmp_path: Path, capsys) -> tuple[str, str, str]:
    assert main(["report", str(root), "--out", str(tmp_path / "report")]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err, (tmp_path / "report" / "report.html").read_text()


def test_a_tree_is_drawn_with_scores_and_links_to_its_runs(tmp_path, capsys):
    root = make_runs(tmp_path / "runs", ["r0", "r1", "r2"])
    write_tree(root, {"r0": {"parent": None, "fork_step": None, "steps": 2, "best_score": 0.5},
                      "r1": {"parent": "r0", "fork_step": 2, "steps": 3, "best_score": 0.75, "final_score": 0.7,
                             "end_reason": "final_submit", "search": {"node": 1, "score": 0.75, "chosen": True}},
                      "r2": {"parent": "r0", "fork_step": 2, "steps": 3, "best_score": 0.5}})
    out, err, page = report(root, tmp_path, capsys)
    assert err == ""
    lines = out.splitlines()
    top = next(i for i, line in enumerate(lines) if "episode tree:" in line)
    assert "r0" in lines[top + 1] and "best 0.5" in lines[top + 1]
    assert "r1" in lines[top + 2] and "score 0.75" in lines[top + 2] and "final 0.7 (private)" in lines[top + 2]
    assert "CHOSEN" in lines[top + 2] and "forked at step 2" in lines[top + 2]
    assert "r2" in lines[top + 3] and lines[top + 3].index("r2") > lines[top + 1].index("r0")
    assert "<h2 id='trees'>Episode trees</h2>" in page
    assert page.count("<li") == 3 and "<li class='chosen'><a href='#run-" in page


def test_bad_json_a_link_and_a_fifo_are_skipped_with_a_message(tmp_path, capsys):
    bad = make_runs(tmp_path / "runs" / "bad", ["a"])
    (bad / "tree.json").write_text('{"nodes": {"a": {"parent": nul')
    linked = make_runs(tmp_path / "runs" / "linked", ["b"])
    secret = write_tree(tmp_path, {"outside-secret": {"parent": None}})
    (linked / "tree.json").symlink_to(secret)
    fifo = make_runs(tmp_path / "runs" / "fifo", ["c"])
    os.mkfifo(fifo / "tree.json")
    shape = make_runs(tmp_path / "runs" / "shape", ["d"])
    (shape / "tree.json").write_text(json.dumps({"nodes": ["d"]}))
    nested = make_runs(tmp_path / "runs" / "nested", ["e"])
    (nested / "tree.json").write_text("[" * 200_000 + "]" * 200_000)
    started = time.monotonic()
    out, err, page = report(tmp_path / "runs", tmp_path, capsys)
    assert time.monotonic() - started < 60  # the FIFO was not waited on
    assert "expected valid JSON in" in err and "bad/tree.json" in err
    assert "linked/tree.json to be a regular file, got a link" in err
    assert "fifo/tree.json to be a regular file" in err
    assert "shape/tree.json to hold an object with \"nodes\"" in err and "got a list" in err
    assert "nested/tree.json" in err and "nested too deeply" in err
    assert "outside-secret" not in out + page  # the link was not followed
    assert "episode tree:" not in out and "5 run(s)" in page


def test_cycles_missing_parents_and_odd_nodes_are_drawn_once_with_notes(tmp_path, capsys):
    root = make_runs(tmp_path / "runs", ["a"])
    write_tree(root, {"a": {"parent": "b"}, "b": {"parent": "a"}, "self": {"parent": "self"},
                      "orphan": {"parent": "gone"}, "kid": {"parent": "orphan", "best_score": 1e400},
                      "odd": 3, "odder": {"parent": 7}, "huge": {"parent": None, "steps": 10**300, "best_score": 10**300}})
    tree = read_tree_file(root / "tree.json")
    drawn, hidden = walk(tree)
    assert sorted(name for _, name in drawn) == ["a", "b", "huge", "kid", "orphan", "self"] and hidden == 0
    assert (1, "kid") in drawn
    notes = "\n".join(tree.notes)
    assert "2 node(s) left out" in notes and "its parent gone is not in the tree" in notes
    assert "self: its parent self is itself" in notes and "a: its parents form a cycle" in notes
    out, err, page = report(root, tmp_path, capsys)
    assert err == "" and "note: a: its parents form a cycle" in out and "best -" in out


def test_escape_codes_and_markup_in_names_are_shown_as_text(tmp_path, capsys):
    root = make_runs(tmp_path / "runs", ["r"])
    write_tree(root, {"\x1b]0;pwned\x07\x1b[2J": {"parent": None, "end_reason": "[bold red]x[/]"},
                      "<script>alert(1)</script>": {"parent": "\x1b]0;pwned\x07\x1b[2J"}})
    out, err, page = report(root, tmp_path, capsys)
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pwned\\x07" in out
    assert "[bold red]x[/]" in out
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_huge_tree_is_drawn_in_part_quickly(tmp_path, capsys):
    root = make_runs(tmp_path / "runs", ["r"])
    nodes = {"n0": {"parent": None}}
    nodes.update({f"n{i}": {"parent": f"n{i - 1}"} for i in range(1, 20_000)})  # a chain 20,000 deep
    nodes.update({f"w{i}": {"parent": "n0"} for i in range(20_000)})  # and 20,000 siblings
    write_tree(root, nodes)
    started = time.monotonic()
    out, err, page = report(root, tmp_path, capsys)
    assert time.monotonic() - started < 60
    assert err == "" and f"more episode(s) not drawn (at most {MAX_DRAWN}" in out
    assert page.count("<li") == MAX_DRAWN


@pytest.mark.parametrize("name", ["../../etc", "/etc/passwd"])
def test_node_names_never_make_links_outside_the_page(tmp_path, capsys, name):
    root = make_runs(tmp_path / "runs", ["r"])
    write_tree(root, {name: {"parent": None}, "r": {"parent": name}})
    out, err, page = report(root, tmp_path, capsys)
    assert err == "" and page.count("<li") == 2
    assert "href='#run-" in page and f"href='{name}" not in page
