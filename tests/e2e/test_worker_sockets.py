"""``mlflow-core server --workers 2`` on Linux: one listening socket per worker (SO_REUSEPORT).

- Connections a client opens at once reach both workers (one shared socket gave them all to
  whichever worker woke first), also after a killed worker was replaced.
- A taken port, by any listener or by another of our servers, stops the start with uvicorn's
  message and a non-zero exit, before any worker starts.
- SIGINT ends the parent and every worker with exit code 0 and frees the port.
- A worker that fails at start-up stops the server with an error instead of being restarted.
- Workers are forked (the application imported once, in the supervisor; ``worker_pids`` finds
  them as children with the supervisor's command line) and run their exit handlers when they
  end, as spawned ones do.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import BIN, JOBS_ENV, free_port, mlflow_core_server
from tests.support.worker_processes import (
    ESTABLISHED,
    alive,
    descendants,
    sockets_on_port,
    wait_for_listening_workers,
    worker_pids,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT balancing: Linux")

CONNECTIONS = 32  # all on one worker of two by chance: 2 x 2^-32


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _answer(conn: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP/1.1 response's status line and body (read by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        body += chunk
    return head.split(b"\r\n", 1)[0], body


def _connections_per_worker(port: int, workers: set[int]) -> dict[int, int]:
    """Open CONNECTIONS keep-alive connections at once, ask /health on each, keep them open,
    and count which worker holds each."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(CONNECTIONS)]
    try:
        request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        for conn in conns:
            conn.sendall(request)
        answers = [_answer(conn) for conn in conns]
        assert answers == [(b"HTTP/1.1 200 OK", b"OK")] * CONNECTIONS, set(answers)
        return {pid: sockets_on_port(pid, port, ESTABLISHED) for pid in workers}
    finally:
        for conn in conns:
            conn.close()


def test_connections_opened_at_once_reach_every_worker(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'spread.db'}"
    with mlflow_core_server(uri, tmp_path, workers=2) as server:
        port = _port(server.url)
        workers = wait_for_listening_workers(server.process.pid, port, 2, timeout=60)
        held = _connections_per_worker(port, workers)
    assert sum(held.values()) == CONNECTIONS, held
    assert all(held.values()), f"one worker holds every connection: {held}"


