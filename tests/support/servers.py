"""Start real servers (ours and stock MLflow's) as child processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    started_in: float

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; the exit code (killed after ``timeout`` seconds: -9)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return -9
        return int(self.process.returncode)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise TimeoutError(f"server not healthy after {timeout}s:\n{log.read_text()}")


@contextmanager
def _serve(
    argv: list[str], log: Path, timeout: float, env: dict[str, str] | None
) -> Iterator[Server]:
    port = free_port()
    argv = [*argv, "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log, timeout)
        yield Server(url, process, log, time.monotonic() - started)
    finally:
        Server(url, process, log, 0).stop()


def mlflow_core_server(
    backend_uri: str,
    workdir: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    extra_args: list[str] | None = None,
) -> AbstractContextManager[Server]:
    argv = [str(BIN / "mlflow-core"), "server", "--backend-store-uri", backend_uri]
    argv += ["--workers", str(workers), "--artifacts-destination", str(workdir / "artifacts")]
    argv += extra_args or []
    return _serve(argv, workdir / "mlflow-core.log", timeout, env)


def stock_mlflow_server(
    backend_uri: str,
    workdir: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> AbstractContextManager[Server]:
    argv = [str(BIN / "mlflow"), "server", "--backend-store-uri", backend_uri]
    argv += ["--workers", str(workers), "--artifacts-destination", str(workdir / "artifacts")]
    return _serve(argv, workdir / "mlflow.log", timeout, env)
