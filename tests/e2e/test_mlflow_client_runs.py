"""The real ``mlflow`` client's training flow against ``mlflow-core server``."""

from __future__ import annotations

import math
from collections.abc import Iterator

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from tests.support.servers import Server


@pytest.fixture
def client(core_server: Server) -> Iterator[MlflowClient]:
    mlflow.set_tracking_uri(core_server.url)
    yield MlflowClient(core_server.url)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets it


def test_training_flow(client: MlflowClient) -> None:
    experiment = mlflow.set_experiment("client-runs")
    with mlflow.start_run(run_name="train") as run:
        run_id = run.info.run_id
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"epochs": 3, "optimizer": "adam"})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "nan": math.nan}, step=3)
        mlflow.set_tag("team", "core")
        mlflow.set_tags({"stage": "dev"})
    fetched = client.get_run(run_id)
    assert fetched.info.experiment_id == experiment.experiment_id
    assert fetched.info.run_name == "train"
    assert fetched.info.status == "FINISHED"
    assert fetched.info.end_time is not None
    assert fetched.info.artifact_uri == (
        f"mlflow-artifacts:/{experiment.experiment_id}/{run_id}/artifacts"
    )
    assert fetched.data.params == {"lr": "0.01", "epochs": "3", "optimizer": "adam"}
    assert fetched.data.metrics["loss"] == pytest.approx(1 / 3)
    assert math.isnan(fetched.data.metrics["nan"])
    assert fetched.data.tags["team"] == "core"
    assert fetched.data.tags["mlflow.runName"] == "train"
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]

    client.log_batch(
        run_id,
        metrics=[Metric("batch", float(i), 1000 + i, i) for i in range(50)],
        params=[Param("batch-param", "x")],
        tags=[RunTag("batch-tag", "y")],
    )
    assert len(client.get_metric_history(run_id, "batch")) == 50
    with pytest.raises(MlflowException, match="Changing param values is not allowed"):
        client.log_param(run_id, "lr", 0.02)
    client.delete_tag(run_id, "stage")
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        client.log_metric(run_id, "late", 1.0)
    client.restore_run(run_id)
    client.log_metric(run_id, "late", 1.0)
    assert client.get_run(run_id).data.metrics["late"] == 1.0
