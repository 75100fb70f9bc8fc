"""runs/search, ``mlflow-core server`` vs ``mlflow server``, on 1,000 or 100,000 runs.

    .venv/bin/python -m bench.search_runs --db postgresql --runs 100000 --duration 10

1. Reuse (or build once, with bulk SQL) a database of ``--runs`` runs in one experiment, each
   with 20 params, 10 tags and 5 metrics (``bench/run_population.py``).
   ``--search-indexes`` (PostgreSQL) adds mlflow-core's opt-in search indexes to it first
   (``mlflow-core db create-search-indexes``); without it they are dropped if there. Both
   servers run on that same database.
2. Start both servers on it at once, same ``--workers``; check both return the same run ids
   for every search timed below.
3. Measure each search on one server then the other (alternating which goes first), with
   ``max_results`` 100: unfiltered in MLflow's default order; a metric + param filter ordered
   by another metric; a tag filter ordered by a param; unfiltered, ordered by a metric (the
   UI's sort on a metric column).
4. Print req/s, p50/p99, ours/MLflow, and each server tree's resident memory after the runs;
   save JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    LABELS,
    SERVER_KINDS,
    Comparison,
    Load,
    Server,
    ServerKind,
    WrkSettings,
    add_side_by_side_arguments,
    compare,
    comparison_table,
    log,
    machine_description,
    save_comparisons,
    side_by_side,
    wrk_settings,
)
from bench.run_population import cached_population
from mlflow_core.adapters.sql.search_indexes import create_search_indexes, drop_search_indexes

SEARCH = "/api/2.0/mlflow/runs/search"


def searches(experiment_id: str) -> list[tuple[str, dict[str, Any]]]:
    ids = [experiment_id]
    return [
        ("search-runs", {"experiment_ids": ids, "max_results": 100}),
        (
            "search-runs-metric-filter",
            {
                "experiment_ids": ids,
                "max_results": 100,
                "filter": "metrics.m0 > 0.5 AND params.p3 = 'v1'",
                "order_by": ["metrics.m1 DESC"],
            },
        ),
        (
            "search-runs-tag-filter",
            {
                "experiment_ids": ids,
                "max_results": 100,
                "filter": "tags.t2 = 'tag-3' AND attributes.status = 'FINISHED'",
                "order_by": ["params.p5", "start_time DESC"],
            },
        ),
        (
            "search-runs-metric-order",
            {"experiment_ids": ids, "max_results": 100, "order_by": ["metrics.m2 DESC"]},
        ),
    ]


def _run_ids(server: Server, body: dict[str, Any]) -> list[str]:
    response = httpx.post(f"{server.base_url}{SEARCH}", json=body, timeout=300)
    response.raise_for_status()
    return [run["info"]["run_id"] for run in response.json().get("runs", [])]


def check_same_answers(servers: dict[ServerKind, Server], bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        theirs, ours = _run_ids(servers["mlflow"], body), _run_ids(servers["ours"], body)
        if theirs != ours:
            raise RuntimeError(f"search {body} differs: {theirs[:3]} vs {ours[:3]}")
        log(f"search {body.get('filter')!r}: both return the same {len(ours)} runs")


def run(
    db: Any, runs: int, workers: int, settings: WrkSettings, rounds: int, indexes: bool
) -> tuple[list[Comparison], dict[str, Any]]:
    uri, experiment_id = cached_population(db, runs)
    if indexes:
        log(f"search indexes: built {create_search_indexes(uri) or 'none (all there)'}")
    elif db == "postgresql":
        log(f"search indexes: dropped {drop_search_indexes(uri) or 'none (none there)'}")
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    loads = [Load(name, "POST", SEARCH, body=body) for name, body in searches(experiment_id)]
    memory: dict[str, float] = {}
    with side_by_side(uri, workers, workdir, ready_timeout=600) as pair:
        check_same_answers(pair.servers, [load.body for load in loads if load.body is not None])
        comparisons = compare(pair, dict.fromkeys(SERVER_KINDS, loads), settings, rounds)
        for kind, server in pair.servers.items():
            memory[kind] = server.memory().rss_mib
            log(f"{LABELS[kind]}: resident memory of the tree {memory[kind]:.0f} MiB")
    shutil.rmtree(workdir, ignore_errors=True)
    extra = {"rss_mib_after": memory, "database": uri.rsplit("/", 1)[-1], "indexes": indexes}
    return comparisons, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_side_by_side_arguments(
        parser, db="postgresql", warmup=2, connections=4, warmup_per="search"
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--timeout", type=int, default=60, help="wrk request timeout (s)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--search-indexes",
        action="store_true",
        help="add mlflow-core's opt-in search indexes to the database (PostgreSQL)",
    )
    args = parser.parse_args()
    if args.search_indexes and args.db != "postgresql":
        parser.error("--search-indexes is for --db postgresql")
    settings = replace(
        wrk_settings(args), threads=min(args.threads, args.connections), timeout=args.timeout
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    comparisons, extra = run(
        args.db, args.runs, args.workers, settings, args.rounds, args.search_indexes
    )
    table = comparison_table(comparisons)
    memory = extra["rss_mib_after"]
    print(
        f"\nsearch-runs on {args.db}, {args.runs} runs x (20 params, 10 tags, 5 metrics),"
        f" max_results 100, search indexes {'on' if args.search_indexes else 'off'},"
        f" {args.workers} workers each; wrk {settings.threads} threads,"
        f" {settings.connections} connections, {settings.duration}s (after {settings.warmup}s"
        f" warm-up), median of {args.rounds} round(s); {started}; {machine_description()}\n"
    )
    print(table)
    print(
        f"\nresident memory after the runs (server trees): MLflow {memory['mlflow']:.0f} MiB,"
        f" ours {memory['ours']:.0f} MiB"
    )
    name = f"search-runs-{args.db}-{args.runs}{'-indexed' if args.search_indexes else ''}"
    save_comparisons(name, args, started, table, comparisons, extra)


if __name__ == "__main__":
    main()
