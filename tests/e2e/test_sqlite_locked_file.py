"""A locked SQLite file holds up only the requests that need it, never the server's event loop.

Short reads on SQLite run on the event loop (entrypoints/http/runners.py). One that meets a
lock (a writer committing, here another connection's exclusive lock) must wait on a thread:
while it waits the same worker still answers, and when the lock goes it answers correctly.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.servers import mlflow_core_server

RM = "/api/2.0/mlflow/registered-models"
MV = "/api/2.0/mlflow/model-versions"


def test_a_read_waiting_for_a_lock_does_not_stall_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with mlflow_core_server(f"sqlite:///{path}", tmp_path, workers=1) as server:
        httpx.post(f"{server.url}{RM}/create", json={"name": "m"}, timeout=30).raise_for_status()
        created = httpx.post(f"{server.url}{MV}/create", json={"name": "m", "source": "s3://b/m"})
        created.raise_for_status()

        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        with ThreadPoolExecutor(1) as pool:
            try:
                pending = pool.submit(
                    httpx.get,
                    f"{server.url}{RM}/get-latest-versions",
                    params={"name": "m"},
                    timeout=30,
                )
                time.sleep(0.5)
                assert not pending.done()  # it waits for the lock
                started = time.monotonic()
                assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
                assert time.monotonic() - started < 2  # the worker is not stuck behind it
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            answer = pending.result(timeout=30)
    assert answer.status_code == 200
    assert [v["version"] for v in answer.json()["model_versions"]] == ["1"]
