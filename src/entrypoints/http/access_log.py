"""The access log: one structured record per HTTP request, for every path (native or MLflow's).

Replaces uvicorn's access log, whose lines carry no duration and no fields a log shipper can
index. Fields: method, path, status, duration_ms, client. Health probes are logged at DEBUG so a
load balancer polling ``/health`` every second does not drown the log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mlflow_core.entrypoints.http.asgi_types import ASGIApp, Message, Receive, Scope, Send

_logger = logging.getLogger("mlflow_core.access")


class AccessLog:
    def __init__(self, app: ASGIApp, health_path: str = "/health") -> None:
        self.app = app
        self._health_path = health_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BaseException:
            status = status or 500
            raise
        finally:
            path: str = scope["path"]
            level = logging.DEBUG if path == self._health_path else logging.INFO
            if _logger.isEnabledFor(level):
                client: Any = scope.get("client")
                method: str = scope["method"]
                _logger.log(
                    level,
                    "%s %s %d",
                    method,
                    path,
                    status,
                    extra={
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "client": f"{client[0]}:{client[1]}" if client else None,
                    },
                )
