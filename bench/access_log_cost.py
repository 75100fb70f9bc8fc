"""What one access-log line costs per request, in-process (no server, no network).

    .venv/bin/python -m bench.access_log_cost text|json

Calls a trivial ASGI app 20,000 times bare and wrapped in ``AccessLog`` (logging configured as
``mlflow-core server`` configures it, to a file under /tmp) and prints the CPU time difference
per call.
"""

from __future__ import annotations

import asyncio
import logging.config
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlflow_core.entrypoints.http.access_log import AccessLog
from mlflow_core.entrypoints.log_format import logging_config

_SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/api/2.0/mlflow/experiments/get",
    "client": ("127.0.0.1", 5),
}


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"x"})


async def _receive() -> dict[str, Any]:
    return {}


async def _send(message: Any) -> None:
    pass


async def _per_call_us(app: Any, calls: int) -> float:
    # CPU time of this process: on a shared machine wall time mostly measures the neighbours.
    started = time.process_time()
    for _ in range(calls):
        await app(_SCOPE, _receive, _send)
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    fmt = sys.argv[1] if len(sys.argv) > 1 else "text"
    with tempfile.TemporaryDirectory() as tmp:
        config = logging_config("info", fmt)
        config["handlers"]["stderr"] = {
            "class": "logging.FileHandler",
            "formatter": "structured",
            "filename": str(Path(tmp) / "access.log"),
        }
        logging.config.dictConfig(config)
        calls = 20_000
        bare = asyncio.run(_per_call_us(_app, calls))
        logged = asyncio.run(_per_call_us(AccessLog(_app), calls))
        logging.shutdown()
    print(f"{fmt}: bare {bare:.1f} us, with access log {logged:.1f} us: {logged - bare:.1f} us/req")


if __name__ == "__main__":
    main()
