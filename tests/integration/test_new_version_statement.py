"""create_model_version on PostgreSQL as one autocommit statement (``new_version``): what it
sends, and what happens when it waited for another creator of the same model. That concurrent
creates get distinct consecutive numbers is ``test_sql_registry``'s concurrency test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import mlflow_core
from mlflow_core import ErrorCode, MlflowCoreError
from mlflow_core.adapters.sql.database import Database
from mlflow_core.adapters.sql.new_version import CREATE_UNTAGGED_VERSION, CREATE_VERSION
from mlflow_core.domain.registry import RegistryTag
from mlflow_core.services.registry import RegistryService
from tests.support.databases import fresh_database
from tests.support.sql_statements import recorded_statements


@pytest.fixture
def uri(tmp_path: Path) -> Iterator[str]:
    with fresh_database("postgresql", tmp_path) as uri:
        yield uri


@pytest.fixture
def registry(uri: str) -> Iterator[RegistryService]:
    service = mlflow_core.registry_service(uri)
    try:
        yield service
    finally:
        service.store.close()


def _database(registry: RegistryService) -> Database:
    database = registry.store.database  # type: ignore[attr-defined]
    assert isinstance(database, Database)
    return database


def test_a_create_is_one_statement_on_the_drivers_connection(registry: RegistryService) -> None:
    registry.create_registered_model("m")
    database = _database(registry)
    tags = [RegistryTag("k", "v"), RegistryTag("j", "")]
    with recorded_statements(database.engine) as sent:
        version = registry.create_model_version("m", "s3://b/m", tags=tags)
    assert version.version == 1
    # Nothing through SQLAlchemy's Connection (no BEGIN, UPDATE, INSERT, COMMIT there): the
    # one statement went to the driver.
    assert sent == []
    assert CREATE_VERSION in database._driver_writes._compiled  # type: ignore[union-attr]
    found = registry.get_model_version("m", "1")
    assert (found.tags, found.source) == ({"k": "v", "j": ""}, "s3://b/m")
    assert registry.get_registered_model("m").last_updated_time == version.creation_time


def test_a_version_without_tags_takes_the_statement_without_them(
    registry: RegistryService,
) -> None:
    registry.create_registered_model("m")
    database = _database(registry)
    with recorded_statements(database.engine) as sent:
        first = registry.create_model_version("m", "s3://b/1")
        second = registry.create_model_version("m", "s3://b/2")
    assert (first.version, second.version, sent) == (1, 2, [])
    compiled = database._driver_writes._compiled  # type: ignore[union-attr]
    assert CREATE_UNTAGGED_VERSION in compiled
    assert CREATE_VERSION not in compiled
    found = registry.get_model_version("m", "2")
    assert (found.tags, found.source) == ({}, "s3://b/2")
    assert registry.get_registered_model("m").last_updated_time == second.creation_time


def test_a_missing_model_is_not_found_and_nothing_is_written(
    registry: RegistryService, uri: str
) -> None:
    with pytest.raises(MlflowCoreError) as info:
        registry.create_model_version("absent", "s3://b/x", tags=[RegistryTag("k", "v")])
    assert info.value.error_code is ErrorCode.RESOURCE_DOES_NOT_EXIST
    assert info.value.message == "Registered Model with name=absent not found"
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM model_versions")) == 0
            assert conn.scalar(sa.text("SELECT count(*) FROM model_version_tags")) == 0
    finally:
        engine.dispose()


def _waiting_for_a_lock(conn: sa.Connection) -> bool:
    waiting = conn.scalar(
        sa.text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE 'WITH model AS%'"
        )
    )
    return bool(waiting)


def test_a_create_that_waited_for_another_creator_numbers_after_its_version(
    registry: RegistryService, uri: str
) -> None:
    # Another creator on the transaction path has locked the model's row. Ours must wait for
    # that lock before writing anything: the other then numbers its version 1 without waiting
    # for ours (had ours inserted first, each would wait for the other: a deadlock). Our
    # snapshot, taken before the wait, shows no version, so our 1 conflicts: the statement
    # must write nothing, and the transaction path then numbers ours 2.
    registry.create_registered_model("m")
    engine = sa.create_engine(uri)
    results: list[int] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            results.append(registry.create_model_version("m", "s3://b/ours", tags=[]).version)
        except BaseException as exc:
            errors.append(exc)

    try:
        with engine.connect() as other, engine.connect() as watcher:
            watcher.execution_options(isolation_level="AUTOCOMMIT")
            other.execute(sa.text("SET lock_timeout = '5s'"))
            other.execute(sa.text("UPDATE registered_models SET last_updated_time = 1"))
            with recorded_statements(_database(registry).engine) as sent:
                thread = threading.Thread(target=create)
                thread.start()
                deadline = time.monotonic() + 10
                while not _waiting_for_a_lock(watcher):
                    assert time.monotonic() < deadline, "our create never waited for the lock"
                    time.sleep(0.02)
                other.execute(
                    sa.text(
                        "INSERT INTO model_versions (workspace, name, version, creation_time,"
                        " last_updated_time, current_stage, source, status)"
                        " VALUES ('default', 'm', 1, 1, 1, 'None', 's3://b/theirs', 'READY')"
                    )
                )
                other.commit()
                thread.join(10)
            assert not thread.is_alive()
        assert errors == []
        assert results == [2]
        # The one statement (seen waiting above) wrote nothing; the transaction path wrote 2.
        assert [statement.split()[:2] for statement in sent[:2]] == [
            ["UPDATE", "registered_models"],
            ["INSERT", "INTO"],
        ], sent
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT version, source FROM model_versions ORDER BY version")
            ).all()
        assert [tuple(row) for row in rows] == [(1, "s3://b/theirs"), (2, "s3://b/ours")]
    finally:
        engine.dispose()
