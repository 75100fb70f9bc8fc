"""Operations features of ``mlflow-core server`` as a process: job runner, logs, health, config."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.servers import BIN, JOBS_ON, free_port, mlflow_core_server

_RUNNER = "mlflow.server.jobs._job_runner"
_LAUNCHER = "mlflow_core.entrypoints.cli.jobs"


def _command_lines() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = (parent, cmdline)
    return found


def _descendants(root: int) -> dict[int, str]:
    table = _command_lines()
    family: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, cmdline) in table.items():
            if ppid == parent and pid not in family:
                family[pid] = cmdline
                frontier.append(pid)
    return family


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def test_mlflow_job_runner_starts_and_stops_with_the_server(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'jobs.db'}"
    with mlflow_core_server(uri, tmp_path, env=JOBS_ON) as server:
        # Started before uvicorn (MLflow starts its runner beside its server): there at once.
        launched = _descendants(server.process.pid)
        assert any(_LAUNCHER in c or _RUNNER in c for c in launched.values()), launched
        deadline = time.monotonic() + 120
        family: dict[int, str] = {}
        while time.monotonic() < deadline:
            family = _descendants(server.process.pid)
            if any(_RUNNER in c for c in family.values()) and any(
                "huey_consumer" in c for c in family.values()
            ):
                break
            time.sleep(0.5)
        assert any(_RUNNER in c for c in family.values()), (family, server.log.read_text())
        assert any("huey_consumer" in c for c in family.values()), family
        code = server.stop()
    assert code == 0, server.log.read_text()
    deadline = time.monotonic() + 30
    while _alive(set(family)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _alive(set(family)), {pid: family[pid] for pid in _alive(set(family))}


def test_job_execution_disabled_starts_no_runner(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'nojobs.db'}"
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with mlflow_core_server(uri, tmp_path, env=env) as server:
        assert _descendants(server.process.pid) == {}


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read()


def test_json_logs_health_and_configuration_from_mlflow_core_variables(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'logs.db'}"
    env = {
        "MLFLOW_CORE_LOG_FORMAT": "json",
        "MLFLOW_CORE_LOG_LEVEL": "debug",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with mlflow_core_server(uri, tmp_path, env=env) as server:
        assert _get(f"{server.url}/health") == (200, b"OK")
        query = "experiment_name=Default"
        status, _ = _get(f"{server.url}/api/2.0/mlflow/experiments/get-by-name?{query}")
        assert status == 200
        server.stop()
    text = server.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [e for e in lines if e["logger"] == "mlflow_core.access"]
    by_path = {e["path"]: e for e in access}
    api = by_path["/api/2.0/mlflow/experiments/get-by-name"]
    assert api["status"] == 200
    assert api["method"] == "GET"
    assert api["duration_ms"] > 0
    assert by_path["/health"]["level"] == "debug"  # --log-level debug came from the environment
    assert any(e["logger"].startswith("uvicorn") for e in lines)


def test_mlflow_variables_configure_the_server_too(tmp_path: Path) -> None:
    # MLflow's own name for the same setting works; ours wins when both are set.
    uri = f"sqlite:///{tmp_path / 'env.db'}"
    env = {
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'ignored.db'}",
        "MLFLOW_CORE_BACKEND_STORE_URI": uri,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    argv = [str(BIN / "mlflow-core"), "server", "--workers", "1"]
    process = subprocess.Popen(
        [*argv, "--port", str(free_port())],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "env.db").exists():
            time.sleep(0.2)
        assert (tmp_path / "env.db").exists()
        assert not (tmp_path / "ignored.db").exists()
    finally:
        process.terminate()
        process.wait(30)


def test_version() -> None:
    out = subprocess.run(
        [str(BIN / "mlflow-core"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("mlflow-core, version ")
