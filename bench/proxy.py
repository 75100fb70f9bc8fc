"""A minimal reverse proxy in front of a child ``mlflow server``: the design we did not take.

    .venv/bin/python -m bench.proxy --port 5000 --backend-store-uri sqlite:///mlflow.db

The alternative to mounting MLflow's application in-process (src/entrypoints/http/fallback.py)
is to run stock ``mlflow server`` as a child process and forward every unported path to it.
This is that setup, reduced to the forwarding part, so ``bench.fallback_modes`` can measure
its cost: one raw-ASGI app on uvicorn (uvloop, httptools, one process, like ``mlflow-core
server --workers 1``) that answers ``/health`` itself and forwards method, path, query,
headers and body of everything else over a keep-alive ``httpx.AsyncClient`` pool, streaming
the answer back unchanged. It serves no route natively, so its memory is a lower bound for a
real proxy design, which would also hold our native stack.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
from typing import Any

import httpx
import uvicorn

from bench.harness import BIN, HOST, free_port

Scope = dict[str, Any]
Message = dict[str, Any]

_logger = logging.getLogger("bench.proxy")

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


class ReverseProxy:
    def __init__(self, upstream: str, health_path: str = "/health") -> None:
        self.upstream = upstream
        self.health_path = health_path
        self._client: httpx.AsyncClient | None = None

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.upstream,
            # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them
            # upstream, so a request never lands on a connection the server is closing.
            limits=httpx.Limits(
                max_connections=64, max_keepalive_connections=64, keepalive_expiry=4.0
            ),
            timeout=httpx.Timeout(120.0),
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        # websockets: MLflow's server has none on the paths this benchmark uses

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = self._new_client()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["path"] == self.health_path and scope["method"] in ("GET", "HEAD"):
            await _answer(send, 200, b"OK", b"text/html; charset=utf-8")
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = [
            (key, value)
            for key, value in scope["headers"]
            if key not in _HOP_BY_HOP and key not in (b"host", b"content-length")
        ]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = raw_path + (b"?" + query if query else b"")
        if self._client is None:
            self._client = self._new_client()
        request = self._client.build_request(
            scope["method"], target.decode("latin-1"), headers=headers, content=b"".join(chunks)
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            _logger.warning("upstream unavailable: %s", exc)
            await _answer(send, 502, b"Bad Gateway", b"text/plain")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (key.lower(), value)
                        for key, value in response.headers.raw
                        if key.lower() not in _HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


async def _answer(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description="Reverse proxy to a child `mlflow server`.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend-store-uri", required=True)
    parser.add_argument("--workers", type=int, default=1, help="workers of the child server")
    parser.add_argument("--upstream-port", type=int, default=0, help="default: a free port")
    args = parser.parse_args()
    upstream_port = args.upstream_port or free_port()
    child = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            args.backend_store_uri,
            "--host",
            HOST,
            "--port",
            str(upstream_port),
            "--workers",
            str(args.workers),
        ]
    )
    # uvicorn re-raises the SIGTERM it handled once it has shut down; without a handler of our
    # own that would end this process before the ``finally`` below stops the child server.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    try:
        uvicorn.run(
            ReverseProxy(f"http://{HOST}:{upstream_port}"),
            host=HOST,
            port=args.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_level="info",
        )
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    main()
