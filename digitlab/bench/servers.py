"""Streamlit servers and Chromium for the browser benchmark (and the browser tests): start, reach, measure, stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from digitlab.config.paths import REPO_ROOT

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"streamlit did not become healthy at {url}")


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for process in tree:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass  # gone while we looked
    return total / (1024 * 1024)


class StreamlitServer:
    """`streamlit run script` on a free port; knows when it was started and its memory."""

    def __init__(self, script: Path, env: dict | None = None):
        self.script = script
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="digitlab-bench-streamlit-", suffix=".log", delete=False)
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(self.port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.address", "127.0.0.1"],  # tests and benchmarks talk to loopback only
            cwd=REPO_ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until_healthy(self) -> float:
        """Seconds from launch until the server answers its health check."""
        wait_for_health(self.url, self.process)
        return time.perf_counter() - self.started

    def rss_mb(self) -> float:
        return process_tree_rss_mb(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the server and any children
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
