"""Faults: the database goes away under load, SIGTERM drains, a dead worker is replaced.

- Outage: writers hammer a 2-worker server on a PostgreSQL instance this test owns; the test
  stops PostgreSQL, waits, starts it again. The server must stay up, answer 503
  TEMPORARILY_UNAVAILABLE (first driver line only, no SQL) while it is down, recover by itself,
  and every write it acknowledged must be in the database exactly once. MLflow's own client,
  started while the database is down, must succeed through its retries.
- SIGTERM: a request in flight when the server is told to stop completes; new connections are
  refused; the process exits 0.
- A worker killed with SIGKILL is replaced by uvicorn's supervisor while the other serves.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support.own_postgres import own_postgres
from tests.support.servers import JOBS_ON, mlflow_core_server
from tests.support.worker_processes import wait_for_listening_workers, worker_pids

CREATE = "/api/2.0/mlflow/experiments/create"
SET_TAG = "/api/2.0/mlflow/experiments/set-experiment-tag"
SEARCH = "/api/2.0/mlflow/experiments/search"
WRITERS = 8
DOWN_SECONDS = 3.0


@dataclass
class Tally:
    acknowledged: dict[str, str] = field(default_factory=dict)  # experiment name -> id
    tags: list[tuple[str, str]] = field(default_factory=list)  # (experiment id, tag key)
    statuses: Counter[int] = field(default_factory=Counter)
    unavailable_messages: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, response: httpx.Response) -> bool:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 200:
                return True
            body = response.json()
            if response.status_code == 503 and body["error_code"] == "TEMPORARILY_UNAVAILABLE":
                self.unavailable_messages.add(body["message"])
            else:
                self.unexpected.append(f"{response.status_code} {response.text[:300]}")
            return False


def _writer(url: str, prefix: str, stop: threading.Event, tally: Tally) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        i = 0
        while not stop.is_set():
            i += 1
            name = f"{prefix}-{i}"
            try:
                created = client.post(CREATE, json={"name": name})
                if not tally.answer(created):
                    continue
                experiment_id = created.json()["experiment_id"]
                with tally.lock:
                    tally.acknowledged[name] = experiment_id
                key = f"k{i}"
                tagged = client.post(
                    SET_TAG, json={"experiment_id": experiment_id, "key": key, "value": "v"}
                )
                if tally.answer(tagged):
                    with tally.lock:
                        tally.tags.append((experiment_id, key))
            except httpx.HTTPError as exc:
                with tally.lock:
                    tally.unexpected.append(f"transport: {exc!r}")


def test_database_outage_under_write_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "10")
    with (
        own_postgres() as postgres,
        mlflow_core_server(postgres.uri, tmp_path, workers=2) as server,
    ):
        tally = Tally()
        stop = threading.Event()
        writers = [
            threading.Thread(target=_writer, args=(server.url, f"outage-{w}", stop, tally))
            for w in range(WRITERS)
        ]
        for thread in writers:
            thread.start()
        time.sleep(2)
        before = len(tally.acknowledged)
        postgres.stop("fast")
        time.sleep(0.5)
        client_result: dict[str, str] = {}

        def mlflow_client_create() -> None:
            client = MlflowClient(tracking_uri=server.url)
            client_result["id"] = client.create_experiment("outage-mlflow-client")

        retried = threading.Thread(target=mlflow_client_create)
        retried.start()
        health_during = httpx.get(server.url + "/health", timeout=10).status_code
        time.sleep(DOWN_SECONDS)
        during = len(tally.acknowledged)
        postgres.start()
        recovered_by = time.monotonic() + 30
        while time.monotonic() < recovered_by and len(tally.acknowledged) <= during + WRITERS:
            time.sleep(0.2)
        time.sleep(2)
        stop.set()
        for thread in writers:
            thread.join(60)
        retried.join(120)
        assert server.process.poll() is None, "the server died"
        experiments, tags = _rows(postgres.uri)

    print(
        f"outage: statuses {dict(tally.statuses)}, acknowledged experiments "
        f"{len(tally.acknowledged)} (before stop {before}, while down {during - before}), "
        f"tags {len(tally.tags)}, 503 messages {sorted(tally.unavailable_messages)[:3]}"
    )
    assert not tally.unexpected, tally.unexpected[:5]
    # The server stays up and says why: /health checks the database (docs/deployment.md).
    assert health_during == 503
    assert tally.statuses[503] > 0, "the outage was never observed"
    assert len(tally.acknowledged) > during + WRITERS, "no recovery after the restart"
    for message in tally.unavailable_messages:
        assert "\n" not in message
        assert not any(word in message.upper() for word in ("SELECT ", "INSERT ", "UPDATE "))
    assert "id" in client_result, "MLflow's client did not get through its retries"
    for name, experiment_id in tally.acknowledged.items():
        assert experiments[(name, experiment_id)] == 1, name
    for tag in tally.tags:
        assert tags[tag] == 1, tag
    assert experiments[("outage-mlflow-client", client_result["id"])] == 1
    acknowledged = len(tally.acknowledged) + len(tally.tags) + 1
    print(f"outage: writes acknowledged {acknowledged}, each found exactly once")


def _rows(uri: str) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    engine = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            experiments = Counter(
                (str(name), str(experiment_id))
                for name, experiment_id in conn.exec_driver_sql(
                    "SELECT name, experiment_id FROM experiments WHERE name LIKE 'outage-%%'"
                )
            )
            tags = Counter(
                (str(experiment_id), str(key))
                for experiment_id, key in conn.exec_driver_sql(
                    "SELECT experiment_id, key FROM experiment_tags"
                )
            )
    finally:
        engine.dispose()
    return experiments, tags


def test_sigterm_drains_requests_in_flight(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'drain.db'}"
    with mlflow_core_server(uri, tmp_path, workers=2, env=JOBS_ON) as server:
        port = int(server.url.rsplit(":", 1)[1])
        name = f"drained-{uuid.uuid4().hex[:8]}"
        body = f'{{"name": "{name}"}}'.encode()
        in_flight = socket.create_connection(("127.0.0.1", port), timeout=30)
        in_flight.sendall(
            f"POST {CREATE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        time.sleep(1)  # the worker has read the headers: the request is in flight
        server.process.send_signal(signal.SIGTERM)
        time.sleep(2)
        refused = False
        try:
            late = socket.create_connection(("127.0.0.1", port), timeout=3)
            late.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            refused = late.recv(100) == b""  # accepted by the kernel, closed unanswered
            late.close()
        except (ConnectionRefusedError, ConnectionResetError, TimeoutError):
            refused = True
        in_flight.sendall(body[5:])
        answer = b""
        while b"\r\n\r\n" not in answer or b"experiment_id" not in answer:
            chunk = in_flight.recv(65536)
            if not chunk:
                break
            answer += chunk
        in_flight.close()
        code = server.process.wait(60)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b"experiment_id" in answer
    assert refused, "a new connection was served after SIGTERM"
    assert code == 0, server.log.read_text()[-2000:]
    engine = sa.create_engine(uri)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM experiments WHERE name = ?", (name,))
        assert rows.scalar() == 1
    engine.dispose()


def test_a_killed_worker_is_replaced_while_the_other_serves(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'workers.db'}"
    with mlflow_core_server(uri, tmp_path, workers=2) as server:
        # Each worker listens on its own socket: a worker that has not bound yet takes no
        # connection, so killing the other before both listen would leave no listener at all.
        port = int(server.url.rsplit(":", 1)[1])
        workers = wait_for_listening_workers(server.process.pid, port, 2, timeout=60)
        deadline = time.monotonic() + 30
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        statuses: Counter[int] = Counter()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            replaced: set[int] = set()
            while time.monotonic() < deadline:
                answer = client.post(SEARCH, json={"max_results": 1})
                statuses[answer.status_code] += 1
                current = worker_pids(server.process.pid)
                replaced = current - workers
                if victim not in current and len(current) == 2 and replaced:
                    break
                time.sleep(0.05)
            assert replaced, "the killed worker was not replaced"
            # Serve from the new worker too: keep asking until the health of both is seen.
            for _ in range(20):
                statuses[client.post(SEARCH, json={"max_results": 1}).status_code] += 1
        assert set(statuses) == {200}, statuses
        assert server.stop() == 0
