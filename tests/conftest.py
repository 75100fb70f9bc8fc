"""Shared fixtures: throwaway databases of every configured kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import KINDS, fresh_database


@pytest.fixture(params=KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_database(db_kind: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(db_kind, tmp_path) as uri:
        yield uri
