"""Send the same requests to MLflow's application and to ours, in one process; print answers.

Run as ``python -m tests.support.security_probe DB_URI`` with MLflow's security variables set
(they are read once, when MLflow's application is imported): prints a JSON list of
``{"request": ..., "mlflow": answer, "ours": answer}``. Used by tests/e2e/test_security_parity.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import httpx

GET = "/api/2.0/mlflow/experiments/get?experiment_id=0"
SEARCH = "/api/2.0/mlflow/experiments/search"
AJAX_SEARCH = "/ajax-api/2.0/mlflow/experiments/search"
ORIGINS = [
    None,
    "http://localhost:3000",
    "http://LOCALHOST:3000",
    "http://127.0.0.1:5000",
    "https://evil.example",
    "https://app.example.com",
    "https://team.example.org",
    "null",
]
HOSTS = [None, "evil.example", "mlflow.example.com", "localhost", "192.168.1.5:5000", ""]
# Headers the security stack decides; the rest (date, server, length framing) is transport.
COMPARED = ("content-type", "vary", "x-frame-options", "x-content-type-options")


def requests() -> list[dict[str, Any]]:
    matrix: list[dict[str, Any]] = []
    for origin in ORIGINS:
        for method, path in (("GET", GET), ("POST", SEARCH), ("POST", AJAX_SEARCH)):
            matrix.append({"method": method, "path": path, "origin": origin})
    for host in HOSTS:
        matrix.append({"method": "POST", "path": SEARCH, "host": host})
        matrix.append({"method": "GET", "path": "/health", "host": host})
    matrix.append({"method": "GET", "path": "/health", "origin": "http://localhost:3000"})
    matrix.append(
        {"method": "GET", "path": GET, "origin": "http://localhost:3000", "private_network": True}
    )
    return matrix


def _headers(request: dict[str, Any]) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if request.get("origin") is not None:
        headers["origin"] = request["origin"]
    if request.get("host") is not None:
        headers["host"] = request["host"]
    if request.get("private_network"):
        headers["access-control-request-private-network"] = "true"
    return headers


def _answer(response: httpx.Response) -> dict[str, Any]:
    headers = sorted(
        (name.lower(), value)
        for name, value in response.headers.multi_items()
        if name.lower() in COMPARED or name.lower().startswith("access-control-")
    )
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict) and "experiments" in body:
        body = {"experiment_ids": sorted(e["experiment_id"] for e in body["experiments"])}
    return {"status": response.status_code, "headers": headers, "body": body}


async def _lifespan_start(app: Any) -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        return await queue.get()

    async def send(message: dict[str, Any]) -> None:
        if not started.done():
            started.set_result(message)

    asyncio.get_running_loop().create_task(app({"type": "lifespan"}, receive, send))
    await queue.put({"type": "lifespan.startup"})
    await started


async def main(uri: str) -> list[dict[str, Any]]:
    os.environ["_MLFLOW_SERVER_FILE_STORE"] = uri
    os.environ["_MLFLOW_SERVER_REGISTRY_STORE"] = uri
    from mlflow.server.fastapi_app import app as mlflow_app

    from mlflow_core.entrypoints.http.asgi import create_app

    ours = create_app()
    await _lifespan_start(ours)
    results = []
    base = "http://127.0.0.1:5000"
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=mlflow_app), base_url=base) as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=ours), base_url=base) as b,
    ):
        for request in requests():
            kwargs: dict[str, Any] = {"headers": _headers(request)}
            if request["method"] == "POST":
                kwargs["content"] = b'{"max_results": 5}'
            answers = [
                _answer(await client.request(request["method"], request["path"], **kwargs))
                for client in (a, b)
            ]
            results.append({"request": request, "mlflow": answers[0], "ours": answers[1]})
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
