"""Isolation: agent code plays the attacker in a real sandboxed kernel and must get nowhere.

Every attack runs as a cell in a KernelSession with isolation="namespaces"; afterwards the
session must still run cells. Where the OS cannot build the sandbox, these tests skip with
the reason resolve_mode gives.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import secrets
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from dojo_kernel import KernelSession, isolation
from dojo_kernel.competition import load_competition_dir
from dojo_kernel.errors import ConfigError, IsolationError
from dojo_kernel.isolation import LaunchSpec
from dojo_kernel.spawn import prepare_workspace
from waiting import wait_until

REPO = Path(__file__).resolve().parents[1]
TOKEN = secrets.token_hex(16)  # the "answers": no file or variable the kernel sees may hold it

_plan = isolation.resolve_mode("auto")
needs_namespaces = pytest.mark.skipif(
    _plan.mode != "namespaces", reason=f"namespaces unavailable here: {_plan.warning}")


def test_isolation_is_available_where_ci_requires_it() -> None:
    # CI sets DOJO_REQUIRE_ISOLATION=1 after installing bubblewrap, so that the attacker tests
    # below cannot pass by skipping.
    if os.environ.get("DOJO_REQUIRE_ISOLATION") == "1":
        assert _plan.mode == "namespaces", _plan.warning


class World:
    """A data root with one competition (public data + private answers) and an episode's run dir."""

    def __init__(self, base: Path) -> None:
        self.data_root = base / "data"
        self.competition = self.data_root / "toy"
        self.public = self.competition / "public"
        self.private = self.competition / "private"
        self.answers = self.private / "test_answer.csv"
        self.run_dir = base / "run"
        self.working = self.run_dir / "working"
        for folder in (self.public, self.private, self.working):
            folder.mkdir(parents=True)
        (self.competition / "competition.toml").write_text('metric = "accuracy"\n')
        (self.public / "train.csv").write_text("id,label\n1,a\n2,b\n")
        (self.public / "sample_submission.csv").write_text("id,label\n10,a\n11,a\n")
        self.answers.write_text(f"id,label\n10,{TOKEN}\n11,b\n")
        (self.run_dir / "trajectory.ipynb").write_text('{"cells": []}')
        (self.run_dir / "rewards.jsonl").write_text('{"step": 0}\n')

    def protected_files(self) -> dict[Path, bytes]:
        files = [self.answers, self.public / "train.csv", self.run_dir / "trajectory.ipynb",
                 self.run_dir / "rewards.jsonl"]
        return {path: path.read_bytes() for path in files}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        built = World(tmp_path_factory.mktemp("isolation"))
        patch.setenv("DOJO_DATA", str(built.data_root))
        # A secret in the env's own environment: /proc/<parent>/environ must not leak it.
        patch.setenv("DOJO_ATTACK_SECRET", TOKEN)
        yield built


@pytest.fixture(scope="module")
def session(world: World):
    if _plan.mode != "namespaces":
        pytest.skip(f"namespaces unavailable here: {_plan.warning}")
    with KernelSession(world.run_dir, isolation="namespaces", input_source=world.public) as kernel:
        yield kernel


def run_json(session: KernelSession, code: str):
    """Run a cell whose last line prints one JSON value; return that value."""
    result = session.run(textwrap.dedent(code), timeout=120)
    assert result.status == "ok", result.text
    return json.loads(result.text.strip().splitlines()[-1])


def attempt(session: KernelSession, action: str) -> str:
    """Run `action` (one statement) in the kernel: 'ok', or 'ExceptionName:errno' of what it raised."""
    return run_json(session, f"""
        import json, os, socket, signal
        try:
            {action}
            outcome = "ok"
        except Exception as error:
            outcome = type(error).__name__ + ":" + str(getattr(error, "errno", ""))
        print(json.dumps(outcome))
        """)


def assert_still_works(session: KernelSession) -> None:
    result = session.run("6 * 7")
    assert (result.status, result.text.strip(), result.restarted) == ("ok", "42", False)


@needs_namespaces
def test_kernel_runs_unprivileged_in_its_own_namespaces(session: KernelSession) -> None:
    seen = run_json(session, """
        import json, os, socket
        caps = {line.split(':')[0]: int(line.split()[1], 16) for line in open('/proc/self/status') if line.startswith('Cap')}
        print(json.dumps([os.getuid(), os.getgid(), caps['CapEff'], caps['CapPrm'], socket.gethostname(), os.getcwd()]))
        """)
    assert seen == [isolation.SANDBOX_UID, isolation.SANDBOX_UID, 0, 0, isolation.SANDBOX_HOSTNAME,
                    str(session.cwd)]
    assert attempt(session, "os.setuid(0)") != "ok"


