"""Domain values and errors as MLflow's client-side objects, for the in-process shim.

The shim stands in for MLflow's store, so it must hand MLflow exactly what its store returns:
``mlflow.entities`` objects, ``PagedList`` pages and ``MlflowException`` errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from mlflow import entities as ml
from mlflow.entities import Experiment as MlflowExperiment
from mlflow.entities import ExperimentTag as MlflowExperimentTag
from mlflow.entities import model_registry as mr
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2
from mlflow.store.entities.paged_list import PagedList

from mlflow_core.domain.experiments import Experiment, ExperimentTag
from mlflow_core.domain.paging import Page
from mlflow_core.domain.registry import ModelVersion, RegisteredModel, RegistryTag
from mlflow_core.domain.runs import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
)
from mlflow_core.errors import MlflowCoreError
from mlflow_core.ports.runs import MetricPoint

F = TypeVar("F", bound=Callable[..., Any])


def experiment(value: Experiment) -> Any:
    """``mlflow.entities.Experiment`` as ``SqlExperiment.to_mlflow_entity()`` builds it."""
    return MlflowExperiment(
        experiment_id=value.experiment_id,
        name=value.name,
        artifact_location=value.artifact_location,  # type: ignore[arg-type]  # None as MLflow's
        lifecycle_stage=value.lifecycle_stage.value,
        tags=[MlflowExperimentTag(key, tag_value) for key, tag_value in value.tags.items()],
        creation_time=value.creation_time,
        last_update_time=value.last_update_time,
        workspace=value.workspace,
    )


def experiment_tags(tags: Iterable[Any] | None) -> list[ExperimentTag]:
    """MLflow's tag objects (anything with ``key`` and ``value``) as domain tags."""
    return [ExperimentTag(tag.key, tag.value) for tag in tags or ()]


def run_info(value: RunInfo) -> Any:
    return ml.RunInfo(
        run_id=value.run_id,
        experiment_id=value.experiment_id,
        user_id=value.user_id,  # type: ignore[arg-type]  # None as MLflow's own
        status=ml.RunStatus.to_string(value.status.value),
        start_time=value.start_time,  # type: ignore[arg-type]
        end_time=value.end_time,
        lifecycle_stage=value.lifecycle_stage.value,
        artifact_uri=value.artifact_uri,
        run_name=value.run_name,
    )


def _dataset_input(value: DatasetInput) -> Any:
    dataset = value.dataset
    return ml.DatasetInput(
        dataset=ml.Dataset(
            name=dataset.name,
            digest=dataset.digest,
            source_type=dataset.source_type,
            source=dataset.source,
            schema=dataset.schema,
            profile=dataset.profile,
        ),
        tags=[ml.InputTag(key=tag.key, value=tag.value) for tag in value.tags],
    )


def dataset_inputs(values: Iterable[Any] | None) -> list[DatasetInput]:
    """MLflow's ``DatasetInput`` entities as ours (a missing schema or profile stays None)."""
    return [
        DatasetInput(
            Dataset(
                name=d.dataset.name,
                digest=d.dataset.digest,
                source_type=d.dataset.source_type,
                source=d.dataset.source,
                schema=d.dataset.schema,
                profile=d.dataset.profile,
            ),
            [InputTag(tag.key, tag.value) for tag in d.tags or ()],
        )
        for d in values or ()
    ]


def metric(value: Metric | MetricPoint) -> Any:
    """A run's latest value or a point of its history as ``mlflow.entities.Metric``."""
    return ml.Metric(value.key, value.value, value.timestamp, value.step)


def run(value: Run, *, outputs: bool = True) -> Any:
    """``mlflow.entities.Run`` as MLflow's store builds it (``create_run`` has no outputs)."""
    data = ml.RunData(
        metrics=[metric(m) for m in value.metrics],
        params=[ml.Param(key, param) for key, param in value.params.items()],
        tags=[ml.RunTag(key, tag) for key, tag in value.tags.items()],
    )
    inputs = ml.RunInputs(
        dataset_inputs=[_dataset_input(d) for d in value.dataset_inputs],
        model_inputs=[ml.LoggedModelInput(model_id) for model_id in value.model_inputs],
    )
    if not outputs:
        return ml.Run(
            run_info(value.info), data, ml.RunInputs(dataset_inputs=inputs.dataset_inputs)
        )
    return ml.Run(
        run_info(value.info),
        data,
        inputs,
        ml.RunOutputs([ml.LoggedModelOutput(o.model_id, o.step) for o in value.model_outputs]),
    )


