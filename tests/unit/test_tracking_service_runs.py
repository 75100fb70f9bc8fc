"""TrackingService's run methods against the in-memory store: MLflow's rules and their order."""

from __future__ import annotations

import pytest

from mlflow_core.domain.runs import Metric, Param, RunTag
from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.services.tracking import TrackingService
from tests.support.clock import FixedClock
from tests.support.fake_tracking_store import FakeTrackingStore


@pytest.fixture
def service() -> TrackingService:
    svc = TrackingService(
        FakeTrackingStore(), "mlflow-artifacts:/", clock=FixedClock(), run_names=lambda: "gen-1"
    )
    svc.ensure_default_experiment()
    return svc


def _error(fn, *args, **kwargs) -> MlflowCoreError:
    with pytest.raises(MlflowCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def test_run_names_come_from_argument_tag_or_generator(service: TrackingService) -> None:
    assert service.create_run("0", run_name="given").tags["mlflow.runName"] == "given"
    from_tag = service.create_run("0", tags=[RunTag("mlflow.runName", "tagged")])
    assert from_tag.info.run_name == "tagged"
    generated = service.create_run("0")
    assert (generated.info.run_name, generated.tags["mlflow.runName"]) == ("gen-1", "gen-1")
    assert generated.info.artifact_uri == f"mlflow-artifacts:/0/{generated.info.run_id}/artifacts"


def test_experiment_is_checked_before_the_name_conflict(service: TrackingService) -> None:
    tags = [RunTag("mlflow.runName", "b")]
    missing = _error(service.create_run, "42", run_name="a", tags=tags)
    assert missing.message == "No Experiment with id=42 exists"
    conflict = _error(service.create_run, "0", run_name="a", tags=tags)
    assert conflict.message == (
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
        "values (run_name='a', mlflow.runName='b')."
    )
    service.delete_experiment(service.create_experiment("gone"))
    gone = _error(service.create_run, "1")
    assert (
        gone.message == "The experiment 1 must be in the 'active' state. Current state is deleted."
    )


def test_inputs_are_checked_before_the_run_is_looked_up(service: TrackingService) -> None:
    bad_metric = _error(service.log_metric, "missing", Metric("bad!", 1.0, 1, 0))
    assert bad_metric.error_code is ErrorCode.INVALID_PARAMETER_VALUE
    bad_batch = _error(service.log_batch, "missing", params=[Param("p", "1")] * 2)
    assert "Duplicate parameter keys" in bad_batch.message
    bad_id = _error(service.log_batch, "bad id!")
    assert bad_id.message == "Invalid value \"bad id!\" for parameter 'run_id' supplied."
    assert _error(service.log_metric, "missing", Metric("ok", 1.0, 1, 0)).message == (
        "Run with id=missing not found"
    )


def test_long_param_and_tag_values_are_cut_to_mlflows_limits(service: TrackingService) -> None:
    run_id = service.create_run("0", run_name="long").info.run_id
    service.log_param(run_id, Param("p", "v" * 7000))
    service.set_tag(run_id, RunTag("t", "v" * 9000))
    run = service.get_run(run_id)
    assert (len(run.params["p"]), len(run.tags["t"])) == (6000, 8000)
