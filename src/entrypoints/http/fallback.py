"""MLflow's own ASGI application, mounted in-process for every path we do not serve natively.

Importing ``mlflow.server.fastapi_app`` takes about 3 s, so it happens on a background thread
after start-up: our native routes and ``/health`` answer at once, and a request for an
unported path waits until MLflow's app is ready. MLflow's app reads its configuration
(store URIs, artifact root, ...) from the ``_MLFLOW_SERVER_*`` environment variables the CLI
sets, exactly as under ``mlflow server``.

Why in-process rather than a child ``mlflow server`` behind a proxy: one hop less per
unported request, one set of worker processes, and no second port; see docs/architecture.md
for the measurement.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from mlflow_core.entrypoints.http.asgi_types import ASGIApp, Message, Receive, Scope, Send

_logger = logging.getLogger(__name__)

# Held while a thread imports MLflow's server package. Two threads importing it at once (the
# loader below and a handler that needs one of MLflow's helpers) trip Python's import-lock
# deadlock detection on its circular imports; whoever comes second waits, then finds it loaded.
MLFLOW_SERVER_IMPORT_LOCK = threading.Lock()


class MlflowFallback:
    def __init__(self, after_loading: Callable[[], None] | None = None) -> None:
        """``after_loading`` runs on the loading thread once MLflow's app is imported (or
        failed to import)."""
        self._after_loading = after_loading
        self._app: ASGIApp | None = None
        self._error: BaseException | None = None
        self._loaded = threading.Event()
        self._thread: threading.Thread | None = None
        self._lifespan_task: asyncio.Task[None] | None = None
        self._lifespan_queue: asyncio.Queue[Message] | None = None

    def start_loading(self) -> None:
        """Begin importing MLflow's app in the background (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._load, name="mlflow-app-loader", daemon=True
            )
            self._thread.start()

    def _load(self) -> None:
        try:
            with MLFLOW_SERVER_IMPORT_LOCK:
                from mlflow.server.fastapi_app import app

            self._app = app
        except BaseException as exc:  # reported on every fallback request
            _logger.exception("MLflow's application failed to load")
            self._error = exc
        finally:
            if self._after_loading is not None:
                self._after_loading()
            self._loaded.set()

    async def ready(self) -> ASGIApp:
        if not self._loaded.is_set():
            self.start_loading()
            await asyncio.get_running_loop().run_in_executor(None, self._loaded.wait)
        if self._app is None:
            raise RuntimeError("MLflow's application is unavailable") from self._error
        if self._lifespan_task is None:
            await self._start_lifespan(self._app)
        return self._app

    async def _start_lifespan(self, app: ASGIApp) -> None:
        # MLflow's FastAPI app has start-up work of its own (sandbox cleanup); run its lifespan
        # as uvicorn would, once, in the worker's event loop.
        queue: asyncio.Queue[Message] = asyncio.Queue()
        started = asyncio.get_running_loop().create_future()
        self._lifespan_queue = queue

        async def receive() -> Message:
            return await queue.get()

        async def send(message: Message) -> None:
            if message["type"].startswith("lifespan.startup") and not started.done():
                started.set_result(message)

        scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

        async def run() -> None:
            await app(scope, receive, send)

        self._lifespan_task = asyncio.create_task(run())
        await queue.put({"type": "lifespan.startup"})
        outcome: Any = await started
        if outcome["type"] != "lifespan.startup.complete":
            _logger.warning("MLflow's application start-up reported: %s", outcome)

    async def shutdown(self) -> None:
        if self._lifespan_task is not None and self._lifespan_queue is not None:
            await self._lifespan_queue.put({"type": "lifespan.shutdown"})
            try:
                await asyncio.wait_for(self._lifespan_task, timeout=5)
            except (TimeoutError, Exception):
                _logger.debug("MLflow's application shut down uncleanly", exc_info=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = await self.ready()
        await app(scope, receive, send)
