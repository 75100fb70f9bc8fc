"""The run RPCs, ``mlflow-core server`` vs ``mlflow server`` on the same database, and the
database's own ceiling for the same write transactions (pgbench, PostgreSQL only).

    .venv/bin/python -m bench.runs --db postgresql --workers 2 --duration 5

1. Create a throwaway database; MLflow's own ``SqlAlchemyStore`` creates the schema and seeds an
   experiment, a run with 20 params, 10 tags and 10 metrics (get-run), and a run with a
   10,000-point metric (get-history).
2. Start both servers on that database at once with the same ``--workers``; for each endpoint
   warm up and measure one server, then the other (order alternating), reads before writes.
   Writes go to one run per server with values unique per request (no duplicates).
3. With PostgreSQL, run pgbench (prepared, same connections) on custom scripts doing what one
   log-metric / one 100-metric log-batch does in SQL: check the run, insert the metric rows,
   upsert latest_metrics; that is the ceiling the servers are compared with.
4. Time the real ``mlflow`` client's sequential ``log_metric`` against each server.
5. Print Markdown tables and save JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.harness import (
    SERVER_KINDS,
    DatabaseKind,
    Load,
    ServerKind,
    WrkSettings,
    add_side_by_side_arguments,
    compare,
    comparison_table,
    log,
    machine_description,
    markdown_table,
    report_errors,
    save_results,
    side_by_side,
    temporary_database,
    wrk_settings,
)

API = "/api/2.0/mlflow"
HISTORY_POINTS = 10_000
BATCH_SIZE = 100


def seed(uri: str) -> dict[str, str]:
    """Experiment and runs written by MLflow's own store; returns their ids."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    started = time.monotonic()
    store = SqlAlchemyStore(uri, "mlflow-artifacts:/")
    try:
        experiment_id = store.create_experiment("bench-runs")

        def new_run(name: str) -> str:
            run = store.create_run(experiment_id, "bench", 1, [], name)
            return str(run.info.run_id)

        read_run = new_run("read")
        store.log_batch(
            read_run,
            metrics=[Metric(f"metric-{i}", i * 0.5, 1000 + i, i) for i in range(10)],
            params=[Param(f"param-{i}", f"value-{i}") for i in range(20)],
            tags=[RunTag(f"tag-{i}", f"value-{i}") for i in range(10)],
        )
        history_run = new_run("history")
        for start in range(0, HISTORY_POINTS, 1000):
            store.log_batch(
                history_run,
                metrics=[
                    Metric("loss", 1.0 / (i + 1), 1000 + i, i) for i in range(start, start + 1000)
                ],
                params=[],
                tags=[],
            )
        ids = {
            "experiment": str(experiment_id),
            "read": read_run,
            "history": history_run,
            "write-mlflow": new_run("write-mlflow"),
            "write-ours": new_run("write-ours"),
            "client-mlflow": new_run("client-mlflow"),
            "client-ours": new_run("client-ours"),
        }
    finally:
        store.engine.dispose()
    if not uri.startswith("sqlite"):
        with sa.create_engine(uri, isolation_level="AUTOCOMMIT").connect() as conn:
            for table in ("runs", "metrics", "latest_metrics", "params", "tags"):
                conn.exec_driver_sql(f"ANALYZE {'TABLE ' if 'mysql' in uri else ''}{table}")
    log(f"seeded in {time.monotonic() - started:.1f}s")
    return ids


def _log_metric_body(run_id: str) -> str:
    return (
        "function make_body(id, n)\n"
        "  return string.format("
        f'\'{{"run_id":"{run_id}","key":"m-%s-%d","value":%d,"timestamp":%d,"step":%d}}\','
        " prefix, id, n, n, n)\n"
        "end"
    )


def _log_batch_body(run_id: str) -> str:
    return (
        "function make_body(id, n)\n"
        "  local parts = {}\n"
        f"  for j = 1, {BATCH_SIZE} do\n"
        "    parts[j] = string.format("
        '\'{"key":"b-%s-%d-%d","value":%d,"timestamp":%d,"step":%d}\','
        " prefix, id, j, n, n, n)\n"
        "  end\n"
        f'  return \'{{"run_id":"{run_id}","metrics":[\' .. table.concat(parts, ",") .. "]}}"\n'
        "end"
    )


def loads(ids: dict[str, str], kind: ServerKind) -> list[Load]:
    write_run = ids[f"write-{kind}"]
    return [
        Load("get-run", "GET", f"{API}/runs/get?run_id={ids['read']}"),
        Load(
            "get-history-10k",
            "GET",
            f"{API}/metrics/get-history?run_id={ids['history']}&metric_key=loss",
        ),
        Load(
            "create-run",
            "POST",
            f"{API}/runs/create",
            body={"experiment_id": ids["experiment"], "user_id": "bench", "start_time": 1},
            writes=True,
        ),
        Load(
            "log-metric",
            "POST",
            f"{API}/runs/log-metric",
            lua_make_body=_log_metric_body(write_run),
            writes=True,
        ),
        Load(
            f"log-batch-{BATCH_SIZE}",
            "POST",
            f"{API}/runs/log-batch",
            lua_make_body=_log_batch_body(write_run),
            writes=True,
        ),
    ]


# --------------------------------------------------------------------------- pgbench ceiling

