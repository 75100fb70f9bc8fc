"""The runs half of the tracking store port: runs and what is logged to them.

Every method is one unit of work: it completes or changes nothing. Run ids reach the store
already validated; a run that does not exist raises RESOURCE_DOES_NOT_EXIST with MLflow's
"Run with id=... not found".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from mlflow_core.domain.experiments import LifecycleStage
from mlflow_core.domain.runs import (
    DatasetInput,
    LoggedModelOutput,
    Metric,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
)


@dataclass(frozen=True, slots=True)
class NewRun:
    """What create_run writes: the service has settled the name, tags and artifact URI."""

    run_id: str
    run_name: str
    artifact_uri: str
    user_id: str | None
    start_time: int | None
    tags: Sequence[RunTag]


@dataclass(frozen=True, slots=True)
class RunUpdate:
    status: RunStatus | None
    end_time: int | None
    run_name: str | None


class MetricPoint(NamedTuple):
    """One stored value of a metric's history (MLflow's ``metrics`` row).

    A named tuple: histories run to millions of points, and a tuple is built several times
    faster than a frozen dataclass.
    """

    key: str
    value: float
    timestamp: int
    step: int


class RunStore(ABC):
    @abstractmethod
    def create_run(
        self, workspace: str, experiment_id: int, settle: Callable[[str], NewRun]
    ) -> Run:
        """Insert a run and its tags into an existing, active experiment.

        After checking the experiment (MLflow's errors, in its order) the store calls
        ``settle`` with the experiment's artifact location, in the same unit of work, for the
        run to insert (the service's naming rules may still refuse it then).
        """

    @abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abstractmethod
    def update_run_info(self, run_id: str, update: RunUpdate) -> RunInfo:
        """Update an active run; a new name also sets the ``mlflow.runName`` tag."""

    @abstractmethod
    def set_run_lifecycle_stage(self, run_id: str, stage: LifecycleStage, now_ms: int) -> None:
        """Delete (``DELETED``) or restore (``ACTIVE``) a run, whatever its current stage."""

    @abstractmethod
    def log_param(self, run_id: str, param: Param) -> None:
        """Write-once: the same value again is a no-op, another value INVALID_PARAMETER_VALUE."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        """All of it lands or none of it does; the run must be active.

        Metrics already stored (same key, value, timestamp, step) are skipped; latest_metrics
        keeps, per key, the value with the greatest (step, timestamp, value). A
        ``mlflow.runName`` tag renames the run.
        """

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abstractmethod
    def log_inputs(
        self, run_id: str, datasets: Sequence[DatasetInput], model_ids: Sequence[str]
    ) -> None:
        """Link datasets (created in the run's experiment if new) and logged models to an
        active run; a dataset already linked is left as it is."""

    @abstractmethod
    def log_outputs(self, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None:
        """Record logged models as outputs of an active run (at a step)."""

    @abstractmethod
    def metric_history(
        self, run_id: str, key: str, offset: int, limit: int | None, chunk_size: int
    ) -> Iterator[list[MetricPoint]]:
        """One metric's stored values ordered by (timestamp, step, value), lazily, in chunks.

        Skips ``offset`` points and yields at most ``limit`` (all without one) in chunks of at
        most ``chunk_size``, each read only when the caller asks for it: memory stays bounded
        by the chunk size whatever the history's length. An unknown run has no points (as in
        MLflow, which does not check the run here).
        """

    @abstractmethod
    def sampled_metric_history(
        self,
        run_ids: Sequence[str],
        key: str,
        max_results: int,
        steps: tuple[int, int] | None,
    ) -> list[tuple[str, MetricPoint]]:
        """MLflow's get-history-bulk-interval sampling, run by run in ``run_ids`` order.

        Per run: the points (within ``steps``, inclusive, when given) ordered by (step,
        timestamp, value, is_nan) are cut into ``max_results`` NTILE buckets; the first point of
        each bucket is kept, and the last point overall replaces the final sample (or is added
        when there is room) if it is not already the final sample.
        """
