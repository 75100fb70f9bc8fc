"""16 concurrent writers on one run, through the server: no errors, no lost or doubled rows.

Every writer logs batches mixing a key all writers share, a key of its own, a point every
writer sends identically, a point it re-sends from its previous batch, params and tags, and
single log-metric calls. Afterwards the database must hold each acknowledged point exactly
once, and latest_metrics MLflow's choice (max step, then timestamp, then value) per key.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.databases import fresh_database
from tests.support.servers import Server, mlflow_core_server

WRITERS = 16
BATCHES = 25
Point = tuple[str, float, int, int]


@pytest.fixture(params=["postgresql", "mysql"])
def server_and_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    with (
        fresh_database(str(request.param), tmp_path) as uri,
        mlflow_core_server(uri, tmp_path, workers=2, timeout=300) as server,
    ):
        yield server, uri


def _post(server: Server, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{server.url}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _writer(server: Server, run_id: str, writer: int) -> tuple[list[Point], list[Any]]:
    acknowledged: list[Point] = []
    failures: list[Any] = []
    previous: list[Point] = []
    for i in range(BATCHES):
        points: list[Point] = [
            ("shared", float(writer * 1000 + i), 1000 + i, i % 7),
            (f"own-{writer}", float(i), 1000 + i, i),
            ("common", float(i), 2000 + i, i),  # identical from every writer
            *previous[:1],  # re-sent
            *[(f"k{j}", float(writer + j), 3000 + i, writer) for j in range(5)],
        ]
        body = {
            "run_id": run_id,
            "metrics": [{"key": k, "value": v, "timestamp": t, "step": s} for k, v, t, s in points],
            "params": [{"key": "shared-param", "value": "same"}, {"key": f"p{writer}-{i}"}],
            "tags": [{"key": "shared-tag", "value": str(writer)}, {"key": f"t{writer}"}],
        }
        status, answer = _post(server, "runs/log-batch", body)
        if status == 200:
            acknowledged += points
        else:
            failures.append((status, answer))
        single: Point = ("single", float(writer), 4000 + i, i)
        status, answer = _post(
            server,
            "runs/log-metric",
            {
                "run_id": run_id,
                "key": single[0],
                "value": single[1],
                "timestamp": single[2],
                "step": single[3],
            },
        )
        if status == 200:
            acknowledged.append(single)
        else:
            failures.append((status, answer))
        previous = points
    return acknowledged, failures


def test_sixteen_writers_on_one_run(server_and_uri: tuple[Server, str]) -> None:
    server, uri = server_and_uri
    status, created = _post(server, "runs/create", {"experiment_id": "0", "run_name": "race"})
    assert status == 200
    run_id = created["run"]["info"]["run_id"]
    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(lambda w: _writer(server, run_id, w), range(WRITERS)))
    failures = [f for _, fs in results for f in fs]
    assert failures == []
    acknowledged = {p for points, _ in results for p in points}

    engine = sa.create_engine(
        sa.engine.make_url(uri).set(
            drivername="postgresql+psycopg" if uri.startswith("postgresql") else "mysql+pymysql"
        )
    )
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text(
                    "SELECT `key`, value, timestamp, step FROM metrics WHERE run_uuid = :r"
                    if engine.dialect.name == "mysql"
                    else 'SELECT "key", value, timestamp, step FROM metrics WHERE run_uuid = :r'
                ),
                {"r": run_id},
            ).all()
            latest = conn.execute(
                sa.text(
                    "SELECT `key`, value, timestamp, step FROM latest_metrics WHERE run_uuid = :r"
                    if engine.dialect.name == "mysql"
                    else 'SELECT "key", value, timestamp, step FROM latest_metrics '
                    "WHERE run_uuid = :r"
                ),
                {"r": run_id},
            ).all()
            params = conn.execute(
                sa.text("SELECT COUNT(*) FROM params WHERE run_uuid = :r"), {"r": run_id}
            ).scalar_one()
    finally:
        engine.dispose()
    rows = [(k, float(v), int(t), int(s)) for k, v, t, s in stored]
    assert len(rows) == len(set(rows)), "a metric row is stored twice"
    assert set(rows) == acknowledged, "an acknowledged metric is missing (or one was invented)"
    expected_latest: dict[str, Point] = {}
    for point in acknowledged:
        best = expected_latest.get(point[0])
        if best is None or (point[3], point[2], point[1]) > (best[3], best[2], best[1]):
            expected_latest[point[0]] = point
    assert {(k, float(v), int(t), int(s)) for k, v, t, s in latest} == set(expected_latest.values())
    assert params == 1 + WRITERS * BATCHES
