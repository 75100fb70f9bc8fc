"""``/health`` that checks the database, cheaply enough to be polled.

MLflow's ``/health`` answers ``OK`` without looking at anything. Ours answers the same ``OK``
when a ``SELECT 1`` on the tracking database succeeded within the last second, and 503 with the
reason when it did not, so a load balancer takes a server whose database is unreachable out of
rotation. Concurrent probes share one check; a check never waits longer than ``timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from mlflow_core.adapters.sql.database import Database
from mlflow_core.entrypoints.http.runners import Runner

_logger = logging.getLogger(__name__)


class DatabaseHealth:
    def __init__(
        self, database: Database, runner: Runner, ttl: float = 1.0, timeout: float = 2.0
    ) -> None:
        self._database = database
        self._runner = runner
        self._ttl = ttl
        self._timeout = timeout
        self._checked_at = -float("inf")
        self._problem: str | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> str | None:
        """None when healthy, else what is wrong."""
        if time.monotonic() - self._checked_at < self._ttl:
            return self._problem
        async with self._lock:
            if time.monotonic() - self._checked_at >= self._ttl:
                self._problem = await self._check()
                self._checked_at = time.monotonic()
        return self._problem

    async def _check(self) -> str | None:
        try:
            await asyncio.wait_for(self._runner(self._database.ping), self._timeout)
        except TimeoutError:
            problem = f"database did not answer within {self._timeout:g}s"
        except Exception as exc:
            problem = f"database unavailable: {type(exc).__name__}"
            _logger.warning("health check failed: %s", exc)
        else:
            return None
        _logger.warning("health check: %s", problem)
        return problem
