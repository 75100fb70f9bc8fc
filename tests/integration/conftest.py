"""One database per kind for a whole test module, put back to its created state before each test.

Creating MLflow's schema costs seconds on PostgreSQL and MySQL (MLflow's own migrations), so
modules whose tests each need a new database share one: it is created and dropped by the
module (uniquely named, as every test database), and ``DatabaseReset`` restores the rows it had
right after the services created its schema before every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest

import mlflow_core
from mlflow_core.services.registry import RegistryService
from mlflow_core.services.tracking import TrackingService
from tests.support.databases import KINDS, DatabaseReset, SharedDatabase, fresh_database

S = TypeVar("S", TrackingService, RegistryService)


@pytest.fixture(scope="module", params=KINDS)
def shared_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedDatabase]:
    kind = str(request.param)
    workdir = tmp_path_factory.mktemp(f"shared-{kind}")
    with fresh_database(kind, workdir) as uri:
        yield SharedDatabase(kind, uri, str(workdir / "artifacts"))


@contextmanager
def _with_reset(service: S, uri: str) -> Iterator[tuple[S, DatabaseReset]]:
    """``service`` and a reset to the state it created on ``uri``; both closed afterwards."""
    reset = DatabaseReset(uri)
    try:
        yield service, reset
    finally:
        reset.close()
        service.store.close()


@pytest.fixture(scope="module")
def shared_tracking(
    shared_database: SharedDatabase,
) -> Iterator[tuple[TrackingService, DatabaseReset]]:
    service = mlflow_core.tracking_service(shared_database.uri, shared_database.artifacts)
    with _with_reset(service, shared_database.uri) as pair:
        yield pair


@pytest.fixture
def tracking(shared_tracking: tuple[TrackingService, DatabaseReset]) -> TrackingService:
    """A TrackingService on a database as it was just created (rows and id counters)."""
    service, reset = shared_tracking
    reset()
    return service


@pytest.fixture(scope="module")
def shared_registry(
    shared_database: SharedDatabase,
) -> Iterator[tuple[RegistryService, DatabaseReset]]:
    service = mlflow_core.registry_service(shared_database.uri)
    with _with_reset(service, shared_database.uri) as pair:
        yield pair


@pytest.fixture
def registry(shared_registry: tuple[RegistryService, DatabaseReset]) -> RegistryService:
    """A RegistryService on a database as it was just created (rows and id counters)."""
    service, reset = shared_registry
    reset()
    return service