@needs_namespaces
def test_answers_cannot_be_read_by_their_path(session: KernelSession, world: World) -> None:
    assert attempt(session, f"open({str(world.answers)!r}).read()") == f"FileNotFoundError:{errno.ENOENT}"
    # The data root shows the public data of this competition and nothing beside it.
    assert run_json(session, f"import json, os; print(json.dumps(os.listdir({str(world.competition)!r})))") == ["public"]
    assert run_json(session, "import json; print(json.dumps(open('input/train.csv').read()))") == "id,label\n1,a\n2,b\n"
    assert_still_works(session)


@needs_namespaces
def test_searching_the_file_system_finds_no_answers(session: KernelSession, world: World) -> None:
    found = run_json(session, f"""
        import json, os
        names, leaks = set(), []
        for top in sorted(set(os.listdir('/')) - {{'proc', 'sys', 'dev'}}):
            for folder, dirs, files in os.walk('/' + top):
                names.update(files)
                for name in files:
                    if 'answer' in name or name.endswith('.csv'):
                        try:
                            if {TOKEN!r} in open(os.path.join(folder, name), errors='ignore').read():
                                leaks.append(os.path.join(folder, name))
                        except OSError:
                            pass
        print(json.dumps([leaks, 'train.csv' in names, 'test_answer.csv' in names]))
        """)
    leaks, saw_public_data, saw_answers_file = found
    assert saw_public_data  # the search did reach the data it may see...
    assert (leaks, saw_answers_file) == ([], False)  # ...and nothing else
    assert_still_works(session)


@needs_namespaces
def test_proc_shows_neither_the_env_process_nor_its_secrets(session: KernelSession, world: World) -> None:
    me = os.getpid()
    assert attempt(session, f"open('/proc/{me}/environ').read()") == f"FileNotFoundError:{errno.ENOENT}"
    assert attempt(session, f"os.readlink('/proc/{me}/cwd')") == f"FileNotFoundError:{errno.ENOENT}"
    seen = run_json(session, """
        import json, os
        found = {}
        for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
            try:
                found[pid] = [open(f'/proc/{pid}/environ', 'rb').read().decode(errors='ignore'),
                              os.readlink(f'/proc/{pid}/cwd'), open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='ignore')]
            except OSError as error:
                found[pid] = [type(error).__name__, '', '']
        print(json.dumps([os.getppid(), found]))
        """)
    parent, processes = seen
    assert parent == 1  # the sandbox's own init, not the env
    assert str(me) not in processes
    for environ, cwd, _cmdline in processes.values():
        assert TOKEN not in environ and "DOJO_ATTACK_SECRET" not in environ
        assert str(world.private) not in cwd
    assert_still_works(session)


@needs_namespaces
def test_tcp_and_abstract_sockets_of_the_host_are_unreachable(session: KernelSession) -> None:
    with socket.socket() as listener, socket.socket(socket.AF_UNIX) as abstract:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        abstract_name = f"\0dojo-test-{TOKEN}"
        abstract.bind(abstract_name)
        abstract.listen()
        local = attempt(session, f"socket.create_connection(('127.0.0.1', {port}), timeout=5)")
        unix = attempt(session, f"s = socket.socket(socket.AF_UNIX); s.connect({abstract_name!r})")
        # 203.0.113.0/24 is reserved for documentation: even a broken sandbox sends nothing real.
        public = attempt(session, "socket.create_connection(('203.0.113.7', 80), timeout=5)")
        names = attempt(session, "socket.getaddrinfo('example.com', 443)")
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert local == f"ConnectionRefusedError:{errno.ECONNREFUSED}"  # the sandbox's own loopback
    assert unix == f"ConnectionRefusedError:{errno.ECONNREFUSED}"
    assert public == f"OSError:{errno.ENETUNREACH}"  # no route at all: fails at once, no packet
    assert names.startswith("gaierror")
    assert_still_works(session)


@needs_namespaces
def test_allow_network_keeps_the_hosts_network(world: World) -> None:
    with socket.socket() as listener, \
            KernelSession(world.run_dir, isolation="namespaces", allow_network=True) as kernel:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert attempt(kernel, f"socket.create_connection(('127.0.0.1', {port}), timeout=5).close()") == "ok"


REFUSED_WRITE = {f"OSError:{errno.EROFS}", f"PermissionError:{errno.EACCES}", f"PermissionError:{errno.EPERM}"}


