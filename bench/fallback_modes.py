"""Unported paths: MLflow's app in-process (our design) vs a proxy to a child ``mlflow server``.

    .venv/bin/python -m bench.fallback_modes --duration 10 --rounds 2

On one SQLite database (seeded by MLflow's own store with ``--runs`` runs of 5 params,
5 metrics and 3 tags each), three setups, each with one server worker, measured one after
another, each alone on the machine:

  (a) ``mlflow``: stock ``mlflow server --workers 1``;
  (b) ``ours``: ``mlflow-core server --workers 1`` (MLflow's app mounted in-process);
  (c) ``proxy``: ``python -m bench.proxy`` (a raw-ASGI reverse proxy on uvicorn, one process)
      in front of a child ``mlflow server --workers 1``.

For each: seconds from spawn until ``/health`` answers and until the fallback path answers
(GET runs/get), then, once the tree is idle, wrk on GET runs/get and POST runs/search (neither
is served natively by our server), then the memory of the whole process tree after the load.
With ``--rounds N`` the three setups run N times (order rotated each round) and the median
round is shown.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import (
    BENCH_DIR,
    HOST,
    Load,
    Server,
    TreeMemory,
    WrkResult,
    WrkSettings,
    check_ok,
    free_port,
    log,
    machine_description,
    markdown_table,
    measure,
    median,
    median_result,
    save_results,
    temporary_database,
    tracking_server,
)

SETUPS = ("mlflow", "ours", "proxy")
DESCRIPTIONS = {
    "mlflow": "(a) mlflow server",
    "ours": "(b) mlflow-core server, MLflow's app in-process",
    "proxy": "(c) proxy -> child mlflow server",
}
# MLflow's job execution (a job runner and its huey consumers), which stock `mlflow server`
# starts beside its workers and which our server does not start.
JOB_PROCESS_MARKERS = ("mlflow.server.jobs", "huey_consumer")


def seed(uri: str, runs: int) -> tuple[str, str]:
    """An experiment with ``runs`` runs written by MLflow's own store; (experiment id, the
    id of a run in the middle)."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    started = time.monotonic()
    store = SqlAlchemyStore(uri, "mlflow-artifacts:/")
    now = int(time.time() * 1000)
    run_ids = []
    try:
        experiment_id = store.create_experiment("fallback-bench")
        for i in range(runs):
            run = store.create_run(experiment_id, "bench", now + i, [], f"run-{i}")
            store.log_batch(
                run.info.run_id,
                metrics=[Metric(f"metric_{j}", float(i * j), now, 0) for j in range(5)],
                params=[Param(f"param_{j}", f"value-{i}-{j}") for j in range(5)],
                tags=[RunTag(f"tag_{j}", f"t-{i % 3}") for j in range(3)],
            )
            run_ids.append(run.info.run_id)
    finally:
        store.engine.dispose()
    log(f"seeded {runs} runs in {time.monotonic() - started:.1f}s")
    return experiment_id, run_ids[len(run_ids) // 2]


def make_server(setup: str, uri: str, workdir: Path) -> Server:
    if setup in ("mlflow", "ours"):
        return tracking_server(setup, uri, 1, workdir)  # type: ignore[arg-type]
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.proxy",
        "--port",
        str(port),
        "--backend-store-uri",
        uri,
        "--workers",
        "1",
    ]
    return Server("proxy", command, port, workdir / "proxy", {"PYTHONPATH": str(BENCH_DIR.parent)})


@dataclass(frozen=True)
class SetupRun:
    setup: str
    seconds_to_health: float
    seconds_to_fallback: float
    results: dict[str, WrkResult]
    memory_idle: TreeMemory
    memory_after_load: TreeMemory

    def rss_without_jobs(self) -> float:
        return sum(
            p.rss_mib
            for p in self.memory_after_load.processes
            if not any(marker in p.command for marker in JOB_PROCESS_MARKERS)
        )


def run_setup(
    setup: str, uri: str, workdir: Path, loads: list[Load], settings: WrkSettings
) -> SetupRun:
    server = make_server(setup, uri, workdir).start()
    try:
        to_health = server.wait_until_ok("/health")
        to_fallback = server.wait_until_ok(loads[0].path)
        log(f"{setup}: /health after {to_health:.1f}s, {loads[0].name} after {to_fallback:.1f}s")
        server.wait_until_idle()
        memory_idle = server.memory()
        results = {}
        for load in loads:
            check_ok(server.base_url, load)
            results[load.name] = measure(server.base_url, load, settings, server.pid)
        memory = server.memory()
        for process in memory.processes:
            log(f"  pid {process.pid:>7} {process.rss_mib:7.1f} MiB RSS  {process.command}")
        return SetupRun(setup, to_health, to_fallback, results, memory_idle, memory)
    finally:
        server.stop()


