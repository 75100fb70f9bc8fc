"""mlflow-core: a fast, drop-in backend for MLflow's tracking server and stores.

The public API: services for a store URI, the domain types they speak, and the error they raise::

    import mlflow_core
    tracking = mlflow_core.tracking_service("sqlite:///mlflow.db")
    experiment_id = tracking.create_experiment("my-experiment")
    tracking.get_experiment(experiment_id).name

This module is the package's facade: it alone may reach into ``mlflow_core.entrypoints`` (lazily,
inside functions), so importing the domain types costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_core.domain import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    DEFAULT_WORKSPACE,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    Page,
    ViewType,
)
from mlflow_core.errors import ErrorCode, MlflowCoreError

if TYPE_CHECKING:
    from mlflow_core.services.registry import RegistryService
    from mlflow_core.services.tracking import TrackingService

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_EXPERIMENT_ID",
    "DEFAULT_EXPERIMENT_NAME",
    "DEFAULT_WORKSPACE",
    "ErrorCode",
    "Experiment",
    "ExperimentTag",
    "LifecycleStage",
    "MlflowCoreError",
    "Page",
    "ViewType",
    "registry_service",
    "tracking_service",
]


def tracking_service(store_uri: str, default_artifact_root: str = "./mlruns") -> TrackingService:
    """A ``TrackingService`` on the database at ``store_uri`` (sqlite, postgresql or mysql)."""
    from mlflow_core.entrypoints.library import tracking_service as build

    return build(store_uri, default_artifact_root)


def registry_service(store_uri: str) -> RegistryService:
    """A ``RegistryService`` on the database at ``store_uri`` (sqlite, postgresql or mysql)."""
    from mlflow_core.entrypoints.library import registry_service as build

    return build(store_uri)
