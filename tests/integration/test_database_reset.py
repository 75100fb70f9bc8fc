"""DatabaseReset, which the integration modules sharing one database rely on: after it, a
database answers as the one just created (rows, the Default experiment, id counters)."""

from __future__ import annotations

import sqlalchemy as sa

from mlflow_core import ExperimentTag, ViewType
from mlflow_core.adapters.sql.database import normalized_url
from mlflow_core.domain.runs import Metric, Param
from mlflow_core.services.tracking import TrackingService
from tests.support.databases import DatabaseReset, SharedDatabase


def _row_counts(uri: str) -> dict[str, int]:
    engine = sa.create_engine(normalized_url(uri), poolclass=sa.pool.NullPool)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


def test_reset_restores_the_created_state(
    shared_tracking: tuple[TrackingService, DatabaseReset], shared_database: SharedDatabase
) -> None:
    tracking, reset = shared_tracking
    reset()
    created = _row_counts(shared_database.uri)
    default = tracking.get_experiment("0")
    assert tracking.create_experiment("first") == "1"

    tracking.rename_experiment("0", "renamed")
    tracking.set_experiment_tag("0", ExperimentTag("k", "v"))
    second = tracking.create_experiment("second")
    run_id = tracking.create_run(second, run_name="r").info.run_id
    tracking.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)], params=[Param("p", "1")])
    tracking.delete_experiment(second)
    assert _row_counts(shared_database.uri) != created

    reset()
    assert _row_counts(shared_database.uri) == created
    assert tracking.get_experiment("0") == default
    assert [e.experiment_id for e in tracking.search_experiments(ViewType.ALL)] == ["0"]
    # identity counters start again as on a new database
    assert tracking.create_experiment("first again") == "1"
    reset()
    assert _row_counts(shared_database.uri) == created
