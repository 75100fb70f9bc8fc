"""Runs on real databases, through the library API and the SQL adapter, read back by MLflow."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import mlflow_core
from mlflow_core import ErrorCode, LifecycleStage, MlflowCoreError
from mlflow_core.adapters.sql.database import mlflow_store_uri
from mlflow_core.domain.runs import Metric, Param, RunStatus, RunTag
from mlflow_core.services.tracking import TrackingService


@pytest.fixture
def tracking(empty_database: str, tmp_path: Path) -> Iterator[TrackingService]:
    service = mlflow_core.tracking_service(empty_database, str(tmp_path / "artifacts"))
    yield service
    service.store.close()


def _error(fn, *args, **kwargs) -> MlflowCoreError:
    with pytest.raises(MlflowCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def _count(tracking: TrackingService, table: str, run_id: str) -> int:
    database = tracking.store.database  # type: ignore[attr-defined]
    with database.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(f"SELECT COUNT(*) FROM {table} WHERE run_uuid = :r"), {"r": run_id}
            ).scalar_one()
        )


def test_create_and_get_a_run(tracking: TrackingService, tmp_path: Path) -> None:
    experiment_id = tracking.create_experiment("runs")
    run = tracking.create_run(
        experiment_id, user_id="ann", start_time=123, tags=[RunTag("team", "core")]
    )
    info = run.info
    assert info.experiment_id == experiment_id
    assert info.user_id == "ann"
    assert info.start_time == 123
    assert info.status is RunStatus.RUNNING
    assert info.lifecycle_stage is LifecycleStage.ACTIVE
    assert info.artifact_uri == f"{tmp_path}/artifacts/{experiment_id}/{info.run_id}/artifacts"
    # A generated name, mirrored in the mlflow.runName tag.
    assert info.run_name
    assert run.tags["mlflow.runName"] == info.run_name
    fetched = tracking.get_run(info.run_id)
    assert fetched.info == info
    assert fetched.tags == {"team": "core", "mlflow.runName": info.run_name}
    assert _error(tracking.get_run, "missing").error_code is ErrorCode.RESOURCE_DOES_NOT_EXIST


def test_run_name_and_tag_stay_in_sync(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="first").info.run_id
    tracking.set_tag(run_id, RunTag("mlflow.runName", "second"))
    assert tracking.get_run(run_id).info.run_name == "second"
    tracking.update_run(run_id, run_name="third")
    run = tracking.get_run(run_id)
    assert (run.info.run_name, run.tags["mlflow.runName"]) == ("third", "third")
    tracking.log_batch(run_id, tags=[RunTag("mlflow.runName", "fourth")])
    run = tracking.get_run(run_id)
    assert (run.info.run_name, run.tags["mlflow.runName"]) == ("fourth", "fourth")
    conflict = _error(tracking.create_run, "0", run_name="a", tags=[RunTag("mlflow.runName", "b")])
    assert conflict.error_code is ErrorCode.INVALID_PARAMETER_VALUE


def test_latest_metrics_follow_step_then_timestamp_then_value(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="m").info.run_id
    tracking.log_metric(run_id, Metric("loss", 0.5, timestamp=10, step=2))
    tracking.log_metric(run_id, Metric("loss", 0.1, timestamp=99, step=1))  # older step
    tracking.log_batch(
        run_id,
        metrics=[
            Metric("acc", 1.0, 5, 3),
            Metric("acc", 0.5, 6, 3),  # same step, later timestamp wins
            Metric("acc", 0.2, 6, 3),  # same step and timestamp, smaller value loses
            Metric("nan", math.nan, 1, 0),
            Metric("inf", math.inf, 1, 0),
            Metric("ninf", -math.inf, 1, 0),
        ],
    )
    latest = {m.key: m for m in tracking.get_run(run_id).metrics}
    assert (latest["loss"].value, latest["loss"].step) == (0.5, 2)
    assert (latest["acc"].value, latest["acc"].timestamp) == (0.5, 6)
    assert math.isnan(latest["nan"].value)
    # MLflow's SQL store keeps +/-inf as the largest finite doubles.
    assert latest["inf"].value == 1.7976931348623157e308
    assert latest["ninf"].value == -1.7976931348623157e308


def test_resent_and_duplicate_metrics_are_stored_once(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="dups").info.run_id
    point = Metric("m", 1.5, 7, 1)
    tracking.log_batch(run_id, metrics=[point, point, Metric("n", math.nan, 1, 0)] * 2)
    tracking.log_metric(run_id, point)
    tracking.log_batch(run_id, metrics=[point, Metric("m", 2.5, 8, 2)])
    assert _count(tracking, "metrics", run_id) == 3
    assert _count(tracking, "latest_metrics", run_id) == 2


def test_params_are_write_once(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="p").info.run_id
    tracking.log_param(run_id, Param("lr", "0.1"))
    tracking.log_param(run_id, Param("lr", "0.1"))
    tracking.log_batch(run_id, params=[Param("lr", "0.1"), Param("bs", "32")])
    changed = _error(tracking.log_param, run_id, Param("lr", "0.2"))
    assert changed.message == (
        "Changing param values is not allowed. Param with key='lr' was already logged with "
        f"value='0.1' for run ID='{run_id}'. Attempted logging new value '0.2'."
    )
    in_batch = _error(tracking.log_batch, run_id, params=[Param("bs", "64")])
    assert in_batch.message == (
        "Changing param values is not allowed. Params were already logged="
        "'[{'key': 'bs', 'old_value': '32', 'new_value': '64'}]' for run ID="
        f"'{run_id}'."
    )
    assert tracking.get_run(run_id).params == {"lr": "0.1", "bs": "32"}


def test_a_batch_lands_whole_or_not_at_all(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="atomic").info.run_id
    tracking.log_param(run_id, Param("fixed", "1"))
    _error(
        tracking.log_batch,
        run_id,
        metrics=[Metric("m", 1.0, 1, 0)],
        params=[Param("new", "x"), Param("fixed", "2")],
        tags=[RunTag("t", "v")],
    )
    run = tracking.get_run(run_id)
    assert run.params == {"fixed": "1"}
    assert run.metrics == []
    assert "t" not in run.tags
    assert _count(tracking, "metrics", run_id) == 0


def test_deleted_runs_refuse_writes_until_restored(tracking: TrackingService) -> None:
    run_id = tracking.create_run("0", run_name="d").info.run_id
    tracking.update_run(run_id, status=RunStatus.FINISHED, end_time=50)
    tracking.log_metric(run_id, Metric("after-finish", 1.0, 1, 0))  # finished runs accept
    tracking.delete_run(run_id)
    assert tracking.get_run(run_id).info.lifecycle_stage is LifecycleStage.DELETED
    for write in (
        lambda: tracking.log_metric(run_id, Metric("m", 1.0, 1, 0)),
        lambda: tracking.log_param(run_id, Param("p", "1")),
        lambda: tracking.set_tag(run_id, RunTag("t", "1")),
        lambda: tracking.update_run(run_id, status=RunStatus.FAILED),
    ):
        error = _error(write)
        assert error.message == (
            f"The run {run_id} must be in the 'active' state. Current state is deleted."
        )
    tracking.restore_run(run_id)
    tracking.set_tag(run_id, RunTag("t", "1"))
    tracking.delete_tag(run_id, "t")
    assert "t" not in tracking.get_run(run_id).tags
    assert _error(tracking.delete_tag, run_id, "t").error_code is ErrorCode.RESOURCE_DOES_NOT_EXIST


def test_mlflow_reads_runs_written_by_us(
    tracking: TrackingService, empty_database: str, tmp_path: Path
) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    run_id = tracking.create_run("0", user_id="ann", start_time=5, run_name="ours").info.run_id
    tracking.log_batch(
        run_id,
        metrics=[Metric("m", 1.0, 1, 0), Metric("m", 2.0, 2, 1), Metric("n", math.nan, 3, 0)],
        params=[Param("p", "v")],
        tags=[RunTag("t", "x")],
    )
    tracking.update_run(run_id, status=RunStatus.FINISHED, end_time=9)
    store = SqlAlchemyStore(mlflow_store_uri(empty_database), str(tmp_path / "artifacts"))
    try:
        theirs = store.get_run(run_id)
        history = store.get_metric_history(run_id, "m")
    finally:
        store.engine.dispose()
    ours = tracking.get_run(run_id)
    assert theirs.info.run_name == ours.info.run_name == "ours"
    assert theirs.info.status == "FINISHED"
    assert theirs.info.end_time == 9
    assert theirs.info.artifact_uri == ours.info.artifact_uri
    assert theirs.data.params == dict(ours.params)
    assert theirs.data.tags == dict(ours.tags)
    assert theirs.data.metrics["m"] == 2.0
    assert math.isnan(theirs.data.metrics["n"])
    assert [(h.value, h.step) for h in history] == [(1.0, 0), (2.0, 1)]
