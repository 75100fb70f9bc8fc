"""Domain values and errors as MLflow's client-side objects, for the in-process shim.

The shim stands in for MLflow's store, so it must hand MLflow exactly what its store returns:
``mlflow.entities`` objects, ``PagedList`` pages and ``MlflowException`` errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from mlflow.entities import Experiment as MlflowExperiment
from mlflow.entities import ExperimentTag as MlflowExperimentTag
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2
from mlflow.store.entities.paged_list import PagedList

from mlflow_core.domain.experiments import Experiment, ExperimentTag
from mlflow_core.domain.paging import Page
from mlflow_core.errors import MlflowCoreError

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
