"""Write transactions on a SQLite file: one writer at a time, handed over without SQLite's
busy sleeps, and the writers that queued meanwhile committed together.

SQLite lets one connection write at a time. A connection that finds the lock taken sleeps in
SQLite's busy handler (1, 2, 5, 10 ... 100 ms) and tries again, so with several writers the
file sits idle between a commit and the next sleeper's wake-up: create-model-version ran at
850 req/s on 0.7 of the 2 cores, p99 1.4 s (``bench.registry --db sqlite``, 8 clients, 2
workers; docs/performance.md). Each commit also waits for the journal's and the file's sync to
disk, about 0.65 ms here.

Here the write units of work of a process queue on a lock, and the processes on one file on
an ``flock`` of a lock file of their own (SQLite locks the database file with ``fcntl`` locks,
which do not interact with ``flock``; and no process may open and close the database file
itself: closing any descriptor of it drops the process's ``fcntl`` locks). A waiter wakes when
the lock is free. A unit that gets the lock runs on the group's connection, in a transaction
begun for the group (``BEGIN IMMEDIATE``), inside a savepoint of its own: a unit that fails is
rolled back to it alone. The unit that finds nobody waiting behind it (or the group full)
commits the group. Every unit returns only once its group committed, and fails if the commit
fails, so an answer never reports a write that is not on disk.

This only orders the writers that use it: SQLite's locking still decides what is safe, so a
process without it (MLflow's server, a user's script) or without the lock file (another user,
another temporary directory) is as correct as before, only slower.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any, Final

from sqlalchemy.engine import Connection, Engine

# A group ends at this many units or this age, whoever waits: writers in other processes queue
# for the file meanwhile, and every unit of the group waits for its commit.
MAX_UNITS: Final = 32
MAX_AGE_SECONDS: Final = 0.02

_LOCK_DIR_MODE: Final = 0o700

# A unit's savepoint, set on the driver's connection: SQLAlchemy's ``begin_nested`` costs 27.6 us
# for a SAVEPOINT and its RELEASE, the driver 0.85 us (timeit, docs/performance.md), and all of
# it inside the section writers queue for. A unit's own ``begin_nested`` savepoints nest in it.
_SAVEPOINT: Final = "SAVEPOINT mlflow_core_unit"
_RELEASE: Final = "RELEASE mlflow_core_unit"
_ROLLBACK_TO: Final = "ROLLBACK TO mlflow_core_unit"


class GroupNotCommitted(Exception):
    """The group this unit of work belonged to was not committed; its writes are undone."""


class _Group:
    __slots__ = ("committed", "conn", "error", "opened_at", "units")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.units = 0
        self.opened_at = time.monotonic()
        self.committed = threading.Event()
        self.error: BaseException | None = None

    def full(self) -> bool:
        return self.units >= MAX_UNITS or time.monotonic() - self.opened_at >= MAX_AGE_SECONDS

    def outcome(self) -> None:
        self.committed.wait()
        if self.error is not None:
            raise GroupNotCommitted(str(self.error)) from self.error


class GroupCommit:
    """Write transactions on one SQLite file from this process."""

    def __init__(self, database_path: str) -> None:
        self._lock_path = _lock_path(database_path)
        self._start_afresh()

    def _start_afresh(self) -> None:
        """No lock file opened, no lock held, nobody queued, no group open."""
        self._turn = threading.Lock()
        self._counts = threading.Lock()
        self._waiting = 0
        self._running: int | None = None
        self._group: _Group | None = None
        self._fd: int | None = None
        self._opened = False
        self._finalizer: weakref.finalize[..., GroupCommit] | None = None

    @contextlib.contextmanager
    def transaction(self, engine: Engine) -> Iterator[Connection]:
        """A unit of work's transaction; returns once it is committed with its group."""
        if self._running == threading.get_ident():
            # A unit nested in this thread's own unit: on a connection of its own, as without
            # groups (SQLite then makes it wait for the outer one, and fail after its timeout).
            with engine.begin() as conn:
                yield conn
            return
        with self._counts:
            self._waiting += 1
        self._turn.acquire()
        with self._counts:
            self._waiting -= 1
        self._running = threading.get_ident()
        try:
            group = self._group or self._open(engine)
            driver: Any = group.conn.connection.driver_connection
            driver.execute(_SAVEPOINT)
            try:
                yield group.conn
                driver.execute(_RELEASE)
            except BaseException:
                self._undo(group, driver)
                raise
            group.units += 1
        finally:
            self._running = None
            try:
                if self._group is not None and (self._waiting == 0 or self._group.full()):
                    self._commit(self._group)
            finally:
                self._turn.release()
        group.outcome()

    def _open(self, engine: Engine) -> _Group:
        fd = self._lock_fd()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            conn = engine.connect()
            try:
                # Ours, not the driver's deferred BEGIN: pysqlite would begin only at the first
                # write, and a savepoint before it would be the transaction itself.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._unlock()
            raise
        self._group = _Group(conn)
        return self._group

    def _undo(self, group: _Group, driver: Any) -> None:
        """Roll a failed unit back to its savepoint. If SQLite ended the whole transaction (a
        full disk, an I/O error), the savepoint is gone with it, and the group's earlier units
        fail too."""
        try:
            driver.execute(_ROLLBACK_TO)
            driver.execute(_RELEASE)
        except Exception as exc:
            lost = GroupNotCommitted("the transaction shared with other writes was rolled back")
            lost.__cause__ = exc
            self._end(group, lost)

    def _commit(self, group: _Group) -> None:
        """Commit the group; its units learn the outcome from it (``_Group.outcome``)."""
        try:
            group.conn.commit()
        except BaseException as exc:
            self._end(group, exc)
            return
        self._end(group, None)

    def _end(self, group: _Group, error: BaseException | None) -> None:
        self._group = None
        group.error = error
        try:
            if error is not None:
                with contextlib.suppress(Exception):
                    group.conn.rollback()
            group.conn.close()
        finally:
            self._unlock()
            group.committed.set()

    def _unlock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _lock_fd(self) -> int | None:
        if not self._opened:
            self._opened = True
            self._fd = _open_lock_file(self._lock_path)
            if self._fd is not None:
                self._finalizer = weakref.finalize(self, os.close, self._fd)
        return self._fd

    def _forget_after_fork(self) -> None:
        # A child shares its parent's open file description, and so its flock: it needs a
        # descriptor of its own. Locks held by a parent's threads have no owner in the child.
        if self._finalizer is not None:
            self._finalizer()
        self._start_afresh()


