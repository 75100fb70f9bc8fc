"""Experiment search compiled by our adapter against MLflow's own store, on one database.

MLflow's ``SqlAlchemyStore`` creates the database (running its migrations) and the experiments;
then for each filter and order_by, the experiment ids our Core query returns must be exactly
the ids, in the same order, that MLflow's ``search_experiments`` returns. SQLite always runs;
PostgreSQL and MySQL run when MLFLOW_CORE_TEST_POSTGRES_URI / MLFLOW_CORE_TEST_MYSQL_URI are set.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mlflow.entities import ExperimentTag, LifecycleStage, ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from sqlalchemy.dialects import mysql, postgresql, sqlite

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.experiment_search import experiment_order_by, experiment_where
from mlflow_core.search.experiments import parse_experiment_filter, parse_experiment_order_by
from mlflow_core.search.page_tokens import decode_offset_token, encode_offset_token
from tests.support.databases import KINDS, fresh_database

# Names and tags chosen to tell the dialects' comparisons apart: case, trailing spaces (MySQL
# pads), LIKE wildcards and escapes, non-ASCII case folding, quotes.
EXPERIMENTS: list[tuple[str, dict[str, str]]] = [
    ("Alpha", {"team": "ml", "env": "prod"}),
    ("alpha", {"team": "ML"}),
    ("ALPHA ", {"Team": "ml"}),
    ("alpha_beta", {"team": "ml "}),
    ("alpha%beta", {"env": ""}),
    ("alphaxbeta", {"team": "m_l", "env": "dev"}),
    ("Beta", {"mlflow.note.content": "hello world"}),
    ("beta2", {"k with space": "v", "k.dot": "v"}),
    ("gamma", {"team": "data%"}),
    ("Gamma-1", {"team": "Δ"}),
    ("gamma 2", {"team": "δ"}),
    ("δelta", {}),
    ("Δelta2", {"env": "PROD"}),
    ("exp.c", {"team": "ml", "owner": "a'b"}),
    ("a'b", {"owner": 'a"b'}),
    ('a"b', {"owner": "back\\slash"}),
    ("back\\slash", {}),
    ("percent%", {"team": "ml"}),
    ("x", {"team": "mlx"}),
    ("X2", {"TEAM": "ml"}),
    ("  leading", {"team": "  ml"}),
    ("zeta", {"team": "ml", "env": "prod", "owner": "z"}),
]
# Experiments deleted after creation, so view types matter.
DELETED = ("gamma", "zeta")

FILTERS = [
    None,
    "name = 'Alpha'",
    "name = 'alpha'",
    "name = 'ALPHA'",
    "name = 'ALPHA '",
    "name != 'alpha'",
    "name LIKE 'alpha%'",
    "name LIKE 'Alpha%'",
    "name LIKE '%beta'",
    "name LIKE 'alpha_beta'",
    "name LIKE 'alpha\\%beta'",
    "name LIKE '%\\%%'",
    "name LIKE '%\\\\%'",
    "name ILIKE 'ALPHA%'",
    "name ILIKE '%BETA%'",
    "name ILIKE 'δ%'",
    "name ILIKE 'Δ%'",
    "name = 'δelta'",
    "name = 'a''b'",
    'name = "a\'b"',
    "name LIKE '%\"%'",
    "attribute.name ILIKE 'gamma%'",
    "experiment_id = '1'",
    "experiment_id != '1'",
    "experiment_id = '0'",
    "experiment_id IN ('1', '2', '3')",
    "experiment_id NOT IN ('1', '2', '3')",
    "experiment_id IN (' 4', '5_0', '999')",
    "creation_time > 2000",
    "creation_time >= 2000",
    "creation_time < 3000",
    "creation_time <= 3000",
    "creation_time = 3000",
    "creation_time != 3000",
    "last_update_time > 500",
    "last_update_time <= 500",
    "tags.team = 'ml'",
    "tags.team = 'ML'",
    "tags.team = 'ml '",
    "tags.team = 'ml   '",
    "tags.Team = 'ml'",
    "tags.TEAM = 'ml'",
    "tags.team != 'ml'",
    "tags.team LIKE 'm%'",
    "tags.team LIKE 'M%'",
    "tags.team LIKE 'm_l'",
    "tags.team ILIKE 'M%'",
    "tags.team ILIKE 'δ'",
    "tags.team LIKE '%\\%'",
    "tags.team IS NULL",
    "tags.team IS NOT NULL",
    "tags.Team IS NULL",
    "tags.Team IS NOT NULL",
    "tags.env = ''",
    "tags.env IS NOT NULL AND tags.env != ''",
    "tags.`k with space` = 'v'",
    "tags.\"k.dot\" = 'v'",
    "tags.mlflow.note.content LIKE '%world'",
    "tags.owner = 'a''b'",
    "tags.owner = 'a\"b'",
    "tags.owner LIKE '%\\\\%'",
    "tags.team = 'ml' AND tags.env = 'prod'",
    "tags.team = 'ml' AND tags.env IS NULL",
    "tags.team = 'ml' AND name LIKE 'a%' AND creation_time >= 1000",
    "tags.team LIKE '%' AND tags.team != 'ml' AND experiment_id NOT IN ('2')",
    "name ILIKE '%a%' AND last_update_time > 100 AND tags.owner IS NULL",
]
ORDER_BYS: list[list[str] | None] = [
    None,
    ["name"],
    ["name DESC"],
    ["creation_time"],
    ["last_update_time DESC", "name"],
    ["experiment_id DESC"],
    ["name", "experiment_id"],
]
VIEW_TYPES = (ViewType.ACTIVE_ONLY, ViewType.ALL)


@dataclass
class Database:
    kind: str
    store: SqlAlchemyStore
    engine: sa.Engine


def _case_sensitive_like(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA case_sensitive_like = true")
    cursor.close()


def _populate(store: SqlAlchemyStore, engine: sa.Engine) -> None:
    experiments = tables.experiments
    for index, (name, tags) in enumerate(EXPERIMENTS):
        try:
            experiment_id = store.create_experiment(
                name, tags=[ExperimentTag(k, v) for k, v in tags.items()]
            )
        except MlflowException as exc:  # e.g. MySQL's collation makes "ALPHA " equal "alpha"
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            continue
        # Few distinct times, so ordering ties are broken by the tie-breaker; one NULL.
        times = {
            "creation_time": 1000 * (index % 4 + 1),
            "last_update_time": None if index == 5 else (index * 7) % 11 * 100,
        }
        with engine.begin() as conn:
            conn.execute(
                sa.update(experiments)
                .where(experiments.c.experiment_id == int(experiment_id))
                .values(**times)
            )
        if name in DELETED:
            store.delete_experiment(experiment_id)


@pytest.fixture(scope="module", params=KINDS)
def database(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Database]:
    kind = str(request.param)
    root: Path = tmp_path_factory.mktemp(f"experiment-search-{kind}")
    with fresh_database(kind, root) as uri:
        store = SqlAlchemyStore(uri, str(root / "artifacts"))
        engine = sa.create_engine(uri)
        if kind == "sqlite":
            sa.event.listen(engine, "connect", _case_sensitive_like)
        try:
            _populate(store, engine)
            yield Database(kind, store, engine)
        finally:
            engine.dispose()
            store.engine.dispose()


def _mlflow_page(
    db: Database, filter_string, order_by, view_type, max_results=1000, page_token=None
) -> tuple[list[int], str | None]:
    page = db.store.search_experiments(
        view_type=view_type,
        max_results=max_results,
        filter_string=filter_string,
        order_by=order_by,
        page_token=page_token,
    )
    token = page.token.decode("utf-8") if isinstance(page.token, bytes) else page.token
    return [int(e.experiment_id) for e in page], token


def _our_page(
    db: Database, filter_string, order_by, view_type, max_results=1000, page_token=None
) -> tuple[list[int], str | None]:
    """The query the SQL store runs: filters, lifecycle stages, order, offset, limit + 1."""
    experiments = tables.experiments
    offset = decode_offset_token(page_token)
    stages = LifecycleStage.view_type_to_stages(view_type)
    statement = (
        sa.select(experiments.c.experiment_id)
        .where(
            experiments.c.lifecycle_stage.in_(stages),
            *experiment_where(parse_experiment_filter(filter_string), db.kind),
        )
        .order_by(*experiment_order_by(parse_experiment_order_by(order_by)))
        .offset(offset)
        .limit(max_results + 1)
    )
    with db.engine.connect() as conn:
        ids = list(conn.scalars(statement))
    token = encode_offset_token(offset + max_results) if len(ids) > max_results else None
    return ids[:max_results], token


def test_every_experiment_was_created(database: Database):
    ids, _ = _mlflow_page(database, None, None, ViewType.ALL)
    # The Default experiment, plus ours (MySQL's collation folds a few names together).
    assert len(ids) >= len(EXPERIMENTS) - 2


@pytest.mark.parametrize("filter_string", FILTERS)
def test_filter_selects_and_orders_as_mlflow(database: Database, filter_string):
    for order_by, view_type in itertools.product(ORDER_BYS, VIEW_TYPES):
        expected = _mlflow_page(database, filter_string, order_by, view_type)
        ours = _our_page(database, filter_string, order_by, view_type)
        assert ours == expected, (filter_string, order_by, view_type)


@pytest.mark.parametrize(
    ("filter_string", "order_by"),
    [
        (None, None),
        ("tags.team IS NOT NULL", ["name"]),
        ("name LIKE '%a%'", ["last_update_time DESC"]),
    ],
)
def test_pages_and_tokens_match_mlflow(database: Database, filter_string, order_by):
    mlflow_token = our_token = None
    pages = 0
    while True:
        expected = _mlflow_page(database, filter_string, order_by, ViewType.ALL, 4, mlflow_token)
        # Each side continues from the other's token: the formats are the same bytes.
        ours = _our_page(database, filter_string, order_by, ViewType.ALL, 4, mlflow_token)
        assert ours == expected
        pages += 1
        mlflow_token, our_token = expected[1], ours[1]
        if mlflow_token is None:
            break
        assert our_token == mlflow_token
    assert pages > 1 or filter_string is not None


def test_experiment_id_compared_with_a_list_fails_in_the_database_for_both(database: Database):
    # MLflow accepts `experiment_id = ('1', '2')` and binds the tuple; the database refuses it.
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises
        _mlflow_page(database, "experiment_id = ('1', '2')", None, ViewType.ALL)
    with pytest.raises(sa.exc.SQLAlchemyError):
        _our_page(database, "experiment_id = ('1', '2')", None, ViewType.ALL)


@pytest.mark.parametrize("kind", KINDS)
def test_filter_values_are_bound_never_spliced(kind):
    dialect = {"sqlite": sqlite, "postgresql": postgresql, "mysql": mysql}[kind].dialect()
    filter_string = (
        "name LIKE 'n0pe%' AND tags.`k3y` = 'v4l' AND tags.`k5y` IS NULL "
        "AND experiment_id IN ('12345') AND creation_time > 67890"
    )
    terms = experiment_where(parse_experiment_filter(filter_string), kind)
    sql = str(sa.select(tables.experiments.c.experiment_id).where(*terms).compile(dialect=dialect))
    for value in ("n0pe", "k3y", "v4l", "k5y", "12345", "67890"):
        assert value not in sql
