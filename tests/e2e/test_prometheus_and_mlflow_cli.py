"""``--expose-prometheus`` parity, and ``mlflow server --app-name mlflow-core`` serving us."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.support.servers import (
    Server,
    mlflow_core_server,
    mlflow_server_with_our_app,
    started_together,
    stock_mlflow_server,
)

_NO_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # not what these tests compare
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
_NATIVE = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
_FALLBACK = "/api/2.0/mlflow/runs/search"


def _request(url: str, body: dict[str, object] | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _traffic(url: str) -> None:
    """Three natively served GETs, two POSTs MLflow's app serves, one 404."""
    for _ in range(3):
        assert _request(url + _NATIVE) == 200
    for _ in range(2):
        assert _request(url + _FALLBACK, {"experiment_ids": ["0"]}) == 200
    assert _request(url + "/ajax-api/2.0/mlflow/no-such-rpc") == 404


def _metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if line.startswith("#") or not match:
            continue
        name, labels, value = match.groups()
        pairs = frozenset(re.findall(r'(\w+)="([^"]*)"', labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


def _select(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str
) -> dict[str, float]:
    return {
        dict(labels).get("method", "") + " " + dict(labels).get("status", ""): value
        for (metric, labels), value in samples.items()
        if metric == name
    }


def _serve_with_metrics(
    start: Callable[..., AbstractContextManager[Server]], tmp_path: Path, name: str
) -> AbstractContextManager[Server]:
    workdir = tmp_path / name
    workdir.mkdir()
    uri = f"sqlite:///{workdir / 'm.db'}"
    args = ["--expose-prometheus", str(workdir / "prometheus")]
    return start(uri, workdir, 2, _NO_JOBS, extra_args=args)


def test_mlflow_metric_series_match_stock_mlflow_for_the_same_traffic(tmp_path: Path) -> None:
    found = {}
    with started_together(
        _serve_with_metrics(mlflow_core_server, tmp_path, "core"),
        _serve_with_metrics(stock_mlflow_server, tmp_path, "stock"),
    ) as servers:
        for name, server in zip(("core", "stock"), servers, strict=True):
            _traffic(server.url)
            found[name] = _metrics(server.url)
    core, stock = found["core"], found["stock"]
    total, count = "mlflow_http_request_total", "mlflow_http_request_duration_seconds_count"
    assert _select(stock, total) == {"GET 200": 3, "POST 200": 2, "GET 404": 1}
    assert _select(core, total) == _select(stock, total)
    assert _select(core, count) == _select(stock, count)
    versions = {dict(labels)["mlflow_version"] for (metric, labels) in core if metric == count}
    assert versions == {"3.17.2"}


def test_per_route_counts_latencies_and_pool_usage(tmp_path: Path) -> None:
    with _serve_with_metrics(mlflow_core_server, tmp_path, "routes") as server:
        _traffic(server.url)
        samples = _metrics(server.url)
    routes = {
        (dict(labels)["method"], dict(labels)["route"], dict(labels)["status"]): value
        for (metric, labels), value in samples.items()
        if metric == "mlflow_core_http_requests_total"
    }
    assert routes.pop(("GET", "/health", "200")) >= 1  # the harness waited for it
    assert routes == {
        ("GET", "/api/2.0/mlflow/experiments/get-by-name", "200"): 3,
        ("POST", "/api/2.0/mlflow/runs/search", "200"): 2,
        ("GET", "other", "404"): 1,
    }
    latency = {
        dict(labels)["route"]: value
        for (metric, labels), value in samples.items()
        if metric == "mlflow_core_http_request_duration_seconds_count"
    }
    assert latency["/api/2.0/mlflow/experiments/get-by-name"] == 3
    pool = {
        metric: value
        for (metric, _labels), value in samples.items()
        if metric.startswith("mlflow_core_db_pool_")
    }
    assert pool["mlflow_core_db_pool_size"] >= 2  # two workers' pools
    assert pool["mlflow_core_db_pool_checked_out"] == 0  # nothing in flight at scrape time
    assert "mlflow_core_db_pool_overflow" in pool


def test_mlflow_server_app_name_serves_our_application(tmp_path: Path) -> None:
    """MLflow's own command, MLflow's flags: ported RPCs natively, the UI and the rest by MLflow."""
    with _serve_with_metrics(mlflow_server_with_our_app, tmp_path, "app") as server:
        _traffic(server.url)
        samples = _metrics(server.url)
        with urllib.request.urlopen(server.url + "/", timeout=60) as response:
            page = response.read().decode()
        assert response.status == 200
        assert "<html" in page
    # Only our application records per-route series; the native route was served by it.
    routes = {
        dict(labels)["route"]: value
        for (metric, labels), value in samples.items()
        if metric == "mlflow_core_http_requests_total"
    }
    assert routes["/api/2.0/mlflow/experiments/get-by-name"] == 3
    assert routes["/api/2.0/mlflow/runs/search"] == 2
    assert "mlflow_core_db_pool_size" in {metric for metric, _ in samples}


@pytest.mark.parametrize("flag", ["--expose-prometheus"])
def test_metrics_are_absent_without_the_flag(tmp_path: Path, flag: str) -> None:
    uri = f"sqlite:///{tmp_path / 'plain.db'}"
    with mlflow_core_server(uri, tmp_path, env=_NO_JOBS) as server:
        status = _request(server.url + "/metrics")
    assert status == 404  # as under stock mlflow server without {flag}