@needs_namespaces
def test_public_data_cannot_be_changed(session: KernelSession, world: World) -> None:
    before = world.protected_files()
    for action in ("open('input/train.csv', 'a').write('x')", "os.remove('input/train.csv')",
                   "os.rename('input/train.csv', 'input/t.csv')", "os.chmod('input/train.csv', 0o777)",
                   "open('input/new.csv', 'w')", "os.remove('input')", "os.symlink('/tmp', 'input2')"):
        # Refused by the read-only mount, or (the env as root: the kernel is an unprivileged
        # host uid, which the kernel checks first) by the files' host permissions.
        assert attempt(session, action) in REFUSED_WRITE, action
    assert world.protected_files() == before
    assert sorted(os.listdir(world.public)) == ["sample_submission.csv", "train.csv"]
    assert_still_works(session)


@needs_namespaces
def test_only_working_and_tmp_are_writable(session: KernelSession, world: World) -> None:
    before = world.protected_files()
    targets = [world.run_dir / "trajectory.ipynb", world.run_dir / "rewards.jsonl", world.run_dir / "summary.json",
               world.run_dir / "working" / ".." / "evil.txt", REPO / "evil.txt", Path(sys.prefix) / "evil.txt",
               world.private / "evil.txt", Path("/etc/evil.txt"), Path("/usr/evil.txt"), Path("/evil.txt")]
    for target in targets:
        outcome = attempt(session, f"open({str(target)!r}, 'a').write('pwned')")
        refused = outcome.split(":")[0] in ("OSError", "FileNotFoundError", "PermissionError")
        # A checkout under /tmp (as CI may clone it) is not shown to the kernel: there the path
        # falls in the kernel's own /tmp, where a write succeeds but never reaches the host.
        assert refused or target.resolve().is_relative_to("/tmp"), (target, outcome)
        assert not (target.exists() and b"pwned" in target.read_bytes()), target
    assert world.protected_files() == before
    assert attempt(session, "open('working/notes.txt', 'w').write('mine')") == "ok"
    assert attempt(session, "open('/tmp/scratch.txt', 'w').write('mine')") == "ok"
    assert (world.working / "notes.txt").read_text() == "mine"
    assert not Path("/tmp/scratch.txt").exists()  # the kernel's /tmp is its own
    assert_still_works(session)


@needs_namespaces
def test_links_planted_in_the_kernels_files_do_not_redirect_the_envs_writes(world: World) -> None:
    # The kernel may write where its sockets live; whatever it leaves there must not make the
    # env (which may run as root) write elsewhere when it restarts the kernel.
    target = world.run_dir.parent / "host-owned.txt"
    with KernelSession(world.run_dir, isolation="namespaces") as kernel:
        planted = run_json(kernel, f"""
            import json, os
            folders = {{os.path.dirname(os.path.abspath(p)) for p in
                       [os.environ['HOME'], *(os.path.realpath(f'/proc/self/fd/{{fd}}') for fd in os.listdir('/proc/self/fd'))]
                       if p.startswith('/tmp/')}}
            names = ['kernel.log', 'kernel.json', 'home', 'g2', 'g3'] + [f'kernel-{{n}}.json' for n in range(2, 5)]
            made = []
            for folder in folders:
                for name in names:
                    path = os.path.join(folder, name)
                    try:
                        if os.path.lexists(path):
                            os.rename(path, path + '.old')
                        os.symlink({str(target)!r}, path)
                        made.append(path)
                    except OSError:
                        pass
            print(json.dumps(made))
            """)
        kernel.restart()
        assert_still_works(kernel)
    assert planted, "the kernel found no file of its own to replace, so the test proves nothing"
    assert not target.exists()


@needs_namespaces
def test_signals_cannot_reach_the_env(session: KernelSession) -> None:
    assert attempt(session, f"os.kill({os.getpid()}, signal.SIGTERM)") == f"ProcessLookupError:{errno.ESRCH}"
    assert attempt(session, f"os.killpg({os.getpgid(0)}, signal.SIGTERM)").startswith("ProcessLookupError")
    # The kernel's parent is the sandbox's init, which ignores signals from inside.
    assert attempt(session, "os.kill(os.getppid(), signal.SIGKILL)") == "ok"
    assert psutil.Process(session.pid).is_running()
    assert_still_works(session)


@needs_namespaces
def test_a_submission_linked_to_the_answers_is_refused(session: KernelSession, world: World) -> None:
    submission = world.working / "submission.csv"
    assert attempt(session, f"os.symlink({str(world.answers)!r}, 'working/submission.csv')") == "ok"
    assert attempt(session, f"os.link({str(world.answers)!r}, 'working/hard.csv')").startswith("FileNotFoundError")
    try:
        grade = load_competition_dir(world.competition).grade(submission, split="public", allowed_dir=world.working)
    finally:
        submission.unlink()
    assert not grade.valid
    assert "a link or lies outside it" in grade.error
    assert_still_works(session)


