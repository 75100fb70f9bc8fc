"""The 64-client read/write mix of tests/e2e/test_load.py, against ours and `mlflow server`.

Each server gets a fresh database of the kind, the same worker count, a warm-up (MLflow's app
loaded in every worker) and the same bounded run; prints requests/s, p50 and p99 and failures.

    .venv/bin/python -m bench.load_mix --kind postgresql --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.support.databases import fresh_database
from tests.support.load_mix import run_mix
from tests.support.servers import mlflow_core_server, stock_mlflow_server


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load_mix")
    parser.add_argument("--kind", default="sqlite", choices=["sqlite", "postgresql", "mysql"])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for label, start in (("mlflow-core", mlflow_core_server), ("mlflow", stock_mlflow_server)):
        with tempfile.TemporaryDirectory() as workdir:
            path = Path(workdir)
            with (
                fresh_database(args.kind, path) as uri,
                start(uri, path, workers=args.workers) as server,
            ):
                result = asyncio.run(run_mix(server.url, args.clients, args.seconds))
        rows.append((label, result))
        print(
            f"{label:12} {args.kind:10} {result.requests / result.seconds:8.1f} req/s  "
            f"p50 {result.percentile(0.5) * 1000:8.1f} ms  "
            f"p99 {result.percentile(0.99) * 1000:8.1f} ms"
            f"  non-200 {sum(n for s, n in result.statuses.items() if s != 200)}"
            f"  failures {len(result.errors)}",
            flush=True,
        )
    (ours, theirs) = (rows[0][1], rows[1][1])
    print(
        f"ratio (ours/mlflow): req/s "
        f"{(ours.requests / ours.seconds) / max(theirs.requests / theirs.seconds, 1e-9):.2f}x, "
        f"p99 {ours.percentile(0.99) / max(theirs.percentile(0.99), 1e-9):.2f}x"
    )


if __name__ == "__main__":
    main()
