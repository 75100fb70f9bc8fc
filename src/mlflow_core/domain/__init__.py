"""Domain types: plain values, free of protobuf defaults and of any storage detail."""

from mlflow_core.domain.experiments import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    ViewType,
)
from mlflow_core.domain.paging import Page
from mlflow_core.domain.workspaces import DEFAULT_WORKSPACE

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "DEFAULT_EXPERIMENT_NAME",
    "DEFAULT_WORKSPACE",
    "Experiment",
    "ExperimentTag",
    "LifecycleStage",
    "Page",
    "ViewType",
]
