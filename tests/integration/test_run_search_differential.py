"""Runs search compiled by our adapter against MLflow's own ``SqlAlchemyStore.search_runs``.

MLflow's store creates each database (its migrations) and every run in it: experiments, runs
with params, metric histories (NaN, infinities, negative values, ties), tags (case variants,
trailing spaces, LIKE wildcards, quotes), run names, datasets with contexts, finished, running
and deleted runs, runs in a deleted experiment. Hypothesis then draws filters, order_bys,
view types, experiment id sets and page sizes; for each, the pages our service returns (ids and
tokens) must be MLflow's, page after page, or both must fail with the same error. SQLite
always runs; PostgreSQL and MySQL run when their URIs are set (tests/support/databases.py).
PostgreSQL runs three times: as MLflow made it, with mlflow-core's opt-in search indexes, whose
partial indexes split values at 200 characters (values of 200, 201 and 3,000 are written), and
with the pages ordered first by a metric read from the metric index (``metric_first_page``).
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_core.adapters.sql.database import Database, mlflow_store_uri
from mlflow_core.adapters.sql.search_indexes import SHORT_VALUE, create_search_indexes
from mlflow_core.adapters.sql.tracking_store import SqlTrackingStore
from mlflow_core.domain.experiments import ViewType as OurViewType
from mlflow_core.errors import MlflowCoreError
from mlflow_core.ports.tracking import RunSearch
from mlflow_core.search.runs import parse_run_search
from mlflow_core.services.tracking import TrackingService
from tests.support.databases import KINDS, fresh_database

METRIC_KEYS = ["acc", "loss", "Acc", "m 1"]
PARAM_KEYS = ["lr", "LR", "opt", "p.x"]
TAG_KEYS = ["team", "Team", "env", "note"]
STRING_VALUES = ["a", "A", "a ", "ab", "b", "a%b", "a_b", "", "it's", "é", "10", "9"]
# Either side of the search indexes' split between short and long values.
STRING_VALUES += ["x" * SHORT_VALUE, "x" * (SHORT_VALUE + 1), "é" * 3000]
METRIC_VALUES = [0.0, 1.0, -1.0, 0.5, 2.0, 1e10, math.inf, -math.inf, math.nan, 3.0]
DATASETS = [("train", "d1"), ("train", "d2"), ("eval", "d3"), ("Train", "d4")]
CONTEXTS = ["training", "eval", "Training", None]
START_TIMES = [1000, 1000, 2000, 3000, 3000, 4000]
MAX_PAGES = 8


@dataclass
class Population:
    """What was written, so strategies draw keys and values that exist (and some that don't)."""

    experiment_ids: list[str]
    run_ids: list[str] = field(default_factory=list)


def _populate(store: SqlAlchemyStore, rng: random.Random, dialect: str) -> Population:
    # MySQL's collations make "acc" and "Acc" the same primary key: MLflow cannot store both.
    def keys(pool: list[str]) -> list[str]:
        return [k for k in pool if k == k.lower()] if dialect == "mysql" else pool

    metric_keys, param_keys, tag_keys = keys(METRIC_KEYS), keys(PARAM_KEYS), keys(TAG_KEYS)
    experiments = [store.create_experiment(f"search-{i}") for i in range(3)]
    population = Population(["0", *experiments])
    for index in range(36):
        experiment_id = experiments[index % 3] if index % 7 else "0"
        run_name = rng.choice(["alpha", "Alpha", "beta", "a%b", "run "])
        run = store.create_run(
            experiment_id,
            user_id=rng.choice(["ann", "Ann", "bob"]),
            start_time=rng.choice(START_TIMES),
            tags=[],
            run_name=run_name,
        )
        run_id = run.info.run_id
        population.run_ids.append(run_id)
        metrics = []
        for key in rng.sample(metric_keys, rng.randint(0, len(metric_keys))):
            for step in range(rng.randint(1, 3)):
                value = rng.choice(METRIC_VALUES)
                metrics.append(Metric(key, value, rng.choice([5, 6]), step))
        params = [
            Param(key, rng.choice(STRING_VALUES))
            for key in rng.sample(param_keys, rng.randint(0, len(param_keys)))
        ]
        tags = [
            RunTag(key, rng.choice(STRING_VALUES))
            for key in rng.sample(tag_keys, rng.randint(0, len(tag_keys)))
        ]
        store.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        inputs = []
        for name, digest in rng.sample(DATASETS, rng.randint(0, 2)):
            context = rng.choice(CONTEXTS)
            input_tags = [] if context is None else [InputTag("mlflow.data.context", context)]
            dataset = Dataset(name, digest, "local", f"/data/{name}")
            inputs.append(DatasetInput(dataset, input_tags))
        if inputs:
            store.log_inputs(run_id, datasets=inputs)
        outcome = rng.random()
        if outcome < 0.5:
            store.update_run_info(run_id, RunStatus.FINISHED, rng.choice([5000, 6000]), None)
        elif outcome < 0.6:
            store.update_run_info(run_id, RunStatus.FAILED, 5000, None)
        if rng.random() < 0.15:
            store.delete_run(run_id)
    # A run renamed after creation: its name lives in both the column and the tag.
    store.update_run_info(population.run_ids[1], RunStatus.FINISHED, 7000, "renamed")
    store.delete_experiment(experiments[2])
    return population


@dataclass
class Target:
    mlflow: SqlAlchemyStore
    ours: TrackingService
    population: Population


# "indexed" reads the search indexes with the usual statement; "indexed-metricfirst" reads every
# page ordered first by a metric from the metric index (metric_first_page) whatever the
# experiments' share of the runs (the population has no constant metric to fall back for).
TARGETS = [*KINDS, "postgresql-indexed", "postgresql-indexed-metricfirst"]


@pytest.fixture(scope="module", params=TARGETS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    kind, _, variant = request.param.partition("-")
    tmp_path: Path = tmp_path_factory.mktemp(f"runs-{request.param}")
    with fresh_database(kind, tmp_path) as uri:
        mlflow_store = SqlAlchemyStore(mlflow_store_uri(uri), str(tmp_path / "artifacts"))
        population = _populate(mlflow_store, random.Random(20261126), kind)
        indexed = variant.startswith("indexed")
        if indexed:
            assert create_search_indexes(uri)
        store = SqlTrackingStore(Database(uri))
        # Never or always, so that each target reads with one shape whatever autovacuum does.
        store.metric_first_min_share = 0.0 if variant == "indexed-metricfirst" else 2.0
        store.search_run_ids("default", _every_run(population))
        assert store._search_indexed is indexed
        try:
            yield Target(mlflow_store, TrackingService(store, str(tmp_path)), population)
        finally:
            store.close()
            mlflow_store.engine.dispose()


def _every_run(population: Population) -> RunSearch:
    ids = [int(i) for i in population.experiment_ids]
    return RunSearch(ids, OurViewType.ALL, parse_run_search(None, None), 0, None)


# -- strategies ---------------------------------------------------------------------------------


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'" if "'" in value else f"'{value}'"


def _key(key: str) -> str:
    return f"`{key}`" if not key.isidentifier() else key


_STRING_COMPARATORS = ["=", "!=", "LIKE", "ILIKE"]
_NUMERIC_COMPARATORS = ["=", "!=", "<", "<=", ">", ">="]
_PATTERNS = ["a%", "%a", "%", "A%", "a_", "%b%", "_", "a\\%b"]


@st.composite
def _clause(draw: st.DrawFn, population: Population) -> str:
    kinds = ["metric", "param", "tag", "attr", "dataset", "null"] * 3 + ["bad"]
    kind = draw(st.sampled_from(kinds))
    if kind == "metric":
        key = draw(st.sampled_from([*METRIC_KEYS, "absent"]))
        value = draw(st.sampled_from(["0", "1", "-1", "0.5", "2", "1e10", "3", "-2.5"]))
        return f"metrics.{_key(key)} {draw(st.sampled_from(_NUMERIC_COMPARATORS))} {value}"
    if kind in ("param", "tag"):
        keys = PARAM_KEYS if kind == "param" else TAG_KEYS
        key = draw(st.sampled_from([*keys, "absent"]))
        comparator = draw(st.sampled_from(_STRING_COMPARATORS))
        pool = _PATTERNS + STRING_VALUES if "LIKE" in comparator else STRING_VALUES
        return f"{kind}s.{_key(key)} {comparator} {_quoted(draw(st.sampled_from(pool)))}"
    if kind == "null":
        entity = draw(st.sampled_from(["params", "tags"]))
        key = draw(st.sampled_from([*PARAM_KEYS, *TAG_KEYS]))
        return f"{entity}.{_key(key)} {draw(st.sampled_from(['IS NULL', 'IS NOT NULL']))}"
    if kind == "attr":
        attribute = draw(
            st.sampled_from(
                ["status", "user_id", "run_name", "start_time", "end_time", "run_id", "created"]
            )
        )
        if attribute in ("start_time", "end_time", "created"):
            value = draw(st.sampled_from(["1000", "2000", "3000", "5000", "0", "2500.5"]))
            return f"attributes.{attribute} {draw(st.sampled_from(_NUMERIC_COMPARATORS))} {value}"
        if attribute == "run_id":
            ids = draw(st.lists(st.sampled_from(population.run_ids), min_size=1, max_size=4))
            comparator = draw(st.sampled_from(["IN", "NOT IN", "=", "!="]))
            if comparator in ("IN", "NOT IN"):
                return f"run_id {comparator} ({', '.join(map(_quoted, ids))})"
            return f"run_id {comparator} {_quoted(ids[0])}"
        pool = {
            "status": ["FINISHED", "RUNNING", "FAILED", "finished", "%ED"],
            "user_id": ["ann", "Ann", "bob", "a%", "%N%"],
            "run_name": ["alpha", "Alpha", "a%", "%b", "renamed", "run ", "run"],
        }[attribute]
        comparator = draw(st.sampled_from(_STRING_COMPARATORS))
        return f"attributes.{attribute} {comparator} {_quoted(draw(st.sampled_from(pool)))}"
    if kind == "dataset":
        key = draw(st.sampled_from(["name", "digest", "context"]))
        pool = {
            "name": ["train", "Train", "eval", "tr%"],
            "digest": ["d1", "d2", "d3", "D1", "d%"],
            "context": ["training", "eval", "Training", "%ing"],
        }[key]
        comparator = draw(st.sampled_from([*_STRING_COMPARATORS, "IN", "NOT IN"]))
        if comparator in ("IN", "NOT IN"):
            values = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
            return f"datasets.{key} {comparator} ({', '.join(map(_quoted, values))})"
        return f"datasets.{key} {comparator} {_quoted(draw(st.sampled_from(pool)))}"
    return draw(
        st.sampled_from(
            [
                "metrics.acc LIKE 1",
                "params.lr > 'a'",
                "foo.bar = 'x'",
                "metrics.acc IS NULL",
                "attributes.lifecycle_stage = 'active'",
            ]
        )
    )


_ORDER_KEYS = [
    *(f"metrics.{_key(k)}" for k in [*METRIC_KEYS, "absent"]),
    *(f"params.{_key(k)}" for k in PARAM_KEYS),
    *(f"tags.{_key(k)}" for k in [*TAG_KEYS, "mlflow.runName"]),
    "start_time",
    "end_time",
    "run_name",
    "status",
    "user_id",
    "run_id",
    "created",
]


@st.composite
def _order_by(draw: st.DrawFn) -> list[str] | None:
    keys = draw(st.lists(st.sampled_from(_ORDER_KEYS), max_size=3))
    if not keys and draw(st.booleans()):
        return None
    return [f"{key}{draw(st.sampled_from(['', ' ASC', ' DESC']))}" for key in keys]


@st.composite
def _search(draw: st.DrawFn, population: Population) -> dict[str, Any]:
    clauses = draw(st.lists(_clause(population), max_size=3))
    return {
        "experiment_ids": draw(
            st.lists(st.sampled_from(population.experiment_ids), min_size=1, max_size=4)
        ),
        "filter_string": " AND ".join(clauses) or draw(st.sampled_from([None, ""])),
        "run_view_type": draw(st.sampled_from([1, 2, 3])),
        "max_results": draw(st.sampled_from([1, 3, 7, 50])),
        "order_by": draw(_order_by()),
    }


# -- the comparison -----------------------------------------------------------------------------


def _mlflow_pages(store: SqlAlchemyStore, search: dict[str, Any]) -> list[Any]:
    pages: list[Any] = []
    token = None
    try:
        for _ in range(MAX_PAGES):
            page = store.search_runs(
                search["experiment_ids"],
                search["filter_string"],
                ViewType.from_proto(search["run_view_type"]),
                max_results=search["max_results"],
                order_by=search["order_by"],
                page_token=token,
            )
            token = page.token.decode() if isinstance(page.token, bytes) else page.token
            pages.append(([run.info.run_id for run in page], token))
            if token is None:
                break
    except MlflowException as exc:
        pages.append(("error", exc.message))
    return pages


def _our_pages(service: TrackingService, search: dict[str, Any]) -> list[Any]:
    pages: list[Any] = []
    token = None
    try:
        for _ in range(MAX_PAGES):
            page = service.search_run_ids(
                search["experiment_ids"],
                search["filter_string"],
                OurViewType(search["run_view_type"]),
                max_results=search["max_results"],
                order_by=search["order_by"],
                page_token=token,
            )
            token = page.next_page_token
            pages.append((list(page.items), token))
            if token is None:
                break
    except MlflowCoreError as exc:
        pages.append(("error", exc.message))
    return pages


def test_population_is_rich_enough(target: Target) -> None:
    # Guard against a population where every search trivially returns nothing.
    every = _mlflow_pages(
        target.mlflow,
        {
            "experiment_ids": target.population.experiment_ids,
            "filter_string": None,
            "run_view_type": 3,
            "max_results": 50,
            "order_by": None,
        },
    )
    assert len(every[0][0]) == 36
    assert every == _our_pages(
        target.ours,
        {
            "experiment_ids": target.population.experiment_ids,
            "filter_string": None,
            "run_view_type": 3,
            "max_results": 50,
            "order_by": None,
        },
    )


@settings(
    max_examples=int(os.environ.get("MLFLOW_CORE_SEARCH_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(data=st.data())
def test_search_pages_equal_mlflows(target: Target, data: st.DataObject) -> None:
    search = data.draw(_search(target.population), label="search")
    assert _our_pages(target.ours, search) == _mlflow_pages(target.mlflow, search), search


def test_duplicate_order_by_is_a_client_error(target: Target) -> None:
    with pytest.raises(MlflowException, match="duplicate fields"):
        target.mlflow.search_runs(["0"], None, ViewType.ALL, order_by=["metrics.a", "metric.a"])
    with pytest.raises(MlflowCoreError, match="duplicate fields") as caught:
        target.ours.search_run_ids(["0"], order_by=["metrics.a", "metric.a"])
    assert caught.value.error_code.value == "INVALID_PARAMETER_VALUE"


def test_every_run_of_unbounded_search(target: Target) -> None:
    # MLflow's store accepts max_results=None: every run, no token.
    ids = target.population.experiment_ids
    expected = target.mlflow.search_runs(ids, None, ViewType.ALL, max_results=None)
    page = target.ours.search_run_ids(ids, None, OurViewType.ALL, max_results=None)
    assert list(page.items) == [run.info.run_id for run in expected]
    assert page.next_page_token is None
    assert expected.token is None


# Searches aimed at each rule, beside the generated ones: NaN's placeholder, infinities, ties,
# the run-name tag, dataset contexts, NULL placement in every kind of order key.
FIXED_SEARCHES: list[tuple[str | None, list[str] | None]] = [
    ("metrics.acc = 0", None),
    ("metrics.acc != 0", None),
    ("metrics.acc <= 0", ["metrics.acc DESC"]),
    ("metrics.loss > 1e300", None),
    ("metrics.loss < -1e300", None),
    (None, ["metrics.acc"]),
    (None, ["metrics.acc DESC"]),
    (None, ["metrics.Acc", "params.lr DESC"]),
    (None, ["params.lr", "tags.team DESC"]),
    (None, ["tags.team", "start_time"]),
    (None, ["end_time DESC"]),
    (None, ["created", "run_id DESC"]),
    (None, ["run_name"]),
    ("attributes.run_name = 'renamed'", None),
    ("attributes.run_name LIKE 'a%'", ["run_name DESC"]),
    ("attributes.`Run name` ILIKE 'ALPHA'", None),
    ("datasets.context = 'training'", None),
    ("datasets.context ILIKE 'training'", None),
    ("datasets.name IN ('train', 'eval') AND datasets.digest != 'd1'", None),
    ("params.lr IS NULL AND tags.team IS NOT NULL", ["tags.team"]),
    ("params.lr LIKE 'a%'", ["params.lr"]),
    ("params.lr ILIKE 'A%'", None),
    ("tags.team = 'a '", None),
    ("tags.team LIKE 'a\\%b'", None),
    ("attributes.status != 'RUNNING' AND end_time >= 5000", ["end_time", "metrics.loss DESC"]),
    ("attributes.user_id = 'Ann'", None),
    ("start_time > 1000.5", ["start_time DESC"]),
    # Values either side of the search indexes' split, in filters and order keys.
    (f"params.lr = '{'x' * SHORT_VALUE}'", ["params.opt DESC"]),
    (f"params.opt = '{'x' * (SHORT_VALUE + 1)}'", ["tags.team"]),
    (f"tags.env = '{'é' * 3000}'", None),
    (f"tags.note != '{'x' * SHORT_VALUE}'", ["params.lr", "tags.note DESC"]),
]


@pytest.mark.parametrize(("filter_string", "order_by"), FIXED_SEARCHES)
@pytest.mark.parametrize("view_type", [1, 3])
def test_fixed_searches_equal_mlflows(target: Target, filter_string, order_by, view_type) -> None:
    search = {
        "experiment_ids": target.population.experiment_ids,
        "filter_string": filter_string,
        "run_view_type": view_type,
        "max_results": 4,
        "order_by": order_by,
    }
    expected = _mlflow_pages(target.mlflow, search)
    assert _our_pages(target.ours, search) == expected


@pytest.mark.parametrize("which", [[0], [1, 2, 3], [0, 1, 2, 3], [3]])
def test_dataset_summaries_equal_mlflows(target: Target, which: list[int]) -> None:
    ids = [target.population.experiment_ids[i] for i in which]
    expected = [
        (s.experiment_id, s.name, s.digest, s.context) for s in target.mlflow._search_datasets(ids)
    ]
    found = target.ours.search_datasets(ids)
    ours = [(s.experiment_id, s.name, s.digest, s.context) for s in found]
    assert ours == expected
    assert which == [0] or ours  # the population has datasets in experiments 1-3
