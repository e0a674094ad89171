"""One launched kernel (`_Kernel`: its root process and sockets) and how it is specified, started
and awaited; kept apart from `KernelSession` (kernel.py), which drives cells through it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from . import cgroups
from .errors import KernelStartError
from .isolation import IsolationPlan, LaunchSpec, kernel_environment, resolve_mode, wrap_command
from .kernel_user import hand_over_launch, stage_binds
from .limits import NVML, Limits
from .messages import Inbox, Rejected
from .prepare.names import default_data_root
from .runtime import LogPipe, link_sockets
from .spawn import _describe_exit, _log_tail, _start_group_reaper, kill_tree, popen_kernel, seccomp_descriptor

_POLL_S = 0.05  # how often a waiting run checks that the kernel is alive


@dataclass
class _Kernel:
    """One launched kernel: its root process and the sockets that talk to it."""

    process: subprocess.Popen
    client: BlockingKernelClient
    connection_file: Path
    socket_prefix: Path
    reaper: subprocess.Popen | None = None  # see _GROUP_REAPER
    sandbox: Any = None  # a fork.SharedSandbox once branches share this kernel's sandbox
    retired: bool = False  # a root kernel stopped, not killed, because branches live in its sandbox
    held: list = field(default_factory=list)  # (channel, message) received between cells (a fork, evaluate), kept
    cgroup: cgroups.KernelCgroup | None = None  # where cgroups are writable
    log: LogPipe | None = None

    def connect(self) -> None:
        self.inbox = Inbox(self.client.session, {"shell": self.client.shell_channel.socket,
                                                 "iopub": self.client.iopub_channel.socket})

    def alive(self) -> bool:
        return not self.retired and self.process.poll() is None

    def receive(self, timeout_s: float):
        """Yield ("shell" | "iopub", message or Rejected) for what arrives within timeout_s
        (and at most messages.SLICE_S more, however fast they come)."""
        return self.inbox.receive(timeout_s)

    def kill(self) -> None:
        if self.sandbox is not None and self.sandbox.spare_branches(self):
            return  # a root whose sandbox holds live branches is retired instead (see fork.py)
        kill_adopted = getattr(self.process, "kill_tree", None)
        if kill_adopted is not None:  # a forked kernel: signalled through its pidfd
            kill_adopted()
        else:
            kill_tree(self.process.pid, process_group=self.process.pid)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # in uninterruptible sleep (D state): leave it to init
            pass

    def dispose(self) -> None:
        if self.sandbox is not None and self.sandbox.release(self):
            return
        self.kill()
        if self.reaper is not None:
            self.reaper.kill()
            self.reaper.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
        self.client.stop_channels()
        # The kernel's own folder (sockets, connection file, HOME) and the env's links to its
        # sockets (rmtree never follows links).
        shutil.rmtree(self.socket_prefix.parent, ignore_errors=True)
        shutil.rmtree(self.socket_prefix.parent.with_name("e" + self.socket_prefix.parent.name[1:]), ignore_errors=True)


def tmpfs_size_bytes(limits: Limits) -> int | None:
    """The cap of a kernel's private /tmp and /dev/shm: its tmpfs files take RAM the watchdog's
    PSS does not see, so they get the working directory's disk allowance, not half the RAM."""
    return None if limits.disk_gb is None else int(limits.disk_gb * 1024**3)


def default_launch_spec(limits: Limits, *, isolation: str | IsolationPlan = "auto", allow_network: bool = False,
                        input_source: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                        hidden_paths: Sequence[str | os.PathLike] = ()) -> LaunchSpec:
    """The LaunchSpec of a kernel held to `limits`, as KernelSession builds it when given none:
    the data root ($DOJO_DATA, else the cache folder: every competition's answers) is hidden
    along with `hidden_paths`, and the private /tmp is sized by `tmpfs_size_bytes`."""
    hidden = (default_data_root().resolve(), *(Path(p) for p in hidden_paths))
    plan = resolve_mode(isolation) if isinstance(isolation, str) else isolation
    gpu_minor = None if limits.gpu_device is None else NVML.minor_number(limits.gpu_device)
    return LaunchSpec(plan, allow_network=allow_network, gpu_minor=gpu_minor,
                      input_source=None if input_source is None else Path(input_source),
                      hidden_paths=hidden, tmp_size_bytes=tmpfs_size_bytes(limits), env=tuple((env or {}).items()))


