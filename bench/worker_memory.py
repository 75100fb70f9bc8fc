"""Memory of a server tree whose workers have served: PSS and RSS per process, both servers.

    .venv/bin/python -m bench.worker_memory --db sqlite|postgresql|mysql --workers 2

1. Take the search benchmarks' cached database of ``--runs`` runs (20 params, 10 tags,
   5 metrics each; ``bench/run_population.py``), made on first use.
2. For each server in turn, MLflow's job runner off for both (its consumers run the same MLflow
   code under either server and would drown the workers' share): start it, wait ``--settle``
   seconds (our workers load MLflow's application in the background), answer ``--searches``
   run searches (``max_results`` 100), wait 2 s, then read each process's PSS (shared pages
   divided among the processes mapping them, so the sum is the tree's memory) and RSS from
   /proc; stop it.
3. Print one table per server and save JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import httpx

from bench.harness import (
    DATABASE_KINDS,
    LABELS,
    SERVER_KINDS,
    DatabaseKind,
    Server,
    ServerKind,
    TreeMemory,
    log,
    machine_description,
    markdown_table,
    running,
    save_results,
    tracking_server,
)
from bench.run_population import cached_population

SEARCH = "/api/2.0/mlflow/runs/search"


def _server(kind: ServerKind, uri: str, workers: int, workdir: Path) -> Server:
    server = tracking_server(kind, uri, workers, workdir)
    server.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return server


def _measure(
    kind: ServerKind, uri: str, args: argparse.Namespace, experiment_id: str, workdir: Path
) -> TreeMemory:
    with running(_server(kind, uri, args.workers, workdir)) as server:
        time.sleep(args.settle)
        body = {"experiment_ids": [experiment_id], "max_results": 100}
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            for _ in range(args.searches):
                client.post(SEARCH, json=body).raise_for_status()
        time.sleep(2)
        return server.memory()


def _table(memory: TreeMemory) -> str:
    rows = [
        [str(p.pid), p.command, f"{p.pss_mib:.0f}", f"{p.rss_mib:.0f}"] for p in memory.processes
    ]
    rows.append(["", "**tree**", f"**{memory.pss_mib:.0f}**", f"{memory.rss_mib:.0f}"])
    return markdown_table(["pid", "process", "PSS MiB", "RSS MiB"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=DATABASE_KINDS, default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds after /health")
    args = parser.parse_args(argv)
    db: DatabaseKind = args.db
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    results: dict[str, object] = {"started": started, "machine": machine_description()}
    uri, experiment_id = cached_population(db, args.runs)
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-memory-") as tmp:
        for kind in SERVER_KINDS:
            memory = _measure(kind, uri, args, experiment_id, Path(tmp))
            log(f"{LABELS[kind]}: tree PSS {memory.pss_mib:.0f} MiB")
            print(f"\n{LABELS[kind]}, {args.workers} workers, {db}, {started}:\n")
            print(_table(memory))
            results[kind] = asdict(memory)
    results["args"] = vars(args)
    log(f"saved {save_results(f'worker-memory-{db}', results)}")


if __name__ == "__main__":
    main()