def _lock_path(database_path: str) -> str:
    key = hashlib.sha256(database_path.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    directory = os.path.join(tempfile.gettempdir(), f"mlflow-core-{os.getuid()}")
    return os.path.join(directory, f"sqlite-{key}.lock")


def _open_lock_file(path: str) -> int | None:
    """The lock file's descriptor, or None when it cannot be ours (then the process's own
    writers are still ordered and grouped, other processes' only by SQLite)."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=_LOCK_DIR_MODE, exist_ok=True)
        info = os.lstat(directory)
        # Someone else's directory, or a link to one, in a shared temporary directory.
        if info.st_uid != os.getuid() or info.st_mode & 0o077 or not stat.S_ISDIR(info.st_mode):
            return None
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return None


class _Files:
    """The process's ``GroupCommit`` per file: one per file, so that stores opened on the same
    file through different URIs (tracking and registry) queue together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: weakref.WeakValueDictionary[str, GroupCommit] = weakref.WeakValueDictionary()

    def get(self, database_path: str) -> GroupCommit:
        key = os.path.realpath(database_path)
        with self._lock:
            found = self._by_path.get(key)
            if found is None:
                found = GroupCommit(key)
                self._by_path[key] = found
            return found

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        for found in list(self._by_path.values()):
            found._forget_after_fork()


_files = _Files()
group_commit_for = _files.get
os.register_at_fork(after_in_child=_files.after_fork_in_child)
