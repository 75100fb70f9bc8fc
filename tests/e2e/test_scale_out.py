"""Scale-out on PostgreSQL: several servers on one database, and PgBouncer in transaction mode."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.support.databases import fresh_database, server_uri, skip_unless_available
from tests.support.pgbouncer import pgbouncer
from tests.support.servers import mlflow_core_server

WRITERS = 4
PER_WRITER = 12
_NO_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runs in this workload


def _call(url: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read() or b"{}")


def _writer(urls: list[str], writer: int) -> int:
    """Experiments (ported RPCs) and a run with a metric history (MLflow's app), alternating
    servers on every request; returns how many 'shared-*' experiments this writer won."""
    won = 0
    run_server = urls[writer % len(urls)]
    status, created = _call(
        run_server,
        "/api/2.0/mlflow/runs/create",
        {"experiment_id": "0", "run_name": f"run-w{writer}", "start_time": 1},
    )
    assert status == 200, created
    run_id = created["run"]["info"]["run_id"]
    for i in range(PER_WRITER):
        url = urls[(writer + i) % len(urls)]
        other = urls[(writer + i + 1) % len(urls)]
        name = f"w{writer}-e{i}"
        status, body = _call(
            url,
            "/api/2.0/mlflow/experiments/create",
            {"name": name, "tags": [{"key": "writer", "value": str(writer)}]},
        )
        assert status == 200, body
        experiment_id = body["experiment_id"]
        status, body = _call(
            other,
            "/api/2.0/mlflow/experiments/set-experiment-tag",
            {"experiment_id": experiment_id, "key": "i", "value": str(i)},
        )
        assert status == 200, body
        query = f"experiment_name={name}"
        status, body = _call(other, f"/api/2.0/mlflow/experiments/get-by-name?{query}")
        assert status == 200, body
        assert body["experiment"]["experiment_id"] == experiment_id
        # Every writer races for the same name on alternating servers: exactly one wins.
        status, body = _call(url, "/api/2.0/mlflow/experiments/create", {"name": f"shared-{i}"})
        if status == 200:
            won += 1
        else:
            assert body["error_code"] == "RESOURCE_ALREADY_EXISTS", body
        status, body = _call(
            other,
            "/api/2.0/mlflow/runs/log-batch",
            {"run_id": run_id, "metrics": [{"key": "m", "value": i, "timestamp": i, "step": i}]},
        )
        assert status == 200, body
    return won


def _run_workload(urls: list[str]) -> int:
    with ThreadPoolExecutor(WRITERS) as pool:
        return sum(pool.map(lambda w: _writer(urls, w), range(WRITERS)))


def _snapshot(url: str) -> dict[str, Any]:
    """What a user sees: experiments with their tags, runs with their metric histories."""
    status, body = _call(url, "/api/2.0/mlflow/experiments/search", {"max_results": 1000})
    assert status == 200, body
    experiments = {
        e["name"]: {t["key"]: t["value"] for t in e.get("tags", [])} for e in body["experiments"]
    }
    status, body = _call(url, "/api/2.0/mlflow/runs/search", {"experiment_ids": ["0"]})
    assert status == 200, body
    runs = {}
    for run in body.get("runs", []):
        run_id = run["info"]["run_id"]
        status, history = _call(
            url, f"/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=m"
        )
        assert status == 200, history
        runs[run["info"]["run_name"]] = sorted(
            (m["step"], m["value"]) for m in history.get("metrics", [])
        )
    return {"experiments": experiments, "runs": runs}


def _expected() -> dict[str, Any]:
    experiments: dict[str, dict[str, str]] = {"Default": {}}
    for w in range(WRITERS):
        for i in range(PER_WRITER):
            experiments[f"w{w}-e{i}"] = {"writer": str(w), "i": str(i)}
    for i in range(PER_WRITER):
        experiments[f"shared-{i}"] = {}
    runs = {f"run-w{w}": [(i, float(i)) for i in range(PER_WRITER)] for w in range(WRITERS)}
    return {"experiments": experiments, "runs": runs}


def test_two_servers_on_one_postgres_store_what_one_server_stores(tmp_path: Path) -> None:
    skip_unless_available("postgresql")
    results = {}
    for label, count in (("one", 1), ("two", 2)):
        workdir = tmp_path / label
        workdir.mkdir()
        with ExitStack() as stack:
            uri = stack.enter_context(fresh_database("postgresql", workdir))
            servers = [
                stack.enter_context(
                    mlflow_core_server(uri, workdir, env=_NO_JOBS, log_name=f"server-{n}.log")
                )
                for n in range(count)
            ]
            urls = [server.url for server in servers]
            assert _run_workload(urls) == PER_WRITER  # each shared name created exactly once
            results[label] = _snapshot(urls[-1])
    assert results["two"] == results["one"]
    assert results["one"] == _expected()


def test_behind_pgbouncer_in_transaction_mode(tmp_path: Path) -> None:
    skip_unless_available("postgresql")
    admin = server_uri("postgresql")
    assert admin is not None
    with ExitStack() as stack:
        direct = stack.enter_context(fresh_database("postgresql", tmp_path))
        pooled = stack.enter_context(pgbouncer(direct))
        args = ["--no-db-prepared-statements"]
        servers = [
            stack.enter_context(
                mlflow_core_server(
                    pooled, tmp_path, env=_NO_JOBS, extra_args=args, log_name=f"bouncer-{n}.log"
                )
            )
            for n in range(2)
        ]
        urls = [server.url for server in servers]
        assert _run_workload(urls) == PER_WRITER
        assert _snapshot(urls[0]) == _expected()
        for server in servers:
            assert "prepared statement" not in server.log.read_text()


def _pool_size_gauge(url: str) -> float | None:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith('mlflow_core_db_pool_size{database="tracking"}'):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_pool_is_sized_per_worker(tmp_path: Path) -> None:
    """--db-pool-size is per worker process: the live pools sum to workers x size."""
    workers = 2
    args = ["--db-pool-size", "3", "--expose-prometheus", str(tmp_path / "prom")]
    with (
        fresh_database("postgresql", tmp_path) as uri,
        mlflow_core_server(uri, tmp_path, workers, _NO_JOBS, extra_args=args) as server,
    ):
        deadline = time.monotonic() + 60
        size = _pool_size_gauge(server.url)
        while size != workers * 3 and time.monotonic() < deadline:  # the second worker starting
            time.sleep(0.5)
            size = _pool_size_gauge(server.url)
    assert size == workers * 3
