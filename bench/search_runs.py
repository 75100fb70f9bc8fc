"""runs/search, ``mlflow-core server`` vs ``mlflow server``, on 1,000 or 100,000 runs.

    .venv/bin/python -m bench.search_runs --db postgresql --runs 100000 --duration 10

1. Reuse (or build once, with bulk SQL) a database of ``--runs`` runs in one experiment, each
   with 20 params, 10 tags and 5 metrics (``bench/run_population.py``).
2. Start both servers on it at once, same ``--workers``; check both return the same run ids
   for every search timed below.
3. Measure each search on one server then the other (alternating which goes first), with
   ``max_results`` 100: unfiltered in MLflow's default order; a metric + param filter ordered
   by another metric; a tag filter ordered by a param.
4. Print req/s, p50/p99, ours/MLflow, and each server tree's resident memory after the runs;
   save JSON under bench/results/.
"""

from __future__ import annotations

import argparse
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
    tracking_server,
)
from bench.run_population import cached_population

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
    db: Any, runs: int, workers: int, settings: WrkSettings, rounds: int
) -> tuple[list[Comparison], dict[str, Any]]:
    uri, experiment_id = cached_population(db, runs)
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    loads = [Load(name, "POST", SEARCH, body=body) for name, body in searches(experiment_id)]
    servers: dict[ServerKind, Server] = {
        kind: tracking_server(kind, uri, workers, workdir) for kind in ("mlflow", "ours")
    }
    rounds_of: dict[tuple[str, ServerKind], list[WrkResult]] = {}
    memory: dict[str, float] = {}
    try:
        for server in servers.values():
            server.start()
        for kind, server in servers.items():
            seconds = server.wait_until_ok("/health", timeout=600)
            log(f"{LABELS[kind]} on port {server.port}: /health after {seconds:.1f}s")
        for server in servers.values():
            server.wait_until_idle()
        check_same_answers(servers, [load.body for load in loads if load.body is not None])
        step = 0
        for _ in range(rounds):
            for load in loads:
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
        for kind, server in servers.items():
            memory[kind] = server.memory().rss_mib
            log(f"{LABELS[kind]}: resident memory of the tree {memory[kind]:.0f} MiB")
    finally:
        for server in servers.values():
            server.stop()
    comparisons = [
        Comparison(load.name, rounds_of[(load.name, "mlflow")], rounds_of[(load.name, "ours")])
        for load in loads
    ]
    shutil.rmtree(workdir, ignore_errors=True)
    return comparisons, {"rss_mib_after": memory, "database": uri.rsplit("/", 1)[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=DATABASE_KINDS, default="postgresql")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per search")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--timeout", type=int, default=60, help="wrk request timeout (s)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    settings = WrkSettings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=min(args.threads, args.connections),
        timeout=args.timeout,
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    comparisons, extra = run(args.db, args.runs, args.workers, settings, args.rounds)
    table = comparison_table(comparisons)
    memory = extra["rss_mib_after"]
    print(
        f"\nsearch-runs on {args.db}, {args.runs} runs x (20 params, 10 tags, 5 metrics),"
        f" max_results 100, {args.workers} workers each; wrk {settings.threads} threads,"
        f" {settings.connections} connections, {settings.duration}s (after {settings.warmup}s"
        f" warm-up), median of {args.rounds} round(s); {started}; {machine_description()}\n"
    )
    print(table)
    print(
        f"\nresident memory after the runs (server trees): MLflow {memory['mlflow']:.0f} MiB,"
        f" ours {memory['ours']:.0f} MiB"
    )
    path = save_results(
        f"search-runs-{args.db}-{args.runs}",
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
