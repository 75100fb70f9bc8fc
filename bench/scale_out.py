"""One server vs two servers on one PostgreSQL database, ours and MLflow's, side by side.

    .venv/bin/python -m bench.scale_out --duration 5 --warmup 1

For each server kind (``mlflow-core server``, ``mlflow server``) and each server count (1, 2):
start that many servers of that kind (``--workers 1`` each, job execution off on both kinds: no
job runs in this load) on one fresh PostgreSQL database, then run wrk against every server at
once with the same total number of connections (split evenly), for a write (create-experiment,
a unique name per request) and a read (get-experiment-by-name). Reports the summed req/s, the
CPU of all server process trees per request, and errors. What it shows on a 2-core machine is
the cost of scale-out, not its gain: more servers than cores only adds contention.
"""

from __future__ import annotations

import argparse
import threading
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.harness import (
    LABELS,
    Load,
    ServerKind,
    WrkResult,
    WrkSettings,
    log,
    run_wrk,
    running,
    temporary_database,
    tracking_server,
    tree_cpu_seconds,
)

LOADS = (
    Load(
        "create-experiment",
        "POST",
        "/api/2.0/mlflow/experiments/create",
        lua_make_body=(
            "function make_body(id, n)\n"
            '  return string.format(\'{"name":"scale-%s-%d-%d"}\', prefix, id, n)\n'
            "end"
        ),
        writes=True,
    ),
    Load(
        "get-experiment-by-name",
        "GET",
        "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default",
    ),
)


def _run_all(
    urls: list[str], pids: list[int], load: Load, settings: WrkSettings
) -> tuple[float, float, int]:
    """wrk on every server at once; (total req/s, server CPU ms per request, errors)."""
    if settings.warmup:
        _parallel(urls, load, settings.warmup, settings)
    cpu_before = sum(tree_cpu_seconds(pid) for pid in pids)
    results = _parallel(urls, load, settings.duration, settings)
    cpu = sum(tree_cpu_seconds(pid) for pid in pids) - cpu_before
    requests = sum(r.requests for r in results)
    rps = sum(r.requests_per_second for r in results)
    return rps, cpu / requests * 1000 if requests else float("nan"), sum(r.errors for r in results)


def _parallel(urls: list[str], load: Load, duration: int, settings: WrkSettings) -> list[WrkResult]:
    results: list[WrkResult | None] = [None] * len(urls)

    def one(index: int) -> None:
        results[index] = run_wrk(urls[index], load, duration, settings)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8, help="total, split over servers")
    args = parser.parse_args()
    rows = []
    with TemporaryDirectory(prefix="mlflow-bench-scale-") as tmp:
        workdir = Path(tmp)
        kinds: tuple[ServerKind, ...] = ("ours", "mlflow")
        for kind in kinds:
            for count in (1, 2):
                settings = WrkSettings(
                    duration=args.duration,
                    warmup=args.warmup,
                    connections=max(1, args.connections // count),
                    threads=1,
                )
                with ExitStack() as stack:
                    uri = stack.enter_context(
                        temporary_database("postgresql", workdir / f"{kind}{count}")
                    )
                    servers = []
                    for n in range(count):
                        server = tracking_server(kind, uri, 1, workdir / f"{kind}{count}-{n}")
                        server.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
                        servers.append(stack.enter_context(running(server)))
                    for server in servers:  # start-up work (our load of MLflow's app) is over
                        server.wait_until_idle()
                    urls = [s.base_url for s in servers]
                    pids = [s.pid for s in servers]
                    for load in LOADS:
                        rps, cpu_ms, errors = _run_all(urls, pids, load, settings)
                        log(
                            f"{LABELS[kind]} x{count} {load.name}: {rps:.0f} req/s, "
                            f"{cpu_ms:.2f} server CPU ms/req, {errors} errors"
                        )
                        rows.append((load.name, kind, count, rps, cpu_ms, errors))
    print("| endpoint | server | servers | req/s | server CPU ms/req | errors |")
    print("|---|---|---|---|---|---|")
    for name, kind, count, rps, cpu_ms, errors in rows:
        print(f"| {name} | {LABELS[kind]} | {count} | {rps:.0f} | {cpu_ms:.2f} | {errors} |")


if __name__ == "__main__":
    main()
