"""Where one request's CPU goes: the whole ASGI application in-process, under cProfile.

    .venv/bin/python -m bench.profile_request --uri postgresql+psycopg://... \\
        --path /api/2.0/mlflow/runs/search --body '{"experiment_ids": ["1"], "max_results": 100}'

Builds the application ``mlflow-core server`` serves (native routes, no access log), runs its
lifespan start-up, sends ``--warmup`` requests, then ``--requests`` more timed and as many
under the profiler, and prints CPU ms per request (both ways) and the functions with the most
cumulative and own CPU time. CPU time and the profile's proportions stay meaningful on a busy
machine, where wall-clock numbers do not.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time
from typing import Any

from mlflow_core.entrypoints.config import ServerSettings
from mlflow_core.entrypoints.http.asgi import create_app
from mlflow_core.entrypoints.http.asgi_types import ASGIApp, Message


async def _lifespan_start(app: ASGIApp) -> asyncio.Queue[Message]:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    started = asyncio.Event()
    await inbox.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message.get("message", "start-up failed"))

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    asyncio.get_running_loop().create_task(app(scope, inbox.get, send))
    await started.wait()
    return inbox


async def _request(app: ASGIApp, method: str, path: str, body: bytes) -> int:
    path, _, query = path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:5000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _main(args: argparse.Namespace) -> None:
    settings = ServerSettings(backend_store_uri=args.uri, access_log=False)
    app = create_app(settings)
    inbox = await _lifespan_start(app)
    body = args.body.encode()
    method = "POST" if args.body else "GET"
    # MLflow's application loads in a thread at start-up; its CPU would count as the requests'.
    await _request(app, "GET", "/version", b"")
    for _ in range(args.warmup):
        status = await _request(app, method, args.path, body)
        if status != 200:
            raise SystemExit(f"{method} {args.path} answered {status}")
    # CPU time, not wall time: waits for the database are not this process's cost.
    cpu = time.process_time()
    for _ in range(args.requests):
        await _request(app, method, args.path, body)
    spent = (time.process_time() - cpu) / args.requests * 1e3
    print(f"{spent:.2f} ms CPU per request without the profiler, {args.requests} requests")
    profile = cProfile.Profile(time.process_time)
    cpu = time.process_time()
    profile.enable()
    for _ in range(args.requests):
        await _request(app, method, args.path, body)
    profile.disable()
    spent = (time.process_time() - cpu) / args.requests * 1e3
    print(f"{spent:.2f} ms CPU per request under the profiler")
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.lines)
    stats.sort_stats("tottime").print_stats(args.lines)
    await inbox.put({"type": "lifespan.shutdown"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uri", required=True, help="backend store URI")
    parser.add_argument("--path", required=True, help="path and query string")
    parser.add_argument("--body", default="", help="JSON body (POST); GET without one")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--lines", type=int, default=40)
    args = parser.parse_args(argv)
    if args.body:
        json.loads(args.body)  # fail early on a malformed body
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
