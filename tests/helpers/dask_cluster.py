"""A real Dask scheduler and workers for tests, on 127.0.0.1 and, where `unshare -rn` works, in a network namespace
that has nothing but loopback, so nothing they (or a sweep's driver run beside them) do can leave the machine.

The processes are the command-line ones people run:
    dask scheduler --host 127.0.0.1 --dashboard-address 127.0.0.1:0
    dask worker tcp://127.0.0.1:PORT --host 127.0.0.1 --dashboard-address 127.0.0.1:0
In a namespace, every process the test starts with LoopbackCluster.popen joins it (nsenter). A PostgreSQL
server outside it is reached through a Unix socket bridged to its TCP port (reachable_url).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

# Brings the namespace's loopback up (a new one starts down), then waits to be killed.
_HOLD_NAMESPACE = """
import fcntl, signal, socket, struct
request = struct.pack("16sH14s", b"lo", 0, b"")
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH14s", fcntl.ioctl(probe, 0x8913, request))[1]  # SIOCGIFFLAGS
fcntl.ioctl(probe, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))  # SIOCSIFFLAGS, IFF_UP
print("up", flush=True)
signal.pause()
"""


def namespace_works() -> bool:
    """Whether this machine lets an unprivileged user make a network namespace and join it."""
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


class LoopbackCluster:
    """A scheduler and `workers` workers; close() kills every process it started, by process group."""

    def __init__(self, folder: Path, workers: int = 2, env: dict | None = None, namespace: bool | None = None,
                 cwd: Path | None = None):
        self.folder, self.env, self.cwd = Path(folder), {**os.environ, **(env or {})}, cwd
        self.processes: list[subprocess.Popen] = []
        self.namespace: subprocess.Popen | None = None
        self._bridges: list[_UnixBridge] = []
        if namespace if namespace is not None else namespace_works():
            self.namespace = subprocess.Popen(["unshare", "-rn", sys.executable, "-c", _HOLD_NAMESPACE],
                                              stdout=subprocess.PIPE, text=True, start_new_session=True)
            assert self.namespace.stdout.readline().strip() == "up", "the namespace's loopback did not come up"
        scheduler_file = self.folder / "scheduler.json"
        self.popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
                    "127.0.0.1:0", "--scheduler-file", str(scheduler_file)], log="scheduler")
        deadline = time.time() + 60
        while not scheduler_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.workers = [self.popen(["dask", "worker", self.address, "--host", "127.0.0.1", "--dashboard-address",
                                    "127.0.0.1:0", "--nthreads", "1", "--name", f"worker-{index}"],
                                   log=f"worker-{index}") for index in range(workers)]
        self.wait_for_workers(workers)

    @property
    def namespaced(self) -> bool:
        return self.namespace is not None

    def popen(self, command: list[str], log: str | None = None, **options) -> subprocess.Popen:
        """Start a process beside the cluster (in its namespace, if it has one), in a process group of its own."""
        if self.namespace is not None:
            command = ["nsenter", "-t", str(self.namespace.pid), "-U", "-n", "--preserve-credentials", *command]
        if log is not None:  # the cluster's own processes, started where the cluster was asked to run
            options.setdefault("stdout", open(self.folder / f"{log}.log", "ab"))
            options.setdefault("stderr", subprocess.STDOUT)
            options.setdefault("cwd", self.cwd)
        process = subprocess.Popen(command, env={**self.env, **options.pop("env", {})}, start_new_session=True,
                                   **options)
        self.processes.append(process)
        return process

    def wait_for_workers(self, count: int, timeout: float = 90) -> None:
        check = self.popen([sys.executable, "-c", "import sys; from distributed import Client; "
                            f"Client('{self.address}', timeout=30).wait_for_workers({count}, timeout={timeout})"])
        assert check.wait(timeout=timeout + 40) == 0, "the Dask workers did not register"

    def worker_processes(self) -> list[psutil.Process]:
        """The processes that run tasks: each nanny's worker (the child it spawned), or `dask worker` itself."""
        found = []
        for worker in self.workers:
            try:
                process = psutil.Process(worker.pid)
                spawned = [child for child in process.children() if "spawn_main" in " ".join(child.cmdline())]
            except psutil.NoSuchProcess:
                continue
            found += spawned or [process]
        return found

    def reachable_url(self, url: str) -> str:
        """A database URL the cluster's side can use: a PostgreSQL server outside the namespace through a bridge."""
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if self.namespace is None or not parsed.drivername.startswith("postgresql"):
            return url
        bridge = _UnixBridge(parsed.host or "127.0.0.1", parsed.port or 5432)
        self._bridges.append(bridge)
        return parsed.set(host=None, port=None).update_query_dict(
            {"host": str(bridge.folder), "port": str(parsed.port or 5432)}).render_as_string(hide_password=False)

    def close(self) -> None:
        for process in reversed(self.processes + ([self.namespace] if self.namespace else [])):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait(timeout=30)
        for bridge in self._bridges:
            bridge.close()


class _UnixBridge:
    """A Unix socket, named as libpq looks for one (.s.PGSQL.PORT), whose connections are piped to host:port."""

    def __init__(self, host: str, port: int):
        # A short folder of its own: a socket's path may not exceed 107 bytes, and pytest's per-test folders
        # (deeper still under pytest-xdist's per-worker ones) can be longer than that.
        self.folder = Path(tempfile.mkdtemp(prefix="digitlab-pg-"))
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.folder / f".s.PGSQL.{port}"))
        self.server.listen()
        self.target = (host, port)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                inside, _ = self.server.accept()
            except OSError:
                return  # closed
            outside = socket.create_connection(self.target)
            for source, sink in ((inside, outside), (outside, inside)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self.server.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
