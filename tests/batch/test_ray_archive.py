"""Run dirs a Ray task ships back (no Ray needed: the archive is made and read as the
backend does): only folders and regular files travel; links stay behind, never abort."""

from __future__ import annotations

import os

from dojo_kernel.batch.ray import _pack, _unpack


def test_only_regular_files_come_back_and_links_are_skipped(tmp_path):
    episode = tmp_path / "node" / "episode"
    run = episode / "20260101-000000-abcdef"
    (run / "working").mkdir(parents=True)
    (run / "rewards.jsonl").write_text('{"step": 1}\n')
    (run / "working" / "submission.csv").write_text("id,y\n1,0\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("host file")
    (run / "input").symlink_to(tmp_path, target_is_directory=True)  # the run dir's own input/ link
    (run / "working" / "input").symlink_to(tmp_path, target_is_directory=True)  # one planted by agent code
    (run / "working" / "abs").symlink_to(secret)  # an absolute link out of the run dir
    (run / "working" / "rel").symlink_to("../../../../secret.txt")
    os.mkfifo(run / "working" / "pipe")

    back = tmp_path / "driver" / "episode"
    _unpack(_pack(episode), back)

    got = sorted(path.relative_to(back).as_posix() for path in back.rglob("*"))
    assert got == ["20260101-000000-abcdef", "20260101-000000-abcdef/rewards.jsonl",
                   "20260101-000000-abcdef/working", "20260101-000000-abcdef/working/submission.csv"]
    assert not any(path.is_symlink() for path in back.rglob("*"))
    assert (back / "20260101-000000-abcdef" / "rewards.jsonl").read_text() == '{"step": 1}\n'
