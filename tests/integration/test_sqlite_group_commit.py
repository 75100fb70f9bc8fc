"""Write transactions on a SQLite file queue, commit in groups, and answer only once committed.

Each test makes a second writer queue behind a unit of work that is still running (it waits
until the second one is counted as waiting), so that the two form one group.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlflow_core.adapters.sql import sqlite_writes
from mlflow_core.adapters.sql.database import Database
from mlflow_core.errors import ErrorCode, MlflowCoreError

_INSERT = sa.text("INSERT INTO t (k) VALUES (:k)")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'group.db'}")
    with database.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k TEXT PRIMARY KEY)")
    try:
        yield database
    finally:
        database.dispose()


def _keys(database: Database) -> set[str]:
    with database.connect() as conn:
        return set(conn.scalars(sa.text("SELECT k FROM t")))


def _commits(database: Database) -> list[int]:
    """A list that grows by one for every COMMIT on ``database``'s connections."""
    seen: list[int] = []
    sa.event.listen(database.engine, "commit", lambda _conn: seen.append(1))
    return seen


def _group(database: Database) -> sqlite_writes.GroupCommit:
    group = database._group_commit
    assert group is not None
    return group


def _write(database: Database, *keys: str) -> None:
    with database.begin() as conn:
        for key in keys:
            conn.execute(_INSERT, {"k": key})


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


def _with_one_queued(
    database: Database, pool: ThreadPoolExecutor, first: Callable[[Any], None], queued: Any
) -> tuple[Exception | None, Future[Any]]:
    """Run ``first`` in a unit of work on this thread while ``queued`` (submitted to ``pool``)
    queues behind it: what the unit raised, and the queued call's future."""
    futures: list[Future[Any]] = []
    try:
        with database.begin() as conn:
            first(conn)
            futures.append(pool.submit(queued))
            _until(lambda: _group(database)._waiting == 1, "the second writer waits")
    except Exception as exc:
        return exc, futures[0]
    return None, futures[0]


def test_a_queued_unit_commits_with_the_running_one_and_both_answer_after_the_commit(
    database: Database,
) -> None:
    commits = _commits(database)
    order: list[str] = []

    def second() -> None:
        with database.begin() as conn:
            conn.execute(_INSERT, {"k": "b"})
            order.append("second ran")
        order.append("second answered")

    with ThreadPoolExecutor(1) as pool:
        error, future = _with_one_queued(
            database, pool, lambda conn: conn.execute(_INSERT, {"k": "a"}), second
        )
        order.append("first answered")
        assert error is None
        future.result(timeout=10)

    assert order.index("second ran") < order.index("first answered")
    assert len(commits) == 1
    assert _keys(database) == {"a", "b"}


def test_a_unit_alone_commits_at_once(database: Database) -> None:
    commits = _commits(database)
    _write(database, "a")
    assert len(commits) == 1
    _write(database, "b")
    assert len(commits) == 2
    assert _keys(database) == {"a", "b"}


def test_a_failing_unit_is_rolled_back_alone_and_the_group_still_commits(
    database: Database,
) -> None:
    commits = _commits(database)
    with ThreadPoolExecutor(1) as pool:
        # The second unit writes "b", then breaks the key "a" the first one wrote.
        error, future = _with_one_queued(
            database,
            pool,
            lambda conn: conn.execute(_INSERT, {"k": "a"}),
            lambda: _write(database, "b", "a"),
        )
        assert error is None
        with pytest.raises(MlflowCoreError) as failed:
            future.result(timeout=10)
    assert failed.value.error_code == ErrorCode.BAD_REQUEST
    assert "UNIQUE constraint failed" in failed.value.message
    assert len(commits) == 1
    assert _keys(database) == {"a"}


def test_a_failed_commit_fails_every_unit_of_the_group_and_keeps_none_of_them(
    database: Database,
) -> None:
    # A reader in another connection keeps the file from being written; with a short busy
    # timeout the group's COMMIT gives up with SQLITE_BUSY.
    path = database.engine.url.database
    assert path is not None
    sa.event.listen(
        database.engine,
        "connect",
        lambda dbapi_conn, _record: dbapi_conn.execute("PRAGMA busy_timeout = 50"),
    )
    database.engine.dispose()
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchall()
        with ThreadPoolExecutor(1) as pool:
            first_error, future = _with_one_queued(
                database,
                pool,
                lambda conn: conn.execute(_INSERT, {"k": "a"}),
                lambda: _write(database, "b"),
            )
            second_error = future.exception(timeout=10)
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    for error in (first_error, second_error):
        assert isinstance(error, MlflowCoreError)
        assert error.error_code == ErrorCode.TEMPORARILY_UNAVAILABLE
        assert "database is locked" in error.message
    assert _keys(database) == set()
    _write(database, "c")
    assert _keys(database) == {"c"}


