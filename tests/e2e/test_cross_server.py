"""A database written through one server opens in the other and reads the same.

Both directions: ``mlflow-core server`` writes, stock ``mlflow server`` reads (and keeps
writing), and the reverse, on every configured database kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.support.databases import fresh_database
from tests.support.servers import mlflow_core_server, stock_mlflow_server


def _write(client: MlflowClient) -> None:
    kept = client.create_experiment("kept", tags={"owner": "team-a", "stage": "dev"})
    client.set_experiment_tag(kept, "stage", "prod")
    gone = client.create_experiment("gone")
    client.delete_experiment(gone)
    renamed = client.create_experiment("before")
    client.rename_experiment(renamed, "after")
    run = client.create_run(kept, run_name="a-run")
    client.log_param(run.info.run_id, "p", "1")
    client.log_metric(run.info.run_id, "m", 0.5, step=3)
    client.set_terminated(run.info.run_id)


def _snapshot(client: MlflowClient) -> dict[str, Any]:
    experiments = client.search_experiments(view_type=ViewType.ALL, order_by=["name ASC"])
    runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL)
    return {
        "experiments": [
            (e.experiment_id, e.name, e.lifecycle_stage, e.artifact_location, e.tags)
            for e in experiments
        ],
        "times": [(e.creation_time, e.last_update_time) for e in experiments],
        "runs": [(r.info.run_name, r.info.status, r.data.params, r.data.metrics) for r in runs],
    }


@pytest.mark.parametrize("writer", ["mlflow-core", "mlflow"])
def test_database_moves_between_servers(writer: str, server_kind: str, tmp_path: Path) -> None:
    first, second = (
        (mlflow_core_server, stock_mlflow_server)
        if writer == "mlflow-core"
        else (stock_mlflow_server, mlflow_core_server)
    )
    with fresh_database(server_kind, tmp_path) as uri:
        with first(uri, tmp_path) as server:
            client = MlflowClient(server.url)
            _write(client)
            written = _snapshot(client)
        with second(uri, tmp_path) as server:
            client = MlflowClient(server.url)
            assert _snapshot(client) == written
            # and the second server keeps writing to it
            client.create_experiment("written-second")
            assert client.get_experiment_by_name("written-second") is not None
