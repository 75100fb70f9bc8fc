"""Access log, structured log lines, the database health check and the job runner's conditions."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from typing import Any

import pytest

from mlflow_core.entrypoints.cli import jobs
from mlflow_core.entrypoints.http.access_log import AccessLog
from mlflow_core.entrypoints.http.health import DatabaseHealth
from mlflow_core.entrypoints.log_format import JsonFormatter, TextFormatter


async def _call(app: Any, path: str, status: int = 200) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "client": ("10.0.0.7", 4242)}
    await app(scope, receive, send)
    return sent


def _answering(status: int) -> Any:
    """An application answering every request with ``status``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    return app


def test_access_log_records_method_path_status_duration_and_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="mlflow_core.access")
    sent = asyncio.run(_call(AccessLog(_answering(404)), "/api/2.0/mlflow/experiments/get"))
    assert sent[0]["status"] == 404
    [record] = caplog.records
    assert record.levelno == logging.INFO
    fields = vars(record)
    assert fields["method"] == "GET"
    assert fields["path"] == "/api/2.0/mlflow/experiments/get"
    assert fields["status"] == 404
    assert fields["client"] == "10.0.0.7:4242"
    assert fields["duration_ms"] >= 0


def test_access_log_puts_health_probes_at_debug_and_notes_crashes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crash(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    caplog.set_level(logging.INFO, logger="mlflow_core.access")
    asyncio.run(_call(AccessLog(_answering(200)), "/health"))
    assert caplog.records == []
    with pytest.raises(RuntimeError):
        asyncio.run(_call(AccessLog(crash), "/x"))
    assert [vars(r)["status"] for r in caplog.records] == [500]


def test_an_access_record_is_the_record_logging_would_make(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mlflow_core.access")
    before = time.time()
    for _ in range(2):  # the second from the copied attributes
        asyncio.run(_call(AccessLog(_answering(201)), "/api/2.0/mlflow/runs/create"))
    after = time.time()
    logger = logging.getLogger("mlflow_core.access")
    fields = {"method": "GET", "path": "/api/2.0/mlflow/runs/create", "status": 201}
    expected = logger.makeRecord(
        logger.name, logging.INFO, "f", 1, "%s %s %d", tuple(fields.values()), None, None, fields
    )
    placed = {"pathname", "filename", "module", "lineno", "funcName"}
    timed = {"created", "msecs", "relativeCreated", "duration_ms", "client"}
    for record in caplog.records:
        mine = vars(record)
        assert {k: v for k, v in mine.items() if k not in placed | timed | {"message"}} == {
            k: v for k, v in vars(expected).items() if k not in placed | timed
        }
        assert before <= record.created <= after
        off = abs(record.created * 1000 % 1000 - record.msecs)
        assert min(off, 1000 - off) < 1.5
        assert abs(record.relativeCreated - expected.relativeCreated) < (after - before) * 1000 + 1
        assert record.getMessage() == "GET /api/2.0/mlflow/runs/create 201"
    assert len(caplog.records) == 2


def _record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("mlflow_core.access", logging.INFO, "f", 1, "GET %s", ("/p",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_the_extra_fields() -> None:
    line = JsonFormatter().format(_record(status=200, duration_ms=1.5))
    entry = json.loads(line)
    assert entry["msg"] == "GET /p"
    assert entry["level"] == "info"
    assert entry["logger"] == "mlflow_core.access"
    assert entry["status"] == 200
    assert entry["duration_ms"] == 1.5
    assert entry["ts"].endswith("Z")


def test_text_lines_carry_the_extra_fields_as_key_value() -> None:
    line = TextFormatter().format(_record(status=200))
    assert line.endswith("mlflow_core.access: GET /p status=200")


class _Database:
    def __init__(self) -> None:
        self.pings = 0
        self.fail = False

    def ping(self) -> None:
        self.pings += 1
        if self.fail:
            raise OSError("connection refused")


async def _direct(fn: Any, *args: Any) -> Any:
    return fn(*args)


def test_health_checks_the_database_at_most_once_per_ttl() -> None:
    database = _Database()
    health = DatabaseHealth(database, _direct, ttl=60)  # type: ignore[arg-type]

    async def probe_many() -> list[str | None]:
        return list(await asyncio.gather(*(health() for _ in range(20))))

    assert asyncio.run(probe_many()) == [None] * 20
    assert database.pings == 1


def test_health_reports_an_unreachable_database() -> None:
    database = _Database()
    database.fail = True
    health = DatabaseHealth(database, _direct, ttl=0)  # type: ignore[arg-type]
    assert asyncio.run(health()) == "database unavailable: OSError"
    database.fail = False
    assert asyncio.run(health()) is None


@pytest.mark.parametrize(
    ("env", "uri", "expected"),
    [
        ({}, "sqlite:///x.db", True),
        ({}, "postgresql://h/db", True),
        ({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, "sqlite:///x.db", False),
        ({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "0"}, "sqlite:///x.db", False),
        ({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "TRUE"}, "mysql://h/db", True),
        ({}, "file:///tmp/mlruns", False),
        ({}, "./mlruns", False),
    ],
)
def test_job_execution_follows_mlflow_conditions(
    env: dict[str, str], uri: str, expected: bool
) -> None:
    assert jobs.job_execution_requested(uri, env) is expected


def test_job_execution_flag_rejects_what_mlflow_rejects() -> None:
    with pytest.raises(ValueError, match="MLFLOW_SERVER_ENABLE_JOB_EXECUTION"):
        jobs.job_execution_requested("sqlite:///x.db", {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "y"})


def test_worker_environment_shares_a_huey_directory_only_when_jobs_run() -> None:
    on = jobs.worker_environment("sqlite:///x.db", {})
    off = jobs.worker_environment("sqlite:///x.db", {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    assert on[jobs.IN_JOB_EXECUTOR_ENV] == off[jobs.IN_JOB_EXECUTOR_ENV] == "false"
    assert on[jobs.SGI_NAME_ENV] == "uvicorn"
    assert jobs.HUEY_STORAGE_ENV in on
    assert jobs.HUEY_STORAGE_ENV not in off
    assert on[jobs.BOOT_ID_ENV] != off[jobs.BOOT_ID_ENV]
    shutil.rmtree(on[jobs.HUEY_STORAGE_ENV])
