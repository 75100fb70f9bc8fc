"""Engines for MLflow's database URIs, and how a unit of work runs on them.

One ``Database`` per URI and process. The store code is synchronous SQLAlchemy Core; how its
I/O happens is chosen here, once:

- ``io="sync"``: blocking drivers (pysqlite, psycopg, PyMySQL). Library callers and the
  in-process shim use this; the HTTP server runs such units of work in worker threads.
- ``io="async"``: for PostgreSQL the server uses psycopg's async driver through SQLAlchemy's
  async engine, and runs the *same* synchronous store code inside a greenlet
  (``sqlalchemy.util.greenlet_spawn``), so waiting on the database never holds a thread.
  Measured on this machine that is about twice the throughput of sync-in-threads on small
  writes (design notes); SQLite and MySQL stay sync (their async drivers are thread-backed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import URL, make_url

from mlflow_core.adapters.sql.driver_statements import (
    PING_AFTER_IDLE_SECONDS,
    DriverStatements,
    Statement,
    ping,
)
from mlflow_core.adapters.sql.sqlite_writes import (
    GroupCommit,
    GroupNotCommitted,
    group_commit_for,
)
from mlflow_core.errors import ErrorCode, MlflowCoreError

_logger = logging.getLogger(__name__)

Dialect = Literal["sqlite", "postgresql", "mysql"]
IoMode = Literal["sync", "async"]

# Drivers we ship, whatever driver the MLflow URI names: a user's "postgresql://" (psycopg2 by
# SQLAlchemy's default) and "mysql://" (mysqlclient) reach the same database through these.
_SYNC_DRIVERS: dict[Dialect, str] = {
    "sqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
}
_ASYNC_DRIVERS: dict[Dialect, str] = {"postgresql": "postgresql+psycopg_async"}


class UnsupportedDatabaseError(ValueError):
    """The URI names a database mlflow-core has no adapter for (MLflow's store may serve it)."""


def dialect_of(uri: str) -> Dialect:
    scheme = uri.split(":", 1)[0].lower()
    backend = scheme.split("+", 1)[0]
    if backend == "sqlite":
        return "sqlite"
    if backend in ("postgresql", "postgres"):
        return "postgresql"
    if backend == "mysql":
        return "mysql"
    raise UnsupportedDatabaseError(f"mlflow-core has no SQL adapter for '{scheme}' URIs")


def normalized_url(uri: str, io: IoMode = "sync") -> URL:
    """``uri`` with the driver mlflow-core uses for its dialect (and mode)."""
    dialect = dialect_of(uri)
    driver = (_ASYNC_DRIVERS if io == "async" else _SYNC_DRIVERS).get(dialect)
    if driver is None:
        driver = _SYNC_DRIVERS[dialect]
    url = make_url(uri.replace("postgres://", "postgresql://", 1))
    return url.set(drivername=driver)


def mlflow_store_uri(uri: str) -> str:
    """The URI to hand MLflow's own store so it opens the same database with our drivers."""
    if dialect_of(uri) == "sqlite":
        return uri  # pysqlite is SQLAlchemy's default; MLflow also reads the path from it
    return normalized_url(uri).render_as_string(hide_password=False)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # The pragmas MLflow's session maker sets on every SQLite session: without
    # case_sensitive_like, LIKE filters would match differently from MLflow's.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 20000")
    cursor.execute("PRAGMA case_sensitive_like = true")
    cursor.close()


def _sqlite_no_wait_on_connect(dbapi_connection: Any, record: Any) -> None:
    # A read on the event loop must not sleep in SQLite's busy handler: it fails at once
    # (ReadWouldWait) and runs again on a thread, where waiting holds nobody up.
    _sqlite_on_connect(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA busy_timeout = 0")


class ReadWouldWait(Exception):
    """A unit of work run on the event loop met a lock, or began a write: run it on a thread."""


# Set by the server while it runs a short read on its event loop (see ``reads_on_event_loop``).
_on_event_loop: ContextVar[bool] = ContextVar("mlflow_core_read_on_event_loop", default=False)
# SQLITE_BUSY, SQLITE_LOCKED: another connection holds the lock this one needs.
_SQLITE_LOCK_CODES = (5, 6)


@contextmanager
def reads_on_event_loop() -> Iterator[None]:
    """Within: SQLite read scopes never wait for a lock and write transactions refuse to start,
    both by raising ``ReadWouldWait`` (nothing was written, so the unit can simply re-run)."""
    token = _on_event_loop.set(True)
    try:
        yield
    finally:
        _on_event_loop.reset(token)


@contextmanager
def _lock_means_would_wait() -> Iterator[None]:
    try:
        yield
    except sa.exc.OperationalError as exc:
        code = getattr(exc.orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _SQLITE_LOCK_CODES:
            raise ReadWouldWait() from exc
        raise


def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    checked_in_at = record.info.get("checked_in_at")
    if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
        return
    try:
        ping(dbapi_connection)
        # End the ping's transaction: a read scope then switches the connection to autocommit,
        # which psycopg refuses inside a transaction.
        dbapi_connection.rollback()
    except Exception as exc:
        # The pool discards this connection and checks out (or opens) another.
        raise sa.exc.DisconnectionError() from exc


class RowReader(Protocol):
    """Runs read statements in a ``Database.short_reads`` scope."""

    def rows(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Any]: ...


class ConnectionRows:
    """A ``RowReader`` on a connection: for helpers that read both in a short read scope and in
    a caller's transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def rows(self, statement: Statement, params: Mapping[str, Any]) -> Sequence[Any]:
        return self._conn.execute(statement, params).all()


@dataclass(frozen=True, slots=True)
class PoolSettings:
    size: int = 5
    max_overflow: int = 10
    recycle_seconds: int = 3600


class Database:
    """An engine for one MLflow database URI, with transaction scopes for store code."""

    def __init__(
        self,
        uri: str,
        io: IoMode = "sync",
        pool: PoolSettings | None = None,
        read_uri: str | None = None,
    ) -> None:
        self.uri = uri
        self.dialect: Dialect = dialect_of(uri)
        self.io: IoMode = io if self.dialect in _ASYNC_DRIVERS else "sync"
        pool = pool or PoolSettings()
        self._async_engine, self.engine = self._create_engine(uri, pool)
        # MLflow's --read-replica-backend-store-uri: read-only units of work (connect()) go to
        # the replica, transactions (begin()) to the primary, as MLflow's routing session maker
        # sends read_only sessions to its read engine.
        self._async_read_engine: Any = None
        self.read_engine: Engine | None = None
        if read_uri and read_uri != uri:
            if dialect_of(read_uri) != self.dialect:
                raise ValueError(
                    f"the read replica must be a {self.dialect} database like the primary"
                )
            self._async_read_engine, self.read_engine = self._create_engine(read_uri, pool)
        elif read_uri:
            _logger.warning(
                "read_db_uri is the same as the primary db_uri; read replica routing will not "
                "be enabled. This is likely a configuration mistake."
            )
        self._reader: Engine = self.read_engine or self.engine
        self._no_wait_reader: Engine | None = None
        self._driver_reads: DriverStatements | None = None
        self._driver_writes: DriverStatements | None = None
        if self.dialect == "postgresql":
            # Half the pool's connections at most are kept in autocommit between scopes; the
            # rest serve transactions without overflowing.
            keep = pool.size // 2
            self._driver_writes = DriverStatements(self.engine, keep, pool.recycle_seconds)
            self._driver_reads = (
                self._driver_writes
                if self._reader is self.engine
                else DriverStatements(self._reader, keep, pool.recycle_seconds)
            )
            # Under PostgreSQL's READ COMMITTED every statement takes its own snapshot, inside a
            # transaction or not, so a read scope gains nothing from one but the BEGIN and
            # ROLLBACK round trips (two of the four of a get-latest-versions).
            self._reader = self._reader.execution_options(isolation_level="AUTOCOMMIT")

        self._group_commit = _group_commit_for(self.engine)

    def _create_engine(self, uri: str, pool: PoolSettings) -> tuple[Any, Engine]:
        url = normalized_url(uri, self.io)
        kwargs: dict[str, Any] = {}
        if self.dialect != "sqlite":
            kwargs.update(
                pool_size=pool.size,
                max_overflow=pool.max_overflow,
                pool_recycle=pool.recycle_seconds,
            )
        async_engine: Any = None
        if self.io == "async":
            from sqlalchemy.ext.asyncio import create_async_engine

            async_engine = create_async_engine(url, **kwargs)
            engine: Engine = async_engine.sync_engine
        else:
            engine = sa.create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_on_connect)
        else:
            sa.event.listen(engine.pool, "checkin", _on_checkin)
            sa.event.listen(engine.pool, "checkout", _on_checkout)
        return async_engine, engine

    @classmethod
    def wrapping(cls, engine: Engine, uri: str) -> Database:
        """A ``Database`` on an engine someone else made (MLflow's store, for the in-process shim).

        One pool per database and process: the shim's store code and MLflow's own methods share
        MLflow's engine. Only synchronous engines can be wrapped.
        """
        database = cls.__new__(cls)
        database.uri = uri
        database.dialect = dialect_of(uri)
        database.io = "sync"
        database._async_engine = None
        database.engine = engine
        # The shim routes nothing while MLflow's store has a read replica, so reads stay here.
        database._async_read_engine = None
        database.read_engine = None
        database._reader = engine
        database._no_wait_reader = None
        database._driver_reads = None
        database._driver_writes = None
        # MLflow's own sessions on this engine write on their own; SQLite's locks order them.
        database._group_commit = None
        if database.dialect == "sqlite" and not sa.event.contains(
            engine, "connect", _sqlite_on_connect
        ):
            sa.event.listen(engine, "connect", _sqlite_on_connect)
            # Connections pooled before the listener lack MLflow's pragmas; start a fresh pool
            # (connections in use elsewhere stay open until their users return them).
            engine.dispose(close=False)
        return database

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A read-write transaction: committed on success, rolled back on any error."""
        if _on_event_loop.get():
            raise ReadWouldWait()
        if self._group_commit is not None:
            with _translated_errors(), self._group_commit.transaction(self.engine) as conn:
                yield conn
            return
        with _translated_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def single_statements(self) -> Iterator[RowReader]:
        """A write scope on the primary in which every statement commits on its own, for a unit
        of work that is one statement: no BEGIN and COMMIT round trips. Rows are indexed by
        position only; on PostgreSQL the statements run on the driver's connection."""
        if _on_event_loop.get():
            raise ReadWouldWait()
        if self._driver_writes is None:
            engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            with _translated_errors(), engine.connect() as conn:
                yield ConnectionRows(conn)
            return
        with _translated_errors(), self._driver_writes.scope() as writer:
            yield writer

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read-only scope: its implicit transaction is rolled back at the end (on PostgreSQL
        there is none: reads run in autocommit, see ``__init__``)."""
        if _on_event_loop.get() and self.dialect == "sqlite":
            engine = self._no_wait_engine()
            with _translated_errors(), _lock_means_would_wait(), engine.connect() as conn:
                yield conn
            return
        with _translated_errors(), self._reader.connect() as conn:
            yield conn

    @contextmanager
    def short_reads(self) -> Iterator[RowReader]:
        """A read-only scope like ``connect()`` for a few statements read by key, whose rows
        are indexed by position only. On PostgreSQL they run on the driver's connection
        (``driver_statements``: about half the client CPU), and their rows are its tuples."""
        if self._driver_reads is None:
            with self.connect() as conn:
                yield ConnectionRows(conn)
            return
        with _translated_errors(), self._driver_reads.scope() as reader:
            yield reader

    @property
    def reads_without_waiting(self) -> bool:
        """Whether reads can run on a pool of their own that never waits for a lock: SQLite
        files (an in-memory database is private to its connection)."""
        return _sqlite_file(self._reader) is not None

    def _no_wait_engine(self) -> Engine:
        """SQLite reads on the event loop: their own small pool, busy timeout 0."""
        if self._no_wait_reader is None:
            engine = sa.create_engine(self._reader.url)
            sa.event.listen(engine, "connect", _sqlite_no_wait_on_connect)
            self._no_wait_reader = engine
        return self._no_wait_reader

    def ping(self) -> None:
        """One ``SELECT 1`` round trip to the primary, and one to the replica (health checks)."""
        for engine in (self.engine, self.read_engine):
            if engine is not None:
                with _translated_errors(), engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()
        if self._no_wait_reader is not None:
            self._no_wait_reader.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()

    async def dispose_async(self) -> None:
        for async_engine, engine in (
            (self._async_engine, self.engine),
            (self._async_read_engine, self.read_engine),
        ):
            if async_engine is not None:
                await async_engine.dispose()
            elif engine is not None:
                engine.dispose()
        if self._no_wait_reader is not None:
            self._no_wait_reader.dispose()


def _sqlite_file(engine: Engine) -> str | None:
    """The path of the SQLite file ``engine`` opens; None for another database or memory."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database
    if not name or name == ":memory:" or "mode=memory" in str(engine.url):
        return None
    return name


def _group_commit_for(engine: Engine) -> GroupCommit | None:
    """Writes on a SQLite file queue and commit in groups (``sqlite_writes``); not when the
    URI keeps each connection to the thread that opened it: a group's units run on several."""
    path = _sqlite_file(engine)
    if path is None or "check_same_thread" in engine.url.query:
        return None
    return group_commit_for(path)


# The database is away (stopped, restarting, unreachable, pool exhausted): the request may
# succeed when retried, which MLflow's client does for a 503.
_UNAVAILABLE = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    sa.exc.PendingRollbackError,
)


def unavailable(exc: BaseException) -> MlflowCoreError:
    """503 TEMPORARILY_UNAVAILABLE with the driver's first line only: no SQL, no parameters."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first_line = text.splitlines()[0] if text else type(exc).__name__
    _logger.warning("database unavailable: %s", first_line)
    return MlflowCoreError(
        f"Database temporarily unavailable: {first_line}", ErrorCode.TEMPORARILY_UNAVAILABLE
    )


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Map driver failures to MLflow's codes as its ManagedSessionMaker does."""
    try:
        yield
    except MlflowCoreError:
        raise
    except GroupNotCommitted as exc:
        raise unavailable(exc.__cause__ or exc) from exc
    except _UNAVAILABLE as exc:
        raise unavailable(exc) from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise unavailable(exc) from exc
        raise MlflowCoreError(str(exc), ErrorCode.BAD_REQUEST) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise MlflowCoreError(str(exc), ErrorCode.BAD_REQUEST) from exc