def test_a_killed_worker_is_replaced_by_one_with_its_own_share(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'replaced.db'}"
    with mlflow_core_server(uri, tmp_path, workers=2) as server:
        port = _port(server.url)
        workers = wait_for_listening_workers(server.process.pid, port, 2, timeout=60)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while victim in worker_pids(server.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        current = wait_for_listening_workers(server.process.pid, port, 2, timeout=60)
        held = _connections_per_worker(port, current)
        assert server.stop() == 0, server.log.read_text()[-2000:]
    assert victim not in current
    assert "died" in server.log.read_text()
    assert sum(held.values()) == CONNECTIONS, held
    assert all(held.values()), f"one worker holds every connection: {held}"


def _start_on(port: int, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    argv = [str(BIN / "mlflow-core"), "server", "--backend-store-uri"]
    argv += [f"sqlite:///{tmp_path / 'second.db'}", "--workers", "2"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, JOBS_ENV: "false"},
        cwd=tmp_path,
        check=False,
    )
    return result, time.monotonic() - started


def _assert_refused(result: subprocess.CompletedProcess[str], elapsed: float) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 3, output  # uvicorn's start-up failure code, as before
    assert "[Errno 98] Address already in use" in output, output
    assert "Started server process" not in output, output  # no worker was started
    assert elapsed < 60, elapsed


def test_a_port_another_program_listens_on_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result, elapsed = _start_on(taken.getsockname()[1], tmp_path)
    _assert_refused(result, elapsed)


def test_a_port_another_server_of_ours_serves_stops_the_start(tmp_path: Path) -> None:
    # Both would join one SO_REUSEPORT group if the start did not check without it, and the
    # kernel would split requests between two databases.
    uri = f"sqlite:///{tmp_path / 'first.db'}"
    with mlflow_core_server(uri, tmp_path, workers=2) as first:
        port = _port(first.url)
        wait_for_listening_workers(first.process.pid, port, 2, timeout=60)
        result, elapsed = _start_on(port, tmp_path)
        held = _connections_per_worker(port, worker_pids(first.process.pid))
    _assert_refused(result, elapsed)
    assert sum(held.values()) == CONNECTIONS, held  # the first server still takes every one


def test_sigint_ends_the_parent_and_every_worker_and_frees_the_port(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'sigint.db'}"
    with mlflow_core_server(uri, tmp_path, workers=2) as server:
        port = _port(server.url)
        wait_for_listening_workers(server.process.pid, port, 2, timeout=60)
        family = descendants(server.process.pid)
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(30)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert code == 0, server.log.read_text()[-2000:]
    assert len(family) >= 2, family
    assert not [pid for pid in family if alive(pid)], family
    with socket.socket() as again:  # restartable at once: nothing holds the port
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


_ROOT = Path(__file__).resolve().parents[2]


def _serving_two_workers(app: str, port: int) -> list[str]:
    """A command running ``worker_sockets.serve`` for ``tests.support.lifespan_apps:<app>``."""
    script = (
        "import uvicorn\n"
        "from mlflow_core.entrypoints.cli import worker_sockets\n"
        "worker_sockets.serve(uvicorn.Config(\n"
        f"    'tests.support.lifespan_apps:{app}', lifespan='on',\n"
        f"    host='127.0.0.1', port={port}, workers=2))\n"
    )
    return [sys.executable, "-c", script]


def test_a_worker_that_fails_at_start_up_stops_the_server() -> None:
    result = subprocess.run(
        _serving_two_workers("refuses_to_start", free_port()),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=_ROOT,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "this application never starts" in output, output
    assert "failed to start, stopping the parent process" in output, output


@contextlib.contextmanager
def _two_workers(app: str, env: dict[str, str]) -> Iterator[set[int]]:
    """``worker_sockets.serve`` of ``app`` with ``env`` added: its workers once they listen."""
    port = free_port()
    command = _serving_two_workers(app, port)
    with subprocess.Popen(command, cwd=_ROOT, env={**os.environ, **env}) as parent:
        try:
            yield wait_for_listening_workers(parent.pid, port, 2, timeout=60)
        finally:
            parent.send_signal(signal.SIGTERM)
            parent.wait(30)


def test_forked_workers_run_their_exit_handlers_when_they_end(tmp_path: Path) -> None:
    # SIGINT (a terminal's Ctrl-C) ends a worker through Python's exit path, which runs exit
    # handlers; uvicorn's re-raised SIGTERM (the supervisor's stop) ends it without them, in
    # spawned and forked workers alike.
    with _two_workers("notes_its_exit", {"EXIT_NOTES": str(tmp_path)}) as workers:
        for pid in workers:
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        notes = {path.name: path.read_text() for path in tmp_path.iterdir()}
    assert notes == {str(pid): "ran" for pid in workers}


def test_workers_inherit_the_supervisors_imports_frozen(tmp_path: Path) -> None:
    # Frozen before the fork, the objects the supervisor imported are never walked by a
    # worker's collector, which would write to them and so copy the pages they share.
    with _two_workers("notes_its_frozen_heap", {"START_NOTES": str(tmp_path)}) as workers:
        deadline = time.monotonic() + 30  # a worker may listen before its start-up ran
        while time.monotonic() < deadline:
            written = [path.read_text() for path in tmp_path.iterdir()]
            if len(written) == 2 and all(written):
                break
            time.sleep(0.1)
        notes = {path.name: int(path.read_text()) for path in tmp_path.iterdir()}
    assert set(notes) == {str(pid) for pid in workers}
    # uvicorn, our HTTP protocol and uvloop alone are tens of thousands of objects.
    assert min(notes.values()) > 10_000, notes
