"""Short SQLite reads on the event loop: they never wait for a lock there and never write there.

A read that meets another connection's lock, or a unit of work that begins a write, stops
before touching anything and runs again on the threads, where it waits and succeeds.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import mlflow_core
from mlflow_core.adapters.sql.database import ReadWouldWait, reads_on_event_loop
from mlflow_core.domain.paging import Page
from mlflow_core.domain.registry import RegisteredModel
from mlflow_core.entrypoints.http import areas
from mlflow_core.entrypoints.http.app import Binding, MlflowCoreApp, build_routes
from mlflow_core.entrypoints.http.protocol.rpcs import RPCS
from mlflow_core.entrypoints.http.runners import SHORT_PAGES, InlineFirstRunner, ThreadRunner
from mlflow_core.entrypoints.http.security import SecurityPolicy, SecuritySettings
from mlflow_core.services.registry import RegistryService
from tests.support.asgi_calls import call, no_fallback


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[RegistryService, Path]]:
    path = tmp_path / "reads.db"
    service = mlflow_core.registry_service(f"sqlite:///{path}")
    service.create_registered_model("m")
    service.create_model_version("m", "s3://bucket/m")
    try:
        yield service, path
    finally:
        service.store.close()


@pytest.fixture
def locked(registry: tuple[RegistryService, Path]) -> Iterator[sqlite3.Connection]:
    """Another connection holding the file's exclusive lock (as a writer committing does)."""
    holder = sqlite3.connect(registry[1], isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield holder
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


def test_on_the_event_loop_a_read_runs_and_a_write_refuses_to_start(
    registry: tuple[RegistryService, Path],
) -> None:
    service, _ = registry
    with reads_on_event_loop():
        assert [v.version for v in service.get_latest_versions("m")] == [1]
        with pytest.raises(ReadWouldWait):
            service.create_model_version("m", "s3://bucket/m2")
    # nothing was written by the refused unit
    assert [v.version for v in service.get_latest_versions("m")] == [1]


def test_on_the_event_loop_a_locked_file_fails_at_once(
    registry: tuple[RegistryService, Path], locked: sqlite3.Connection
) -> None:
    service, _ = registry
    started = time.monotonic()
    with reads_on_event_loop(), pytest.raises(ReadWouldWait):
        service.get_latest_versions("m")
    assert time.monotonic() - started < 1  # not the 20 s busy timeout


def test_runner_serves_reads_on_the_loop_and_the_rest_on_threads(
    registry: tuple[RegistryService, Path], locked: sqlite3.Connection
) -> None:
    service, _ = registry
    threads_used: list[str] = []

    def read() -> list[int]:
        threads_used.append(threading.current_thread().name)
        return [v.version for v in service.get_latest_versions("m")]

    def write() -> int:
        threads_used.append(threading.current_thread().name)
        return service.create_model_version("m", "s3://bucket/m2").version

    async def main() -> None:
        runner = InlineFirstRunner(ThreadRunner(2))
        # While the file is locked the read goes to a thread and waits there; the loop stays
        # free: a timer on it releases the lock.
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, locked.execute, "ROLLBACK")
        assert await runner(read) == [1]
        assert threads_used[-1].startswith("db")
        assert await runner(read) == [1]
        assert threads_used[-1] == threading.current_thread().name  # on the loop, unlocked
        assert await runner(write) == 2  # began a write: re-run on a thread, written once
        assert threads_used[-1].startswith("db")

    asyncio.run(main())
    assert [v.version for v in service.search_model_versions("name = 'm'").items] == [2, 1]


class _SearchThreads(RegistryService):
    """The service, noting the thread each search runs on."""

    def __init__(self, service: RegistryService) -> None:
        self.__dict__.update(service.__dict__)
        self.threads: list[str] = []

    def search_registered_models(self, *args: Any, **kwargs: Any) -> Page[RegisteredModel]:
        self.threads.append(threading.current_thread().name)
        return super().search_registered_models(*args, **kwargs)


def test_a_search_for_a_short_page_runs_on_the_loop_a_longer_one_on_threads(
    registry: tuple[RegistryService, Path],
) -> None:
    service = _SearchThreads(registry[0])
    threads = ThreadRunner(2)
    registry_rpcs = [rpc for rpc in RPCS if rpc.service == "ModelRegistryService"]
    binding = Binding(areas.REGISTRY, service, threads, InlineFirstRunner(threads))
    app = MlflowCoreApp(
        build_routes(registry_rpcs, [binding]),
        no_fallback,
        security=SecurityPolicy(SecuritySettings()),
    )
    path = "/api/2.0/mlflow/registered-models/search"
    short = SHORT_PAGES["searchRegisteredModels"]
    for max_results in (None, short, short + 1):
        query = b"" if max_results is None else f"max_results={max_results}".encode()
        answer = call(app, "GET", path, query_string=query)
        assert answer.status == 200, answer.body
        assert [m["name"] for m in orjson.loads(answer.body)["registered_models"]] == ["m"]
    loop_thread = threading.current_thread().name  # asyncio.run runs the loop here
    assert service.threads[:2] == [loop_thread, loop_thread]  # MLflow's default page, and 100
    assert service.threads[2].startswith("db")
