"""``mlflow-core server``: MLflow's tracking server flags, our application, uvicorn."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from mlflow_core.adapters.sql.database import (
    Database,
    UnsupportedDatabaseError,
    dialect_of,
    mlflow_store_uri,
)
from mlflow_core.adapters.sql.schema import SchemaError, prepare_schema
from mlflow_core.adapters.sql.transaction_pooling import disable_prepared_statements
from mlflow_core.artifact_uris import is_local_uri
from mlflow_core.entrypoints import config
from mlflow_core.entrypoints.cli import jobs, server_guards
from mlflow_core.entrypoints.log_format import FORMATS, logging_config

_APP = "mlflow_core.entrypoints.http.asgi:create_app"
# httptools with a response's headers and body sent in one write (see the module).
_HTTP_PROTOCOL = "mlflow_core.entrypoints.http.coalesced_writes:CoalescingHttpToolsProtocol"
_logger = logging.getLogger("mlflow_core.server")


def _env(name: str) -> list[str]:
    """``MLFLOW_CORE_<name>``, then MLflow's own ``MLFLOW_<name>`` (same meaning)."""
    return [f"MLFLOW_CORE_{name}", f"MLFLOW_{name}"]


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


def prepare_metrics_directory(path: str) -> str:
    """Create the directory (as MLflow does) and drop the files of earlier runs' workers.

    prometheus_client's multiprocess mode sums every file it finds there, so counters of a
    previous server would otherwise be added to this one's.
    """
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    return str(directory)


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
@click.option("--backend-store-uri", envvar=_env("BACKEND_STORE_URI"), default=None)
@click.option(
    "--read-replica-backend-store-uri",
    envvar=_env("READ_REPLICA_BACKEND_STORE_URI"),
    default=None,
    help="A read replica of the backend store: reads go there, writes to the primary.",
)
@click.option("--registry-store-uri", envvar=_env("REGISTRY_STORE_URI"), default=None)
@click.option("--default-artifact-root", envvar=_env("DEFAULT_ARTIFACT_ROOT"), default=None)
@click.option(
    "--serve-artifacts/--no-serve-artifacts", envvar=_env("SERVE_ARTIFACTS"), default=True
)
@click.option(
    "--artifacts-destination", envvar=_env("ARTIFACTS_DESTINATION"), default="./mlartifacts"
)
@click.option("--host", "-h", envvar=_env("HOST"), default="127.0.0.1", show_default=True)
@click.option("--port", "-p", envvar=_env("PORT"), default=5000, type=int, show_default=True)
@click.option("--workers", "-w", envvar=_env("WORKERS"), default=None, type=int)
@click.option("--static-prefix", envvar=_env("STATIC_PREFIX"), default=None)
@click.option(
    "--expose-prometheus",
    envvar=_env("EXPOSE_PROMETHEUS"),
    default=None,
    help="Directory for the workers' metric files; serves Prometheus metrics at /metrics.",
)
@click.option(
    "--db-pool-size",
    envvar="MLFLOW_CORE_DB_POOL_SIZE",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Connections each worker keeps open (docs/scaling.md: sizing rule).",
)
@click.option(
    "--db-max-overflow",
    envvar="MLFLOW_CORE_DB_MAX_OVERFLOW",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    help="Connections each worker may open beyond --db-pool-size under load.",
)
@click.option(
    "--db-prepared-statements/--no-db-prepared-statements",
    envvar="MLFLOW_CORE_DB_PREPARED_STATEMENTS",
    default=True,
    show_default=True,
    help="Off behind PgBouncer in transaction mode (PostgreSQL).",
)
@server_guards.options
@click.option(
    "--log-level",
    envvar=["MLFLOW_CORE_LOG_LEVEL", "MLFLOW_LOGGING_LEVEL"],
    default="info",
    type=click.Choice(["critical", "error", "warning", "info", "debug"], case_sensitive=False),
    show_default=True,
)
@click.option(
    "--log-format",
    envvar="MLFLOW_CORE_LOG_FORMAT",
    default="text",
    type=click.Choice(FORMATS),
    show_default=True,
    help="json: one JSON object per log line (access log, errors, uvicorn, MLflow).",
)
@click.option(
    "--access-log/--no-access-log",
    envvar="MLFLOW_CORE_ACCESS_LOG",
    default=True,
    show_default=True,
    help="One structured line per request (method, path, status, duration_ms, client).",
)
def server(
    backend_store_uri: str | None,
    read_replica_backend_store_uri: str | None,
    registry_store_uri: str | None,
    default_artifact_root: str | None,
    serve_artifacts: bool,
    artifacts_destination: str,
    host: str,
    port: int,
    workers: int | None,
    static_prefix: str | None,
    expose_prometheus: str | None,
    db_pool_size: int,
    db_max_overflow: int,
    db_prepared_statements: bool,
    log_level: str,
    log_format: str,
    access_log: bool,
    app_name: str | None,
    **guards: Any,
) -> None:
    """Run the tracking server: MLflow's REST API and UI, ported RPCs served natively."""
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
    os.environ[config.ACCESS_LOG] = "true" if access_log else "false"
    if read_replica_backend_store_uri:
        replica = _store_uri_for_mlflow(read_replica_backend_store_uri)
        os.environ[config.READ_REPLICA_URI] = replica
    os.environ[config.DB_POOL_SIZE] = str(db_pool_size)
    os.environ[config.DB_MAX_OVERFLOW] = str(db_max_overflow)
    os.environ[config.DB_PREPARED_STATEMENTS] = "true" if db_prepared_statements else "false"
    if expose_prometheus:
        os.environ[config.PROMETHEUS_DIR] = prepare_metrics_directory(expose_prometheus)
    os.environ.update(jobs.worker_environment(backend))
    if not db_prepared_statements:
        disable_prepared_statements()
    _prepare(backend)
    runner = jobs.job_runner(os.environ[config.BACKEND_STORE_URI], artifact_root, host, port)
    # Started once the workers are forked (with one worker: before it starts): MLflow's
    # imports in the runner then take no CPU from the workers' start-up.
    start_runner = runner.start if runner is not None else _nothing
    try:
        supervised = _run_uvicorn(host, port, workers, log_level.lower(), log_format, start_runner)
    finally:
        if runner is not None:
            runner.stop()
    if runner is not None and runner.failed:
        sys.exit(1)
    if supervised:
        _exit_without_finalizing()


