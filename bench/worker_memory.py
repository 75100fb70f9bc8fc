"""Memory of a server tree whose workers have served: PSS and RSS per process, both servers.

    .venv/bin/python -m bench.worker_memory --db sqlite|postgresql|mysql --workers 2

1. Create a throwaway database; start ``mlflow-core server`` once (not measured) to write one
   experiment of ``--runs`` runs (20 params, 10 tags, 5 metrics each) through the REST API.
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
import json
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

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
    temporary_database,
    tracking_server,
)

_API = "/api/2.0/mlflow"


def _post(base_url: str, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        base_url + _API + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        result: dict[str, object] = json.loads(answer.read())
        return result


def _server(kind: ServerKind, uri: str, workers: int, workdir: Path) -> Server:
    server = tracking_server(kind, uri, workers, workdir)
    server.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return server


def _populate(uri: str, runs: int, workdir: Path) -> str:
    with running(_server("ours", uri, 1, workdir)) as server:
        experiment = _post(server.base_url, "/experiments/create", {"name": "memory"})
        experiment_id = str(experiment["experiment_id"])
        for index in range(runs):
            run = _post(server.base_url, "/runs/create", {"experiment_id": experiment_id})
            info = run["run"]["info"]  # type: ignore[index]
            batch = {
                "run_id": info["run_id"],
                "params": [{"key": f"p{k}", "value": f"v{(index + k) % 10}"} for k in range(20)],
                "tags": [{"key": f"t{k}", "value": f"tag-{(index + k) % 5}"} for k in range(10)],
                "metrics": [
                    {"key": f"m{k}", "value": (index * 7 + k) % 100 / 100, "timestamp": index}
                    for k in range(5)
                ],
            }
            _post(server.base_url, "/runs/log-batch", batch)
    return experiment_id


def _measure(
    kind: ServerKind, uri: str, args: argparse.Namespace, experiment_id: str, workdir: Path
) -> TreeMemory:
    with running(_server(kind, uri, args.workers, workdir)) as server:
        time.sleep(args.settle)
        body = {"experiment_ids": [experiment_id], "max_results": 100}
        for _ in range(args.searches):
            _post(server.base_url, "/runs/search", body)
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
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds after /health")
    args = parser.parse_args(argv)
    db: DatabaseKind = args.db
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    results: dict[str, object] = {"started": started, "machine": machine_description()}
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-memory-") as tmp:
        workdir = Path(tmp)
        with temporary_database(db, workdir) as uri:
            experiment_id = _populate(uri, args.runs, workdir)
            log(f"populated {args.runs} runs")
            for kind in SERVER_KINDS:
                memory = _measure(kind, uri, args, experiment_id, workdir)
                log(f"{LABELS[kind]}: tree PSS {memory.pss_mib:.0f} MiB")
                print(f"\n{LABELS[kind]}, {args.workers} workers, {db}, {started}:\n")
                print(_table(memory))
                results[kind] = asdict(memory)
    results["args"] = vars(args)
    log(f"saved {save_results(f'worker-memory-{db}', results)}")


if __name__ == "__main__":
    main()
