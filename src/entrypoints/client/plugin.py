"""Store builders MLflow calls: our shim stores, or MLflow's own when the shim is off.

Registered with MLflow two ways: by ``enable()``, and as MLflow store plugins (entry points in
``pyproject.toml``), which MLflow loads while ``mlflow`` is imported. The plugin builders build
our stores only when MLFLOW_CORE_ENABLE is set (read when MLflow loads them, that is at import
of ``mlflow``); otherwise they build exactly what MLflow's own builders build.

Importing this module costs nothing: MLflow and our stores are imported when a store is built.
"""

# mypy: disallow-untyped-calls=False
from __future__ import annotations

import gc
import os
from types import ModuleType
from typing import Any

ENABLE_ENV = "MLFLOW_CORE_ENABLE"
_FALSE = {"", "0", "false", "no", "off"}
_ENABLED_AT_IMPORT = os.environ.get(ENABLE_ENV, "").strip().lower() not in _FALSE


def enabled_by_environment() -> bool:
    return _ENABLED_AT_IMPORT


def _workspaces_enabled() -> bool:
    from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES

    return bool(MLFLOW_ENABLE_WORKSPACES.get())


def _stores() -> ModuleType:
    """Our store classes, imported on the first store a program builds.

    That import brings in MLflow's SQL store modules (SQLAlchemy, alembic, the ORM models and
    their mapper configuration): a few hundred thousand long-lived objects, during which the
    cyclic collector ran about 250 times and took a quarter of a second, finding nothing to
    free. It is paused for the import only, and left as the program had it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        from mlflow_core.entrypoints.client import stores
    finally:
        if was_enabled:
            gc.enable()
    return stores


def shim_tracking_store(store_uri: str, artifact_uri: str | None = None, **_: Any) -> Any:
    """MLflow's ``_get_sqlalchemy_store`` with our classes."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.tracking._tracking_service import utils

    stores = _stores()
    if artifact_uri is None:
        # As MLflow's builder: inside a server process, the server's artifact root.
        artifact_uri = os.environ.get(
            utils._SERVER_ARTIFACT_ROOT_ENV_VAR, DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
        )
    cls = (
        stores.ShimWorkspaceAwareTrackingStore
        if _workspaces_enabled()
        else stores.ShimTrackingStore
    )
    return cls(store_uri, artifact_uri)


def shim_registry_store(store_uri: str, **_: Any) -> Any:
    stores = _stores()
    cls = (
        stores.ShimWorkspaceAwareRegistryStore
        if _workspaces_enabled()
        else stores.ShimRegistryStore
    )
    return cls(store_uri)


def _server_read_replica() -> str | None:
    """The replica ``mlflow server --read-replica-backend-store-uri`` exported to its workers.

    MLflow's server registries load store plugins after their own builders, so inside a server
    process our builders replace the server's, which pass this replica to the store; ours must
    too, or installing mlflow-core would silently turn stock MLflow's replica routing off.
    """
    from mlflow.server.constants import READ_REPLICA_BACKEND_STORE_URI_ENV_VAR

    return os.environ.get(READ_REPLICA_BACKEND_STORE_URI_ENV_VAR) or None


def env_tracking_store(store_uri: str, artifact_uri: str | None = None, **kwargs: Any) -> Any:
    if _ENABLED_AT_IMPORT:
        return shim_tracking_store(store_uri, artifact_uri, **kwargs)
    from mlflow.tracking._tracking_service import utils

    replica = _server_read_replica()
    if replica is None:
        return utils._get_sqlalchemy_store(store_uri, artifact_uri)
    from mlflow.server.handlers import TrackingStoreRegistryWrapper

    return TrackingStoreRegistryWrapper._get_sqlalchemy_store(store_uri, artifact_uri)


def env_registry_store(store_uri: str, **kwargs: Any) -> Any:
    if _ENABLED_AT_IMPORT:
        return shim_registry_store(store_uri, **kwargs)
    from mlflow.tracking._model_registry import utils

    if _server_read_replica() is None:
        return utils._get_sqlalchemy_store(store_uri)
    from mlflow.server.handlers import ModelRegistryStoreRegistryWrapper

    return ModelRegistryStoreRegistryWrapper._get_sqlalchemy_store(store_uri)
