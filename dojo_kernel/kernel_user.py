"""Who a sandboxed kernel is on the host when the env runs as root.

bubblewrap maps the sandbox's uid to the uid of whoever launches it: launched by root, the
kernel's files and permission checks were root's outside, so a 0600 root file that showed
through any bound folder was readable. When the env is root, the launched bwrap therefore
drops to an unprivileged host uid first (`KernelUser`, default 65534 `nobody`; set
DOJO_KERNEL_UID=UID[:GID] to use a dedicated one, or `off` to keep the old mapping) and
creates its user namespace unprivileged, mapping the sandbox's 65534 to that uid: host
file permissions then apply to everything agent code does.

Two things follow, both done here, by the root env, before the drop:
- the kernel's own places are handed to it (`hand_over`, `hand_over_tree`): working/, its
  runtime folder, connection file and $HOME, forks' folders; nothing of the record is;
- unprivileged bwrap must be able to reach every folder it binds, but run dirs and runtime
  folders often sit below 0700 folders (pytest's, /tmp/dk-*). `stage_binds` rewrites the
  command so that bwrap binds from a staging tmpfs instead, and `StagePlan.apply` (between
  fork and exec, in a private mount namespace of the launched process) binds each source
  there through a descriptor opened as root. Nothing of it is seen by the host (the
  namespace is private) or by the kernel (bwrap's view is assembled from it).

Only stdlib: isolation's probe and spawn both use it.
"""

from __future__ import annotations

import ctypes
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, expected

ENV_VARIABLE = "DOJO_KERNEL_UID"
DEFAULT_ID = 65534  # nobody / nogroup
STAGE = "/dev/shm"  # exists everywhere, world-traversable; covered only in the launcher's private namespace

_CLONE_NEWNS = 0x00020000
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 0x40000
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class KernelUser:
    uid: int
    gid: int


def kernel_user() -> KernelUser | None:
    """The host identity a sandboxed kernel gets: None when the env is not root (bwrap then
    maps to the env's own unprivileged uid) or DOJO_KERNEL_UID=off."""
    if os.geteuid() != 0:
        return None
    text = os.environ.get(ENV_VARIABLE, "").strip()
    if text.lower() == "off":
        return None
    if not text:
        return KernelUser(DEFAULT_ID, DEFAULT_ID)
    uid_text, _, gid_text = text.partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if gid_text else uid
    except ValueError:
        raise ConfigError(expected(f"{ENV_VARIABLE}=UID[:GID] (numbers) or 'off'", text)) from None
    if uid <= 0 or gid <= 0:
        raise ConfigError(expected(f"an unprivileged uid and gid (> 0) in {ENV_VARIABLE}", text,
                                   "pick an unused id such as 65534, or 'off' to keep bwrap's own mapping"))
    return KernelUser(uid, gid)


def hand_over(path: Path, user: KernelUser | None) -> None:
    """Give a file or folder the env has just made to the kernel (never through a link)."""
    if user is not None:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def hand_over_tree(folder: Path, user: KernelUser | None) -> None:
    """Give a whole tree (a copy of working/) to the kernel. Walked by descriptors without
    following links, so a kernel swapping a folder for a link meanwhile redirects nothing."""
    if user is None:
        return
    hand_over(folder, user)
    for _, dirs, files, dir_fd in os.fwalk(folder, follow_symlinks=False):
        for name in dirs + files:
            try:
                os.chown(name, user.uid, user.gid, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                pass


def prepare_workspace(run_dir: Path, working: Path, user: KernelUser | None) -> None:
    """What the kernel needs of its run dir: to enter and read it (the run dir gains o+rx
    where it lacks them; its files stay the env's and read-only in the sandbox) and to write
    working/ (handed over, with what it holds the first time)."""
    if user is None:
        return
    mode = os.stat(run_dir).st_mode
    wanted = stat.S_IROTH | stat.S_IXOTH
    if mode & wanted != wanted:
        os.chmod(run_dir, stat.S_IMODE(mode) | wanted)
    info = os.lstat(working)
    if stat.S_ISDIR(info.st_mode) and (info.st_uid, info.st_gid) != (user.uid, user.gid):
        hand_over_tree(working, user)


def hand_over_launch(user: KernelUser | None, run_dir: Path, *own: Path) -> None:
    """Before a kernel starts: prepare_workspace, and hand it the places `own` the env made
    for it alone (its runtime folder, connection file, $HOME)."""
    for path in own:
        hand_over(path, user)
    prepare_workspace(run_dir, Path(run_dir) / "working", user)


@dataclass(frozen=True)
class StagePlan:
    """Where each folder bwrap binds is staged (see the module docstring)."""

    user: KernelUser
    sources: tuple[tuple[str, str], ...]  # (host path, staged path)

    def apply(self) -> None:
        """Between fork and exec, as root: a private mount namespace with every source bound
        under STAGE, then the drop to `user`. Raises OSError if any step fails (the launch fails)."""
        _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        # Private first: nothing mounted below may propagate back to the host.
        _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make / private")
        # Opened in the new namespace (a bind's source must be of it) and before STAGE is covered.
        fds = [os.open(source, os.O_PATH | os.O_CLOEXEC) for source, _ in self.sources]
        _check(_libc.mount(b"tmpfs", STAGE.encode(), b"tmpfs", 0, b"mode=0755,size=64k"), f"tmpfs on {STAGE}")
        for fd, (_, staged) in zip(fds, self.sources):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.mkdir(staged, 0o755)
            else:
                os.close(os.open(staged, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), staged.encode(), None, _MS_BIND | _MS_REC, None),
                   f"bind {staged}")
            os.close(fd)
        os.setgroups([])
        os.setgid(self.user.gid)
        os.setuid(self.user.uid)
        # A change of credentials clears the parent-death signal: set it again.
        _libc.prctl(_PR_SET_PDEATHSIG, 9)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def stage_binds(command: list[str], user: KernelUser | None) -> tuple[list[str], StagePlan | None]:
    """The bwrap `command` binding from STAGE instead of host paths, and the plan that stages
    them; unchanged (and None) without a user to drop to."""
    if user is None:
        return command, None
    out: list[str] = []
    sources: dict[str, str] = {}
    index = 0
    while index < len(command):
        arg = command[index]
        if arg == "--":
            out += command[index:]
            break
        if arg in ("--bind", "--ro-bind") and index + 2 < len(command):
            source = command[index + 1]
            staged = sources.setdefault(source, f"{STAGE}/{len(sources)}")
            out += [arg, staged, command[index + 2]]
            index += 3
            continue
        out.append(arg)
        index += 1
    return out, StagePlan(user, tuple(sources.items()))
