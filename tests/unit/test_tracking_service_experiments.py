"""TrackingService's experiment methods against the in-memory store: MLflow's rules and errors."""

from __future__ import annotations

import pytest

from mlflow_core.domain.experiments import ExperimentTag, LifecycleStage, ViewType
from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.services.tracking import TrackingService
from tests.support.clock import FixedClock
from tests.support.fake_tracking_store import FakeTrackingStore


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def service(clock: FixedClock) -> TrackingService:
    svc = TrackingService(FakeTrackingStore(), "mlflow-artifacts:/", clock=clock)
    svc.ensure_default_experiment()
    return svc


def _error(fn, *args, **kwargs) -> MlflowCoreError:
    with pytest.raises(MlflowCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def test_default_experiment_is_zero_with_root_location(service: TrackingService) -> None:
    default = service.get_experiment("0")
    assert (default.name, default.artifact_location) == ("Default", "mlflow-artifacts:/0")
    # MLflow reads an empty id as the default experiment's
    assert service.get_experiment("").experiment_id == "0"


def test_create_assigns_location_under_the_artifact_root(service: TrackingService) -> None:
    experiment_id = service.create_experiment("exp", tags=[ExperimentTag("a", "b")])
    experiment = service.get_experiment(experiment_id)
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert experiment.tags == {"a": "b"}
    assert experiment.lifecycle_stage is LifecycleStage.ACTIVE
    assert experiment.creation_time == experiment.last_update_time == 1_700_000_000_000


def test_local_artifact_location_is_made_absolute(service: TrackingService, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    experiment_id = service.create_experiment("exp", artifact_location="relative/dir")
    assert service.get_experiment(experiment_id).artifact_location == f"{tmp_path}/relative/dir"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Invalid experiment name: ''"),
        ("x" * 501, "'name' exceeds the maximum length of 500 characters"),
    ],
)
def test_create_rejects_bad_names(service: TrackingService, name: str, message: str) -> None:
    error = _error(service.create_experiment, name)
    assert (error.error_code, error.message) == (ErrorCode.INVALID_PARAMETER_VALUE, message)


def test_create_rejects_bad_tags(service: TrackingService) -> None:
    error = _error(service.create_experiment, "e", tags=[ExperimentTag("../x", "v")])
    assert "This name would resolve to '../x'" in error.message
    error = _error(service.create_experiment, "e", tags=[ExperimentTag("k", "v" * 20001)])
    assert error.message == "'value' exceeds the maximum length of 20000 characters"


def test_duplicate_name_is_already_exists(service: TrackingService) -> None:
    service.create_experiment("exp")
    error = _error(service.create_experiment, "exp")
    assert error.error_code is ErrorCode.RESOURCE_ALREADY_EXISTS
    assert error.http_status == 400


def test_custom_view_cap_applies_only_with_server_rules(clock: FixedClock) -> None:
    tags = [ExperimentTag(f"mlflow.customView.view{i}", "{}") for i in range(51)]
    relaxed = TrackingService(FakeTrackingStore(), "/tmp/a", clock=clock)
    relaxed.create_experiment("ok", tags=tags)
    strict = TrackingService(FakeTrackingStore(), "/tmp/a", clock=clock, server_rules=True)
    error = _error(strict.create_experiment, "capped", tags=tags)
    assert error.message.startswith("Unable to create another custom view;")


def test_get_missing_and_malformed_ids(service: TrackingService) -> None:
    missing = _error(service.get_experiment, "12345")
    assert (missing.error_code, missing.message) == (
        ErrorCode.RESOURCE_DOES_NOT_EXIST,
        "No Experiment with id=12345 exists",
    )
    assert missing.http_status == 404
    malformed = _error(service.get_experiment, "abc")
    assert malformed.message == (
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."
    )


