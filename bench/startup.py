"""Start and stop: seconds to ``/health``, to a first answered RPC, and to exit, both servers.

    .venv/bin/python -m bench.startup --db sqlite|postgresql|mysql --workers 2 --starts 5

Test suites start a tracking server per module or per test, hundreds of times; this is what
each start costs them.

1. Create a throwaway database; start each server once (not timed) so the schema exists and
   both start on an up-to-date database, as a suite's later starts do.
2. ``--starts`` times, alternating which goes first: start ``mlflow server`` (then
   ``mlflow-core server``) with the same flags, poll ``/health`` and then an experiments
   search every 50 ms, record the seconds from launch until each answered 200, stop it with
   SIGTERM and record the seconds until its whole tree has ended. Only one server runs at a
   time.
3. Print medians and the ratio MLflow / ours, and save JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.harness import (
    DATABASE_KINDS,
    LABELS,
    SERVER_KINDS,
    DatabaseKind,
    ServerKind,
    log,
    machine_description,
    markdown_table,
    median,
    save_results,
    temporary_database,
    tracking_server,
)

SEARCH = "/api/2.0/mlflow/experiments/search"
SEARCH_BODY = '{"max_results": 10}'
Times = tuple[float, float, float]  # seconds to /health, to the search, from SIGTERM to exit


def one_start(kind: ServerKind, uri: str, workers: int, workdir: Path) -> Times:
    server = tracking_server(kind, uri, workers, workdir).start()
    try:
        health = server.wait_until_ok("/health")
        search = server.wait_until_ok(SEARCH, method="POST", body=SEARCH_BODY)
    finally:
        stopping = time.monotonic()
        server.stop()
    return health, search, time.monotonic() - stopping


def run(db: DatabaseKind, workers: int, starts: int) -> dict[ServerKind, list[Times]]:
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    times: dict[ServerKind, list[Times]] = {kind: [] for kind in SERVER_KINDS}
    with temporary_database(db, workdir) as uri:
        for kind in SERVER_KINDS:
            one_start(kind, uri, workers, workdir)  # creates or checks the schema
        for index in range(starts):
            order = SERVER_KINDS if index % 2 == 0 else tuple(reversed(SERVER_KINDS))
            for kind in order:
                times[kind].append(one_start(kind, uri, workers, workdir))
                health, search, stop = times[kind][-1]
                log(
                    f"{LABELS[kind]}: /health {health:.2f} s, experiments/search {search:.2f} s,"
                    f" exit {stop:.2f} s after SIGTERM"
                )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=DATABASE_KINDS, default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    times = run(args.db, args.workers, args.starts)
    rows = []
    for column, label in ((0, "/health"), (1, "experiments/search"), (2, "exit after SIGTERM")):
        theirs = median([pair[column] for pair in times["mlflow"]])
        ours = median([pair[column] for pair in times["ours"]])
        rows.append([label, f"{theirs:.2f}", f"{ours:.2f}", f"{theirs / ours:.1f}x"])
    table = markdown_table(["seconds to", "mlflow server", "ours", "ratio"], rows)
    print(
        f"\nstart-up on {args.db}, {args.workers} workers each, median of {args.starts} starts"
        f" per server (alternating); {started}; {machine_description()}\n"
    )
    print(table)
    path = save_results(
        f"startup-{args.db}",
        {"args": vars(args), "started": started, "table": table, "seconds": times},
    )
    log(f"saved {path}")


if __name__ == "__main__":
    main()
