"""Statements on PostgreSQL on the driver's own connection, outside any transaction: short
reads, and writes that are one statement (committed on their own).

Through SQLAlchemy's ``Connection`` a get-latest-versions cost about twice its driver call in
client CPU (measured on this machine: ~300 vs ~130 us): the switch to autocommit and back
(SQLAlchemy sets autocommit and the isolation level, each way: four driver calls), the
rollback at close, the execution context and result, and psycopg building a description of
every result column for SQLAlchemy on every execute. Here a statement is compiled once and
the rows are the driver's tuples. For a one-statement create of a model version the same cut
0.56 -> 0.47 ms of our server's CPU.

Up to half the pool's connections are kept in autocommit between scopes, checked out of the
pool all along (so the pool's limits still bound every connection): a scope takes the one kept
last, and gives it back without the pool's check-out and check-in or switching autocommit
off and on (create-model-version on PostgreSQL 1,407 -> 1,685 req/s, server CPU 0.89 -> 0.74
ms; docs/performance.md). One kept idle longer than ``PING_AFTER_IDLE_SECONDS`` is pinged
first, as the pool pings its own; one kept longer than the pool's recycle time goes back to
the pool; all are closed when the engine is disposed or the server is found gone. A connection
beyond those kept goes back to the pool out of autocommit, as one whose transaction was reset
(no rollback call).

With the server's async driver every awaited driver call is a switch from the store's
greenlet to the event loop and back; SQLAlchemy's adapter makes five of them for one statement
(autocommit on, cursor, execute, autocommit off, the rollback at check-in). Here a statement on
a kept connection is one: its coroutine executes and fetches.

Failures are wrapped and handled as SQLAlchemy's ``Connection`` handles them (``sa.exc``
classes with the same text; a lost connection is invalidated and so are the pool's older
ones; a cancelled statement discards its connection), so callers see what they saw before.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Final, NoReturn

import sqlalchemy as sa
from psycopg.pq import ExecStatus, TransactionStatus
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.util import await_, is_exit_exception

MAX_COMPILED: Final = 1000

# A connection idle longer than this is pinged before use (the server may have closed it); a
# busy one is not: pool_pre_ping's extra round trip on every checkout cost more than a small
# write itself on PostgreSQL. For the pool's connections (``database``) and the ones kept here.
PING_AFTER_IDLE_SECONDS: Final = 5.0

_KEPT_SINCE: Final = "mlflow_core.driver_statements.kept_since"

# What a short read or a one-statement write runs: a select, or a union of selects.
Statement = sa.Select[Any] | sa.CompoundSelect[Any]

_IDLE = TransactionStatus.IDLE
_TUPLES_OK = ExecStatus.TUPLES_OK

# Types psycopg takes and returns as SQLAlchemy would pass them on PostgreSQL (no bind or
# result processing there); arrays of them too.
_PLAIN_TYPES = (sa.String, sa.Integer, sa.Boolean, sa.types.NullType)


class NotAPlainStatement(ValueError):
    """The statement's parameters or columns need SQLAlchemy's processing."""


class DriverStatements:
    """Plain statements on one PostgreSQL engine's pool."""

    def __init__(self, engine: Engine, keep: int, recycle_seconds: float) -> None:
        """``keep``: connections kept in autocommit between scopes, taken from the pool (of
        which they stay checked out); each goes back to the pool after ``recycle_seconds``."""
        self._engine = engine
        self._dialect = engine.dialect
        self._async = engine.dialect.is_async
        self._compiled: dict[Statement, tuple[str, Compiled]] = {}
        self._keep = keep
        self._recycle = recycle_seconds if recycle_seconds > 0 else float("inf")
        # (connection, when it was kept), the latest last: the next scope takes the warmest.
        self._kept: list[tuple[PoolProxiedConnection, float]] = []
        sa.event.listen(engine, "engine_disposed", self._drop_kept)

    def _statement(self, statement: Statement) -> tuple[str, Compiled]:
        """``statement`` compiled for this dialect, once per statement object."""
        found = self._compiled.get(statement)
        if found is None:
            compiled = statement.compile(dialect=self._dialect)
            self._require_plain(statement, compiled)
            if len(self._compiled) >= MAX_COMPILED:
                # Searches bring a statement per distinct filter: start afresh rather than keep
                # every one (the few in use are compiled again).
                self._compiled.clear()
            found = self._compiled[statement] = (compiled.string, compiled)
        return found

    def _require_plain(self, statement: Statement, compiled: Any) -> None:
        if compiled.post_compile_params:
            # SQLAlchemy renders an expanding IN's placeholders at each execution.
            raise NotAPlainStatement("an expanding parameter (IN a list bound at execution)")
        # Other types (numerics, JSON, dates, ...) may be converted on the way.
        for bind in compiled.binds.values():
            if not _plain(bind.type):
                raise NotAPlainStatement(f"parameter {bind.key!r} is a {bind.type!r}")
        for column in statement.selected_columns:
            if not _plain(column.type):
                raise NotAPlainStatement(f"column {column.name!r} is a {column.type!r}")

    @contextmanager
    def scope(self) -> Iterator[DriverScope]:
        """A connection in autocommit: each statement reads its own snapshot, as every
        statement does under READ COMMITTED, and commits on its own, without BEGIN and
        ROLLBACK (or COMMIT) round trips."""
        fairy = self._take()
        try:
            yield DriverScope(self, fairy)
        finally:
            self._give_back(fairy)

    def _take(self) -> PoolProxiedConnection:
        """A connection kept in autocommit by an earlier scope, else one from the pool."""
        while True:
            try:
                fairy, kept_at = self._kept.pop()
            except IndexError:
                break
            if time.monotonic() - kept_at < PING_AFTER_IDLE_SECONDS or self._answers(fairy):
                return fairy
        dialect = self._dialect
        try:
            fairy = self._engine.raw_connection()
        except dialect.loaded_dbapi.Error as exc:
            self._fail(None, exc, None, None, None)
        try:
            fairy.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        except BaseException as exc:
            try:
                self._fail(fairy, exc, None, None, None)
            finally:
                _discard(fairy)  # in an unknown state: never back to the pool as it is
        fairy.info.setdefault(_KEPT_SINCE, time.monotonic())
        return fairy

    def _answers(self, fairy: PoolProxiedConnection) -> bool:
        """Whether a connection kept idle for a while still answers (the server may have closed
        it, as the pool's own check-out checks for its idle connections)."""
        try:
            ping(fairy.dbapi_connection)
        except BaseException as exc:
            _discard(fairy)
            if is_exit_exception(exc):
                raise
            return False
        return True

    def _give_back(self, fairy: PoolProxiedConnection) -> None:
        """Keep the connection for the next scope; with enough kept, back to the pool."""
        if not fairy.is_valid:
            fairy.close()
            return
        driver: Any = fairy.driver_connection
        if not driver.autocommit or driver.info.transaction_status != _IDLE:
            # Only a broken connection (or one cancelled mid-statement) is left so.
            fairy.invalidate()
            fairy.close()
            return
        now = time.monotonic()
        if len(self._kept) < self._keep and now - fairy.info[_KEPT_SINCE] < self._recycle:
            self._kept.append((fairy, now))
            return
        fairy.info.pop(_KEPT_SINCE, None)
        try:
            fairy.dbapi_connection.autocommit = False  # type: ignore[union-attr]
        except BaseException as exc:
            # Never pool a connection in autocommit; the statement itself succeeded.
            fairy.invalidate(exc)
            fairy.close()
            if is_exit_exception(exc):
                raise
            return
        # Idle outside any transaction: nothing for the pool's rollback to reset.
        fairy._close_special(transaction_reset=True)

    def _drop_kept(self, *_: Any) -> None:
        """Close the kept connections (the engine is disposed, or the server went away)."""
        while True:
            try:
                fairy, _kept_at = self._kept.pop()
            except IndexError:
                return
            _discard(fairy)

    def rows(
        self, fairy: PoolProxiedConnection, statement: Statement, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        sql, compiled = self._statement(statement)
        parameters = compiled.construct_params(params)
        if self._async:
            try:
                return await_(_async_rows(fairy.driver_connection, sql, parameters))
            except BaseException as exc:
                self._fail(fairy, exc, sql, parameters, None)
        cursor = None
        try:
            cursor = fairy.cursor()
            cursor.execute(sql, parameters)
            found: Sequence[Sequence[Any]] = cursor.fetchall()
            cursor.close()
            return found
        except BaseException as exc:
            self._fail(fairy, exc, sql, parameters, cursor)

    def _fail(
        self,
        fairy: PoolProxiedConnection | None,
        exc: BaseException,
        statement: str | None,
        parameters: Any,
        cursor: Any,
    ) -> NoReturn:
        """Raise as SQLAlchemy's ``Connection._handle_dbapi_exception`` would."""
        dialect = self._dialect
        is_dbapi_error = isinstance(exc, dialect.loaded_dbapi.Error)
        exiting = is_exit_exception(exc)
        valid = fairy is not None and fairy.is_valid
        disconnect = (
            is_dbapi_error and dialect.is_disconnect(exc, fairy, cursor)  # type: ignore[arg-type]
        ) or (exiting and valid)
        if fairy is not None and valid:
            if disconnect:
                if exiting:
                    fairy.invalidate(exc)
                else:
                    # The server went away: its other connections older than now likely did
                    # too. This invalidates them and this one, as SQLAlchemy's own handling
                    # of a disconnect does, and closes the connections kept here.
                    self._engine.pool._invalidate(fairy, exc)
                    self._drop_kept()
            elif cursor is not None:
                with suppress(Exception):
                    cursor.close()
        if not is_dbapi_error:
            raise exc
        raise sa.exc.DBAPIError.instance(
            statement,
            parameters,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=self._engine.hide_parameters,
            connection_invalidated=disconnect,
            dialect=dialect,
            ismulti=False,
        ) from exc


class DriverScope:
    """Statements run on one connection in autocommit; rows as the driver's tuples."""

    __slots__ = ("_fairy", "_statements")

    def __init__(self, statements: DriverStatements, fairy: PoolProxiedConnection) -> None:
        self._statements = statements
        self._fairy = fairy

    def rows(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        return self._statements.rows(self._fairy, statement, params)


def ping(dbapi_connection: Any) -> None:
    """One ``SELECT 1`` on the connection: raises what the driver raises when it is gone."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()


def _discard(fairy: PoolProxiedConnection) -> None:
    """Close the connection; invalidating also checks it in, so its place is the pool's again
    (which opens a new connection when it needs one)."""
    if fairy.is_valid:
        with suppress(Exception):
            fairy.invalidate()


async def _async_rows(driver: Any, sql: str, parameters: Any) -> Sequence[Sequence[Any]]:
    """One statement on a psycopg ``AsyncConnection`` in autocommit."""
    cursor = driver.cursor()
    try:
        await cursor.execute(sql, parameters)
        # The result's status, not ``description``: that builds a column object per column.
        result = cursor.pgresult
        if result is None or result.status != _TUPLES_OK:
            return []
        found: Sequence[Sequence[Any]] = await cursor.fetchall()
        return found
    finally:
        await cursor.close()


def _plain(type_: Any) -> bool:
    if isinstance(type_, sa.ARRAY):
        return isinstance(type_.item_type, _PLAIN_TYPES)
    return isinstance(type_, _PLAIN_TYPES)
