"""The real ``mlflow`` client and the MLflow UI against ``mlflow-core server``."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from tests.support.servers import Server


@pytest.fixture
def client(core_server: Server) -> Iterator[MlflowClient]:
    mlflow.set_tracking_uri(core_server.url)
    yield MlflowClient(core_server.url)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets it


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("content-type", ""), response.read()


def test_fluent_and_client_experiment_calls(client: MlflowClient) -> None:
    experiment = mlflow.set_experiment("client-e2e")
    assert mlflow.set_experiment("client-e2e").experiment_id == experiment.experiment_id
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment.experiment_id}"

    client.set_experiment_tag(experiment.experiment_id, "team", "core")
    client.rename_experiment(experiment.experiment_id, "client-e2e-renamed")
    fetched = client.get_experiment_by_name("client-e2e-renamed")
    assert fetched is not None
    assert fetched.tags["team"] == "core"
    assert client.get_experiment_by_name("client-e2e") is None

    for i in range(4):
        client.create_experiment(f"client-page-{i}", tags={"i": str(i)})
    found = client.search_experiments(
        filter_string="name LIKE 'client-page-%' AND tags.i != '0'",
        order_by=["name DESC"],
        max_results=2,
    )
    assert [e.name for e in found] == ["client-page-3", "client-page-2"]
    rest = client.search_experiments(
        filter_string="name LIKE 'client-page-%' AND tags.i != '0'",
        order_by=["name DESC"],
        max_results=2,
        page_token=found.token,
    )
    assert [e.name for e in rest] == ["client-page-1"]
    assert rest.token is None

    client.delete_experiment(experiment.experiment_id)
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert experiment.experiment_id in [e.experiment_id for e in deleted]
    client.restore_experiment(experiment.experiment_id)
    assert client.get_experiment(experiment.experiment_id).lifecycle_stage == "active"
    client.delete_experiment_tag(experiment.experiment_id, "team")
    assert "team" not in client.get_experiment(experiment.experiment_id).tags


def test_client_sees_mlflow_errors(client: MlflowClient) -> None:
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST") as missing:
        client.get_experiment("987654")
    assert missing.value.get_http_status_code() == 404
    client.create_experiment("dupe")
    with pytest.raises(MlflowException, match="already exists"):
        client.create_experiment("dupe")


def test_run_logged_through_fallback_shows_in_the_ui(client: MlflowClient, core_server: Server):
    mlflow.set_experiment("ui-visible")
    with mlflow.start_run(run_name="fallback-run") as run:
        mlflow.log_param("alpha", "0.5")
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    experiment_id = run.info.experiment_id

    # the UI's own page and its script bundle come from MLflow's application
    status, content_type, body = _get(core_server.url + "/")
    assert status == 200
    assert "text/html" in content_type
    script = re.search(rb'src="(static-files/static/js/[^"]+\.js)"', body)
    assert script is not None, body[:500]
    assert _get(f"{core_server.url}/{script.group(1).decode()}")[0] == 200

    # the calls the UI makes to list the experiment's runs and chart the metric
    request = urllib.request.Request(
        core_server.url + "/ajax-api/2.0/mlflow/runs/search",
        data=json.dumps({"experiment_ids": [experiment_id]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        runs = json.load(response)["runs"]
    assert [r["info"]["run_name"] for r in runs] == ["fallback-run"]
    assert runs[0]["data"]["params"] == [{"key": "alpha", "value": "0.5"}]
    history = json.loads(
        _get(
            f"{core_server.url}/ajax-api/2.0/mlflow/metrics/get-history"
            f"?run_id={run.info.run_id}&metric_key=loss"
        )[2]
    )
    assert [m["step"] for m in history["metrics"]] == [0, 1, 2]
    experiments = json.loads(
        _get(f"{core_server.url}/ajax-api/2.0/mlflow/experiments/search?max_results=1000")[2]
    )
    assert "ui-visible" in [e["name"] for e in experiments["experiments"]]


def test_artifacts_upload_and_download_through_the_server(
    client: MlflowClient, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Artifacts proxied by the server (MLflow's handlers, our HTTP protocol) arrive whole:
    a body of several MB streams through the socket's flow control, a small one in one write."""
    source = tmp_path_factory.mktemp("artifacts-up")
    big = os.urandom(3 * 1024 * 1024 + 17)
    (source / "model.bin").write_bytes(big)
    (source / "notes.txt").write_text("small")
    mlflow.set_experiment("artifacts-e2e")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source / "model.bin"), "weights")
        mlflow.log_artifact(str(source / "notes.txt"))

    listed = {a.path: a.file_size for a in client.list_artifacts(run.info.run_id, "weights")}
    assert listed == {"weights/model.bin": len(big)}
    target = tmp_path_factory.mktemp("artifacts-down")
    local = client.download_artifacts(run.info.run_id, "", str(target))
    assert (Path(local) / "weights" / "model.bin").read_bytes() == big
    assert (Path(local) / "notes.txt").read_text() == "small"