_CHECK_RUN = "SELECT lifecycle_stage, experiment_id FROM runs WHERE run_uuid = '{run}';\n"
_UPSERT_LATEST_TAIL = (
    "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value, "
    "timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan "
    "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
    "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value);\n"
)
PGBENCH_LOG_METRIC = (
    "\\set n random(1, 2000000000)\n"
    "BEGIN;\n" + _CHECK_RUN + "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
    "VALUES ('pg-' || :client_id || '-' || :n, :n, :n, :n, false, '{run}') "
    "ON CONFLICT DO NOTHING;\n"
    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
    "VALUES ('pg-' || :client_id || '-' || :n, :n, :n, :n, false, '{run}') "
    + _UPSERT_LATEST_TAIL
    + "COMMIT;\n"
)
_BATCH_ROWS = (
    "SELECT 'pgb-' || :client_id || '-' || g, :n, :n, :n, false, '{run}' "
    f"FROM generate_series(1, {BATCH_SIZE}) AS g "
)
PGBENCH_LOG_BATCH = (
    "\\set n random(1, 2000000000)\n"
    "BEGIN;\n"
    + _CHECK_RUN
    + "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
    + _BATCH_ROWS
    + "ON CONFLICT DO NOTHING;\n"
    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
    + _BATCH_ROWS
    + _UPSERT_LATEST_TAIL
    + "COMMIT;\n"
)


def pgbench(uri: str, script: str, run_id: str, settings: WrkSettings, workdir: Path) -> float:
    """Transactions/s of ``script`` (prepared statements, ``settings.connections`` clients)."""
    url = sa.engine.make_url(uri)
    path = workdir / "pgbench.sql"
    path.write_text(script.format(run=run_id))
    command = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(settings.connections),
        "-j",
        str(settings.threads),
        "-T",
        str(settings.duration),
        "-f",
        str(path),
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        url.database or "postgres",
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=settings.duration + 60, check=True
    ).stdout
    match = re.search(r"tps = ([\d.]+)", output)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps:\n{output}")
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if failed and int(failed.group(1)):
        raise RuntimeError(f"pgbench had failed transactions:\n{output}")
    return float(match.group(1))


# --------------------------------------------------------------------------- real client


def client_log_metric_ms(base_url: str, run_id: str, calls: int) -> float:
    """Mean milliseconds per ``MlflowClient.log_metric`` call, one after another."""
    from mlflow import MlflowClient

    client = MlflowClient(base_url)
    client.log_metric(run_id, "client-warmup", 1.0)
    started = time.perf_counter()
    for i in range(calls):
        client.log_metric(run_id, "client", float(i), step=i)
    return (time.perf_counter() - started) * 1000 / calls


# --------------------------------------------------------------------------- the run


def run(db: DatabaseKind, workers: int, settings: WrkSettings, client_calls: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-runs-"))
    out: dict[str, Any] = {"workdir": str(workdir)}
    with temporary_database(db, workdir) as uri:
        ids = seed(uri)
        with side_by_side(uri, workers, workdir, ready_timeout=600) as pair:
            out["comparisons"] = compare(
                pair, {kind: loads(ids, kind) for kind in SERVER_KINDS}, settings
            )
            out["client_ms"] = {
                kind: client_log_metric_ms(server.base_url, ids[f"client-{kind}"], client_calls)
                for kind, server in pair.servers.items()
            }
            log(f"real client log_metric ms/call: {out['client_ms']}")
        if db == "postgresql":
            out["pgbench_tps"] = {
                "log-metric": pgbench(uri, PGBENCH_LOG_METRIC, ids["read"], settings, workdir),
                f"log-batch-{BATCH_SIZE}": pgbench(
                    uri, PGBENCH_LOG_BATCH, ids["read"], settings, workdir
                ),
            }
            log(f"pgbench tps: {out['pgbench_tps']}")
    return out


def ceiling_table(out: dict[str, Any]) -> str:
    by_name = {c.name: c for c in out["comparisons"]}
    rows = []
    for name, tps in out.get("pgbench_tps", {}).items():
        factor = BATCH_SIZE if name.startswith("log-batch") else 1
        unit = "rows/s" if factor > 1 else "req/s"
        c = by_name[name]
        ours = c.ours.requests_per_second * factor
        mlflow = c.mlflow.requests_per_second * factor
        rows.append(
            [
                name,
                f"{tps * factor:,.0f} {unit}",
                f"{mlflow:,.0f} ({mlflow / (tps * factor):.0%})",
                f"{ours:,.0f} ({ours / (tps * factor):.0%})",
                f"{ours / mlflow:.1f}x" if mlflow else "-",
            ]
        )
    return markdown_table(
        [
            "write",
            "PostgreSQL ceiling (pgbench)",
            "MLflow (of ceiling)",
            "ours (of ceiling)",
            "ours/MLflow",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_side_by_side_arguments(
        parser, db="postgresql", duration=5, warmup=2, threads_help="wrk and pgbench threads"
    )
    parser.add_argument("--client-calls", type=int, default=100)
    args = parser.parse_args()
    settings = wrk_settings(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    out = run(args.db, args.workers, settings, args.client_calls)
    print(
        f"\nruns on {args.db}, {args.workers} workers each; wrk {settings.threads} threads,"
        f" {settings.connections} connections, {settings.duration}s (after {settings.warmup}s"
        f" warm-up); {started}; {machine_description()}\n"
    )
    print(comparison_table(out["comparisons"]))
    if "pgbench_tps" in out:
        print()
        print(ceiling_table(out))
    client = out["client_ms"]
    print(
        f"\nreal mlflow client, sequential log_metric: MLflow {client['mlflow']:.1f} ms/call,"
        f" ours {client['ours']:.2f} ms/call ({client['mlflow'] / client['ours']:.1f}x faster)"
    )
    path = save_results(f"runs-{args.db}", {**out, "settings": vars(args)})
    log(f"results saved to {path}")
    report_errors(out["comparisons"], out["workdir"], keep_logs=False)


if __name__ == "__main__":
    main()
