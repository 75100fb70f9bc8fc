"""The tracking store port: experiments (and, as they are ported, runs, metrics, ...).

Every method is one unit of work: it either completes or changes nothing. Stores raise
``MlflowCoreError`` with MLflow's codes and messages for the failures MLflow's store reports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlflow_core.domain.experiments import Experiment, ExperimentTag, ViewType
from mlflow_core.ports.runs import RunStore
from mlflow_core.search.experiments import ExperimentOrderKey, FilterClause


@dataclass(frozen=True, slots=True)
class ExperimentSearch:
    """A parsed experiments search: what to match, in which order, which slice."""

    view_type: ViewType
    clauses: Sequence[FilterClause]
    order_by: Sequence[ExperimentOrderKey]
    offset: int
    limit: int


class TrackingStore(RunStore, ABC):
    @abstractmethod
    def create_experiment(
        self,
        workspace: str,
        name: str,
        artifact_location: str | None,
        tags: Sequence[ExperimentTag],
        now_ms: int,
        default_artifact_location: Callable[[str], str],
    ) -> str:
        """Insert an active experiment and return its id.

        Without ``artifact_location`` the experiment gets ``default_artifact_location(id)``,
        written in the same unit of work. A taken name raises RESOURCE_ALREADY_EXISTS.
        """

    @abstractmethod
    def get_experiment(self, workspace: str, experiment_id: int) -> Experiment | None: ...

    @abstractmethod
    def get_experiment_by_name(self, workspace: str, name: str) -> Experiment | None: ...

    @abstractmethod
    def search_experiments(self, workspace: str, search: ExperimentSearch) -> list[Experiment]:
        """Return at most ``search.limit`` experiments, skipping ``search.offset``."""

    @abstractmethod
    def delete_experiment(self, workspace: str, experiment_id: int, now_ms: int) -> None:
        """Mark an active experiment and all its runs deleted (RESOURCE_DOES_NOT_EXIST if none)."""

    @abstractmethod
    def restore_experiment(self, workspace: str, experiment_id: int, now_ms: int) -> None:
        """Mark a deleted experiment and all its runs active (RESOURCE_DOES_NOT_EXIST if none)."""

    @abstractmethod
    def rename_experiment(
        self, workspace: str, experiment_id: int, new_name: str, now_ms: int
    ) -> None: ...

    @abstractmethod
    def set_experiment_tag(self, workspace: str, experiment_id: int, tag: ExperimentTag) -> None:
        """Insert or overwrite a tag of an active experiment."""

    @abstractmethod
    def delete_experiment_tag(self, workspace: str, experiment_id: int, key: str) -> None: ...

    @abstractmethod
    def ensure_default_experiment(
        self, workspace: str, artifact_location: str, now_ms: int
    ) -> None:
        """Create experiment 0 ("Default") if it is missing; a no-op otherwise."""

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
