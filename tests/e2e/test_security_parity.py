"""Our native routes apply MLflow's server protections exactly as MLflow's application does.

For each security configuration (MLflow's defaults, explicit hosts/origins, wildcards, the
protections disabled), one process imports MLflow's application and builds ours with the same
environment, then sends both the same matrix of requests (Host headers, Origins, methods, API
and health paths): status, body and every security/CORS header must match.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SETTINGS = {
    "defaults": {},
    "explicit": {
        "MLFLOW_SERVER_ALLOWED_HOSTS": "mlflow.example.com,127.0.0.1:*",
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "https://app.example.com,https://*.example.org",
        "MLFLOW_SERVER_X_FRAME_OPTIONS": "DENY",
    },
    "wildcards": {
        "MLFLOW_SERVER_ALLOWED_HOSTS": "*",
        "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": "*",
        "MLFLOW_SERVER_X_FRAME_OPTIONS": "NONE",
    },
    "disabled": {"MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE": "true"},
}
_SECURITY_ENV = (
    "MLFLOW_SERVER_ALLOWED_HOSTS",
    "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
    "MLFLOW_SERVER_X_FRAME_OPTIONS",
    "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE",
)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_native_routes_answer_as_mlflows_security_middleware(setting: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _SECURITY_ENV}
    env.update(SETTINGS[setting])
    uri = f"sqlite:///{tmp_path / 'security.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.security_probe", uri],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    pairs = json.loads(result.stdout)
    mismatches = [pair for pair in pairs if pair["mlflow"] != pair["ours"]]
    assert not mismatches, json.dumps(mismatches[:5], indent=1)
    statuses = {pair["ours"]["status"] for pair in pairs}
    if setting in ("defaults", "explicit"):
        assert 403 in statuses  # the matrix does reach the refusals
        assert 200 in statuses
    else:
        assert statuses == {200}
