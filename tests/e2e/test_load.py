"""64 concurrent clients mixing writes and reads on one experiment, for a bounded time.

Zero 5xx (and zero other failures), zero deadlocks (they would surface as errors), and the
database holds exactly what was acknowledged: every own tag once with its value (minus the
acknowledged deletes), every contended "hot" tag once with a value some client wrote, every
created experiment once. Latency percentiles are printed (-rP) for docs/performance.md.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import sqlalchemy as sa

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.database import Database
from tests.support.databases import fresh_database
from tests.support.load_mix import HOT_KEYS, run_mix
from tests.support.servers import mlflow_core_server

CLIENTS = 64
SECONDS = float(os.environ.get("MLFLOW_CORE_LOAD_SECONDS", "8"))


def test_64_clients_mixing_reads_and_writes(db_kind: str, tmp_path: Path) -> None:
    with (
        fresh_database(db_kind, tmp_path) as uri,
        mlflow_core_server(uri, tmp_path, workers=2) as server,
    ):
        result = asyncio.run(run_mix(server.url, CLIENTS, SECONDS))
        database = Database(uri)
        try:
            with database.connect() as conn:
                tag_table, experiment_table = tables.experiment_tags, tables.experiments
                tags = conn.execute(
                    sa.select(tag_table.c.key, tag_table.c.value).where(
                        tag_table.c.experiment_id == int(result.experiment_id)
                    )
                ).all()
                experiments = conn.execute(
                    sa.select(experiment_table.c.name, experiment_table.c.experiment_id).where(
                        experiment_table.c.name.like("load-%")
                    )
                ).all()
        finally:
            database.dispose()

    p50, p99 = result.percentile(0.50), result.percentile(0.99)
    print(
        f"load[{db_kind}]: {CLIENTS} clients, {result.seconds:.1f} s, {result.requests} requests "
        f"({result.requests / result.seconds:.0f} req/s), p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms; per operation p99: "
        + ", ".join(
            f"{op} {result.percentile(0.99, op) * 1000:.1f} ms" for op in sorted(result.latencies)
        )
    )
    assert not result.errors, result.errors[:5]
    assert set(result.statuses) == {200}
    assert result.requests > CLIENTS * 3, "the load barely ran"

    keys = [key for key, _ in tags]
    assert len(keys) == len(set(keys)), "a tag row is duplicated"
    stored = dict(tags)
    expected_own = {k: v for k, v in result.own_tags.items() if k not in result.deleted_tags}
    assert {k: v for k, v in stored.items() if k.startswith("c")} == expected_own
    for hot in HOT_KEYS:
        if result.hot_values[hot]:
            assert stored[hot] in result.hot_values[hot], hot
    found = [(str(name), str(experiment_id)) for name, experiment_id in experiments]
    assert len(found) == len(set(found))
    assert set(result.created.items()) <= set(found)
    assert len(found) == len(result.created) + 1  # + the target experiment
    print(
        f"load[{db_kind}]: acknowledged writes {len(result.own_tags) + len(result.deleted_tags)}"
        f" own-tag sets/deletes, {sum(map(len, result.hot_values.values()))} hot-tag sets, "
        f"{len(result.created)} creates; all found exactly once"
    )
