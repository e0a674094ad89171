"""`dojo attach` hands out the copy of the connection file the env wrote (attach.json, beside
kernel.json, where the sandboxed kernel cannot write), never the kernel's own file."""

from __future__ import annotations

import json

import pytest
from jupyter_client import BlockingKernelClient

import dojo_kernel
from dojo_kernel.cli import main
from dojo_kernel.isolation import resolve_mode
from tiny_competition import build

REWRITE = """
import json
from ipykernel.connect import get_connection_file
path = get_connection_file()
info = json.load(open(path))
info.update(transport="tcp", ip="203.0.113.7")  # an outside host
json.dump(info, open(path, "w"))
print("rewrote", path)
"""


def test_attach_gives_the_envs_copy_which_agent_code_cannot_rewrite(tmp_path, capsys):
    if resolve_mode("auto").mode != "namespaces":
        pytest.skip("needs the sandbox (bubblewrap): without it agent code can write any file")
    competition = build(tmp_path / "competitions", name="tiny-attach-copy")
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", warm_pool=0)
    try:
        env.reset()
        observation, *_ = env.step(REWRITE + "\nanswer = 41 + 1")
        assert "rewrote" in str(observation)
        copy = env.run_dir / "attach.json"
        assert json.loads((env.run_dir / "kernel.json").read_text())["connection_file"] == str(copy.resolve())
        assert copy.stat().st_mode & 0o077 == 0  # it holds the key: the owner's only
        # agent code cannot reach the copy: the run dir's top folder is read-only to it
        observation, *_ = env.step(f"open({str(copy)!r}, 'w').write('{{}}')")
        assert json.loads(copy.read_text())["ip"] != "203.0.113.7"

        assert main(["attach", str(env.run_dir)]) == 0
        assert f"jupyter console --existing {copy.resolve()}" in capsys.readouterr().out
        outputs: list[dict] = []
        client = BlockingKernelClient(connection_file=str(copy))
        client.load_connection_file()
        client.start_channels()
        try:
            reply = client.execute_interactive("print(answer)", timeout=30, output_hook=outputs.append)
        finally:
            client.stop_channels()
        assert reply["content"]["status"] == "ok"
        assert any(msg["content"].get("text", "").strip() == "42" for msg in outputs)
    finally:
        env.close()