@needs_namespaces
def test_no_process_survives_close(world: World) -> None:
    marker = f"dojo-daemon-{secrets.token_hex(8)}"
    kernel = KernelSession(world.run_dir, isolation="namespaces")
    try:
        started = kernel.run(textwrap.dedent(f"""
            import os, subprocess, sys
            if os.fork() == 0:          # double fork + setsid: a daemon the kernel no longer owns
                os.setsid()
                if os.fork() == 0:
                    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}])
                os._exit(0)
            os.wait()
            print('started')
            """))
        assert started.status == "ok", started.text
        wait_until(lambda: _processes_with(marker), message="the daemon to start (else the test proves nothing)")
        assert_still_works(kernel)
    finally:
        kernel.close()
    wait_until(lambda: not _processes_with(marker), message=f"no daemon left, found {_processes_with(marker)}")


def _processes_with(marker: str) -> list[int]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if marker in (process.info["cmdline"] or []):
            found.append(process.info["pid"])
    return found


@needs_namespaces
def test_a_cell_past_its_timeout_is_interrupted_by_message(session: KernelSession) -> None:
    assert session.run("kept = 'state'").status == "ok"
    result = session.run("import time; time.sleep(60)", timeout=1)
    assert (result.status, result.restarted) == ("timeout", False)
    assert session.run("kept").text.strip() == "'state'"


@needs_namespaces
def test_hidden_paths_inside_visible_folders_are_covered(tmp_path: Path) -> None:
    run_dir, runtime_dir = tmp_path / "run", tmp_path / "rt"
    runtime_dir.mkdir()
    secret_file = Path("/etc/passwd")
    script = (f"try: print(repr(open({str(secret_file)!r}).read()))\n"
              "except OSError as error: print(type(error).__name__)")
    prepare_workspace(run_dir, None)
    argv = isolation.wrap_command([sys.executable, "-c", script], LaunchSpec(_plan, hidden_paths=[secret_file]),
                                  cwd=run_dir, runtime_dir=runtime_dir)
    shown = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() in ("''", "PermissionError")  # /dev/null over it: empty or unopenable


@needs_namespaces
def test_the_sandbox_command_changes_no_file_and_says_what_is_missing(tmp_path: Path) -> None:
    public, run_dir, runtime_dir = tmp_path / "public", tmp_path / "run", tmp_path / "rt"
    for folder in (public, run_dir, runtime_dir):
        folder.mkdir()
    spec = LaunchSpec(_plan, input_source=public)
    with pytest.raises(ConfigError, match="prepare_workspace"):
        isolation.wrap_command([sys.executable], spec, cwd=run_dir, runtime_dir=runtime_dir)
    (run_dir / "working").mkdir()
    with pytest.raises(ConfigError, match="linking the public data"):
        isolation.wrap_command([sys.executable], spec, cwd=run_dir, runtime_dir=runtime_dir)
    prepare_workspace(run_dir, public)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    argv = isolation.wrap_command([sys.executable], spec, cwd=run_dir, runtime_dir=runtime_dir)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert argv[-1] == sys.executable and "--unshare-net" in argv
    shown = ["--ro-bind", str(public.resolve()), str(public.resolve())]  # at the input/ link's target
    assert any(argv[i:i + 3] == shown for i in range(len(argv)))


def test_a_launch_spec_is_one_checked_value() -> None:
    spec = LaunchSpec("none", hidden_paths=["relative/x"], env={"B": "2", "A": "1"})
    assert spec.plan == isolation.IsolationPlan("none")
    assert spec.hidden_paths == (Path("relative/x").resolve(),)
    assert spec.env == (("A", "1"), ("B", "2"))  # immutable all the way down, and picklable
    assert pickle.loads(pickle.dumps(spec)) == spec
    for bad, says in ((dict(tmp_size_bytes=0), "tmp_size_bytes"), (dict(allow_network="yes"), "allow_network"),
                      (dict(hidden_paths="/data"), "hidden_paths"), (dict(env={"A": 1}), "LaunchSpec.env")):
        with pytest.raises(ConfigError, match=says):
            LaunchSpec("none", **bad)
    with pytest.raises(ConfigError, match="expected isolation in"):
        LaunchSpec("docker")


