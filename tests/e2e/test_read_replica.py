"""``--read-replica-backend-store-uri``: reads from the replica, writes to the primary, as MLflow.

A second database stands in for the replica (nothing replicates into it), so where a request
was answered from is visible: an experiment that exists only in the "replica" is found by
reads, and what a write creates lands in the primary and is not found by reads.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from tests.support.servers import mlflow_core_server, stock_mlflow_server

_NO_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _call(url: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read() or b"{}")


def _seed(uri: str, artifacts: Path, names: list[str]) -> None:
    store = SqlAlchemyStore(uri, str(artifacts))
    for name in names:
        store.create_experiment(name)
    store.engine.dispose()


def _names_in(uri: str) -> set[str]:
    engine = sa.create_engine(uri)
    with engine.connect() as conn:
        names = {row[0] for row in conn.exec_driver_sql("SELECT name FROM experiments")}
    engine.dispose()
    return names


def _observe(url: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    status, body = _call(url, "/api/2.0/mlflow/experiments/create", {"name": "written"})
    seen["create"] = status
    for name in ("written", "replica-only", "primary-only"):
        query = f"experiment_name={name}"
        status, body = _call(url, f"/api/2.0/mlflow/experiments/get-by-name?{query}")
        seen[f"get-by-name {name}"] = (status, body.get("error_code"))
    status, body = _call(url, "/api/2.0/mlflow/experiments/search", {"max_results": 100})
    seen["search"] = sorted(e["name"] for e in body.get("experiments", []))
    return seen


def test_reads_go_to_the_replica_and_writes_to_the_primary_as_in_mlflow(tmp_path: Path) -> None:
    observed = {}
    for kind, start in (("core", mlflow_core_server), ("stock", stock_mlflow_server)):
        workdir = tmp_path / kind
        workdir.mkdir()
        primary = f"sqlite:///{workdir / 'primary.db'}"
        replica = f"sqlite:///{workdir / 'replica.db'}"
        _seed(primary, workdir / "a", ["primary-only"])
        _seed(replica, workdir / "a", ["replica-only"])
        args = ["--read-replica-backend-store-uri", replica]
        with start(primary, workdir, 1, _NO_JOBS, extra_args=args) as server:
            observed[kind] = _observe(server.url)
        assert "written" in _names_in(primary)
        assert "written" not in _names_in(replica)
    assert observed["core"] == observed["stock"]
    assert observed["core"]["get-by-name replica-only"] == (200, None)
    assert observed["core"]["get-by-name written"] == (404, "RESOURCE_DOES_NOT_EXIST")
    assert observed["core"]["search"] == ["Default", "replica-only"]
