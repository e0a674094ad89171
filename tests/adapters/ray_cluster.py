"""A local Ray cluster of a head and a second node on this machine, for tests: each node is
a `ray start --block` process on 127.0.0.1 with its own ports and temp dir, ended by PID
(SIGTERM, then SIGKILL for whatever it started that is still there), never `ray stop`,
which would end every Ray on the machine."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil

from waiting import wait_until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _node_ports() -> list[str]:
    base = random.randrange(20_000, 59_000, 100)  # a worker port range unlikely to meet another's
    options = []
    for name in ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port",
                 "dashboard-agent-grpc-port", "metrics-export-port", "runtime-env-agent-port"):
        options.append(f"--{name}={_free_port()}")
    return options + [f"--min-worker-port={base}", f"--max-worker-port={base + 99}"]


def _ray_command() -> list[str]:
    """`ray` run by this Python, so that the nodes' workers are this Python too (with the
    packages the test sees, dojo_kernel's editable install included)."""
    return [sys.executable, "-m", "ray.scripts.scripts"]


def _stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """End a `ray start --block` process and every process it started, by PID."""
    try:
        tree = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    _, alive = psutil.wait_procs(tree, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=5)


@contextlib.contextmanager
def two_node_cluster(env: dict[str, str] | None = None, cpus_per_node: int = 1) -> Iterator[str]:
    """Start the cluster, yield the head's address ("127.0.0.1:PORT"), stop it at the end."""
    ray = _ray_command()
    temp = Path(tempfile.mkdtemp(prefix="ray-t-", dir="/tmp"))  # short: Ray's socket paths are bounded
    # Ray turns token auth on where ~/.ray/auth_token exists (another Ray on the machine may have
    # made it), but a driver that connects to an address does not send it: off, explicitly, for
    # this short-lived test cluster; a driver then needs nothing in its environment.
    process_env = {**os.environ, **(env or {}), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus_per_node}", "--num-gpus=0",
              f"--object-store-memory={100 * 1024**2}", "--disable-usage-stats"]
    port = _free_port()
    address = f"127.0.0.1:{port}"
    processes: list[subprocess.Popen] = []
    logs = []
    failed = True  # until the cluster has served its caller
    try:
        for index, role in enumerate((["--head", f"--port={port}", "--include-dashboard=false",
                                       f"--ray-client-server-port={_free_port()}", f"--temp-dir={temp}"],
                                      [f"--address={address}"])):
            log = open(temp / f"node{index}.log", "wb")
            logs.append(log)
            processes.append(subprocess.Popen([*ray, "start", *role, *common, *_node_ports()], env=process_env,
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            if index == 0:
                wait_until(lambda: _listening(port) or processes[0].poll() is not None, timeout=60,
                           message="the Ray head to listen")
                if processes[0].poll() is not None:
                    raise RuntimeError(f"ray start --head exited; see {log.name}")
        yield address
        failed = False
    finally:
        for process in reversed(processes):
            _stop(process)
        for log in logs:
            log.close()
        if failed:  # the nodes' logs say why; the session folders beside them are Ray's own
            print(f"Ray test cluster failed: its logs are in {temp}", file=sys.stderr)
        else:
            shutil.rmtree(temp, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
