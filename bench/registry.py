"""The model registry RPCs, ``mlflow-core server`` vs ``mlflow server`` on the same database.

    .venv/bin/python -m bench.registry --db sqlite|postgresql|mysql --workers 2 --duration 10

1. Create a throwaway database (schema by MLflow's own registry ``SqlAlchemyStore``) and seed
   ``--models`` registered models ``bench-<i>`` (3 tags each: ``team`` = a/b/c, ``owner``,
   ``priority`` = 0..4) with 3 versions each (stages None, Staging, Production); then ANALYZE.
2. Start both servers on that database at once, on two ports, with the same ``--workers``.
3. Check both answer the timed searches alike, then measure each endpoint on one server and
   then the other (alternating which goes first); reads before writes.
4. Print a Markdown table (req/s, p50, p99, ours/MLflow) and save JSON under bench/results/.

The tag-filtered search is MLflow issue #13633's case (0.85 s per search with a few hundred
models on MLflow 2.x).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    SERVER_KINDS,
    Comparison,
    DatabaseKind,
    Load,
    Server,
    ServerKind,
    WrkSettings,
    add_side_by_side_arguments,
    compare,
    comparison_table,
    log,
    machine_description,
    report_errors,
    save_comparisons,
    side_by_side,
    temporary_database,
    wrk_settings,
)

RM = "/api/2.0/mlflow/registered-models"
MV = "/api/2.0/mlflow/model-versions"
FILTER = "tags.team = 'a' AND tags.priority = '1'"
STAGES = ("None", "Staging", "Production")


def seed(uri: str, count: int) -> None:
    """``count`` models x 3 tags x 3 versions. MLflow's own store creates the schema; the rows
    are written through our library (about 10x faster than MLflow's ORM on a busy machine;
    the rows are the same, as tests/integration/test_sql_registry.py checks)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    import mlflow_core
    from mlflow_core.domain.registry import RegistryTag

    started = time.monotonic()
    SqlAlchemyStore(uri).engine.dispose()
    registry = mlflow_core.registry_service(uri)
    try:
        for i in range(count):
            name = f"bench-{i}"
            tags = [
                RegistryTag("team", "abc"[i % 3]),
                RegistryTag("owner", f"user-{i % 10}"),
                RegistryTag("priority", str(i % 5)),
            ]
            registry.create_registered_model(name, tags, f"model {i}")
            for stage in STAGES:
                version = registry.create_model_version(name, f"s3://bucket/{name}", "r" * 32)
                if stage != "None":
                    registry.transition_model_version_stage(name, version.version, stage)
    finally:
        registry.store.close()
    analyze(uri)
    log(f"seeded {count} models x 3 versions in {time.monotonic() - started:.1f}s")


def analyze(uri: str) -> None:
    """Planner statistics after the bulk load, as autovacuum would gather a minute later."""
    import sqlalchemy as sa

    if uri.startswith("sqlite"):
        return
    engine = sa.create_engine(uri, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if uri.startswith("postgresql"):
                conn.exec_driver_sql("VACUUM ANALYZE")
            else:
                conn.exec_driver_sql(
                    "ANALYZE TABLE registered_models, registered_model_tags, model_versions, "
                    "model_version_tags, registered_model_aliases"
                )
    finally:
        engine.dispose()


def _search_query(max_results: int = 100) -> str:
    return urllib.parse.urlencode({"filter": FILTER, "max_results": max_results})


def loads(count: int) -> list[Load]:
    middle = f"bench-{count // 2}"
    return [
        Load("search-registered-models-tags", "GET", f"{RM}/search?{_search_query()}"),
        Load("get-latest-versions", "POST", f"{RM}/get-latest-versions", body={"name": middle}),
        Load("get-latest-versions-get", "GET", f"{RM}/get-latest-versions?name={middle}"),
        Load(
            "create-model-version",
            "POST",
            f"{MV}/create",
            # Spread over the models: (thread, n) -> a model; 8 connections rarely share one.
            lua_make_body=(
                "function make_body(id, n)\n"
                f"  local model = (id * 7919 + n) % {count}\n"
                "  return string.format("
                '\'{"name":"bench-%d","source":"s3://bucket/new-%s"}\', model, prefix)\n'
                "end"
            ),
            writes=True,
        ),
    ]


def _answer(server: Server, path: str) -> Any:
    response = httpx.get(f"{server.base_url}{path}", timeout=60)
    response.raise_for_status()
    return response.json()


def check_same_answers(servers: dict[ServerKind, Server], count: int) -> None:
    """Both servers must return the same models for the search we time (and same versions)."""
    path = f"{RM}/search?{_search_query()}"
    theirs = [m["name"] for m in _answer(servers["mlflow"], path).get("registered_models", [])]
    ours = [m["name"] for m in _answer(servers["ours"], path).get("registered_models", [])]
    if theirs != ours:
        raise RuntimeError(f"search differs: MLflow {theirs[:5]}..., ours {ours[:5]}...")
    log(f"search {FILTER!r}: both return {len(ours)} models")
    path = f"{RM}/get-latest-versions?name=bench-{count // 2}"
    theirs_v = sorted(v["version"] for v in _answer(servers["mlflow"], path)["model_versions"])
    ours_v = sorted(v["version"] for v in _answer(servers["ours"], path)["model_versions"])
    if theirs_v != ours_v:
        raise RuntimeError(f"get-latest-versions differs: {theirs_v} vs {ours_v}")


def run(
    db: DatabaseKind,
    workers: int,
    settings: WrkSettings,
    count: int,
    rounds: int,
    only: list[str] | None,
) -> tuple[list[Comparison], dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-bench-"))
    with temporary_database(db, workdir) as uri:
        seed(uri, count)
        with side_by_side(uri, workers, workdir) as pair:
            check_same_answers(pair.servers, count)
            selected = [load for load in loads(count) if not only or load.name in only]
            comparisons = compare(pair, dict.fromkeys(SERVER_KINDS, selected), settings, rounds)
    return comparisons, {"seconds_to_health": pair.seconds_to_health, "workdir": str(workdir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_side_by_side_arguments(parser)
    parser.add_argument("--models", type=int, default=300, help="registered models to seed")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure each endpoint this often; median shown"
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' logs (kept on errors)"
    )
    parser.add_argument("--only", nargs="*", help="endpoint names to run (default: all)")
    args = parser.parse_args()
    settings = wrk_settings(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    comparisons, extra = run(args.db, args.workers, settings, args.models, args.rounds, args.only)
    table = comparison_table(comparisons)
    print(
        f"\nregistry on {args.db}, {args.workers} workers each, {args.models} models x 3 tags x"
        f" 3 versions; wrk {settings.threads} threads, {settings.connections} connections,"
        f" {settings.duration}s (after {settings.warmup}s warm-up), median of {args.rounds}"
        f" round(s); {started}; {machine_description()}\n"
    )
    print(table)
    report_errors(comparisons, extra["workdir"], args.keep_logs)
    save_comparisons(f"registry-{args.db}", args, started, table, comparisons, extra)


if __name__ == "__main__":
    main()
