"""The ASGI application: ported RPCs natively, everything else by MLflow's own application.

Per request: one dict lookup for the route, read the body, parse with protobuf, apply the
RPC's rules, run the handler on the database's runner, encode with orjson. No framework, no
per-request injection: routes hold direct references to their service and runner.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.message import Message as ProtoMessage

from mlflow_core.entrypoints.http import request_rules
from mlflow_core.entrypoints.http.asgi_types import ASGIApp, Receive, Scope, Send
from mlflow_core.entrypoints.http.handlers import DEFER, Handler, HandlerSet, Streamed
from mlflow_core.entrypoints.http.protocol import messages
from mlflow_core.entrypoints.http.protocol.rpc_table import Rpc
from mlflow_core.entrypoints.http.requests import parse_request
from mlflow_core.entrypoints.http.runners import Runner
from mlflow_core.errors import ErrorCode, MlflowCoreError

_logger = logging.getLogger(__name__)

# Headers MLflow's server puts on its API responses (security middleware and CORS vary).
_JSON_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"application/json"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"vary", b"Origin"),
]


@dataclass(frozen=True, slots=True)
class Route:
    rpc: Rpc
    message_class: type[ProtoMessage]
    rules: request_rules.Rules
    handler: Handler[Any]
    service: Any
    runner: Runner


@dataclass(frozen=True, slots=True)
class Binding:
    """Handler sets bound to the service they call and the runner of that service's database."""

    handler_sets: Sequence[HandlerSet[Any]]
    service: Any
    runner: Runner


def build_routes(
    rpcs: Iterable[Rpc], bindings: Sequence[Binding], static_prefix: str = ""
) -> dict[tuple[str, str], Route]:
    """The (method, path) table of the ported RPCs among ``rpcs``."""
    routes: dict[tuple[str, str], Route] = {}
    prefix = static_prefix.rstrip("/")
    for rpc in rpcs:
        if not rpc.ported:
            continue
        found = [
            (handler_set, binding)
            for binding in bindings
            for handler_set in binding.handler_sets
            if rpc.name in handler_set.handlers
        ]
        if len(found) != 1:
            raise LookupError(
                f"RPC {rpc.service}.{rpc.name} is ported but has {len(found)} handlers"
            )
        handler_set, binding = found[0]
        route = Route(
            rpc=rpc,
            message_class=getattr(messages, rpc.request),
            rules=handler_set.rules.get(rpc.request, {}),
            handler=handler_set.handlers[rpc.name],
            service=binding.service,
            runner=binding.runner,
        )
        for endpoint in rpc.endpoints:
            for path in endpoint.http_paths():
                if "{" in path:
                    raise NotImplementedError(f"path parameters are not routed yet: {path}")
                routes[(endpoint.method, prefix + path)] = route
    return routes


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_json(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_streamed(route: Route, answer: Streamed, first: bytes | None, send: Send) -> None:
    """A 200 with a chunked body: ``first``, then every further part of ``answer``."""
    await send({"type": "http.response.start", "status": 200, "headers": _JSON_HEADERS})
    part = first
    try:
        while part is not None:
            await send({"type": "http.response.body", "body": part, "more_body": True})
            part = await route.runner(next, answer.parts, None)
    except Exception:
        # The head is sent: drop the connection so the client sees a failed response rather
        # than a complete-looking, truncated one.
        _logger.exception("Error while streaming %s", route.rpc.name)
        raise
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _replay(body: bytes) -> Receive:
    """A receive() that hands ``body`` (already read by us) to another application."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class MlflowCoreApp:
    def __init__(
        self,
        routes: dict[tuple[str, str], Route],
        fallback: ASGIApp,
        *,
        health_path: str = "/health",
        health_check: Callable[[], Awaitable[str | None]] | None = None,
        on_startup: Iterable[Any] = (),
        on_shutdown: Iterable[Any] = (),
    ) -> None:
        self.routes = routes
        self.fallback = fallback
        self.health_path = health_path
        self._health_check = health_check
        self._on_startup = list(on_startup)
        self._on_shutdown = list(on_shutdown)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            route = self.routes.get((scope["method"], scope["path"]))
            if route is not None:
                await self._serve(route, scope, receive, send)
            elif scope["path"] == self.health_path and scope["method"] in ("GET", "HEAD"):
                await self._health(send)
            else:
                await self.fallback(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.fallback(scope, receive, send)

    async def _serve(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        try:
            request = parse_request(
                route.message_class,
                scope["method"],
                scope.get("query_string", b""),
                body,
                _header(scope, b"content-type"),
            )
            request_rules.apply_rules(route.rules, request)
            answer = await route.runner(route.handler, route.service, request)
            first = None
            if isinstance(answer, Streamed):
                first = await route.runner(next, answer.parts, None)
        except MlflowCoreError as error:
            if error.http_status >= 500:
                _logger.error("Error in %s: %s", route.rpc.name, error.message)
            await _send_json(send, error.http_status, orjson.dumps(error.to_dict()))
            return
        except Exception:
            _logger.exception("Unexpected error in %s", route.rpc.name)
            internal = MlflowCoreError("Internal error", ErrorCode.INTERNAL_ERROR)
            await _send_json(send, 500, orjson.dumps(internal.to_dict()))
            return
        if answer is DEFER:
            await self.fallback(scope, _replay(body), send)
            return
        if isinstance(answer, Streamed):
            await _send_streamed(route, answer, first, send)
            return
        await _send_json(send, 200, orjson.dumps(answer))

    async def _health(self, send: Send) -> None:
        problem = await self._health_check() if self._health_check is not None else None
        status, body = (200, b"OK") if problem is None else (503, problem.encode())
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self._on_startup:
                        await hook()
                except Exception as exc:
                    _logger.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self._on_shutdown:
                    try:
                        await hook()
                    except Exception:
                        _logger.exception("shutdown hook failed")
                await send({"type": "lifespan.shutdown.complete"})
                return
