"""``mlflow-core server``: MLflow's tracking server flags, our application, uvicorn."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import click

from mlflow_core.adapters.sql.database import (
    Database,
    UnsupportedDatabaseError,
    dialect_of,
    mlflow_store_uri,
)
from mlflow_core.adapters.sql.schema import SchemaError, prepare_schema
from mlflow_core.artifact_uris import is_local_uri
from mlflow_core.entrypoints import config
from mlflow_core.entrypoints.cli import server_guards

_APP = "mlflow_core.entrypoints.http.asgi:create_app"
_logger = logging.getLogger("mlflow_core.server")


def default_workers() -> int:
    # MLflow defaults to 4; on small machines more processes than cores only adds contention.
    return max(1, min(4, os.cpu_count() or 1))


def resolve_artifact_root(
    serve_artifacts: bool, default_artifact_root: str | None, backend_store_uri: str
) -> str:
    """``mlflow.utils.server_cli_utils.resolve_default_artifact_root``'s answer."""
    if default_artifact_root:
        return default_artifact_root
    if serve_artifacts:
        return config.DEFAULT_ARTIFACTS_URI
    return backend_store_uri if is_local_uri(backend_store_uri) else "./mlruns"


def _store_uri_for_mlflow(uri: str) -> str:
    # MLflow's own app opens the same database; give it the drivers we ship.
    try:
        return mlflow_store_uri(uri)
    except UnsupportedDatabaseError:
        return uri


def server_environment(
    backend_store_uri: str,
    registry_store_uri: str,
    default_artifact_root: str,
    serve_artifacts: bool,
    artifacts_destination: str,
    static_prefix: str | None,
) -> Mapping[str, str]:
    """The variables ``mlflow server`` exports to its workers, with the same names."""
    env = {
        config.BACKEND_STORE_URI: _store_uri_for_mlflow(backend_store_uri),
        config.REGISTRY_STORE_URI: _store_uri_for_mlflow(registry_store_uri),
        config.ARTIFACT_ROOT: default_artifact_root,
        config.ARTIFACTS_DESTINATION: artifacts_destination,
    }
    if serve_artifacts:
        env[config.SERVE_ARTIFACTS] = "true"
    if static_prefix:
        env[config.STATIC_PREFIX] = static_prefix
    return env


def _prepare(uri: str) -> None:
    """Create or check the schema once, before any worker starts."""
    try:
        dialect_of(uri)
    except UnsupportedDatabaseError as exc:
        click.echo(f"{exc}; MLflow's own store will serve it.", err=True)
        return
    database = Database(uri)
    try:
        prepare_schema(database)
    except SchemaError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    finally:
        database.dispose()


@click.command()
@click.option("--backend-store-uri", envvar="MLFLOW_BACKEND_STORE_URI", default=None)
@click.option("--registry-store-uri", envvar="MLFLOW_REGISTRY_STORE_URI", default=None)
@click.option("--default-artifact-root", envvar="MLFLOW_DEFAULT_ARTIFACT_ROOT", default=None)
@click.option(
    "--serve-artifacts/--no-serve-artifacts", envvar="MLFLOW_SERVE_ARTIFACTS", default=True
)
@click.option(
    "--artifacts-destination", envvar="MLFLOW_ARTIFACTS_DESTINATION", default="./mlartifacts"
)
@click.option("--host", "-h", envvar="MLFLOW_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", "-p", envvar="MLFLOW_PORT", default=5000, type=int, show_default=True)
@click.option("--workers", "-w", envvar="MLFLOW_WORKERS", default=None, type=int)
@click.option("--static-prefix", envvar="MLFLOW_STATIC_PREFIX", default=None)
@server_guards.options
@click.option(
    "--log-level",
    default="info",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    show_default=True,
)
def server(
    backend_store_uri: str | None,
    registry_store_uri: str | None,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    artifacts_destination: str,
    host: str,
    port: int,
    workers: int | None,
    static_prefix: str | None,
    log_level: str,
    app_name: str | None,
    **guards: Any,
) -> None:
    """Run the tracking server: MLflow's REST API and UI, ported RPCs served natively."""
    import uvicorn

    server_guards.check_app_name(app_name)
    os.environ.update(server_guards.environment(**guards))
    backend = backend_store_uri or config.DEFAULT_BACKEND_STORE_URI
    registry = registry_store_uri or backend
    artifact_root = resolve_artifact_root(serve_artifacts, default_artifact_root, backend)
    os.environ.update(
        server_environment(
            backend, registry, artifact_root, serve_artifacts, artifacts_destination, static_prefix
        )
    )
    _prepare(backend)
    uvicorn.run(
        _APP,
        factory=True,
        host=host,
        port=port,
        workers=workers or default_workers(),
        log_level=log_level,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        timeout_graceful_shutdown=30,
    )
