"""The runs half of the tracking store port: runs and what is logged to them.

Every method is one unit of work: it completes or changes nothing. Run ids reach the store
already validated; a run that does not exist raises RESOURCE_DOES_NOT_EXIST with MLflow's
"Run with id=... not found".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from mlflow_core.domain.experiments import LifecycleStage
from mlflow_core.domain.runs import Metric, Param, Run, RunInfo, RunStatus, RunTag


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


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One stored value of a metric's history (MLflow's ``metrics`` row)."""

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
    def metric_history(
        self, run_id: str, key: str, page_size: int
    ) -> Iterator[Sequence[MetricPoint]]:
        """The stored values of one metric, ordered by (timestamp, step, value), in pages.

        Yields pages of at most ``page_size`` points, read lazily, so a history of any
        length is never held at once. The run must exist (checked before the first page).
        """