def run_status(status: Any) -> RunStatus | None:
    """MLflow passes statuses as names ("FINISHED") or numbers; None leaves it as it is."""
    if status is None:
        return None
    return RunStatus(ml.RunStatus.from_string(status) if isinstance(status, str) else status)


def run_tags(tags: Iterable[Any] | None) -> list[RunTag]:
    return [RunTag(tag.key, tag.value) for tag in tags or ()]


def params(values: Iterable[Any] | None) -> list[Param]:
    return [Param(p.key, p.value) for p in values or ()]


def metrics(values: Iterable[Any] | None) -> list[Metric]:
    return [
        Metric(
            m.key,
            m.value,
            m.timestamp,
            m.step or 0,
            getattr(m, "model_id", None),
            getattr(m, "dataset_name", None),
            getattr(m, "dataset_digest", None),
        )
        for m in values or ()
    ]


def model_version(value: ModelVersion, workspace: str) -> Any:
    """``mlflow.entities.model_registry.ModelVersion`` as ``SqlModelVersion`` builds it (and
    the aliases MLflow's store adds where it populates them)."""
    return mr.ModelVersion(
        name=value.name,
        version=value.version,  # type: ignore[arg-type]  # an int, as MLflow's SQL store's
        creation_timestamp=value.creation_time,  # type: ignore[arg-type]
        last_updated_timestamp=value.last_updated_time,
        description=value.description,
        user_id=value.user_id,
        current_stage=value.current_stage,
        source=value.source,
        run_id=value.run_id,
        status=value.status,  # type: ignore[arg-type]
        status_message=value.status_message,
        tags=[mr.ModelVersionTag(key, tag) for key, tag in value.tags.items()],  # type: ignore[no-untyped-call]
        run_link=value.run_link,
        aliases=list(value.aliases),
        workspace=workspace,
    )


def registered_model(value: RegisteredModel, workspace: str, searched: bool = False) -> Any:
    """``mlflow.entities.model_registry.RegisteredModel`` as ``SqlRegisteredModel`` builds it.

    A searched model's latest versions come, in MLflow's store, from a window query partitioned
    by stage, so in stage-name order; a model read alone lists them by their lowest version.
    """
    latest = value.latest_versions
    if searched:
        latest = sorted(latest, key=lambda version: version.current_stage or "")
    return mr.RegisteredModel(
        value.name,
        value.creation_time,
        value.last_updated_time,
        value.description,
        [model_version(version, workspace) for version in latest],
        [mr.RegisteredModelTag(key, tag) for key, tag in value.tags.items()],  # type: ignore[no-untyped-call]
        [mr.RegisteredModelAlias(alias, n) for alias, n in value.aliases.items()],  # type: ignore[no-untyped-call]
        workspace=workspace,
    )


def registry_tag(tag: Any) -> RegistryTag:
    """MLflow's registered model or model version tag (``key``, ``value``) as a domain tag."""
    return RegistryTag(tag.key, tag.value)


def registry_tags(tags: Iterable[Any] | None) -> list[RegistryTag]:
    """``registry_tag`` of each of ``tags`` (None: none)."""
    return [registry_tag(tag) for tag in tags or ()]


def paged(page: Page[Any], convert: Callable[[Any], Any]) -> Any:
    """A ``PagedList`` whose token is bytes, as MLflow's SQL store returns it (base64 bytes)."""
    token = page.next_page_token
    return PagedList(
        [convert(item) for item in page.items], None if token is None else token.encode()
    )


def mlflow_exception(error: MlflowCoreError) -> Any:
    return MlflowException(
        error.message, error_code=databricks_pb2.ErrorCode.Value(error.error_code.value)
    )


@contextmanager
def mlflow_errors() -> Iterator[None]:
    """Raise our errors as the ``MlflowException`` MLflow's store would have raised."""
    try:
        yield
    except MlflowCoreError as error:
        raise mlflow_exception(error) from None


def raising_mlflow_errors(function: F) -> F:
    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with mlflow_errors():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