def _nothing() -> None:
    pass


def _exit_without_finalizing() -> None:
    """Exit 0 at once after the supervisor's clean stop, skipping the interpreter's teardown.

    Tearing down the 800 modules the supervisor imported for its workers takes 0.3 s
    after its work is done, and test suites stop a server hundreds of times. The supervisor
    needs none of it: it served no request (no database engine, no thread pool with work in
    flight), its workers and the job runner have ended, and the exit handlers (logging's
    flush among them) and the standard streams' flush still run. A single worker serves in
    this process and exits the normal way.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _run_uvicorn(
    host: str,
    port: int,
    workers: int | None,
    log_level: str,
    fmt: str,
    start_beside: Callable[[], None],
) -> bool:
    """Serve until stopped; ``start_beside`` starts what runs next to the workers.

    True when this process only supervised worker processes.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from mlflow_core.entrypoints.cli import stop_signals, worker_sockets

    # A stop signal from here on is recorded and handed to uvicorn once it serves (or to the
    # supervisor): neither lost nor ending a half-started process (stop_signals.py says why).
    stop_signals.hold()
    count = workers or default_workers()
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": count,
        "log_level": log_level,
        "log_config": logging_config(log_level, fmt),
        "access_log": False,  # ours (http/access_log.py) has the duration and structured fields
        "loop": "uvloop",
        "http": _HTTP_PROTOCOL,
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
    }
    if count > 1 and worker_sockets.available():
        # One listening socket per worker, so the kernel spreads connections over the workers
        # (worker_sockets.py says why uvicorn's one shared socket does not).
        worker_sockets.serve(uvicorn.Config(_APP, **options), on_forked=start_beside)
        return True
    start_beside()
    if count > 1:  # not Linux: uvicorn's supervisor, with one shared socket
        if not stop_signals.received():
            uvicorn.run(_APP, **options)
        return False
    server = stop_signals.SingleWorkerServer(uvicorn.Config(_APP, **options))
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
    return False
