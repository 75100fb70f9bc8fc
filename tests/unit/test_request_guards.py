"""Request body limit and MLflow's security checks on native routes, called in-process."""

from __future__ import annotations

import json

import orjson
import pytest

from mlflow_core.entrypoints.http.security import SecuritySettings
from tests.support.asgi_calls import call, fake_app

CREATE = "/api/2.0/mlflow/experiments/create"
SEARCH = "/api/2.0/mlflow/experiments/search"
JSON = (b"content-type", b"application/json")


def _error(body: bytes) -> dict[str, str]:
    parsed: dict[str, str] = orjson.loads(body)
    return parsed


def test_a_declared_oversized_body_is_refused_before_it_is_read() -> None:
    app = fake_app(max_body_bytes=1000)
    answer = call(app, "POST", CREATE, [b"x" * 5000], [JSON, (b"content-length", b"5000")])
    assert answer.status == 413
    assert answer.receive_calls == 0
    error = _error(answer.body)
    assert error["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "limit of 1000 bytes" in error["message"]


def test_a_chunked_oversized_body_stops_being_read_at_the_limit() -> None:
    app = fake_app(max_body_bytes=1000)
    chunks = [b"{" + b" " * 599, b" " * 600, b" " * 600, b"}"]
    answer = call(app, "POST", CREATE, chunks, [JSON])
    assert answer.status == 413
    assert answer.receive_calls == 2  # the third and fourth chunks were never read
    assert _error(answer.body)["error_code"] == "INVALID_PARAMETER_VALUE"


def test_a_body_at_the_limit_is_served() -> None:
    body = json.dumps({"name": "at-the-limit"}).encode()
    app = fake_app(max_body_bytes=len(body))
    answer = call(app, "POST", CREATE, [body], [JSON, (b"content-length", str(len(body)).encode())])
    assert answer.status == 200, answer.body
    assert "experiment_id" in _error(answer.body)


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ([(b"host", b"evil.example")], 403, b"Invalid Host header - possible DNS rebinding"),
        ([(b"origin", b"https://evil.example")], 403, b"Cross-origin request blocked"),
        ([(b"origin", b"http://localhost:3000")], 200, b"experiments"),
    ],
)
def test_native_routes_apply_mlflows_host_and_origin_checks(
    headers: list[tuple[bytes, bytes]], status: int, body: bytes
) -> None:
    app = fake_app()
    answer = call(app, "POST", SEARCH, [b'{"max_results": 5}'], [JSON, *headers])
    assert answer.status == status
    assert answer.body.startswith(body) or body in answer.body
    if status == 200:
        assert (b"x-frame-options", b"SAMEORIGIN") in answer.headers
        assert (b"access-control-allow-origin", b"http://localhost:3000") in answer.headers


def test_health_is_exempt_from_the_host_check_and_flags_change_headers() -> None:
    app = fake_app(security=SecuritySettings(x_frame_options="DENY"))
    answer = call(app, "GET", "/health", headers=[(b"host", b"evil.example")])
    assert (answer.status, answer.body) == (200, b"OK")
    assert (b"x-frame-options", b"DENY") in answer.headers


def test_disabled_protections_let_everything_through_without_headers() -> None:
    app = fake_app(security=SecuritySettings(enabled=False))
    answer = call(
        app,
        "POST",
        SEARCH,
        [b'{"max_results": 5}'],
        [JSON, (b"host", b"evil.example"), (b"origin", b"https://x.y")],
    )
    assert answer.status == 200
    assert not [name for name, _ in answer.headers if name.startswith((b"x-", b"access-"))]
