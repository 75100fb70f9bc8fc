"""``mlflow-core server``'s protection flags, end to end: auth apps refused, flags applied."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from tests.support.servers import BIN, free_port, mlflow_core_server

SEARCH = "/api/2.0/mlflow/experiments/search"


def test_basic_auth_app_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(BIN / "mlflow-core"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'auth.db'}",
            "--port",
            str(free_port()),
            "--app-name",
            "basic-auth",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "--app-name basic-auth" in result.stderr
    assert "authentication and permission checks" in result.stderr
    assert "side door" in result.stderr


def test_security_and_body_limit_flags_reach_the_native_routes(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'flags.db'}"
    env = {
        "MLFLOW_SERVER_ALLOWED_HOSTS": "",
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "",
        "MLFLOW_SERVER_X_FRAME_OPTIONS": "",
    }
    flags = [
        "--allowed-hosts",
        "mlflow.example.com,127.0.0.1:*",
        "--x-frame-options",
        "DENY",
        "--max-request-body-size",
        "2000",
        "--app-name",
        "mlflow-core",
    ]
    with mlflow_core_server(uri, tmp_path, env=env, extra_args=flags) as server:
        ok = httpx.post(server.url + SEARCH, json={"max_results": 1})
        assert ok.status_code == 200
        assert ok.headers["x-frame-options"] == "DENY"
        big = httpx.post(server.url + SEARCH, json={"filter": "x" * 5000})
        assert big.status_code == 413
        assert big.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        rebinding = httpx.post(server.url + SEARCH, json={}, headers={"Host": "attacker.example"})
        assert rebinding.status_code == 403
        assert rebinding.text.startswith("Invalid Host header")
