"""With the env as root, the sandboxed kernel is an unprivileged host uid (kernel_user.py).

Agent code plays the attacker in a real sandboxed kernel: root-only files that show in its
view stay unreadable, the record stays the env's (no write, chmod, chown, rename), and the
kernel still writes its own places. Skipped, with the reason, where the env is not root or
the sandbox cannot be built.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from dojo_kernel import KernelSession, isolation, kernel_user
from dojo_kernel.errors import ConfigError

_plan = isolation.resolve_mode("auto")
needs_root_sandbox = pytest.mark.skipif(
    os.geteuid() != 0 or _plan.mode != "namespaces" or _plan.kernel_user is None,
    reason=("the env is not root: bwrap already maps the kernel to the env's own uid" if os.geteuid() != 0
            else f"no sandbox with an unprivileged kernel uid here: {_plan.warning}"))

SANDBOX_UID = isolation.SANDBOX_UID


def attempt(session: KernelSession, code: str) -> str:
    """Run `code` in a cell: 'ok', or 'ErrorName:errno' (the last line the cell printed)."""
    result = session.run("import os\ntry:\n" + "".join(f"    {line}\n" for line in code.splitlines())
                         + "    print('ok')\nexcept Exception as e:\n"
                         "    print(f'{type(e).__name__}:{getattr(e, \"errno\", None)}')")
    assert result.status == "ok", result.text
    return result.text.strip().splitlines()[-1]


def _shm_mounts() -> int:
    with open("/proc/self/mountinfo") as handle:
        return sum(1 for line in handle if line.split()[4] == "/dev/shm")


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    """A run dir as the env leaves it, under pytest's 0700 folders: root's record and secrets."""
    run = tmp_path / "run"
    (run / "working").mkdir(parents=True)
    (run / "trajectory.ipynb").write_text('{"cells": []}')
    (run / "rewards.jsonl").write_text('{"step": 0}\n')
    (run / "summary.json").write_text("{}")
    secret = run / "attach.json"  # the real one holds the kernel's HMAC key, 0600
    secret.write_text(json.dumps({"key": "root-only"}))
    secret.chmod(0o600)
    return run


def _record(run: Path) -> dict[str, tuple[bytes, int, int, int]]:
    return {path.name: (path.read_bytes(), path.stat().st_mode, path.stat().st_uid, path.stat().st_gid)
            for path in sorted(run.iterdir()) if path.is_file()}


@needs_root_sandbox
def test_root_only_files_stay_unreadable_and_the_kernel_is_unprivileged(run_dir: Path, tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.mkdir()
    (public / "train.csv").write_text("id\n1\n")
    (public / "root_only.csv").write_text("secret\n")
    (public / "root_only.csv").chmod(0o600)
    mounts = _shm_mounts()
    with KernelSession(run_dir, isolation="namespaces", input_source=public) as session:
        user = session.isolation.kernel_user
        assert user is not None
        assert attempt(session, f"assert os.getuid() == os.geteuid() == {SANDBOX_UID}") == "ok"
        for path in ("attach.json", "input/root_only.csv"):
            assert attempt(session, f"open({path!r}).read()") == "PermissionError:13", path
        assert attempt(session, "open('input/train.csv').read()") == "ok"  # what is world-readable still is
        # Its own places: working/, $HOME, the private /tmp; on the host, files are the kernel uid's.
        assert attempt(session, "open('working/w.txt', 'w').write('x'); os.makedirs('working/d/e')\n"
                                "open(os.path.expanduser('~/h'), 'w').write('x'); open('/tmp/t', 'w').write('x')") == "ok"
        made = run_dir / "working" / "w.txt"
        assert (made.stat().st_uid, made.stat().st_gid) == (user.uid, user.gid)
        # The staging of bwrap's binds happened in a private mount namespace: nothing on the host.
        assert _shm_mounts() == mounts
        child = session.fork()
        try:  # a fork stays the same unprivileged uid, with a folder of its own it can write
            assert attempt(child, "open(os.path.expanduser('~/f'), 'w').write('x')\n"
                                  "open('attach.json').read()") == "PermissionError:13"
        finally:
            child.close()


@needs_root_sandbox
def test_the_kernel_cannot_bend_the_record(run_dir: Path) -> None:
    before = _record(run_dir)
    with KernelSession(run_dir, isolation="namespaces") as session:
        for name in ("trajectory.ipynb", "rewards.jsonl", "summary.json", "attach.json"):
            for action in (f"open({name!r}, 'a').write('x')", f"os.chmod({name!r}, 0o666)",
                           f"os.chown({name!r}, {SANDBOX_UID}, {SANDBOX_UID})", f"os.remove({name!r})",
                           f"os.rename({name!r}, 'working/taken')", f"os.utime({name!r}, (0, 0))",
                           f"open('working/../{name}', 'w').write('x')"):
                outcome = attempt(session, action)
                assert outcome.split(":")[0] in ("PermissionError", "OSError"), (action, outcome)
        # Nor through a new file beside the record, nor by changing the run dir itself.
        for action in ("open('evil.txt', 'w')", "os.chmod('.', 0o777)", "os.chmod('working', 0o777)\n"
                       "open('working/../evil.txt', 'w')"):
            assert attempt(session, action).split(":")[0] in ("PermissionError", "OSError"), action
    assert _record(run_dir) == before
    assert not (run_dir / "evil.txt").exists()


@needs_root_sandbox
def test_a_dedicated_uid_can_be_chosen(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel_user.ENV_VARIABLE, "54321:54322")
    with KernelSession(run_dir, isolation="namespaces") as session:
        assert session.isolation.kernel_user == kernel_user.KernelUser(54321, 54322)
        assert attempt(session, "open('working/w.txt', 'w').write('x')\nopen('attach.json').read()") \
            == "PermissionError:13"
    made = (run_dir / "working" / "w.txt").stat()
    assert (made.st_uid, made.st_gid) == (54321, 54322)


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel_user() is None unless the env is root")
@pytest.mark.parametrize(("text", "expected"), [("", kernel_user.KernelUser(65534, 65534)), ("off", None),
                                                ("4000", kernel_user.KernelUser(4000, 4000)),
                                                (" 4000:4001 ", kernel_user.KernelUser(4000, 4001))])
def test_the_kernel_uid_setting(monkeypatch: pytest.MonkeyPatch, text: str, expected: object) -> None:
    monkeypatch.setenv(kernel_user.ENV_VARIABLE, text)
    assert kernel_user.kernel_user() == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="kernel_user() is None unless the env is root")
@pytest.mark.parametrize("text", ["0", "root", "65534:0", "-5", "1:2:3"])
def test_a_privileged_or_malformed_kernel_uid_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(kernel_user.ENV_VARIABLE, text)
    with pytest.raises(ConfigError, match=kernel_user.ENV_VARIABLE):
        kernel_user.kernel_user()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files to another uid")
def test_handing_over_a_tree_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "host_file"
    outside.write_text("root's")
    outside_dir = tmp_path / "host_dir"
    outside_dir.mkdir()
    tree = tmp_path / "working"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("x")
    (tree / "link").symlink_to(outside)
    (tree / "dirlink").symlink_to(outside_dir, target_is_directory=True)
    user = kernel_user.KernelUser(54321, 54321)
    kernel_user.hand_over_tree(tree, user)
    for path in (tree, tree / "sub", tree / "sub" / "f", tree / "link", tree / "dirlink"):
        assert os.lstat(path).st_uid == 54321, path
    assert outside.stat().st_uid == 0 and outside_dir.stat().st_uid == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="only root prepares a workspace for another uid")
def test_the_run_dir_becomes_enterable_and_working_the_kernels(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "working").mkdir(parents=True)
    run.chmod(0o700)
    (run / "rewards.jsonl").write_text("{}\n")
    kernel_user.prepare_workspace(run, run / "working", kernel_user.KernelUser(54321, 54321))
    assert stat.S_IMODE(run.stat().st_mode) == 0o705  # enter and list; still nobody else's to write
    assert (run / "working").stat().st_uid == 54321
    assert (run / "rewards.jsonl").stat().st_uid == 0  # the record stays the env's


@needs_root_sandbox
def test_without_unprivileged_namespaces_the_sandbox_stays_and_says_so(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A bwrap that only root may run (its folder is pytest's 0700 one) stands for a host
    # without unprivileged user namespaces: the kernel keeps its sandbox, mapped to root.
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nexec {_plan.bwrap} \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    plan = isolation.resolve_mode("namespaces")
    assert (plan.mode, plan.bwrap, plan.kernel_user) == ("namespaces", str(fake), None)
    assert plan.warning is not None and "runs as root outside its namespace" in plan.warning


def test_staging_rewrites_only_bind_sources() -> None:
    command = ["bwrap", "--ro-bind", "/usr", "/usr", "--bind", "/a/run/working", "/a/run/working",
               "--ro-bind", "/usr", "/usr2", "--dev-bind", "/dev/nvidia0", "/dev/nvidia0",
               "--symlink", "usr/bin", "/bin", "--", "python", "--bind", "x", "y"]
    staged, plan = kernel_user.stage_binds(command, kernel_user.KernelUser(7, 8))
    assert plan is not None and plan.sources == (("/usr", f"{kernel_user.STAGE}/0"),
                                                 ("/a/run/working", f"{kernel_user.STAGE}/1"))
    assert staged == ["bwrap", "--ro-bind", f"{kernel_user.STAGE}/0", "/usr",
                      "--bind", f"{kernel_user.STAGE}/1", "/a/run/working",
                      "--ro-bind", f"{kernel_user.STAGE}/0", "/usr2", "--dev-bind", "/dev/nvidia0", "/dev/nvidia0",
                      "--symlink", "usr/bin", "/bin", "--", "python", "--bind", "x", "y"]
    assert kernel_user.stage_binds(command, None) == (command, None)
