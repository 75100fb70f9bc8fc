"""The generated OpenAPI document covers exactly the ported RPCs, and the app serves it."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from mlflow_core.entrypoints.http.app import MlflowCoreApp
from mlflow_core.entrypoints.http.protocol.rpcs import RPCS
from tests.support.asgi_calls import call, fake_app


def _document() -> dict[str, Any]:
    text = (resources.files("mlflow_core.entrypoints.http.protocol") / "openapi.json").read_bytes()
    document: dict[str, Any] = json.loads(text)
    return document


def test_every_ported_endpoint_and_nothing_else_is_documented() -> None:
    documented = {
        (method.upper(), path)
        for path, operations in _document()["paths"].items()
        for method in operations
    }
    ported = {
        (endpoint.method, endpoint.http_paths()[0])
        for rpc in RPCS
        if rpc.ported
        for endpoint in rpc.endpoints
    }
    assert documented == ported


def test_required_fields_follow_mlflows_validate_required() -> None:
    schemas = _document()["components"]["schemas"]
    assert schemas["CreateExperiment"]["required"] == ["name"]
    assert "required" not in schemas["SearchExperiments"]


def test_the_app_serves_the_document() -> None:
    app: MlflowCoreApp = fake_app()
    app.documents["/openapi.json"] = b'{"openapi": "3.0.3"}'
    answer = call(app, "GET", "/openapi.json")
    assert answer.status == 200
    assert json.loads(answer.body) == {"openapi": "3.0.3"}
    assert (b"content-type", b"application/json") in answer.headers
