"""Statements on PostgreSQL's driver connection (``driver_statements``): same rows, no transaction,
connections pooled as they were, a lost connection answered as before and replaced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.util import greenlet_spawn

import mlflow_core
from mlflow_core.adapters.sql import driver_statements, registry_store
from mlflow_core.adapters.sql.database import Database, IoMode, PoolSettings
from mlflow_core.adapters.sql.driver_statements import DriverStatements, NotAPlainStatement
from mlflow_core.adapters.sql.registry_store import SqlRegistryStore
from mlflow_core.domain.registry import RegistryTag
from mlflow_core.errors import ErrorCode, MlflowCoreError
from tests.support.databases import fresh_database

T = TypeVar("T")


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database("postgresql", tmp_path_factory.mktemp("driver-reads")) as created:
        registry = mlflow_core.registry_service(created)
        try:
            registry.create_registered_model("m")
            for _ in range(3):
                registry.create_model_version("m", "s3://b/m")
            registry.transition_model_version_stage("m", 2, "Production")
            registry.set_model_version_tag("m", 2, RegistryTag("k", "v"))
            registry.set_registered_model_alias("m", "champion", 2)
            registry.create_registered_model("empty")
        finally:
            registry.store.close()
        yield created


def _run(database: Database, fn: Callable[..., T], *args: Any) -> T:
    """``fn`` as the server runs it: in a greenlet on an event loop with the async driver."""
    if database.io == "sync":
        return fn(*args)

    async def main() -> T:
        try:
            return await greenlet_spawn(fn, *args)
        finally:
            await database.dispose_async()

    return asyncio.run(main())


PARAMS = {"ws": "default", "model": "m"}


@pytest.mark.parametrize("io", ["sync", "async"])
def test_rows_are_sqlalchemys_rows_read_outside_a_transaction(uri: str, io: IoMode) -> None:
    database = Database(uri, io=io)

    def read() -> tuple[list[Any], list[Any], Any]:
        with database.connect() as conn:
            expected = [tuple(r) for r in conn.execute(registry_store._LATEST_OF_MODEL, PARAMS)]
        with database.short_reads() as reader:
            rows = list(reader.rows(registry_store._LATEST_OF_MODEL, PARAMS))
            fairy = reader._fairy  # type: ignore[attr-defined]
            status = fairy.dbapi_connection.info.transaction_status
        return expected, rows, status

    try:
        expected, rows, status = _run(database, read)
    finally:
        if io == "sync":
            database.dispose()
    assert len(rows) == 3  # version 3 (stage None), and 2 with its tag and its alias
    assert sorted(rows, key=repr) == sorted(expected, key=repr)
    assert status.name == "IDLE"  # no BEGIN was sent


@pytest.mark.parametrize("io", ["sync", "async"])
def test_a_connection_is_back_out_of_autocommit(uri: str, io: IoMode) -> None:
    # Back in the pool as SQLAlchemy hands connections out: for transactions, the same
    # connection after a statement that failed.
    database = Database(uri, io=io, pool=PoolSettings(size=1, max_overflow=0))
    failing = sa.select(sa.cast(sa.literal("not a number"), sa.Integer))

    def scenario() -> tuple[bool, int, int, int]:
        with database.short_reads() as reader:
            reader.rows(registry_store._GET_MODEL, PARAMS)
            first = reader.rows(sa.select(sa.func.pg_backend_pid()), {})[0][0]
        with pytest.raises(MlflowCoreError), database.short_reads() as reader:
            reader.rows(failing, {})
        with database.engine.connect() as conn:
            autocommit = conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
            backend = conn.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
            conn.execute(sa.text("CREATE TEMP TABLE t (x int)"))
            conn.rollback()  # a transaction: the table is gone again
            missing = conn.execute(sa.text("SELECT to_regclass('pg_temp.t') IS NULL")).scalar()
        return autocommit, first, backend, int(bool(missing))

    try:
        autocommit, first, backend, missing = _run(database, scenario)
    finally:
        if io == "sync":
            database.dispose()
    assert autocommit is False
    assert backend == first  # not discarded
    assert missing == 1


def test_async_statements_bypass_sqlalchemys_adapter(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each adapter call is a greenlet switch to the event loop and back: a statement is one
    # switch (its coroutine), and the check-in sends no rollback.
    from sqlalchemy.dialects.postgresql.psycopg import AsyncAdapt_psycopg_connection

    database = Database(uri, io="async", pool=PoolSettings(size=2, max_overflow=0))

    def read() -> list[Any]:
        # The first connection is opened (SQLAlchemy's dialect reads the server's settings
        # through the adapter) and kept in autocommit, then the adapter is off limits.
        with database.short_reads() as reader:
            rows = list(reader.rows(registry_store._GET_MODEL, PARAMS))
        for name in ("set_autocommit", "cursor", "rollback"):
            monkeypatch.setattr(
                AsyncAdapt_psycopg_connection,
                name,
                _refuse(AssertionError(f"the adapter's {name} was called")),
            )
        for _ in range(2):
            with database.short_reads() as reader:
                rows += reader.rows(registry_store._GET_MODEL, PARAMS)
                rows += reader.rows(sa.select(sa.func.pg_backend_pid()), {})
        return rows

    rows = _run(database, read)
    assert len(rows) == 5
    # One connection throughout: a refused call would have discarded it.
    assert rows[2] == rows[4]


def _pids(database: Database, scopes: int) -> list[int]:
    """The backends of ``scopes`` short read scopes open at once."""
    with ExitStack() as stack:
        readers = [stack.enter_context(database.short_reads()) for _ in range(scopes)]
        return [reader.rows(sa.select(sa.func.pg_backend_pid()), {})[0][0] for reader in readers]


@pytest.mark.parametrize("io", ["sync", "async"])
def test_up_to_half_the_pool_is_kept_in_autocommit_between_scopes(uri: str, io: IoMode) -> None:
    database = Database(uri, io=io, pool=PoolSettings(size=4, max_overflow=0))

    def scenario() -> tuple[list[int], list[int], int, int, bool]:
        first = _pids(database, 3)
        pool = database.engine.pool
        kept, pooled = pool.checkedout(), pool.checkedin()  # type: ignore[attr-defined]
        with database.engine.connect() as conn:  # a transaction's connection: from the pool
            autocommit = conn.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
        return first, _pids(database, 2), kept, pooled, autocommit

    try:
        first, second, kept, pooled, autocommit = _run(database, scenario)
    finally:
        if io == "sync":
            database.dispose()
    assert (kept, pooled) == (2, 1)  # the pool's 4 // 2 kept, the third back in the pool
    assert autocommit is False  # and out of autocommit there
    # The scopes closed last to first: the last two kept; the next scopes take them, the
    # warmest first.
    assert second == first[1:]


@pytest.mark.parametrize("io", ["sync", "async"])
def test_kept_connections_are_pinged_after_idling_recycled_and_closed_with_the_engine(
    uri: str, io: IoMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(uri, io=io, pool=PoolSettings(size=2, max_overflow=0, recycle_seconds=60))
    admin = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))

    def alive(pid: int) -> bool:
        with admin.connect() as conn:
            found = conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
            return bool(found.scalar_one() == 1)

    def scenario() -> tuple[int, int, int, int, int]:
        (kept,) = _pids(database, 1)
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": kept})
        # Idle "long enough": pinged, found dead and replaced, without an error.
        monkeypatch.setattr(driver_statements, "PING_AFTER_IDLE_SECONDS", 0.0)
        (replacing,) = _pids(database, 1)
        monkeypatch.setattr(driver_statements, "PING_AFTER_IDLE_SECONDS", 5.0)
        # Kept longer than the recycle time: back to the pool after its scope.
        monkeypatch.setattr(time, "monotonic", lambda real=time.monotonic: real() + 120)
        (recycled,) = _pids(database, 1)
        pool = database.engine.pool
        return kept, replacing, recycled, pool.checkedout(), pool.checkedin()  # type: ignore[attr-defined]

    try:
        kept, replacing, recycled, checked_out, checked_in = _run(database, scenario)
        assert replacing != kept
        assert recycled == replacing
        assert (checked_out, checked_in) == (0, 1)
        monkeypatch.undo()
        # The engine disposed: kept connections are closed too (a database can be dropped).
        if io == "sync":
            (last,) = _pids(database, 1)
            database.dispose()
        else:
            (last,) = _run(database, _pids, database, 1)  # _run disposes the async engine
        assert not alive(last)
    finally:
        admin.dispose()
        if io == "sync":
            database.dispose()


def _refuse(error: BaseException) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    return refuse


@pytest.mark.parametrize("io", ["sync", "async"])
def test_latest_versions_and_missing_models_answer_as_before(uri: str, io: IoMode) -> None:
    database = Database(uri, io=io)
    store = SqlRegistryStore(database)

    def answers() -> tuple[Any, Any, Exception]:
        latest = store.get_latest_versions("default", "m")
        empty = store.get_latest_versions("default", "empty")
        try:
            store.get_latest_versions("default", "missing")
        except MlflowCoreError as error:
            return latest, empty, error
        raise AssertionError("a missing model was found")

    try:
        latest, empty, error = _run(database, answers)
    finally:
        if io == "sync":
            database.dispose()
    assert [(v.version, v.current_stage, v.tags, v.aliases) for v in latest] == [
        (3, "None", {}, ()),
        (2, "Production", {"k": "v"}, ("champion",)),
    ]
    assert empty == []
    assert isinstance(error, MlflowCoreError)
    assert error.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST


@pytest.mark.parametrize("io", ["sync", "async"])
def test_a_lost_connection_answers_unavailable_and_is_replaced(uri: str, io: IoMode) -> None:
    # Both connections are kept in autocommit between scopes (half of a pool of 4).
    database = Database(uri, io=io, pool=PoolSettings(size=4, max_overflow=0))
    store = SqlRegistryStore(database)
    admin = sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))
    backend_pid = sa.select(sa.func.pg_backend_pid())

    def scenario() -> tuple[MlflowCoreError, int, int]:
        # Both pooled connections die, as when the server restarts.
        with database.short_reads() as first, database.short_reads() as second:
            pids = [first.rows(backend_pid, {})[0][0], second.rows(backend_pid, {})[0][0]]
        with admin.connect() as conn:
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        try:
            store.get_latest_versions("default", "m")
        except MlflowCoreError as error:
            caught = error
        else:
            raise AssertionError("a read on a terminated connection succeeded")
        # The other kept connection and the pool's older ones were discarded with it: the next
        # read opens a new one.
        versions = len(store.get_latest_versions("default", "m"))
        return caught, versions, database.engine.pool.checkedout()  # type: ignore[attr-defined]

    try:
        error, versions, checked_out = _run(database, scenario)
    finally:
        admin.dispose()
        if io == "sync":
            database.dispose()
    assert error.error_code == ErrorCode.TEMPORARILY_UNAVAILABLE
    assert error.message.startswith("Database temporarily unavailable: ")
    assert versions == 2
    assert checked_out == 1  # the new one, kept; the discarded ones gave their places back


def test_a_ping_interrupted_gives_the_connection_s_place_back(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(uri, pool=PoolSettings(size=2, max_overflow=0))
    try:
        _pids(database, 1)  # kept
        monkeypatch.setattr(driver_statements, "PING_AFTER_IDLE_SECONDS", 0.0)
        monkeypatch.setattr(psycopg.Cursor, "execute", _refuse(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt) as interrupted, database.short_reads():
            pass
        monkeypatch.undo()
        # Given back, not left to the garbage collector (the traceback still holds it).
        assert interrupted.tb is not None
        assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert len(_pids(database, 2)) == 2  # both places usable again
    finally:
        database.dispose()


def test_statements_needing_conversion_are_refused(uri: str) -> None:
    database = Database(uri)
    try:
        reads = DriverStatements(database.engine, keep=1, recycle_seconds=3600)
        with pytest.raises(NotAPlainStatement):
            reads._statement(sa.select(sa.literal(1.5, sa.Numeric(10, 2))))
        with pytest.raises(NotAPlainStatement):
            reads._statement(sa.select(sa.literal_column("1.5", sa.Numeric(10, 2))))
        numbers = sa.bindparam("numbers", type_=sa.ARRAY(sa.Numeric(10, 2)))
        with pytest.raises(NotAPlainStatement):
            reads._statement(sa.select(sa.func.cardinality(numbers)))
        # Arrays of strings (a create's tags) and booleans pass as psycopg takes them.
        keys = sa.bindparam("keys", type_=sa.ARRAY(sa.String))
        reads._statement(sa.select(sa.func.cardinality(keys), sa.literal(True, sa.Boolean)))
        # SQLAlchemy renders an expanding IN's placeholders at each execution.
        names: sa.BindParameter[list[str]] = sa.bindparam("names", expanding=True)
        with pytest.raises(NotAPlainStatement):
            reads._statement(sa.select(sa.literal(1)).where(sa.literal("m").in_(names)))
    finally:
        database.dispose()


def test_searches_with_in_lists_run_on_the_driver_and_its_compiled_forms_stay_bounded(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(driver_statements, "MAX_COMPILED", 5)
    registry = mlflow_core.registry_service(uri)
    try:
        store = registry.store
        assert isinstance(store, SqlRegistryStore)
        reads = store.database._driver_reads
        assert reads is not None
        sizes = []
        for i in range(8):  # a statement per distinct search, and the models' completion
            page = registry.search_registered_models(f"name IN ('m', 'other-{i}')")
            assert [m.name for m in page.items] == ["m"]
            sizes.append(len(reads._compiled))
        assert sizes == [2, 3, 4, 5, 2, 3, 4, 5]
    finally:
        registry.store.close()


def test_other_databases_read_through_sqlalchemy(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with database.short_reads() as reader:
            assert list(reader.rows(sa.select(sa.literal(1)), {})) == [(1,)]
            assert type(reader).__name__ == "ConnectionRows"
    finally:
        database.dispose()
