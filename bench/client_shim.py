"""A training-style script through MLflow's fluent API, with and without ``mlflow_core.enable()``.

    .venv/bin/python -m bench.client_shim --db sqlite|postgresql|mysql --rounds 3

Each case runs in a fresh interpreter (``mlflow`` imported before any clock starts):

- ``first call``: ``set_tracking_uri`` + ``set_experiment`` on a *new* database: what a user
  waits for before the first line of their script does anything (store construction, schema
  creation, the experiment lookup and creation). A new SQLite file per case. Wall time and the
  process's CPU time (on a shared, overloaded machine the CPU time is the steadier number).
- ``open a new SQLite file``: the store alone on a second new file, once MLflow's store module is
  imported (both variants import it on their first call; it costs about a second of CPU).
- the training script on one shared database (both variants write to the same database, in
  alternating order): ``set_experiment``, ``start_run``, ``log_params`` (10), 500 ``log_metric``
  calls (timed on their own: calls/s), ``log_metrics`` of 10 keys, 20 short runs (start, one
  metric, end), ``search_runs`` and ``get_metric_history`` (500 points); then ``register_model``
  of 20 versions of one model (a new registered model, then a version per call).

Prints a Markdown table, stock MLflow vs mlflow-core (medians over ``--rounds``), and saves JSON
under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import (
    DatabaseKind,
    log,
    markdown_table,
    median,
    save_results,
    temporary_database,
)

METRIC_CALLS = 500
SHORT_RUNS = 20
REGISTER_CALLS = 20

_CASE = (
    r"""
import json, sys, time
import mlflow
from mlflow import MlflowClient

variant, uri, fresh_uri, experiment = sys.argv[1:5]
if variant == "ours":
    import mlflow_core
    mlflow_core.enable()
out = {}
clock = time.perf_counter

cpu = time.process_time
start, cpu_start = clock(), cpu()
mlflow.set_tracking_uri(fresh_uri)
mlflow.set_experiment("first-call")
out["first_call_s"] = clock() - start
out["first_call_cpu_s"] = cpu() - cpu_start

if fresh_uri.startswith("sqlite:///"):
    # The store alone on another new file (MLflow's store module is imported by now): what
    # opening a database costs, without the one-off import both variants pay.
    from mlflow.tracking._tracking_service.utils import _get_store
    start, cpu_start = clock(), cpu()
    _get_store(fresh_uri[:-3] + "-2.db")
    out["open_new_db_s"] = clock() - start
    out["open_new_db_cpu_s"] = cpu() - cpu_start

mlflow.set_tracking_uri(uri)
start = clock()
mlflow.set_experiment(experiment)
with mlflow.start_run() as run:
    mlflow.log_params({f"p{i}": str(i) for i in range(10)})
    metric_start, metric_cpu = clock(), cpu()
    for step in range(METRIC_CALLS):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    out["log_metric_s"] = clock() - metric_start
    out["log_metric_cpu_s"] = cpu() - metric_cpu
    mlflow.log_metrics({f"m{i}": float(i) for i in range(10)})
for i in range(SHORT_RUNS):
    with mlflow.start_run(run_name=f"short-{i}"):
        mlflow.log_metric("score", float(i))
search_start = clock()
found = mlflow.search_runs(experiment_names=[experiment])
out["search_runs_s"] = clock() - search_start
history_start = clock()
history = MlflowClient().get_metric_history(run.info.run_id, "loss")
out["metric_history_s"] = clock() - history_start
out["script_s"] = clock() - start
register_start = clock()
for i in range(REGISTER_CALLS):
    # The registry: a new model, then a version per call (an s3:// source needs no lookups).
    mlflow.register_model(f"s3://bucket/{experiment}/{i}", f"model-{experiment}")
out["register_model_s"] = clock() - register_start
assert len(found) == SHORT_RUNS + 1, len(found)
assert len(history) == METRIC_CALLS, len(history)
out["store"] = type(MlflowClient()._tracking_client.store).__name__
print(json.dumps(out))
""".replace("METRIC_CALLS", str(METRIC_CALLS))
    .replace("SHORT_RUNS", str(SHORT_RUNS))
    .replace("REGISTER_CALLS", str(REGISTER_CALLS))
)

VARIANTS = ("mlflow", "ours")
LABEL = {"mlflow": "MLflow's SqlAlchemyStore", "ours": "mlflow_core.enable()"}


def run_case(
    variant: str, uri: str, fresh_uri: str, experiment: str, workdir: Path
) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CASE, variant, uri, fresh_uri, experiment],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{variant} case failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    expected = "SqlAlchemyStore" if variant == "mlflow" else "ShimTrackingStore"
    assert result["store"] == expected, result
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "mysql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    kind: DatabaseKind = args.db
    results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-shim-") as tmp:
        workdir = Path(tmp)
        with temporary_database(kind, workdir) as uri:
            for round_ in range(args.rounds):
                # Alternate the order so neither variant always runs on the warmer database.
                order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    with temporary_database(kind, workdir) as fresh_uri:
                        log(f"round {round_ + 1}: {variant}")
                        results[variant].append(
                            run_case(variant, uri, fresh_uri, f"train-{variant}-{round_}", workdir)
                        )
    rows = []
    metrics = [
        ("first call on a new database (s)", "first_call_s", False),
        ("first call on a new database, CPU (s)", "first_call_cpu_s", False),
        ("open a new SQLite file, store only (s)", "open_new_db_s", False),
        ("open a new SQLite file, store only, CPU (s)", "open_new_db_cpu_s", False),
        (f"log_metric calls/s ({METRIC_CALLS} calls)", "log_metric_s", True),
        (f"log_metric calls per CPU-second ({METRIC_CALLS} calls)", "log_metric_cpu_s", True),
        ("search_runs (s)", "search_runs_s", False),
        ("get_metric_history (s)", "metric_history_s", False),
        ("whole training script (s)", "script_s", False),
        (f"register_model, {REGISTER_CALLS} versions (s)", "register_model_s", False),
    ]
    summary: dict[str, dict[str, float]] = {}
    for label, key, is_rate in metrics:
        if any(key not in r for v in VARIANTS for r in results[v]):
            continue  # not measured for this database kind
        values = {v: median([r[key] for r in results[v]]) for v in VARIANTS}
        if is_rate:
            shown = {v: METRIC_CALLS / values[v] for v in VARIANTS}
            ratio = shown["ours"] / shown["mlflow"]
            cells = [f"{shown[v]:,.0f}" for v in VARIANTS]
        else:
            shown = values
            ratio = values["mlflow"] / values["ours"]
            cells = [f"{shown[v]:.3f}" for v in VARIANTS]
        summary[key] = {**shown, "speedup": ratio}
        rows.append([label, *cells, f"{ratio:.1f}x"])
    print(
        f"\nTraining-style script, {kind}, medians of {args.rounds} rounds (fresh process each)\n"
    )
    print(markdown_table(["", LABEL["mlflow"], LABEL["ours"], "speed-up"], rows))
    path = save_results(f"client-shim-{kind}", {"db": kind, "raw": results, "summary": summary})
    log(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
