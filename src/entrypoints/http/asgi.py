"""The ASGI application factory uvicorn loads in each worker process."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING

from mlflow_core.adapters.sql.database import UnsupportedDatabaseError, dialect_of
from mlflow_core.adapters.sql.schema import prepare_schema
from mlflow_core.adapters.sql.transaction_pooling import disable_prepared_statements
from mlflow_core.entrypoints.config import ServerSettings
from mlflow_core.entrypoints.container import Container
from mlflow_core.entrypoints.http import areas
from mlflow_core.entrypoints.http.access_log import AccessLog
from mlflow_core.entrypoints.http.app import Binding, MlflowCoreApp, Route, build_routes
from mlflow_core.entrypoints.http.asgi_types import ASGIApp
from mlflow_core.entrypoints.http.fallback import MlflowFallback
from mlflow_core.entrypoints.http.health import DatabaseHealth
from mlflow_core.entrypoints.http.protocol.rpcs import RPCS
from mlflow_core.entrypoints.http.runners import runner_for, short_read_runner
from mlflow_core.entrypoints.http.security import SecurityPolicy, SecuritySettings

if TYPE_CHECKING:
    from mlflow_core.entrypoints.http.metrics import ServerMetrics

_logger = logging.getLogger("mlflow_core.server")


def _native_serving_blocker(settings: ServerSettings) -> str | None:
    """Why MLflow's application must serve every RPC in this deployment, if it must."""
    if settings.fallback_features:
        return "enabled: " + ", ".join(settings.fallback_features)
    try:
        dialect_of(settings.backend_store_uri)
    except UnsupportedDatabaseError as exc:
        return str(exc)
    return None


def _registry_blocker(registry_uri: str) -> str | None:
    """Why MLflow's application must serve the registry RPCs (a backend we do not speak)."""
    try:
        dialect_of(registry_uri)
    except UnsupportedDatabaseError as exc:
        return str(exc)
    return None


def create_app(settings: ServerSettings | None = None) -> ASGIApp:
    settings = settings or ServerSettings.from_environment()
    metrics = None
    if settings.prometheus_dir:
        from mlflow_core.entrypoints.http.metrics import ServerMetrics

        metrics = ServerMetrics(settings.prometheus_dir)
    # Once MLflow's application is imported, nearly every object in the worker lives as long
    # as it does (modules, classes, routes, engines): the collector's full passes walked them
    # all, about 240 ms each, several times a minute under search load (docs/performance.md).
    # Frozen, they are left out of every pass; garbage made later is collected as before.
    core = create_core_app(settings, metrics, after_mlflow_loads=gc.freeze)
    app: ASGIApp = core
    if metrics is not None:
        from mlflow_core.entrypoints.http.metrics import MetricsLayer, route_table

        prefix = settings.static_prefix
        app = MetricsLayer(app, metrics, route_table(RPCS, prefix), core.routes, prefix)
    if settings.access_log:
        app = AccessLog(app, settings.static_prefix.rstrip("/") + "/health")
    return app


def create_core_app(
    settings: ServerSettings,
    metrics: ServerMetrics | None = None,
    *,
    after_mlflow_loads: Callable[[], None] | None = None,
) -> MlflowCoreApp:
    fallback = MlflowFallback(after_mlflow_loads)
    prefix = settings.static_prefix.rstrip("/")
    # Read per worker, from the variables `mlflow server` and `mlflow-core server` both export.
    security = SecurityPolicy(SecuritySettings.from_environment(static_prefix=prefix))
    openapi = resources.files("mlflow_core.entrypoints.http.protocol") / "openapi.json"
    documents = {prefix + "/openapi.json": openapi.read_bytes()}

    async def load_fallback() -> None:
        fallback.start_loading()

    blocker = _native_serving_blocker(settings)
    if blocker is not None:
        _logger.warning("MLflow's application serves every request (%s)", blocker)
        return MlflowCoreApp(
            {},
            fallback,
            health_path=prefix + "/health",
            on_startup=[load_fallback],
            on_shutdown=[fallback.shutdown],
            security=security,
            max_body_bytes=settings.max_request_body_size,
            documents=documents,
        )

    if not settings.prepared_statements:
        disable_prepared_statements()
    container = Container()
    registry_uri = settings.registry_store_uri or settings.backend_store_uri
    container.config.from_dict(
        {
            "backend_store_uri": settings.backend_store_uri,
            "registry_store_uri": registry_uri,
            "default_artifact_root": settings.default_artifact_root,
            "io": "async",
            "pool_size": settings.pool_size,
            "max_overflow": settings.max_overflow,
            "read_replica_uri": settings.read_replica_uri,
            "server_rules": True,
        }
    )
    database = container.tracking_database()
    if metrics is not None:
        metrics.watch_pools(database, "tracking")
    prepare_schema(database)
    service = container.tracking_service()
    runner = runner_for(database, settings.db_threads)
    bindings = [Binding(areas.TRACKING, service, runner, short_read_runner(database, runner))]
    rpcs = list(RPCS)
    databases = [database]
    registry_blocker = _registry_blocker(registry_uri)
    if registry_blocker is not None:
        _logger.warning("MLflow's application serves the model registry (%s)", registry_blocker)
        rpcs = [rpc for rpc in rpcs if rpc.service != "ModelRegistryService"]
    else:
        if registry_uri == settings.backend_store_uri:
            container.registry_database.override(container.tracking_database)
            registry_database = database
            registry_runner = runner
        else:
            registry_database = container.registry_database()
            prepare_schema(registry_database)
            databases.append(registry_database)
            if metrics is not None:
                metrics.watch_pools(registry_database, "registry")
            registry_runner = runner_for(registry_database, settings.db_threads)
        bindings.append(
            Binding(
                areas.REGISTRY,
                container.registry_service(),
                registry_runner,
                short_read_runner(registry_database, registry_runner),
            )
        )
    routes: dict[tuple[str, str], Route] = build_routes(rpcs, bindings, settings.static_prefix)

    _logger.info(
        "mlflow-core serves %d RPCs natively on %s; MLflow's application serves the rest",
        len({route.rpc.name for route in routes.values()}),
        database.dialect,
    )

    async def ensure_default_experiment() -> None:
        await runner(service.ensure_default_experiment)

    async def dispose() -> None:
        for each in databases:
            await each.dispose_async()

    return MlflowCoreApp(
        routes,
        fallback,
        health_path=prefix + "/health",
        health_check=DatabaseHealth(database, runner),
        on_startup=[ensure_default_experiment, load_fallback],
        on_shutdown=[fallback.shutdown, dispose],
        security=security,
        max_body_bytes=settings.max_request_body_size,
        documents=documents,
    )
