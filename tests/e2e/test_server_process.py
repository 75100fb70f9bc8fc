"""``mlflow-core server`` as a process: flags, health, clean SIGTERM, schema checks."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from tests.support.servers import BIN, JOBS_ON, mlflow_core_server
from tests.support.worker_processes import alive, descendants, wait_for_listening_workers


def test_sigterm_exits_cleanly_with_several_workers(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'w.db'}"
    with mlflow_core_server(uri, tmp_path, workers=2, env=JOBS_ON) as server:
        port = int(server.url.rsplit(":", 1)[1])
        workers = wait_for_listening_workers(server.process.pid, port, 2, timeout=60)
        family = descendants(server.process.pid)  # the workers, the job runner and its consumers
        code = server.stop()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert code == 0, server.log.read_text()
    assert workers < family
    assert not [pid for pid in family if alive(pid)], "left running after SIGTERM"


def test_outdated_schema_stops_the_server_with_the_upgrade_command(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0a8213491aaa')")
    engine.dispose()
    result = subprocess.run(
        [str(BIN / "mlflow-core"), "server", "--backend-store-uri", f"sqlite:///{path}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "mlflow-core db upgrade" in result.stderr


def test_unsupported_store_is_served_by_mlflow(tmp_path: Path) -> None:
    file_store = (tmp_path / "mlruns").as_uri()
    with mlflow_core_server(file_store, tmp_path) as server:
        log = server.log.read_text()
    assert "MLflow's own store will serve it" in log or "serves every request" in log


def test_endpoints_command_lists_coverage() -> None:
    listed = subprocess.run(
        [str(BIN / "mlflow-core"), "endpoints"], capture_output=True, text=True, check=True
    ).stdout
    assert "createExperiment" in listed
    from mlflow_core.entrypoints.http.protocol.rpcs import RPCS

    ported = sum(1 for rpc in RPCS if rpc.ported)
    assert f"total: {ported} of {len(RPCS)} RPCs ported" in listed
