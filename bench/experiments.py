"""The experiment RPCs, ``mlflow-core server`` vs ``mlflow server`` on the same database.

    .venv/bin/python -m bench.experiments --db sqlite|postgresql|mysql --workers 2 --duration 10

1. Create a throwaway database and seed it with MLflow's own ``SqlAlchemyStore`` (so MLflow's
   migrations create the schema): ``--experiments`` experiments named ``bench-<i>``, each with
   3 tags (``team`` = a/b/c, ``owner``, ``priority``); then ANALYZE (PostgreSQL, MySQL).
2. Start both servers on that database at once, on two ports, with the same ``--workers``.
3. For each endpoint, warm up then measure one server, then the other (the order alternates
   from one endpoint to the next), so the two numbers of a row are taken minutes apart at most.
   Reads run before writes, so every read sees the same 1,000 experiments.
4. Print a Markdown table (req/s, p50, p99, ours/MLflow) and save JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    SERVER_KINDS,
    Comparison,
    DatabaseKind,
    Load,
    Server,
    ServerKind,
    WrkSettings,
    add_side_by_side_arguments,
    compare,
    comparison_table,
    log,
    machine_description,
    report_errors,
    save_comparisons,
    side_by_side,
    temporary_database,
    wrk_settings,
)

API = "/api/2.0/mlflow/experiments"
FILTER = "name LIKE 'bench-1%' AND tags.team = 'a'"


def seed(uri: str, count: int) -> dict[str, str]:
    """``count`` experiments with 3 tags each, written by MLflow's own store; name -> id."""
    from mlflow.entities import ExperimentTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    started = time.monotonic()
    store = SqlAlchemyStore(uri, "mlflow-artifacts:/")
    ids: dict[str, str] = {}
    try:
        for i in range(count):
            name = f"bench-{i}"
            tags = [
                ExperimentTag("team", "abc"[i % 3]),
                ExperimentTag("owner", f"user-{i % 10}"),
                ExperimentTag("priority", str(i % 5)),
            ]
            ids[name] = store.create_experiment(name, tags=tags)
    finally:
        store.engine.dispose()
    analyze(uri)
    log(f"seeded {count} experiments in {time.monotonic() - started:.1f}s")
    return ids


def analyze(uri: str) -> None:
    """Refresh the planner's statistics after the bulk load, as autovacuum would a minute
    later: without them PostgreSQL plans the tag filter as a nested loop over the tag index
    (measured: 17 ms instead of 0.3 ms per filtered search), and the benchmark would measure
    autovacuum's timing. SQLite is left as MLflow leaves it (no ANALYZE)."""
    import sqlalchemy as sa

    if uri.startswith("sqlite"):
        return
    engine = sa.create_engine(uri, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if uri.startswith("postgresql"):
                conn.exec_driver_sql("VACUUM ANALYZE")
            else:
                conn.exec_driver_sql("ANALYZE TABLE experiments, experiment_tags")
    finally:
        engine.dispose()


def loads(ids: dict[str, str], count: int) -> list[Load]:
    middle = f"bench-{count // 2}"
    tagged = ids[f"bench-{count // 2 + 1}"]
    return [
        Load("get-experiment", "GET", f"{API}/get?experiment_id={ids[middle]}"),
        Load("get-experiment-by-name", "GET", f"{API}/get-by-name?experiment_name={middle}"),
        Load("search-experiments", "POST", f"{API}/search", body={"max_results": 100}),
        Load(
            "search-experiments-filter",
            "POST",
            f"{API}/search",
            body={"max_results": 100, "filter": FILTER, "order_by": ["name DESC"]},
        ),
        Load(
            "create-experiment",
            "POST",
            f"{API}/create",
            lua_make_body=(
                "function make_body(id, n)\n"
                '  return string.format(\'{"name":"bench-new-%s-%d-%d"}\', prefix, id, n)\n'
                "end"
            ),
            writes=True,
        ),
        Load(
            "set-experiment-tag",
            "POST",
            f"{API}/set-experiment-tag",
            lua_make_body=(
                "function make_body(id, n)\n"
                "  return string.format("
                f'\'{{"experiment_id":"{tagged}","key":"bench.%d.%d",'
                '"value":"%s-%d"}\', id, n % 50, prefix, n)\n'
                "end"
            ),
            writes=True,
        ),
    ]


def _search_answer(server: Server, body: dict[str, Any]) -> list[str]:
    response = httpx.post(f"{server.base_url}{API}/search", json=body, timeout=30)
    response.raise_for_status()
    return [e["name"] for e in response.json().get("experiments", [])]


def check_same_answers(servers: dict[ServerKind, Server]) -> None:
    """Both servers must return the same experiments for the searches we time."""
    for body in (
        {"max_results": 100},
        {"max_results": 100, "filter": FILTER, "order_by": ["name DESC"]},
    ):
        mlflow_names = _search_answer(servers["mlflow"], body)
        ours_names = _search_answer(servers["ours"], body)
        if mlflow_names != ours_names:
            raise RuntimeError(
                f"search {body} differs: MLflow {len(mlflow_names)} experiments, "
                f"ours {len(ours_names)}: {mlflow_names[:5]} vs {ours_names[:5]}"
            )
        log(f"search {json.dumps(body)}: both return {len(ours_names)} experiments")


def run(
    db: DatabaseKind,
    workers: int,
    settings: WrkSettings,
    count: int,
    rounds: int,
    only: list[str] | None,
) -> tuple[list[Comparison], dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    with temporary_database(db, workdir) as uri:
        ids = seed(uri, count)
        with side_by_side(uri, workers, workdir) as pair:
            check_same_answers(pair.servers)
            selected = [load for load in loads(ids, count) if not only or load.name in only]
            comparisons = compare(pair, dict.fromkeys(SERVER_KINDS, selected), settings, rounds)
    return comparisons, {"seconds_to_health": pair.seconds_to_health, "workdir": str(workdir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_side_by_side_arguments(parser)
    parser.add_argument("--experiments", type=int, default=1000, help="experiments to seed")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure each endpoint this often; median shown"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' logs (kept on errors)"
    )
    parser.add_argument("--only", nargs="*", help="endpoint names to run (default: all)")
    args = parser.parse_args()
    settings = wrk_settings(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    comparisons, extra = run(
        args.db, args.workers, settings, args.experiments, args.rounds, args.only
    )
    table = comparison_table(comparisons)
    print(
        f"\nexperiments on {args.db}, {args.workers} workers each, {args.experiments} experiments"
        f" x 3 tags; wrk {settings.threads} threads, {settings.connections} connections,"
        f" {settings.duration}s (after {settings.warmup}s warm-up), median of {args.rounds}"
        f" round(s); {started};"
        f" {machine_description()}\n"
    )
    print(table)
    report_errors(comparisons, extra["workdir"], args.keep_logs)
    save_comparisons(f"experiments-{args.db}", args, started, table, comparisons, extra)


if __name__ == "__main__":
    main()