def test_delete_restore_cycle(service: TrackingService, clock: FixedClock) -> None:
    experiment_id = service.create_experiment("exp")
    clock.advance(10)
    service.delete_experiment(experiment_id)
    deleted = service.get_experiment(experiment_id)
    assert deleted.lifecycle_stage is LifecycleStage.DELETED
    assert deleted.creation_time is not None
    assert deleted.last_update_time == deleted.creation_time + 10
    # deleting twice: MLflow looks for an *active* experiment
    assert _error(service.delete_experiment, experiment_id).error_code is (
        ErrorCode.RESOURCE_DOES_NOT_EXIST
    )
    service.restore_experiment(experiment_id)
    assert service.get_experiment(experiment_id).lifecycle_stage is LifecycleStage.ACTIVE
    assert _error(service.restore_experiment, experiment_id).error_code is (
        ErrorCode.RESOURCE_DOES_NOT_EXIST
    )


def test_rename_rules(service: TrackingService) -> None:
    experiment_id = service.create_experiment("old")
    service.rename_experiment(experiment_id, "new")
    assert service.get_experiment_by_name("new") is not None
    assert service.get_experiment_by_name("old") is None
    assert _error(service.rename_experiment, experiment_id, "").message == (
        "Invalid experiment name: ''"
    )
    service.delete_experiment(experiment_id)
    error = _error(service.rename_experiment, experiment_id, "newer")
    assert (error.error_code, error.message) == (
        ErrorCode.INVALID_STATE,
        "Cannot rename a non-active experiment.",
    )


def test_tags_on_deleted_experiment_are_refused(service: TrackingService) -> None:
    experiment_id = service.create_experiment("exp")
    service.set_experiment_tag(experiment_id, ExperimentTag("k", "v1"))
    service.set_experiment_tag(experiment_id, ExperimentTag("k", "v2"))
    assert service.get_experiment(experiment_id).tags == {"k": "v2"}
    service.delete_experiment_tag(experiment_id, "k")
    missing = _error(service.delete_experiment_tag, experiment_id, "k")
    assert missing.message == f"No tag with name: k in experiment with id {experiment_id}"
    service.delete_experiment(experiment_id)
    refused = _error(service.set_experiment_tag, experiment_id, ExperimentTag("k", "v"))
    assert refused.message == (
        f"The experiment {experiment_id} must be in the 'active' state. Current state is deleted."
    )


def test_trace_archival_tag_value_is_checked(service: TrackingService) -> None:
    experiment_id = service.create_experiment("exp")
    error = _error(
        service.set_experiment_tag,
        experiment_id,
        ExperimentTag("mlflow.trace.archivalRetention", "not json"),
    )
    assert error.message == "Trace archival config must be encoded as a JSON object."
    service.set_experiment_tag(
        experiment_id,
        ExperimentTag("mlflow.trace.archivalRetention", '{"type": "duration", "value": "30d"}'),
    )


def test_search_pages_through_everything(service: TrackingService, clock: FixedClock) -> None:
    created = []
    for i in range(7):
        clock.advance()
        created.append(service.create_experiment(f"exp-{i}"))
    seen: list[str] = []
    token = None
    while True:
        page = service.search_experiments(max_results=3, page_token=token)
        seen.extend(e.experiment_id for e in page)
        token = page.next_page_token
        if token is None:
            break
    # newest first (creation_time DESC), then the default experiment
    assert seen == [*reversed(created), "0"]


def test_search_filters_and_view_types(service: TrackingService) -> None:
    a = service.create_experiment("alpha", tags=[ExperimentTag("team", "x")])
    b = service.create_experiment("beta")
    service.delete_experiment(b)
    names = lambda page: sorted(e.name for e in page)  # noqa: E731
    assert names(service.search_experiments(filter_string="name LIKE 'al%'")) == ["alpha"]
    assert names(service.search_experiments(filter_string="tags.team = 'x'")) == ["alpha"]
    assert names(service.search_experiments(view_type=ViewType.DELETED_ONLY)) == ["beta"]
    assert names(service.search_experiments(view_type=ViewType.ALL)) == ["Default", "alpha", "beta"]
    assert a


@pytest.mark.parametrize("max_results", [0, -1, 50001])
def test_search_max_results_bounds(service: TrackingService, max_results: int) -> None:
    error = _error(service.search_experiments, max_results=max_results)
    assert error.message.startswith(f"Invalid value {max_results} for parameter 'max_results'")
