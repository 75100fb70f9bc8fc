"""Ports: what the services need from storage, with no storage technology in sight."""

from mlflow_core.ports.clock import Clock, SystemClock
from mlflow_core.ports.registry import ModelRegistryStore, RegistrySearch
from mlflow_core.ports.tracking import ExperimentSearch, TrackingStore

__all__ = [
    "Clock",
    "ExperimentSearch",
    "ModelRegistryStore",
    "RegistrySearch",
    "SystemClock",
    "TrackingStore",
]
