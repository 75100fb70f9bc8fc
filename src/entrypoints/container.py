"""The composition root: configuration -> databases -> stores -> services -> entrypoints.

Resolved once per process at start-up; request paths hold direct references to what it built.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from mlflow_core.adapters.sql.database import Database, PoolSettings
from mlflow_core.adapters.sql.registry_store import SqlRegistryStore
from mlflow_core.adapters.sql.tracking_store import SqlTrackingStore
from mlflow_core.entrypoints.run_names import random_run_name
from mlflow_core.services.registry import RegistryService
from mlflow_core.services.tracking import TrackingService


class Container(containers.DeclarativeContainer):
    config = providers.Configuration()

    tracking_database = providers.Singleton(
        Database,
        uri=config.backend_store_uri,
        io=config.io,
        pool=providers.Factory(PoolSettings, size=config.pool_size),
    )
    tracking_store = providers.Singleton(SqlTrackingStore, database=tracking_database)
    tracking_service = providers.Singleton(
        TrackingService,
        store=tracking_store,
        default_artifact_root=config.default_artifact_root,
        server_rules=config.server_rules,
        run_names=providers.Object(random_run_name),
    )

    # The registry's database; entrypoints point it at tracking_database when the URIs agree.
    registry_database = providers.Singleton(
        Database,
        uri=config.registry_store_uri,
        io=config.io,
        pool=providers.Factory(PoolSettings, size=config.pool_size),
    )
    registry_store = providers.Singleton(SqlRegistryStore, database=registry_database)
    registry_service = providers.Singleton(RegistryService, store=registry_store)
