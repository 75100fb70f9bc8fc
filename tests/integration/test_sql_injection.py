"""SQL fragments in filters, order_by, names and keys never reach SQL as text.

Every payload carries the marker ``zq9``. Each call must either answer exactly what a
literal reading gives (the one experiment created with that very name or tag) or fail with
MLflow's INVALID_PARAMETER_VALUE; and no statement sent to the database may contain the
marker: the payload travels only as a bound parameter. Runs on every configured database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import mlflow_core
from mlflow_core import ErrorCode, ExperimentTag, MlflowCoreError, ViewType
from mlflow_core.services.tracking import TrackingService
from tests.support.sql_statements import recorded_statements

MARK = "zq9"
# Experiment names that are themselves SQL fragments (created, so literal reads find them).
NAMES = [
    f"{MARK}' OR '1'='1",
    f"{MARK}'); DROP TABLE experiments; --",
    f'{MARK}" OR 1=1 --',
    f"{MARK}'; DELETE FROM experiment_tags; --",
    f"{MARK}%' OR name LIKE '%",
]
# Tag keys allow only [\w./: -]: enough for a fragment (and a quoted one is refused).
TAG_KEY = f"{MARK}k OR 1 -- DELETE FROM experiment_tags"
TAG_VALUE = f"{MARK}v'); DROP TABLE experiment_tags; --"


def _quote(value: str) -> str:
    return f'"{value}"' if "'" in value else f"'{value}'"


# (filter, names a literal reading selects); None = must be refused.
FILTERS: list[tuple[str, list[str] | None]] = [
    *[(f"name = {_quote(name)}", [name]) for name in NAMES if not ("'" in name and '"' in name)],
    (f"name = '{MARK}' OR '1'='1'", None),
    (f"name = '{MARK}'; DROP TABLE experiments; --'", None),
    (f"name LIKE '%{MARK}%' OR 1=1", None),
    (f"name LIKE '{MARK}%' --", None),
    (f"name = '{MARK}' UNION SELECT * FROM experiments", None),
    (f'tags.`{TAG_KEY}` = "{TAG_VALUE}"', [NAMES[0]]),
    (f"tags.`{TAG_KEY}` LIKE '%{MARK}%'", [NAMES[0]]),
    (f"tags.`{MARK}` = 'x' OR 1=1", None),
    (f"tags.{MARK}; DROP TABLE experiments = 'x'", None),
    (f"attributes.name{MARK} = 'x'", None),
    (f"name; DROP TABLE experiments {MARK} = 'x'", None),
    (f"(SELECT 1) {MARK} = 1", None),
    (f"creation_time > 0 OR {MARK} = 1", None),
    (f"creation_time > '0; DROP TABLE experiments {MARK}'", None),
]
ORDER_BYS = [
    [f"name; DROP TABLE experiments {MARK}"],
    [f"name DESC, (SELECT 1) {MARK}"],
    [f"creation_time ASC; {MARK}"],
    [f"name) {MARK} --"],
    [f"tags.`{MARK}' OR 1=1` DESC"],
]


@pytest.fixture
def tracking(empty_database: str, tmp_path: Path) -> Iterator[TrackingService]:
    service = mlflow_core.tracking_service(empty_database, str(tmp_path / "artifacts"))
    yield service
    service.store.close()


@pytest.fixture
def statements(tracking: TrackingService) -> Iterator[list[str]]:
    engine: sa.Engine = tracking.store.database.engine  # type: ignore[attr-defined]
    with recorded_statements(engine) as seen:
        yield seen


def _names(experiments: Any) -> list[str]:
    return sorted(e.name for e in experiments if MARK in e.name)


def test_sql_fragments_are_data_never_sql(tracking: TrackingService, statements: list[str]) -> None:
    ids = [tracking.create_experiment(name) for name in NAMES]
    with pytest.raises(MlflowCoreError):
        tracking.set_experiment_tag(ids[0], ExperimentTag(f"{MARK}' OR '1'='1", "v"))
    tracking.set_experiment_tag(ids[0], ExperimentTag(TAG_KEY, TAG_VALUE))
    tracking.create_experiment("bystander", tags=[ExperimentTag("team", "ml")])
    total = len(tracking.search_experiments(ViewType.ALL, 1000).items)

    for name, experiment_id in zip(NAMES, ids, strict=True):
        found = tracking.get_experiment_by_name(name)
        assert found is not None
        assert found.experiment_id == experiment_id
    assert tracking.get_experiment_by_name(f"{MARK}' OR '1'='1' --") is None
    refused = 0
    for filter_string, expected in FILTERS:
        if expected is None:
            with pytest.raises(MlflowCoreError) as info:
                tracking.search_experiments(ViewType.ALL, 1000, filter_string)
            assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE, filter_string
            refused += 1
            continue
        page = tracking.search_experiments(ViewType.ALL, 1000, filter_string)
        assert _names(page.items) == sorted(expected), filter_string
    for order_by in ORDER_BYS:
        with pytest.raises(MlflowCoreError) as info:
            tracking.search_experiments(ViewType.ALL, 1000, None, order_by)
        assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE, order_by
    with pytest.raises(MlflowCoreError):
        tracking.get_experiment(f"1 OR 1=1 {MARK}")
    tracking.delete_experiment_tag(ids[0], TAG_KEY)

    assert refused == sum(1 for _, expected in FILTERS if expected is None)
    assert statements, "the listener saw no statement"
    leaked = [statement for statement in statements if MARK in statement]
    assert not leaked, leaked[:3]
    # Nothing was dropped or deleted by a fragment.
    assert len(tracking.search_experiments(ViewType.ALL, 1000).items) == total
    assert tracking.get_experiment(ids[0]).tags == {}