@needs_namespaces
def test_library_folders_are_shown_read_only_even_under_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libraries = tmp_path / "lib"  # e.g. CUDA libraries on LD_LIBRARY_PATH
    libraries.mkdir()
    (libraries / "libfake.so").write_text("not really")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(libraries))
    script = (f"import os; print(os.listdir({str(libraries)!r}), os.environ['LD_LIBRARY_PATH'] == {str(libraries)!r})\n"
              f"try: open({str(libraries / 'new.so')!r}, 'w')\n"
              "except OSError as error: print(type(error).__name__)")
    runtime_dir = tmp_path / "rt"
    runtime_dir.mkdir()
    prepare_workspace(tmp_path / "run", None)
    argv = isolation.wrap_command([sys.executable, "-c", script], LaunchSpec(_plan), cwd=tmp_path / "run",
                                  runtime_dir=runtime_dir)
    env = isolation.kernel_environment(home=runtime_dir)
    shown = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert shown.stdout.split("\n")[:2] == ["['libfake.so'] True", "OSError"], shown.stderr


@needs_namespaces
@pytest.mark.skipif(_plan.mode == "namespaces" and isolation._bwrap_version(_plan.bwrap) < (0, 7),
                    reason="bubblewrap before 0.7 cannot size a tmpfs")
def test_private_tmp_and_shm_are_capped(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import errno
        for folder in ('/tmp', '/dev/shm'):
            try:
                with open(folder + '/fill', 'wb') as out:
                    out.write(b'x' * (16 << 20))
                print(folder, 'fit')
            except OSError as error:
                print(folder, errno.errorcode[error.errno])
        """)
    prepare_workspace(tmp_path / "run", None)
    argv = isolation.wrap_command([sys.executable, "-c", script], LaunchSpec(_plan, tmp_size_bytes=8 << 20),
                                  cwd=tmp_path / "run", runtime_dir=tmp_path)
    shown = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert shown.stdout.split() == ["/tmp", "ENOSPC", "/dev/shm", "ENOSPC"], shown.stderr


def test_without_bubblewrap_auto_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    plan = isolation.resolve_mode("auto")
    assert plan.mode == "none"
    assert "NOT isolated" in plan.warning and "apt-get install bubblewrap" in plan.warning
    with pytest.raises(IsolationError, match="apt-get install bubblewrap"):
        isolation.resolve_mode("namespaces")
    assert isolation.resolve_mode("none") == isolation.IsolationPlan("none")
    with pytest.raises(ConfigError, match="expected isolation in"):
        isolation.resolve_mode("docker")


def test_mode_none_shows_the_public_data_through_the_link(world: World, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with KernelSession(run_dir, isolation="none", input_source=world.public) as kernel:
        assert kernel.isolation.mode == "none"
        result = kernel.run("print(open('input/train.csv').read().splitlines()[0])")
    assert (result.status, result.text.strip()) == ("ok", "id,label")
    assert os.readlink(run_dir / "input") == str(world.public.resolve())


def test_a_bubblewrap_that_cannot_sandbox_means_no_isolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a host without user namespaces does: bwrap exists but cannot build the sandbox.
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    plan = isolation.resolve_mode("auto")
    assert plan.mode == "none"
    assert "uid map: Permission denied" in plan.warning
    with pytest.raises(IsolationError, match="trial sandbox failed: bwrap: setting up uid map"):
        isolation.resolve_mode("namespaces")


@needs_namespaces
def test_the_env_isolates_by_default_and_survives_the_attacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dojo_kernel
    import tiny_competition as tiny

    monkeypatch.setenv("DOJO_DATA", str(tmp_path / "data"))
    competition = tiny.build(tmp_path / "data", name="tiny-isolation")
    env = dojo_kernel.make(competition.name, output_dir=tmp_path / "runs", warm_pool=0)
    try:
        _, info = env.reset(seed=0)
        assert (info["isolation"], info.get("isolation_warning")) == ("namespaces", None)
        obs, *_ = env.step(f"print(open({str(competition.answers_path)!r}).read())")
        assert "FileNotFoundError" in obs["feedback"]
        obs, _, _, _, info = env.step(f"import os; os.symlink({str(competition.answers_path)!r}, 'working/submission.csv')")
        assert info["grade"]["valid"] is False and "a link or lies outside it" in obs["feedback"]  # refused, with the reason
        _, _, _, _, info = env.step("import os; os.remove('working/submission.csv')\n" + tiny.submission_code("perfect"))
        assert info["grade"]["valid"] is True and info["score"] == 1.0  # the env keeps working
        _, _, _, _, info = env.step({"action": "submit", "final": True})
        assert info["final_grade"]["score"] == 1.0
        run_dir = env.run_dir
    finally:
        env.close()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["isolation"] == "namespaces"
    assert os.readlink(run_dir / "input") == str(competition.public_dir.resolve())
