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

from mlflow_core.entrypoints.config import DEFAULT_MAX_REQUEST_BODY_SIZE
from mlflow_core.entrypoints.http import request_rules
from mlflow_core.entrypoints.http.asgi_types import ASGIApp, Receive, Scope, Send
from mlflow_core.entrypoints.http.handlers import DEFER, Handler, HandlerSet, Streamed
from mlflow_core.entrypoints.http.protocol import messages
from mlflow_core.entrypoints.http.protocol.rpc_table import Rpc
from mlflow_core.entrypoints.http.requests import parse_request
from mlflow_core.entrypoints.http.runners import SHORT_PAGES, SHORT_READS, Runner
from mlflow_core.entrypoints.http.security import SecurityPolicy, SecuritySettings, request_facts
from mlflow_core.errors import ErrorCode, MlflowCoreError

_logger = logging.getLogger(__name__)

# MLflow's security middleware adds its headers (security.py) to these.
_JSON_CONTENT_TYPE = (b"content-type", b"application/json")
_HEALTH_CONTENT_TYPE = (b"content-type", b"text/plain; charset=utf-8")


@dataclass(frozen=True, slots=True)
class Route:
    rpc: Rpc
    message_class: type[ProtoMessage]
    rules: request_rules.Rules
    handler: Handler[Any]
    service: Any
    runner: Runner
    # A search for a page of at most ``short_page`` results runs on ``short_page_runner``
    # (runners.SHORT_PAGES; SQLite: on the event loop).
    short_page_runner: Runner | None = None
    short_page: int = 0


@dataclass(frozen=True, slots=True)
class Binding:
    """Handler sets bound to the service they call and the runner of that service's database."""

    handler_sets: Sequence[HandlerSet[Any]]
    service: Any
    runner: Runner
    # For the RPCs in runners.SHORT_READS, and pages of runners.SHORT_PAGES (SQLite: on the
    # event loop); else ``runner``.
    short_reads: Runner | None = None


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
        short_page = SHORT_PAGES.get(rpc.name, 0)
        route = Route(
            rpc=rpc,
            message_class=getattr(messages, rpc.request),
            rules=handler_set.rules.get(rpc.request, {}),
            handler=handler_set.handlers[rpc.name],
            service=binding.service,
            runner=(
                binding.short_reads
                if binding.short_reads is not None and rpc.name in SHORT_READS
                else binding.runner
            ),
            short_page_runner=binding.short_reads if short_page else None,
            short_page=short_page,
        )
        for endpoint in rpc.endpoints:
            for path in endpoint.http_paths():
                if "{" in path:
                    raise NotImplementedError(f"path parameters are not routed yet: {path}")
                routes[(endpoint.method, prefix + path)] = route
    return routes


class BodyTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.error = MlflowCoreError.invalid_parameter_value(
            f"Request body exceeds the server's limit of {limit} bytes "
            "(mlflow-core server --max-request-body-size)."
        )


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            # A chunked body with no Content-Length: stop reading at the limit.
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_json(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [_JSON_CONTENT_TYPE, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_streamed(
    route: Route,
    answer: Streamed,
    first: bytes | None,
    send: Send,
    extra: list[tuple[bytes, bytes]],
) -> None:
    """A 200 with a chunked body: ``first``, then every further part of ``answer``."""
    headers = [_JSON_CONTENT_TYPE, *extra]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
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
        security: SecurityPolicy | None = None,
        max_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
        documents: dict[str, bytes] | None = None,
    ) -> None:
        self.routes = routes
        self.fallback = fallback
        self.health_path = health_path
        self._health_check = health_check
        self.security = security or SecurityPolicy(SecuritySettings())
        self.max_body_bytes = max_body_bytes
        self.documents = documents or {}  # path -> JSON served on GET (/openapi.json)
        self._on_startup = list(on_startup)
        self._on_shutdown = list(on_shutdown)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            route = self.routes.get((scope["method"], scope["path"]))
            if route is not None:
                origin, host, private_network = request_facts(scope)
                if not await self.security.reject(scope, send, origin, host):
                    extra = self.security.response_headers(origin, private_network)
                    await self._serve(route, scope, receive, send, extra)
            elif scope["path"] == self.health_path and scope["method"] in ("GET", "HEAD"):
                origin, host, _ = request_facts(scope)
                if not await self.security.reject(scope, send, origin, host):
                    await self._health(send, self.security.health_headers(origin))
            elif scope["method"] == "GET" and scope["path"] in self.documents:
                origin, host, private_network = request_facts(scope)
                if not await self.security.reject(scope, send, origin, host):
                    extra = self.security.response_headers(origin, private_network)
                    await _send_json(send, 200, self.documents[scope["path"]], extra)
            else:
                await self.fallback(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.fallback(scope, receive, send)

    async def _serve(
        self,
        route: Route,
        scope: Scope,
        receive: Receive,
        send: Send,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        try:
            body = await self._body(scope, receive)
        except BodyTooLargeError as too_large:
            # 413 rather than MLflow's 400 for INVALID_PARAMETER_VALUE: clients do not retry it,
            # and the status says what is wrong before the body is parsed.
            await _send_json(send, 413, orjson.dumps(too_large.error.to_dict()), extra)
            return
        try:
            request = parse_request(
                route.message_class,
                scope["method"],
                scope.get("query_string", b""),
                body,
                _header(scope, b"content-type"),
            )
            request_rules.apply_rules(route.rules, request)
            runner = route.runner
            short = route.short_page_runner
            if short is not None and request.message.max_results <= route.short_page:
                runner = short
            answer = await runner(route.handler, route.service, request)
            first = None
            if isinstance(answer, Streamed):
                first = await runner(next, answer.parts, None)
        except MlflowCoreError as error:
            if error.http_status >= 500:
                _logger.error("Error in %s: %s", route.rpc.name, error.message)
            await _send_json(send, error.http_status, orjson.dumps(error.to_dict()), extra)
            return
        except Exception:
            _logger.exception("Unexpected error in %s", route.rpc.name)
            internal = MlflowCoreError("Internal error", ErrorCode.INTERNAL_ERROR)
            await _send_json(send, 500, orjson.dumps(internal.to_dict()), extra)
            return
        if answer is DEFER:
            await self.fallback(scope, _replay(body), send)
            return
        if isinstance(answer, Streamed):
            await _send_streamed(route, answer, first, send, extra)
            return
        await _send_json(send, 200, orjson.dumps(answer), extra)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            # Refused before a byte of the body is read.
            raise BodyTooLargeError(self.max_body_bytes)
        return await _read_body(receive, self.max_body_bytes)

    async def _health(self, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        problem = await self._health_check() if self._health_check is not None else None
        status, body = (200, b"OK") if problem is None else (503, problem.encode())
        headers = [_HEALTH_CONTENT_TYPE, (b"content-length", str(len(body)).encode()), *extra]
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
