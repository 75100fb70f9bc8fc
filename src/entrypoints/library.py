"""Services for a store URI, for Python programs that use mlflow-core without HTTP."""

from __future__ import annotations

from mlflow_core.adapters.sql.schema import prepare_schema
from mlflow_core.entrypoints.container import Container
from mlflow_core.services.registry import RegistryService
from mlflow_core.services.tracking import TrackingService

DEFAULT_ARTIFACT_ROOT = "./mlruns"


def tracking_service(
    store_uri: str, default_artifact_root: str = DEFAULT_ARTIFACT_ROOT, *, pool_size: int = 5
) -> TrackingService:
    """A TrackingService on the database at ``store_uri`` (sqlite, postgresql or mysql).

    A new database gets MLflow's schema and its "Default" experiment, as MLflow's store
    gives it; a database at an older MLflow schema raises ``SchemaError``.
    """
    container = Container()
    container.config.from_dict(
        {
            "backend_store_uri": store_uri,
            "default_artifact_root": default_artifact_root,
            "io": "sync",
            "pool_size": pool_size,
            "server_rules": False,
        }
    )
    prepare_schema(container.tracking_database())
    service = container.tracking_service()
    service.ensure_default_experiment()
    return service


def registry_service(store_uri: str, *, pool_size: int = 5) -> RegistryService:
    """A RegistryService on the database at ``store_uri`` (sqlite, postgresql or mysql).

    A new database gets MLflow's schema; one at an older MLflow schema raises ``SchemaError``.
    """
    container = Container()
    container.config.from_dict(
        {"registry_store_uri": store_uri, "io": "sync", "pool_size": pool_size}
    )
    prepare_schema(container.registry_database())
    return container.registry_service()
