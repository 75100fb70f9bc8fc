"""Runs and what is logged to them, as MLflow's clients see them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from mlflow_core.domain.experiments import LifecycleStage

# The tag that mirrors a run's name (mlflow.utils.mlflow_tags.MLFLOW_RUN_NAME).
RUN_NAME_TAG = "mlflow.runName"
# Runs' artifacts live under <experiment artifact location>/<run id>/artifacts.
RUN_ARTIFACTS_FOLDER = "artifacts"
# What SQL stores for +/-inf (MLflow's sanitize_metric_value): the largest finite doubles.
MAX_DOUBLE = 1.7976931348623157e308


class RunStatus(IntEnum):
    """MLflow's ``RunStatus``; the numbers are the protobuf enum's."""

    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMetricValue:
    """A metric value as MLflow's SQL schema holds it: NaN as (0, is_nan), +/-inf clamped."""

    value: float
    is_nan: bool

    @staticmethod
    def of(value: float) -> StoredMetricValue:
        if math.isnan(value):
            return StoredMetricValue(0.0, True)
        if math.isinf(value):
            return StoredMetricValue(MAX_DOUBLE if value > 0 else -MAX_DOUBLE, False)
        return StoredMetricValue(value, False)


@dataclass(frozen=True, slots=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    run_name: str | None
    experiment_id: str
    user_id: str | None
    status: RunStatus
    start_time: int | None
    end_time: int | None
    artifact_uri: str | None
    lifecycle_stage: LifecycleStage


@dataclass(frozen=True, slots=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class DatasetInput:
    dataset: Dataset
    tags: Sequence[InputTag] = ()


@dataclass(frozen=True, slots=True)
class LoggedModelOutput:
    model_id: str
    step: int


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    # The latest value of each metric (MLflow's latest_metrics), in the store's order.
    metrics: Sequence[Metric] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    dataset_inputs: Sequence[DatasetInput] = ()
    model_inputs: Sequence[str] = ()  # logged model ids
    model_outputs: Sequence[LoggedModelOutput] = ()
