"""The server's application freezes the worker's heap once MLflow's application is imported.

Nearly every object a worker holds by then lives as long as the worker; frozen, the cyclic
garbage collector's full passes skip them (docs/performance.md measured what they cost).
Checked in a child process: ``gc.freeze`` is process-wide, and this one runs other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = """
import asyncio, gc, sys
import httpx
from mlflow_core.entrypoints.config import ServerSettings
from mlflow_core.entrypoints.http.asgi import create_app

async def main():
    app = create_app(ServerSettings(backend_store_uri=sys.argv[1], access_log=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        answer = await client.get("/version")  # MLflow's application answers, once loaded
    print([answer.status_code], gc.get_freeze_count())

asyncio.run(main())
"""


def test_the_heap_is_frozen_once_mlflows_application_is_loaded(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, f"sqlite:///{tmp_path / 'heap.db'}"],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    statuses, frozen = result.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert statuses == "[200]"
    # MLflow's application alone is hundreds of thousands of objects.
    assert int(frozen) > 100_000, result.stdout
