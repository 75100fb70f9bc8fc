"""Start real servers (ours and stock MLflow's) as child processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
# Servers here start without MLflow's job runner unless a test asks for it (JOBS_ON): the runner
# and its ~8 Huey consumer processes each import MLflow, about 17 s of CPU per start of our
# server and 34 s per stock one (3-4x the server's own start-up), and no RPC the tests compare
# goes through it. tests/e2e/test_operations.py tests the runner itself; the shutdown tests keep
# it on so SIGTERM is tested with the full process family.
JOBS_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
JOBS_ON = {JOBS_ENV: "true"}


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


def _start(
    argv: list[str], log: Path, timeout: float, env: dict[str, str] | None
) -> tuple[str, subprocess.Popen[bytes]]:
    # free_port() closes the port before the server binds it, so another process (a parallel
    # test worker, another suite on the machine) can take it in between: then try a new port.
    for attempt in range(3):
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*argv, "--host", "127.0.0.1", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, log, timeout)
            return url, process
        except RuntimeError:  # it exited
            if attempt == 2 or "address already in use" not in log.read_text().lower():
                raise
        except BaseException:
            Server(url, process, log, 0).stop()
            raise
    raise AssertionError("unreachable")


@contextmanager
def _serve(
    argv: list[str], log: Path, timeout: float, env: dict[str, str] | None
) -> Iterator[Server]:
    started = time.monotonic()
    url, process = _start(argv, log, timeout, env)
    try:
        yield Server(url, process, log, time.monotonic() - started)
    finally:
        Server(url, process, log, 0).stop()


def _tracking_server(
    executable: str,
    backend_uri: str,
    workdir: Path,
    workers: int,
    env: dict[str, str] | None,
    timeout: float,
    extra_args: Sequence[str],
    log_name: str,
) -> AbstractContextManager[Server]:
    """``<executable> server`` on ``backend_uri``, with artifacts proxied to ``workdir``."""
    argv = [str(BIN / executable), "server", "--backend-store-uri", backend_uri]
    argv += ["--workers", str(workers), "--artifacts-destination", str(workdir / "artifacts")]
    env = {JOBS_ENV: "false", **(env or {})}
    return _serve([*argv, *extra_args], workdir / log_name, timeout, env)


def mlflow_core_server(
    backend_uri: str,
    workdir: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    *,
    extra_args: Sequence[str] = (),
    log_name: str = "mlflow-core.log",
) -> AbstractContextManager[Server]:
    return _tracking_server(
        "mlflow-core", backend_uri, workdir, workers, env, timeout, extra_args, log_name
    )


def stock_mlflow_server(
    backend_uri: str,
    workdir: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    *,
    extra_args: Sequence[str] = (),
    log_name: str = "mlflow.log",
) -> AbstractContextManager[Server]:
    return _tracking_server(
        "mlflow", backend_uri, workdir, workers, env, timeout, extra_args, log_name
    )


def mlflow_server_with_our_app(
    backend_uri: str,
    workdir: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    *,
    extra_args: Sequence[str] = (),
) -> AbstractContextManager[Server]:
    """``mlflow server --app-name mlflow-core``: MLflow's command serving our application."""
    extra = ["--app-name", "mlflow-core", *extra_args]
    return stock_mlflow_server(
        backend_uri, workdir, workers, env, timeout, extra_args=extra, log_name="mlflow-app.log"
    )


@contextmanager
def started_together(
    *servers: AbstractContextManager[Server],
) -> Iterator[tuple[Server, ...]]:
    """Start independent servers (each on its own database) at the same time; stop them all.

    A start is mostly waiting: on imports, and on the database while MLflow's migrations run
    their DDL (seconds on PostgreSQL and MySQL); side by side the waits overlap.
    """
    with ExitStack() as stack, ThreadPoolExecutor(len(servers)) as pool:
        futures = [pool.submit(server.__enter__) for server in servers]
        started: list[Server] = []
        failure: BaseException | None = None
        for server, future in zip(servers, futures, strict=True):
            try:
                started.append(future.result())
                stack.push(server)  # its __exit__ stops it
            except BaseException as exc:  # the others that did start are stopped on the way out
                failure = failure or exc
        if failure is not None:
            raise failure
        yield tuple(started)
