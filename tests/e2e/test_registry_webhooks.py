"""A webhook subscriber receives the same registry events from our server as from MLflow's."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_differential_experiments import _send
from tests.e2e.test_differential_registry import (
    PROMPT_TAG,
    STARTUP,
    call,
    mv,
    rm,
    version,
    wait_for_fallback,
)
from tests.support.databases import fresh_database
from tests.support.servers import Server, mlflow_core_server, stock_mlflow_server

EVENTS = [
    ("REGISTERED_MODEL", "CREATED"),
    ("MODEL_VERSION", "CREATED"),
    ("MODEL_VERSION_TAG", "SET"),
    ("MODEL_VERSION_TAG", "DELETED"),
    ("MODEL_VERSION_ALIAS", "CREATED"),
    ("MODEL_VERSION_ALIAS", "DELETED"),
    ("PROMPT", "CREATED"),
    ("PROMPT_TAG", "SET"),
    ("PROMPT_TAG", "DELETED"),
]
SCRIPT = [
    rm(
        "POST",
        "create",
        {"name": "wm", "tags": [{"key": "team", "value": "a"}], "description": "d"},
    ),
    version("wm", tags=[{"key": "t", "value": "1"}], description="first"),
    version("wm", "s3://bucket/two", run_id="0" * 32),
    mv("POST", "set-tag", {"name": "wm", "version": "1", "key": "k", "value": "v"}),
    mv("DELETE", "delete-tag", {"name": "wm", "version": "1", "key": "k"}),
    rm("POST", "alias", {"name": "wm", "alias": "champion", "version": "2"}),
    rm("DELETE", "alias", {"name": "wm", "alias": "champion"}),
    rm("POST", "set-tag", {"name": "wm", "key": "not-a-prompt", "value": "no event"}),
    rm("POST", "create", {"name": "wp", "tags": [{"key": PROMPT_TAG, "value": "true"}]}),
    rm("POST", "set-tag", {"name": "wp", "key": "k", "value": "v"}),
    rm("DELETE", "delete-tag", {"name": "wp", "key": "k"}),
    # failed writes fire nothing
    rm("POST", "create", {"name": "wm"}),
    version("nope"),
]
EXPECTED_DELIVERIES = 10


class _Receiver(BaseHTTPRequestHandler):
    received: dict[str, list[dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.setdefault(self.path, []).append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, dict[str, list[dict[str, Any]]]]]:
    received: dict[str, list[dict[str, Any]]] = {}
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


ENV = {"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}


def _subscribe(server: Server, url: str) -> None:
    body = {
        "name": "registry-events",
        "url": url,
        "events": [{"entity": entity, "action": action} for entity, action in EVENTS],
    }
    status, answer = _send(server, call("POST", "/api/2.0/mlflow/webhooks", body))
    assert status == 200, answer


def _comparable(deliveries: list[dict[str, Any]]) -> list[str]:
    return sorted(
        json.dumps({k: v for k, v in d.items() if k != "timestamp"}, sort_keys=True)
        for d in deliveries
    )


def test_subscribers_receive_what_mlflow_sends(
    receiver: tuple[str, dict[str, list[dict[str, Any]]]], tmp_path: Path
) -> None:
    base, received = receiver
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    with (
        fresh_database("sqlite", tmp_path / "a") as theirs_uri,
        fresh_database("sqlite", tmp_path / "b") as ours_uri,
        stock_mlflow_server(theirs_uri, tmp_path, env=ENV, timeout=STARTUP) as theirs,
        mlflow_core_server(ours_uri, tmp_path, env=ENV, timeout=STARTUP) as ours,
    ):
        wait_for_fallback(ours)
        for server, path in ((theirs, "/theirs"), (ours, "/ours")):
            _subscribe(server, base + path)
            for each in SCRIPT:
                _send(server, each)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            len(received.get(path, [])) >= EXPECTED_DELIVERIES for path in ("/theirs", "/ours")
        ):
            time.sleep(0.2)
    assert len(received["/theirs"]) == EXPECTED_DELIVERIES
    assert _comparable(received["/ours"]) == _comparable(received["/theirs"])