def test_a_unit_whose_failure_ends_the_transaction_fails_the_units_before_it(
    database: Database,
) -> None:
    # What SQLite does on a full disk or an I/O error: it rolls the whole transaction back.
    def ends_the_transaction() -> None:
        with database.begin() as conn:
            conn.execute(_INSERT, {"k": "b"})
            conn.exec_driver_sql("ROLLBACK")
            raise OSError("disk full")

    with ThreadPoolExecutor(1) as pool:
        first_error, future = _with_one_queued(
            database, pool, lambda conn: conn.execute(_INSERT, {"k": "a"}), ends_the_transaction
        )
        with pytest.raises(OSError, match="disk full"):
            future.result(timeout=10)
    assert isinstance(first_error, MlflowCoreError)
    assert first_error.error_code == ErrorCode.TEMPORARILY_UNAVAILABLE
    assert first_error.message == (
        "Database temporarily unavailable: the transaction shared with other writes was rolled back"
    )
    assert _keys(database) == set()
    _write(database, "c")
    assert _keys(database) == {"c"}


def test_a_unit_nested_in_a_unit_runs_on_a_connection_of_its_own(database: Database) -> None:
    seen: list[set[str]] = []

    def outer() -> None:
        with database.begin() as conn:
            conn.execute(_INSERT, {"k": "a"})
            with database.begin() as inner:
                seen.append(set(inner.scalars(sa.text("SELECT k FROM t"))))

    with ThreadPoolExecutor(1) as pool:
        pool.submit(outer).result(timeout=10)
    # The inner unit reads what is committed: the outer unit's row is not yet.
    assert seen == [set()]
    assert _keys(database) == {"a"}


def _lock_is_free(database: Database) -> bool:
    """Whether another process could take the file's lock now (a second open file
    description of the lock file conflicts as another process's would)."""
    fd = os.open(
        sqlite_writes._lock_path(os.path.realpath(str(database.engine.url.database))), os.O_RDWR
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_other_processes_wait_for_the_file_lock_while_a_group_is_open(
    database: Database,
) -> None:
    assert _lock_is_free(database)
    with database.begin() as conn:
        conn.execute(_INSERT, {"k": "a"})
        assert not _lock_is_free(database)
    assert _lock_is_free(database)


def _write_many(uri: str, prefix: str, threads: int, each: int) -> None:
    database = Database(uri)
    try:
        with ThreadPoolExecutor(threads) as pool:
            futures = [
                pool.submit(_write, database, f"{prefix}-{thread}-{n}")
                for thread in range(threads)
                for n in range(each)
            ]
            for future in futures:
                future.result()
    finally:
        database.dispose()


def test_concurrent_writers_in_several_processes_lose_and_duplicate_nothing(
    database: Database,
) -> None:
    uri = str(database.engine.url)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(uri, f"p{i}", 4, 50)) for i in range(2)]
    for process in processes:
        process.start()
    _write_many(uri, "here", 4, 50)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    expected = {
        f"{prefix}-{thread}-{n}"
        for prefix in ("p0", "p1", "here")
        for thread in range(4)
        for n in range(50)
    }
    assert _keys(database) == expected


def _child_finds_the_lock_taken(group: sqlite_writes.GroupCommit) -> None:
    """Exits 0 when this forked child's gate is its own: the parent's unit holds the file's
    lock against it, and no lock the parent's thread held is held here."""
    fd = group._lock_fd()
    assert fd is not None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os._exit(0 if group._turn.acquire(timeout=1) else 2)
    os._exit(1)  # it shares the parent's lock: both would write at once


def test_a_forked_child_takes_the_file_lock_on_its_own(database: Database) -> None:
    context = multiprocessing.get_context("fork")
    with database.begin() as conn:
        conn.execute(_INSERT, {"k": "a"})
        child = context.Process(target=_child_finds_the_lock_taken, args=(_group(database),))
        child.start()
        child.join(timeout=10)
    assert child.exitcode == 0
    assert _keys(database) == {"a"}


def test_a_full_group_commits_though_writers_wait(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_writes, "MAX_UNITS", 1)
    commits = _commits(database)
    order: list[str] = []

    def second() -> None:
        _write(database, "b")
        order.append("second answered")

    with ThreadPoolExecutor(1) as pool:
        error, future = _with_one_queued(
            database, pool, lambda conn: conn.execute(_INSERT, {"k": "a"}), second
        )
        order.append("first answered")
        future.result(timeout=10)
    assert error is None
    assert order == ["first answered", "second answered"]
    assert len(commits) == 2
    assert _keys(database) == {"a", "b"}


def test_a_units_own_savepoints_nest_in_the_group(database: Database) -> None:
    _write(database, "a")

    def second() -> None:
        with database.begin() as conn:
            conn.execute(_INSERT, {"k": "c"})
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(_INSERT, {"k": "a"})
            conn.execute(_INSERT, {"k": "d"})

    with ThreadPoolExecutor(1) as pool:
        error, future = _with_one_queued(
            database, pool, lambda conn: conn.execute(_INSERT, {"k": "b"}), second
        )
        future.result(timeout=10)
    assert error is None
    assert _keys(database) == {"a", "b", "c", "d"}
