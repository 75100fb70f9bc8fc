"""Our ASGI application on the in-memory store, called directly (no server, no socket)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow_core.entrypoints.http import areas
from mlflow_core.entrypoints.http.app import Binding, MlflowCoreApp, build_routes
from mlflow_core.entrypoints.http.protocol.rpcs import RPCS
from mlflow_core.entrypoints.http.security import SecurityPolicy, SecuritySettings
from mlflow_core.services.tracking import TrackingService
from tests.support.fake_tracking_store import FakeTrackingStore


async def direct_runner(fn: Callable[..., Any], /, *args: object) -> Any:
    return fn(*args)


async def no_fallback(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError(f"unexpected fallback for {scope['method']} {scope['path']}")


def fake_app(
    *, max_body_bytes: int = 1 << 20, security: SecuritySettings | None = None
) -> MlflowCoreApp:
    service = TrackingService(FakeTrackingStore(), "mlflow-artifacts:/", server_rules=True)
    service.ensure_default_experiment()
    tracking = [rpc for rpc in RPCS if rpc.service == "MlflowService"]
    routes = build_routes(tracking, [Binding(areas.TRACKING, service, direct_runner)])
    return MlflowCoreApp(
        routes,
        no_fallback,
        security=SecurityPolicy(security or SecuritySettings()),
        max_body_bytes=max_body_bytes,
    )


@dataclass
class Answer:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    receive_calls: int = 0


def call(
    app: MlflowCoreApp,
    method: str,
    path: str,
    chunks: Sequence[bytes] = (),
    headers: Sequence[tuple[bytes, bytes]] = (),
    query_string: bytes = b"",
) -> Answer:
    """One request; ``chunks`` are handed out one receive() at a time."""
    answer = Answer()
    pending = list(chunks) or [b""]

    async def receive() -> dict[str, Any]:
        answer.receive_calls += 1
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = list(message.get("headers", []))
        else:
            answer.body += message.get("body", b"")

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query_string,
        "headers": [(b"host", b"127.0.0.1:5000"), *headers],
    }
    asyncio.run(app(scope, receive, send))
    return answer
