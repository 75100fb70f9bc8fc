"""The in-process shim: ``mlflow_core.enable()`` makes the ``mlflow`` package use our stores.

MLflow picks a store class per URI scheme from two registries (tracking and model registry).
``enable()`` registers builders of our shim stores (``stores.py``) for ``sqlite``,
``postgresql`` and ``mysql`` URIs (any driver: MLflow keys these registries by database type),
``disable()`` puts MLflow's own builders back. Both drop the stores MLflow has cached, so the
next ``mlflow`` call builds the right one.

``MLFLOW_CORE_ENABLE=1`` does the same when ``mlflow`` is imported: our distribution declares
the builders in ``plugin.py`` as MLflow store plugins (entry points ``mlflow.tracking_store``
and ``mlflow.model_registry_store``), which MLflow loads while it imports; without the variable
they build MLflow's own stores, exactly as before.
"""

from __future__ import annotations

import threading
from typing import Any

# The URI schemes MLflow maps to its SQL stores and our SQL adapter speaks (not mssql).
SCHEMES = ("sqlite", "postgresql", "mysql")

_lock = threading.Lock()


def _tracking_registry() -> Any:
    from mlflow.tracking._tracking_service import utils

    return utils._tracking_store_registry


def _model_registry_registry() -> Any:
    from mlflow.tracking._model_registry import utils

    return utils._get_store_registry()  # type: ignore[no-untyped-call]


def _forget_cached_stores() -> None:
    for registry in (_tracking_registry(), _model_registry_registry()):
        registry._get_store_with_resolved_uri.cache_clear()


def enable() -> None:
    """Make ``mlflow`` (fluent API, ``MlflowClient``) use mlflow-core's stores for SQL URIs."""
    from mlflow_core.entrypoints.client import plugin

    with _lock:
        tracking, registry = _tracking_registry(), _model_registry_registry()
        for scheme in SCHEMES:
            tracking.register(scheme, plugin.shim_tracking_store)
            registry.register(scheme, plugin.shim_registry_store)
        _forget_cached_stores()


def disable() -> None:
    """Give ``mlflow`` back MLflow's own SQL stores (stores built while enabled are dropped)."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    with _lock:
        tracking, registry = _tracking_registry(), _model_registry_registry()
        for scheme in SCHEMES:
            tracking.register(scheme, tracking_utils._get_sqlalchemy_store)
            registry.register(scheme, registry_utils._get_sqlalchemy_store)
        _forget_cached_stores()


def is_enabled() -> bool:
    """Whether ``mlflow`` builds our stores for SQL URIs (by ``enable()`` or MLFLOW_CORE_ENABLE)."""
    from mlflow_core.entrypoints.client import plugin

    builder = _tracking_registry()._registry.get("sqlite")
    return builder is plugin.shim_tracking_store or (
        builder is plugin.env_tracking_store and plugin.enabled_by_environment()
    )
