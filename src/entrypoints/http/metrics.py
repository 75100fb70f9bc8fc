"""Prometheus metrics at ``/metrics`` (``--expose-prometheus DIR``), as ``mlflow server`` has them.

MLflow 3.17.2 turns ``--expose-prometheus DIR`` into the ``prometheus_multiproc_dir`` variable
and, when its Flask application is imported, ``prometheus_flask_exporter`` records every request
Flask handles as ``mlflow_http_request_duration_seconds{method,status,mlflow_version}`` and
``mlflow_http_request_total{method,status}`` (``/health`` and ``/version`` excluded), in
prometheus_client's multiprocess files under DIR; ``/metrics`` sums all workers' files.

Here MLflow's application still does that for the requests it serves (the fallback), and this
layer records the requests we serve natively under the same names and labels into the same
files, so MLflow's dashboards read the same series. On top of that, for every request:

- ``mlflow_core_http_requests_total{method,route,status}`` and
  ``mlflow_core_http_request_duration_seconds{method,route,status}``: per route, where the route
  is the REST path of the RPC (ported or not) or ``other`` (static files, artifacts, ...:
  paths with ids in them would make unbounded label values);
- ``mlflow_core_db_pool_*{database}``: connections in the pool, checked out and in overflow,
  summed over the live workers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from mlflow_core.adapters.sql.database import Database
from mlflow_core.entrypoints.http.asgi_types import ASGIApp, Message, Receive, Scope, Send
from mlflow_core.entrypoints.http.protocol.rpc_table import Rpc

# mlflow.server.constants.PROMETHEUS_EXPORTER_ENV_VAR
PROMETHEUS_DIR_ENV = "prometheus_multiproc_dir"
# mlflow.server.prometheus_exporter: excluded_paths
_MLFLOW_EXCLUDED = ("/health", "/version")
OTHER_ROUTE = "other"


def _mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow")


def route_table(rpcs: Iterable[Rpc], static_prefix: str = "") -> dict[tuple[str, str], str]:
    """(method, path) -> route label: every MLflow RPC path without path parameters, /health."""
    prefix = static_prefix.rstrip("/")
    table: dict[tuple[str, str], str] = {}
    for rpc in rpcs:
        for endpoint in rpc.endpoints:
            for path in endpoint.http_paths():
                if "{" not in path:
                    table[(endpoint.method, prefix + path)] = prefix + path
    for method in ("GET", "HEAD"):
        table[(method, prefix + "/health")] = prefix + "/health"
    return table


class ServerMetrics:
    """The metric objects of one worker process (values live in the multiprocess files)."""

    def __init__(self, directory: str) -> None:
        # As MLflow's app does on import (under `mlflow server --expose-prometheus DIR` our app
        # is created first).
        os.makedirs(directory, exist_ok=True)
        # registry=None: the values are read back from the files by MultiProcessCollector, and
        # MLflow's exporter registers the same names in the default registry of this process.
        self.mlflow_duration = Histogram(
            "mlflow_http_request_duration_seconds",
            "Flask HTTP request duration in seconds",
            ("method", "mlflow_version", "status"),
            registry=None,
        )
        self.mlflow_total = Counter(
            "mlflow_http_request_total",
            "Total number of HTTP requests",
            ("method", "status"),
            registry=None,
        )
        self.requests = Counter(
            "mlflow_core_http_requests",
            "HTTP requests by route (REST path of the RPC, or 'other')",
            ("method", "route", "status"),
            registry=None,
        )
        self.duration = Histogram(
            "mlflow_core_http_request_duration_seconds",
            "HTTP request duration in seconds by route",
            ("method", "route", "status"),
            registry=None,
        )
        pool_labels = ("database",)
        self.pool_size = Gauge(
            "mlflow_core_db_pool_size",
            "Connections the pool keeps open (per worker, summed)",
            pool_labels,
            registry=None,
            multiprocess_mode="livesum",
        )
        self.pool_checked_out = Gauge(
            "mlflow_core_db_pool_checked_out",
            "Connections in use by requests (summed over workers)",
            pool_labels,
            registry=None,
            multiprocess_mode="livesum",
        )
        self.pool_overflow = Gauge(
            "mlflow_core_db_pool_overflow",
            "Connections opened beyond the pool size (summed over workers)",
            pool_labels,
            registry=None,
            multiprocess_mode="livesum",
        )

    def watch_pools(self, database: Database, name: str) -> None:
        """Track the pools of ``database`` (and of its read replica: ``<name>-replica``)."""
        self._watch_pool(database.engine.pool, name)
        if database.read_engine is not None:
            self._watch_pool(database.read_engine.pool, f"{name}-replica")

    def _watch_pool(self, pool: Any, name: str) -> None:
        """Track one pool through SQLAlchemy's pool events."""
        from sqlalchemy import event

        size = pool.size() if hasattr(pool, "size") else 1
        self.pool_size.labels(name).set(size)
        checked_out = self.pool_checked_out.labels(name)
        overflow = self.pool_overflow.labels(name)

        def update(returning: int) -> None:
            if hasattr(pool, "checkedout"):
                checked_out.set(max(0, pool.checkedout() - returning))
            if hasattr(pool, "overflow"):
                overflow.set(max(0, pool.overflow()))

        # "checkin" fires before the connection is back in the pool.
        event.listen(pool, "checkout", lambda *_: update(0))
        event.listen(pool, "checkin", lambda *_: update(1))

    @staticmethod
    def exposition() -> bytes:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))

    @staticmethod
    def process_exited() -> None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class MetricsLayer:
    """Serves ``/metrics`` and records every other HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: ServerMetrics,
        routes: dict[tuple[str, str], str],
        native: Iterable[tuple[str, str]],
        static_prefix: str = "",
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = routes
        self._native = set(native)
        prefix = static_prefix.rstrip("/")
        self._metrics_path = prefix + "/metrics"
        self._excluded = {prefix + path for path in _MLFLOW_EXCLUDED}
        self._version = _mlflow_version()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._noting_shutdown(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        if path == self._metrics_path and method in ("GET", "HEAD"):
            await self._serve_metrics(send)
            return
        started = time.perf_counter()
        status = 500
        recorded = False

        async def send_and_record(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                # Before the status line leaves: a client may act on the status alone (urllib
                # raises on a 404 without reading the body), and a scrape that follows must
                # see the request. MLflow's Flask exporter also stops the clock before the body.
                status = message["status"]
                recorded = True
                self._record(method, path, str(status), time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            if not recorded:
                self._record(method, path, str(status), time.perf_counter() - started)

    def _noting_shutdown(self, send: Send) -> Send:
        async def send_and_retire(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                # This worker's gauges stop counting towards the live sums.
                self._metrics.process_exited()
            await send(message)

        return send_and_retire

    def _record(self, method: str, path: str, status: str, seconds: float) -> None:
        metrics = self._metrics
        route = self._routes.get((method, path), OTHER_ROUTE)
        metrics.requests.labels(method, route, status).inc()
        metrics.duration.labels(method, route, status).observe(seconds)
        # MLflow's own series: its exporter already counts what its application served.
        if (method, path) in self._native and path not in self._excluded:
            metrics.mlflow_duration.labels(method, self._version, status).observe(seconds)
            metrics.mlflow_total.labels(method, status).inc()

    async def _serve_metrics(self, send: Send) -> None:
        body = self._metrics.exposition()
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
