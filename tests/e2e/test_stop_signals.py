"""A stop signal that arrives while the server starts ends it once it can serve, never lost.

Before uvicorn (one worker) or the supervisor (several) installs its handlers, ``mlflow-core
server`` only records SIGTERM and SIGINT (``stop_signals.hold``); the loop that takes over
replays them. Each test sends the signal to its own process at that point and expects the
server to end by itself: without the replay it would serve until the test's timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port

_ROOT = Path(__file__).resolve().parents[2]


def _stopped_before_serving(serve: str, notes: Path) -> subprocess.CompletedProcess[str]:
    """Run ``serve`` (Python, with ``config`` defined) after a SIGTERM was recorded."""
    script = (
        "import signal, uvicorn\n"
        "from mlflow_core.entrypoints.cli import stop_signals, worker_sockets\n"
        "stop_signals.hold()\n"
        "signal.raise_signal(signal.SIGTERM)\n"
        "config = uvicorn.Config('tests.support.lifespan_apps:notes_its_start', lifespan='on',\n"
        f"    host='127.0.0.1', port={free_port()}, workers=2)\n"
        f"{serve}\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "START_NOTES": str(notes)},
        cwd=_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its workers, if it forked any, end with it below
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_one_worker_serves_then_ends_on_a_signal_recorded_before_it_started(
    tmp_path: Path,
) -> None:
    result = _stopped_before_serving(
        "config.workers = 1\n"
        "server = stop_signals.SingleWorkerServer(config)\n"
        "server.run()\n"
        "print('started:', server.started)",
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started: True" in result.stdout
    assert [path.read_text() for path in tmp_path.iterdir()] == ["started"]


@pytest.mark.skipif(sys.platform != "linux", reason="the SO_REUSEPORT supervisor: Linux")
def test_the_supervisor_forks_no_worker_after_a_signal_recorded_before_it_started(
    tmp_path: Path,
) -> None:
    result = _stopped_before_serving("worker_sockets.serve(config)", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []
