"""The access log: one structured record per HTTP request, for every path (native or MLflow's).

Replaces uvicorn's access log, whose lines carry no duration and no fields a log shipper can
index. Fields: method, path, status, duration_ms, client. Health probes are logged at DEBUG so a
load balancer polling ``/health`` every second does not drown the log.
"""

from __future__ import annotations

import logging
import os
import threading
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
                _log_request(
                    level,
                    method,
                    path,
                    status,
                    {
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "client": f"{client[0]}:{client[1]}" if client else None,
                    },
                )


# A record's attributes that are the same for every request of one level, thread and process.
_templates: dict[tuple[int, int, int], dict[str, Any]] = {}
# ``relativeCreated`` counts from when the logging module was loaded.
_probe = logging.LogRecord("", 0, "", 0, "", (), None)
_LOGGING_STARTED_MS = _probe.created * 1000 - _probe.relativeCreated
# Every attribute of a record is either per request (set below) or the same for the thread.
_COPYABLE = set(vars(_probe)) == {
    "args", "created", "exc_info", "exc_text", "filename", "funcName", "levelname", "levelno",
    "lineno", "module", "msecs", "msg", "name", "pathname", "process", "processName",
    "relativeCreated", "stack_info", "thread", "threadName",
}  # fmt: skip


def _log_request(level: int, method: str, path: str, status: int, fields: dict[str, Any]) -> None:
    """``_logger.log(level, ...)`` with ``fields`` as its extra: the same record, handed to the
    same handlers. Inside a worker a line cost 50-75 us of CPU (caches are cold after the
    request's own work), 15-25 of them in ``Logger.log`` building the record: the caller's
    frame, the thread's and the process's names, looked up for every line. Here those
    attributes are copied from a record made once per level, thread and process."""
    if not _COPYABLE or logging.getLogRecordFactory() is not logging.LogRecord:
        # Someone's own records, or a Python whose records have more (3.12's task name): built
        # the usual way.
        _logger.log(level, "%s %s %d", method, path, status, extra=fields)
        return
    key = (level, threading.get_ident(), os.getpid())
    template = _templates.get(key)
    if template is None:
        template = _templates[key] = _template(level)
    now = time.time_ns()
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__.update(template)
    record.__dict__.update(fields)
    record.msg = "%s %s %d"
    record.args = (method, path, status)
    record.created = now / 1e9
    record.msecs = (now % 1_000_000_000) // 1_000_000
    record.relativeCreated = now / 1e6 - _LOGGING_STARTED_MS
    _logger.handle(record)


def _template(level: int) -> dict[str, Any]:
    made = logging.LogRecord(
        _logger.name, level, __file__, _LINE, "", (), None, func=_log_request.__name__
    )
    return {
        key: value
        for key, value in vars(made).items()
        if key not in ("msg", "args", "created", "msecs", "relativeCreated")
    }


_LINE = _log_request.__code__.co_firstlineno
