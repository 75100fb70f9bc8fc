"""Metric histories on real databases: streamed in chunks, paged, sampled exactly as MLflow does.

MLflow's own SqlAlchemyStore reads the same database and its answers are the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from mlflow_core.adapters.sql.database import mlflow_store_uri
from mlflow_core.domain.runs import Metric
from mlflow_core.services import runs as run_services
from mlflow_core.services.tracking import TrackingService
from tests.support.databases import SharedDatabase


@pytest.fixture(scope="module")
def mlflow_store(
    shared_tracking: tuple[TrackingService, Any], shared_database: SharedDatabase
) -> Iterator[Any]:
    """MLflow's own store on the module's database (opened after ours created the schema)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(mlflow_store_uri(shared_database.uri), shared_database.artifacts)
    yield store
    store.engine.dispose()


def _points(metrics: Any) -> list[tuple[Any, ...]]:
    return [
        (m.key, "nan" if math.isnan(m.value) else m.value, m.timestamp, m.step) for m in metrics
    ]


def _log(tracking: TrackingService, run_id: str, metrics: list[Metric]) -> None:
    for start in range(0, len(metrics), 1000):
        tracking.log_batch(run_id, metrics=metrics[start : start + 1000])


def _history(tracking: TrackingService, run_id: str, key: str, **kw: Any) -> tuple[list[Any], Any]:
    page = tracking.get_metric_history(run_id, key, **kw)
    points = [p for chunk in page for p in chunk]
    return points, page.next_page_token


def test_history_streams_in_bounded_chunks_and_matches_mlflow(
    tracking: TrackingService, mlflow_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = tracking.create_run("0", run_name="h").info.run_id
    # Ties on timestamp and step, NaN beside 0.0, steps out of timestamp order.
    metrics = [Metric("m", float(i % 7), 1000 + i // 3, (i * 5) % 11) for i in range(2500)]
    metrics += [Metric("m", math.nan, 1000, 3), Metric("m", 0.0, 1000, 3), Metric("other", 1, 1)]
    _log(tracking, run_id, metrics)
    monkeypatch.setattr(run_services, "HISTORY_CHUNK_SIZE", 300)
    page = tracking.get_metric_history(run_id, "m")
    chunks = list(page)
    assert max(len(c) for c in chunks) == 300
    ours = [p for c in chunks for p in c]
    theirs = mlflow_store.get_metric_history(run_id, "m")
    assert len(ours) == len(theirs) == 2502
    # MLflow orders by (timestamp, step, value); NaN is stored as 0, so its place beside a
    # real 0.0 is the database's choice in MLflow: compare that tie as a set.
    assert sorted(_points(ours), key=str) == sorted(_points(theirs), key=str)
    key = lambda p: (p[2], p[3], 0.0 if p[1] == "nan" else p[1])  # noqa: E731
    assert [key(p) for p in _points(ours)] == [key(p) for p in _points(theirs)]
    assert page.next_page_token is None


def test_paged_history_tokens_match_mlflow(
    tracking: TrackingService, mlflow_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = tracking.create_run("0", run_name="paged").info.run_id
    _log(tracking, run_id, [Metric("m", float(i), i, i) for i in range(95)])
    monkeypatch.setattr(run_services, "HISTORY_CHUNK_SIZE", 7)
    token: str | None = None
    pages = 0
    while True:
        ours, our_token = _history(tracking, run_id, "m", max_results=20, page_token=token)
        theirs = mlflow_store.get_metric_history(run_id, "m", max_results=20, page_token=token)
        assert _points(ours) == _points(theirs)
        their_token = theirs.token.decode() if isinstance(theirs.token, bytes) else theirs.token
        assert our_token == their_token
        pages += 1
        if not our_token:
            break
        token = our_token
    assert pages == 5
    assert _history(tracking, "no-such-run", "m") == ([], None)


@pytest.mark.parametrize("max_results", [1, 2, 7, 50, 2500])
@pytest.mark.parametrize("steps", [None, (3, 40), (200, 300)])
def test_bulk_interval_samples_as_mlflow_does(
    tracking: TrackingService, mlflow_store: Any, max_results: int, steps: Any
) -> None:
    first = tracking.create_run("0", run_name="a").info.run_id
    second = tracking.create_run("0", run_name="b").info.run_id
    _log(tracking, first, [Metric("m", float(i % 13), i, i // 3) for i in range(400)])
    _log(tracking, first, [Metric("m", math.nan, 5, 1), Metric("m", 0.0, 5, 1)])
    _log(tracking, second, [Metric("m", float(i), 10, 0) for i in range(30)])
    start, end = steps if steps else (None, None)
    ours = tracking.get_metric_history_bulk_interval(
        [second, first, "missing"], "m", max_results, start, end
    )
    theirs = mlflow_store.get_metric_history_bulk_interval(
        [second, first, "missing"], "m", max_results, start, end
    )
    assert [(run_id, *_points([p])[0]) for run_id, p in ours] == [
        (m.run_id, *_points([m])[0]) for m in theirs
    ]
