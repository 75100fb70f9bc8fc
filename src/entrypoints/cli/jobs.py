"""MLflow's job execution runner, started beside our server exactly when ``mlflow server`` would.

``mlflow server`` (``mlflow.server._run_server``) starts a job runner process next to its
workers unless ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION`` is false: it runs jobs the server's
handlers submit (scorers, ...) and periodic tasks (online scoring, trace archival) through Huey
queues whose storage directory the workers and the runner share. We mirror its conditions,
environment and launch, with one difference: importing MLflow's job modules costs seconds, so
MLflow's checks run in the runner's own process (which then becomes MLflow's runner) and the
server answers at once. A configuration MLflow would refuse at start-up stops our server
instead (exit code 1).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, MutableMapping

_logger = logging.getLogger("mlflow_core.server")

ENABLE_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
ROLLUPS_ENV = "MLFLOW_SQL_TRACE_ROLLUPS_ENABLED"
HUEY_STORAGE_ENV = "_MLFLOW_HUEY_STORAGE_PATH"  # mlflow.server.constants.HUEY_STORAGE_PATH_ENV_VAR
# The per-process markers _run_server exports to every server worker.
BOOT_ID_ENV = "_MLFLOW_SERVER_BOOT_ID"
IN_JOB_EXECUTOR_ENV = "_MLFLOW_IN_JOB_EXECUTOR"
SGI_NAME_ENV = "_MLFLOW_SGI_NAME"
# mlflow.utils.uri.extract_db_type_from_uri accepts these (mlflow.store.db.db_types).
_DATABASE_SCHEMES = {"sqlite", "postgresql", "mysql", "mssql"}


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    """MLflow's ``_BooleanEnvironmentVariable.get``: true/false/1/0, anything else an error."""
    value = env.get(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ValueError(f"{name} value must be one of ['true', 'false', '1', '0'] (got {value})")
    return lowered in ("true", "1")


def _is_database_uri(uri: str) -> bool:
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    return scheme.split("+", 1)[0] in _DATABASE_SCHEMES


def worker_environment(
    backend_store_uri: str, env: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """What ``_run_server`` adds to the workers' environment (before they are spawned)."""
    env = os.environ if env is None else env
    added = {BOOT_ID_ENV: uuid.uuid4().hex, IN_JOB_EXECUTOR_ENV: "false", SGI_NAME_ENV: "uvicorn"}
    if job_execution_requested(backend_store_uri, env):
        shm = "/dev/shm"
        added[HUEY_STORAGE_ENV] = tempfile.mkdtemp(dir=shm if os.path.exists(shm) else None)
    return added


def job_execution_requested(backend_store_uri: str, env: Mapping[str, str]) -> bool:
    """Job execution is on and ``_check_requirements`` would pass (a database URI, not Windows)."""
    return (
        _boolean(env, ENABLE_ENV, True) and os.name != "nt" and _is_database_uri(backend_store_uri)
    )


_REFUSED = 3  # the launcher's exit code when MLflow would refuse to start the server
_RUNNER_MODULES = {
    "huey": "mlflow.server.jobs._job_runner",
    "executor": "mlflow.server.jobs._executor_runner",
}


class JobRunner:
    """MLflow's job runner process for this server, started and stopped with it.

    The process starts as ``python -m mlflow_core.entrypoints.cli.jobs`` (the launcher below:
    MLflow's checks, then ``exec`` of MLflow's runner module). Importing MLflow's job modules
    in the server process itself would take seconds and, on a thread, deadlock on the import
    lock against the worker importing MLflow's application.
    """

    def __init__(
        self, backend_store_uri: str, default_artifact_root: str | None, host: str, port: int
    ) -> None:
        server_uri = f"http://{host}:{port}"
        self._env = {
            "MLFLOW_BACKEND_STORE_URI": backend_store_uri,
            "MLFLOW_TRACKING_URI": server_uri,
            # The runner watches this pid (uvicorn's supervisor, or the single worker) and exits
            # when it is gone; stop() also ends it at once.
            "MLFLOW_SERVER_PID": str(os.getpid()),
        }
        if default_artifact_root:
            self._env["MLFLOW_DEFAULT_ARTIFACT_ROOT"] = default_artifact_root
        if "MLFLOW_GATEWAY_URI" not in os.environ:
            self._env["MLFLOW_GATEWAY_URI"] = server_uri
        self._lock = threading.Lock()
        self._stopped = False
        self.process: subprocess.Popen[bytes] | None = None
        self.failed = False

    def start(self) -> None:
        # Its own process group: stop() ends the runner and the Huey consumers it started at
        # once (left alone, consumers notice the runner is gone only when they poll for it).
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            env={**os.environ, **self._env},
            start_new_session=True,
        )
        threading.Thread(target=self._watch, name="mlflow-job-runner", daemon=True).start()

    def _watch(self) -> None:
        assert self.process is not None
        code = self.process.wait()
        with self._lock:
            if self._stopped:
                return
        if code == _REFUSED:
            self.failed = True
            os.kill(os.getpid(), signal.SIGTERM)  # MLflow refuses to start in this case
        elif code not in (0, -signal.SIGTERM, -signal.SIGINT):
            _logger.error("MLflow job runner exited with code %s", code)

    def stop(self, timeout: float = 10) -> None:
        with self._lock:
            self._stopped = True
        process = self.process
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _launch() -> int:
    """MLflow's checks from ``_run_server``, then become MLflow's job runner."""
    logging.basicConfig(level=logging.INFO)
    from mlflow.server.jobs.executor_registry import validate_executor_config
    from mlflow.server.jobs.utils import _check_requirements, get_job_execution_engine
    from mlflow.tracing.trace_rollup_service import validate_sql_trace_rollup_startup

    backend_store_uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
    rollups = _boolean(os.environ, ROLLUPS_ENV, False)
    try:
        validate_sql_trace_rollup_startup(backend_store_uri)
        try:
            _check_requirements(backend_store_uri)
        except Exception as exc:
            if rollups:
                raise RuntimeError(
                    "SQL trace rollups require an available SQL job-execution backend."
                ) from exc
            _logger.warning(
                "MLflow job execution requirements not met (%s). Server will start without job "
                "execution support. Errors will be surfaced at job invocation time.",
                exc,
            )
            return 0
        validate_executor_config()
        engine = get_job_execution_engine()
        if rollups:
            from mlflow.tracing.trace_rollup_service import (
                validate_and_resolve_sql_trace_rollup_schedule,
            )

            validate_and_resolve_sql_trace_rollup_schedule()
    except Exception as exc:
        _logger.error("MLflow job execution cannot start: %s", exc)
        return _REFUSED
    os.environ["_MLFLOW_SERVER_UP_TIME"] = str(int(time.time() * 1000))
    module = _RUNNER_MODULES[engine]
    _logger.info("starting MLflow's job runner (%s)", module)
    os.execv(sys.executable, [sys.executable, "-m", module])
    return 0  # not reached


def job_runner(
    backend_store_uri: str, default_artifact_root: str | None, host: str, port: int
) -> JobRunner | None:
    """MLflow's job runner, not started yet, if ``mlflow server`` would start one here."""
    if HUEY_STORAGE_ENV not in os.environ:  # set by worker_environment when jobs are on
        return None
    return JobRunner(backend_store_uri, default_artifact_root, host, port)


if __name__ == "__main__":
    sys.exit(_launch())
