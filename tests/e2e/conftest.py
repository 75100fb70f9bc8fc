"""A running ``mlflow-core server`` per database kind, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import KINDS, fresh_database
from tests.support.servers import Server, mlflow_core_server


@pytest.fixture(scope="module", params=KINDS)
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def core_server(server_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp(f"core-{server_kind}")
    with fresh_database(server_kind, workdir) as uri, mlflow_core_server(uri, workdir) as server:
        yield server