def median_run(runs: list[SetupRun], load: str) -> WrkResult:
    return median_result([r.results[load] for r in runs])


def tables(runs_of: dict[str, list[SetupRun]], loads: list[Load]) -> str:
    header = [
        "endpoint",
        "setup",
        "req/s",
        "vs (a)",
        "p50 ms",
        "p99 ms",
        "errors",
        "server CPU ms/req",
        "other load (cores)",
    ]
    rows = []
    for load in loads:
        base = median_run(runs_of["mlflow"], load.name).requests_per_second
        for setup in SETUPS:
            runs = runs_of[setup]
            result = median_run(runs, load.name)
            values = [r.results[load.name].requests_per_second for r in runs]
            spread = f" ({min(values):,.0f}-{max(values):,.0f})" if len(values) > 1 else ""
            rows.append(
                [
                    load.name,
                    DESCRIPTIONS[setup],
                    f"{result.requests_per_second:,.0f}{spread}",
                    f"{result.requests_per_second / base:.2f}x",
                    f"{result.p50:.2f}",
                    f"{result.p99:.2f}",
                    str(sum(r.results[load.name].errors for r in runs)),
                    f"{median([r.results[load.name].server_cpu_ms_per_request for r in runs]):.2f}",
                    f"{median([r.results[load.name].other_cores for r in runs]):.2f}",
                ]
            )
    throughput = markdown_table(header, rows)
    header = [
        "setup",
        "processes",
        "RSS MiB after load",
        "PSS MiB",
        "RSS MiB without MLflow's job runner",
        "RSS MiB idle",
        "s to /health",
        "s to runs/get",
    ]
    rows = []
    for setup in SETUPS:
        runs = runs_of[setup]

        def middle(values: list[float]) -> float:
            return sorted(values)[(len(values) - 1) // 2]

        rows.append(
            [
                DESCRIPTIONS[setup],
                str(len(runs[-1].memory_after_load.processes)),
                f"{middle([r.memory_after_load.rss_mib for r in runs]):,.0f}",
                f"{middle([r.memory_after_load.pss_mib for r in runs]):,.0f}",
                f"{middle([r.rss_without_jobs() for r in runs]):,.0f}",
                f"{middle([r.memory_idle.rss_mib for r in runs]):,.0f}",
                f"{middle([r.seconds_to_health for r in runs]):.1f}",
                f"{middle([r.seconds_to_fallback for r in runs]):.1f}",
            ]
        )
    return throughput + "\n\n" + markdown_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--runs", type=int, default=50, help="runs to seed")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' logs (kept on errors)"
    )
    args = parser.parse_args()
    settings = WrkSettings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
    )
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-fallback-"))
    runs_of: dict[str, list[SetupRun]] = {setup: [] for setup in SETUPS}
    with temporary_database("sqlite", workdir) as uri:
        experiment_id, run_id = seed(uri, args.runs)
        loads = [
            Load("runs/get", "GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}"),
            Load(
                "runs/search",
                "POST",
                "/api/2.0/mlflow/runs/search",
                body={"experiment_ids": [experiment_id], "max_results": args.runs},
            ),
        ]
        for round_index in range(args.rounds):
            order = SETUPS[round_index % 3 :] + SETUPS[: round_index % 3]
            for setup in order:
                runs_of[setup].append(run_setup(setup, uri, workdir, loads, settings))
    output = tables(runs_of, loads)
    print(
        f"\nfallback modes on sqlite ({args.runs} runs), 1 server worker each; wrk"
        f" {settings.threads} threads, {settings.connections} connections, {settings.duration}s"
        f" (after {settings.warmup}s warm-up), median of {args.rounds} round(s); {started};"
        f" {machine_description()}; all servers on {HOST}\n"
    )
    print(output)
    payload: dict[str, Any] = {
        "started": started,
        "machine": machine_description(),
        "args": vars(args),
        "tables": output,
        "runs": runs_of,
    }
    log(f"results saved to {save_results('fallback-modes', payload)}")
    errors = sum(
        result.errors
        for runs in runs_of.values()
        for run in runs
        for result in run.results.values()
    )
    if errors or args.keep_logs:
        log(f"servers' logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
