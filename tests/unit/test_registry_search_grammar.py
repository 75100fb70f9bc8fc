"""Our registry search grammar gives MLflow's answers (clauses or error text) on many inputs.

MLflow's parser and its SQL store's checks are run in-process on the same filter strings and
order_by lists; we compare what each accepts (as clauses) and the message of what it rejects.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils

from mlflow_core.errors import MlflowCoreError
from mlflow_core.search.registry import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)

MODEL_FILTERS = [
    "name = 'a'",
    "name != 'a'",
    "name LIKE 'a%'",
    "name ilike 'A%'",
    "name IN ('a', 'b')",
    "name NOT IN ('a')",
    "name > 'a'",
    "tags.k = 'v'",
    "tag.k != 'v'",
    "tags.`a b` = 'v'",
    "tags.\"q\" LIKE '%'",
    "tags.k > 'v'",
    "tags.k IN ('a')",
    "tags.k = 5",
    "attribute.name = 'x'",
    "run_id = 'x'",
    "metric.x = 1",
    "name = 'a' AND tags.k = 'v' AND tags.k != 'w'",
    "name = 'a' OR name = 'b'",
    "name = a",
    "name = 1",
    "name IN (1, 2)",
    "name IN ()",
    "tags.k IS NULL",
    "`name` = 'a'",
    "name = 'a'; name = 'b'",
    "name",
    "tags.`mlflow.prompt.is_prompt` = 'true'",
    "tags.`mlflow.prompt.is_prompt` = 'false'",
    "tags.`mlflow.prompt.is_prompt` != 'FALSE'",
    "tags.`mlflow.prompt.is_prompt` LIKE 'true'",
]
VERSION_FILTERS = [
    *MODEL_FILTERS,
    "version_number = 1",
    "version_number > '2'",
    "version_number = 1.5",
    "version_number LIKE '1'",
    "version_number IN ('1')",
    "version_number = 'x'",
    "run_id = 'r'",
    "run_id IN ('a', 'b')",
    "run_id NOT IN ('a')",
    "source_path LIKE 's3://%'",
    "source_path IN ('a')",
    "run_id = 1",
    "creation_timestamp > 1",
    "name = 'm' AND version_number <= 3",
]
MODEL_ORDERS: list[list[str]] = [
    [],
    ["name"],
    ["name DESC"],
    ["timestamp DESC"],
    ["last_updated_timestamp", "name ASC"],
    ["creation_timestamp"],
    ["name", "name"],
    ["timestamp", "last_updated_timestamp"],
    ["name sideways"],
    ["name ASC DESC"],
    ["tags.x"],
]
VERSION_ORDERS: list[list[str]] = [
    [],
    ["name"],
    ["version_number DESC"],
    ["creation_timestamp", "name"],
    ["last_updated_timestamp DESC", "name ASC", "version_number DESC"],
    ["name", "name"],
    ["bogus"],
    ["tags.x"],
    ["run_id"],
    ["attribute.name"],
    ["metric.x"],
]


def _message(exc: Exception) -> str:
    # Python sets print in hash order; compare them sorted.
    return re.sub(
        r"\{('[^']*'(?:, '[^']*')*)\}",
        lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}",
        str(getattr(exc, "message", exc)),
    )


def _mlflow(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except MlflowException as exc:
        return "error", _message(exc)
    except Exception as exc:  # MLflow's 500s: we must reject these too
        return "crash", str(exc)


def _ours(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except MlflowCoreError as exc:
        return "error", _message(exc)


def _check(theirs: tuple[str, Any], ours: tuple[str, Any]) -> None:
    if theirs[0] == "crash":
        assert ours[0] == "error", ours
    elif theirs[0] == "error":
        assert ours == theirs
    else:
        assert ours[0] == "ok", ours


@pytest.mark.parametrize("filter_string", MODEL_FILTERS)
def test_registered_model_filters(filter_string: str) -> None:
    def mlflow_side() -> int:
        parsed = SearchModelUtils.parse_search_filter(filter_string)
        store = SqlAlchemyStore.__new__(SqlAlchemyStore)
        store._get_search_registered_model_filter_query(None, parsed, "sqlite")
        return len(parsed)

    theirs = _mlflow(mlflow_side)
    ours = _ours(lambda: parse_registered_model_filter(filter_string))
    _check(theirs, ours)


@pytest.mark.parametrize("filter_string", VERSION_FILTERS)
def test_model_version_filters(filter_string: str) -> None:
    def mlflow_side() -> int:
        parsed = SearchModelVersionUtils.parse_search_filter(filter_string)
        store = SqlAlchemyStore.__new__(SqlAlchemyStore)
        store._get_search_model_versions_filter_clauses(parsed, "sqlite")
        return len(parsed)

    theirs = _mlflow(mlflow_side)
    ours = _ours(lambda: parse_model_version_filter(filter_string))
    _check(theirs, ours)


@pytest.mark.parametrize("order_by", MODEL_ORDERS)
def test_registered_model_order_by(order_by: list[str]) -> None:
    theirs = _mlflow(lambda: SqlAlchemyStore._parse_search_registered_models_order_by(order_by))
    ours = _ours(lambda: parse_registered_model_order_by(order_by))
    _check(theirs, ours)
    if theirs[0] == "ok":
        assert [str(c) for c in theirs[1]] == [
            f"registered_models.{k.column} {'ASC' if k.ascending else 'DESC'}" for k in ours[1]
        ]


@pytest.mark.parametrize("order_by", VERSION_ORDERS)
def test_model_version_order_by(order_by: list[str]) -> None:
    defaults = order_by or ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
    theirs = _mlflow(lambda: SqlAlchemyStore._parse_search_model_versions_order_by(defaults))
    ours = _ours(lambda: parse_model_version_order_by(order_by))
    _check(theirs, ours)
    if theirs[0] == "ok":
        assert [str(c) for c in theirs[1]] == [
            f"model_versions.{k.column} {'ASC' if k.ascending else 'DESC'}" for k in ours[1]
        ]


def test_prompt_rule_is_mlflows() -> None:
    for filter_string in MODEL_FILTERS:
        try:
            parsed = SearchModelUtils.parse_search_filter(filter_string)
            ours = parse_registered_model_filter(filter_string)
        except (MlflowException, MlflowCoreError, ValueError):
            continue
        assert ours.include_prompts == SqlAlchemyStore._is_querying_prompt(parsed), filter_string
