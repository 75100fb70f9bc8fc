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
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    DATABASE_KINDS,
    LABELS,
    Comparison,
    DatabaseKind,
    Load,
    Server,
    ServerKind,
    WrkResult,
    WrkSettings,
    check_ok,
    comparison_table,
    database_name,
    log,
    machine_description,
    measure,
    save_results,
    temporary_database,
    tracking_server,
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
    comparisons: list[Comparison] = []
    startup: dict[str, float] = {}
    with temporary_database(db, workdir) as uri:
        ids = seed(uri, count)
        servers: dict[ServerKind, Server] = {
            kind: tracking_server(kind, uri, workers, workdir) for kind in ("mlflow", "ours")
        }
        try:
            for server in servers.values():
                server.start()
            for kind, server in servers.items():
                startup[kind] = server.wait_until_ok("/health")
                log(f"{LABELS[kind]} on port {server.port}: /health after {startup[kind]:.1f}s")
            for server in servers.values():
                server.wait_until_idle()
            check_same_answers(servers)
            selected = [load for load in loads(ids, count) if not only or load.name in only]
            rounds_of: dict[tuple[str, ServerKind], list[WrkResult]] = {}
            step = 0
            # Reads first (all rounds), then writes: every read sees the seeded data only.
            reads = [load for load in selected if not load.writes]
            writes = [load for load in selected if load.writes]
            for phase in (reads, writes):
                for _ in range(rounds):
                    for load in phase:
                        order: list[ServerKind] = ["mlflow", "ours"]
                        if step % 2:
                            order.reverse()
                        step += 1
                        for kind in order:
                            check_ok(servers[kind].base_url, load)
                            result = measure(
                                servers[kind].base_url,
                                load,
                                settings,
                                servers[kind].pid,
                                database_name(uri),
                            )
                            rounds_of.setdefault((load.name, kind), []).append(result)
            comparisons = [
                Comparison(
                    load.name, rounds_of[(load.name, "mlflow")], rounds_of[(load.name, "ours")]
                )
                for load in selected
            ]
        finally:
            for server in servers.values():
                server.stop()
    return comparisons, {"seconds_to_health": startup, "workdir": str(workdir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=DATABASE_KINDS, default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--experiments", type=int, default=1000, help="experiments to seed")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure each endpoint this often; median shown"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' logs (kept on errors)"
    )
    parser.add_argument("--only", nargs="*", help="endpoint names to run (default: all)")
    args = parser.parse_args()
    settings = WrkSettings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
    )
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
    total_errors = sum(sum(c.errors) for c in comparisons)
    if total_errors:
        print(f"\nERRORS: {total_errors} non-2xx or socket errors in total (see the table)")
    if total_errors or args.keep_logs:
        log(f"servers' logs kept in {extra['workdir']}")
    else:
        shutil.rmtree(extra["workdir"], ignore_errors=True)
    path = save_results(
        f"experiments-{args.db}",
        {
            "started": started,
            "machine": machine_description(),
            "args": vars(args),
            "table": table,
            "comparisons": comparisons,
            **extra,
        },
    )
    log(f"results saved to {path}")


if __name__ == "__main__":
    main()