def launch_kernel(launch: LaunchSpec, limits: Limits, *, cwd: Path, kernel_dir: Path, links_dir: Path,
                  log_path: Path, startup_timeout: float) -> _Kernel:
    """Start a kernel as `launch` says, in its own fresh `kernel_dir`; return it once it answers.
    `links_dir` gets the env's own links to its sockets; `log_path` its output."""
    # Each kernel gets a fresh folder of its own (writable to it under isolation); the log
    # stays outside it, so that links a kernel plants there never redirect the env's writes.
    kernel_dir.mkdir()
    socket_prefix = kernel_dir / "k"
    connection_file = kernel_dir / "kernel.json"
    _, info = write_connection_file(str(connection_file), ip=str(socket_prefix), transport="ipc",
                                    key=secrets.token_hex(32).encode(), kernel_name="python3")
    home = kernel_dir / "home"
    home.mkdir()
    environment = kernel_environment(home=home, gpu_device=limits.gpu_device, cpus=limits.cpus,
                                     extra=dict(launch.env))
    # No history database: it would cost start time and write outside working/.
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file),
            "--HistoryManager.enabled=False"]
    isolation = launch.plan
    # With the env as root the kernel is an unprivileged host uid: its own places are handed to it.
    user = isolation.kernel_user if isolation.mode == "namespaces" else None
    hand_over_launch(user, cwd, kernel_dir, connection_file, home)
    cgroup, cores = cgroups.for_kernel(limits)
    with seccomp_descriptor(isolation.mode == "namespaces") as rules:
        command = wrap_command(argv, launch, cwd=cwd, runtime_dir=kernel_dir, seccomp_fd=rules)
        command, stage = stage_binds(command, user)
        # The log goes through a pipe: the kernel holds no descriptor of a file of the record.
        process = popen_kernel(command, cgroup=cgroup, cores=cores, seccomp_fd=rules, stage=stage, cwd=cwd,
                               env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    assert process.stdout is not None  # stdout=PIPE
    log = LogPipe(process.stdout, log_path)
    # A watcher on the host kills the kernel's group, sandbox and cgroups if the env dies.
    reaper = _start_group_reaper(process.pid, tuple(f for _, f in cgroup.folders) if cgroup else ())
    client = BlockingKernelClient(context=zmq.Context.instance())
    kernel = _Kernel(process, client, connection_file, socket_prefix, reaper, cgroup=cgroup, log=log)
    try:
        # The env connects through links of its own to the sockets the kernel bound (runtime.py).
        client.load_connection_info(_linked_sockets(dict(info), kernel, links_dir,  # type: ignore[arg-type]
                                                    log_path=log_path, startup_timeout=startup_timeout))
        kernel.connect()
        wait_ready(kernel, log_path=log_path, startup_timeout=startup_timeout)
    except BaseException:
        kernel.dispose()
        raise
    return kernel


def _linked_sockets(info: dict[str, Any], kernel: _Kernel, links_dir: Path, *, log_path: Path,
                    startup_timeout: float) -> dict[str, Any]:
    try:
        return link_sockets(info, links_dir, alive=kernel.alive, deadline=time.monotonic() + startup_timeout)
    except (OSError, TimeoutError, ChildProcessError) as error:
        if kernel.log is not None:
            kernel.log.thread.join(timeout=2)
        raise KernelStartError(f"expected the kernel to bind its sockets within {startup_timeout:g} s, "
                               f"it did not ({error}); pass a larger startup_timeout if the machine is loaded. "
                               f"Its log {log_path} ends:\n{_log_tail(log_path)}") from None


def wait_ready(kernel: _Kernel, *, log_path: Path, startup_timeout: float) -> None:
    """Until the kernel answers kernel_info on shell and publishes on iopub.

    A SUB socket misses what was published before it connected, so kernel_info is sent
    again until iopub shows the subscription works.
    """
    deadline = time.monotonic() + startup_timeout
    replied = published = False
    next_request = 0.0
    while not (replied and published):
        now = time.monotonic()
        if not kernel.alive():
            if kernel.log is not None:
                kernel.log.thread.join(timeout=2)  # what the kernel printed as it exited
            raise KernelStartError(
                f"the kernel exited while starting ({_describe_exit(kernel.process.returncode)}); "
                f"its log {log_path} ends:\n{_log_tail(log_path)}")
        if now > deadline:
            raise KernelStartError(
                f"expected the kernel to be ready within {startup_timeout:g} s, it was not; "
                f"pass a larger startup_timeout if the machine is loaded. Its log {log_path} "
                f"ends:\n{_log_tail(log_path)}")
        if not published and now >= next_request:
            kernel.client.kernel_info()
            next_request = now + 0.2
        for channel, message in kernel.receive(_POLL_S):
            if isinstance(message, Rejected):
                continue
            if channel == "iopub":
                published = True
            elif message["header"]["msg_type"] == "kernel_info_reply":
                replied = True
