"""How a unit of work runs from the event loop, chosen once per database.

Store code is synchronous. With a blocking driver it runs on a worker thread; with an async
driver (PostgreSQL via psycopg) it runs in a greenlet on the event loop itself, where
SQLAlchemy turns each database wait into an await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy.util import greenlet_spawn

from mlflow_core.adapters.sql.database import Database

T = TypeVar("T")


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


def runner_for(database: Database, threads: int) -> Runner:
    return GreenletRunner() if database.io == "async" else ThreadRunner(threads)
