"""How a unit of work runs from the event loop, chosen once per database.

Store code is synchronous. With a blocking driver it runs on a worker thread; with an async
driver (PostgreSQL via psycopg) it runs in a greenlet on the event loop itself, where
SQLAlchemy turns each database wait into an await.

Short reads on SQLite (``SHORT_READS``, and searches for a page of ``SHORT_PAGES``) run on the
event loop too (``InlineFirstRunner``): handing a request to a thread and back costs more here
than the read (GIL hand-offs, a wake-up each way: about half of a get-latest-versions' CPU,
measured with one worker under load). A read that would wait for a lock, or a unit of work that
begins a write, stops before touching anything and runs again on the threads, where waiting
holds no other request up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Protocol, TypeVar

from sqlalchemy.util import greenlet_spawn

from mlflow_core.adapters.sql.database import Database, ReadWouldWait, reads_on_event_loop

T = TypeVar("T")

# RPCs that read a bounded amount by key: short enough to hold the event loop for. Searches and
# histories (unbounded pages, whole histories) stay on the threads.
SHORT_READS: Final = frozenset(
    {
        "getExperiment",
        "getExperimentByName",
        "getRun",
        "getRegisteredModel",
        "getLatestVersions",
        "getModelVersion",
        "getModelVersionDownloadUri",
        "getModelVersionByAlias",
    }
)

# Searches whose page holds at most this many results are short reads as well: a page of
# MLflow's default size. On a worker thread a search of 100 registered models (tag filter, 300
# models) cost 4.26 ms of our server's CPU per request, on the event loop 3.08 ms
# (``bench.registry --db sqlite``, docs/performance.md). Larger pages stay on the threads.
SHORT_PAGES: Final = {"searchRegisteredModels": 100}


class Runner(Protocol):
    async def __call__(self, fn: Callable[..., T], /, *args: object) -> T: ...


class GreenletRunner:
    async def __call__(self, fn: Callable[..., T], /, *args: object) -> T:
        return await greenlet_spawn(fn, *args)


class ThreadRunner:
    def __init__(self, max_workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="db")

    async def __call__(self, fn: Callable[..., T], /, *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)


class InlineFirstRunner:
    """On the event loop, unless the unit of work would wait for a lock or write: on ``threads``."""

    def __init__(self, threads: Runner) -> None:
        self._threads = threads

    async def __call__(self, fn: Callable[..., T], /, *args: object) -> T:
        with reads_on_event_loop():
            try:
                return fn(*args)
            except ReadWouldWait:
                pass
        return await self._threads(fn, *args)


def runner_for(database: Database, threads: int) -> Runner:
    return GreenletRunner() if database.io == "async" else ThreadRunner(threads)


def short_read_runner(database: Database, runner: Runner) -> Runner:
    """The runner for ``SHORT_READS`` on ``database``, whose other RPCs run on ``runner``."""
    return InlineFirstRunner(runner) if database.reads_without_waiting else runner
