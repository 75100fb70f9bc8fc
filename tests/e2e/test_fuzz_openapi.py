"""Property-based fuzzing of every natively served RPC, from our own ``/openapi.json``.

Schemathesis reads the document our server serves (generated from the protobuf descriptors for
every RPC in ``ported.toml``) and sends valid and invalid requests to each operation: wrong
types, missing and unknown fields, huge strings and arrays, odd Unicode, NaN/inf, negative and
overflowing integers, SQL fragments where the schema says "string". On top of that, raw bodies
schemathesis does not produce: malformed JSON, invalid UTF-8, non-objects. Every answer must
be below 500, and every 4xx must be MLflow's error JSON (``error_code`` and ``message``).
Example counts are bounded for CI (FUZZ_EXAMPLES per operation and generation mode).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import schemathesis.specs.openapi.schemas
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode

from mlflow_core.entrypoints.cli.server import server_environment
from mlflow_core.entrypoints.config import ServerSettings
from mlflow_core.entrypoints.http.asgi import create_core_app
from tests.support.databases import KINDS, fresh_database

# Per operation and generation mode on SQLite; half that on PostgreSQL and MySQL (same code
# paths above the SQL), to keep CI bounded.
# (schemathesis.specs.openapi.schemas is imported here, not lazily by the first load: CPython
# 3.11.7 can fail "AST constructor recursion depth mismatch" when pytest compiles a module while
# the thread loading MLflow's app compiles another.)
FUZZ_EXAMPLES = int(os.environ.get("MLFLOW_CORE_FUZZ_EXAMPLES", "10"))
TRIED: dict[str, int] = {}


@pytest.fixture(scope="session")
def fuzz_databases() -> Iterator[ExitStack]:
    # Every fuzzed database lives until the end: MLflow's in-process app (serving the requests
    # our handlers defer) keeps the first database it opened for the rest of the process, so
    # that one must not be dropped while later kinds are fuzzed.
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="module", params=KINDS)
def fuzz_app(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fuzz_databases: ExitStack,
) -> Iterator[Any]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    uri = fuzz_databases.enter_context(fresh_database(str(request.param), workdir))
    with pytest.MonkeyPatch.context() as env:
        # Schemathesis's ASGI client says "Host: testserver"; MLflow's defaults would refuse it.
        env.setenv("MLFLOW_SERVER_ALLOWED_HOSTS", "testserver,127.0.0.1")
        # What `mlflow-core server` exports, so MLflow's in-process app (serving the requests
        # our handlers defer) is configured as in production.
        exported = server_environment(
            uri, uri, str(workdir / "artifacts"), True, str(workdir / "served"), None
        )
        for name, value in exported.items():
            env.setenv(name, value)
        app = create_core_app(ServerSettings.from_environment())
        # Let MLflow's app finish loading first: its loader thread compiling modules while
        # hypothesis parses source (CPython 3.11.7) fails "AST constructor recursion depth".
        fallback: Any = app.fallback
        fallback.start_loading()
        fallback._loaded.wait(300)
        yield app


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    # Loaded from the app itself, as a client would: GET /openapi.json.
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def check_answer(status: int, body: bytes, what: str) -> None:
    assert status < 500, f"{what}: {status} {body[:500]!r}"
    if status >= 400:
        error = json.loads(body)
        assert isinstance(error.get("error_code"), str), f"{what}: {body[:500]!r}"
        assert isinstance(error.get("message"), str), f"{what}: {body[:500]!r}"


def _operations() -> list[tuple[str, str]]:
    document = json.loads(
        (resources.files("mlflow_core.entrypoints.http.protocol") / "openapi.json").read_bytes()
    )
    return [(path, method) for path, ops in document["paths"].items() for method in ops]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), _operations())
def test_no_input_gets_a_server_error(
    api_schema: Any, path: str, method: str, mode: GenerationMode, request: pytest.FixtureRequest
) -> None:
    kind = request.node.callspec.params["fuzz_app"]
    examples = FUZZ_EXAMPLES if kind == "sqlite" else max(3, FUZZ_EXAMPLES // 2)
    operation = api_schema[path][method]
    key = f"{method.upper()} {path}"

    @given(operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: Any) -> None:
        response = case.call()
        TRIED[key] = TRIED.get(key, 0) + 1
        check_answer(response.status_code, response.content, f"{key} {case.body!r:.300}")

    fuzz()


RAW_BODIES = [
    b"{",
    b'{"name": ',
    b"[]",
    b'"just a string"',
    b"null",
    b"42",
    b'{"name": "\xff\xfe bad utf-8"}',
    b"\xff\xfe\x00{",
    b'{"name": NaN}',
    b'{"max_results": Infinity}',
    b'{"max_results": -1e400}',
    b'{"max_results": 99999999999999999999999999}',
    b'{"experiment_id": {"$gt": ""}}',
    b'{"name": "' + b"x" * 2_000_000 + b'"}',
    b'{"tags": [' + b'{"key": "k", "value": "v"},' * 20_000 + b'{"key": "k"}]}',
    b'{"filter": "name = \'x\' OR 1=1; DROP TABLE experiments; --"}',
    b'{"order_by": ["name; DROP TABLE experiments"]}',
    b'{"name": "a\\u0000b"}',
    b'{"name": "\\ud800"}',
    b'{"name": "x", "name": "y"}',
]


def test_malformed_bodies_get_mlflow_errors(fuzz_app: Any) -> None:
    document = json.loads(fuzz_app.documents["/openapi.json"])
    posts = [path for path, ops in document["paths"].items() if "post" in ops]
    tried = 0
    transport = httpx.ASGITransport(app=fuzz_app)

    async def run() -> int:
        count = 0
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for path in posts:
                for body in RAW_BODIES:
                    for content_type in ("application/json", "text/plain"):
                        response = await client.post(
                            path, content=body, headers={"content-type": content_type}
                        )
                        check_answer(
                            response.status_code, response.content, f"{path} {body[:80]!r}"
                        )
                        count += 1
        return count

    import asyncio

    tried = asyncio.run(run())
    assert tried == len(posts) * len(RAW_BODIES) * 2


def test_report_examples_tried() -> None:
    # Printed with -rP / in the CI log: how much the fuzzing above exercised.
    print(f"fuzz examples per operation: {json.dumps(TRIED, sort_keys=True)}")
    print(f"fuzz examples total: {sum(TRIED.values())}")
