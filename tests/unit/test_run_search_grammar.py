"""Our runs search grammar against MLflow's own, input by input.

MLflow's answer for a (filter, order_by) pair is what its SQL store does before it touches the
database: ``SearchUtils.parse_search_filter``, then ``_get_orderby_clauses``, then
``_get_sqlalchemy_filter_clauses``. Ours must be the same clauses (kinds, keys with aliases
resolved, comparators, coerced values) and order keys, or the same first error with the same
text.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import (
    _get_orderby_clauses,
    _get_sqlalchemy_filter_clauses,
)
from mlflow.utils.search_utils import SearchUtils
from sqlalchemy.orm import Session

from mlflow_core.errors import MlflowCoreError
from mlflow_core.search.runs import parse_run_search

_KINDS = {
    "metric": "metric",
    "parameter": "param",
    "tag": "tag",
    "attribute": "attribute",
    "dataset": "dataset",
}


def _mlflow(filter_string: str | None, order_by: list[str] | None) -> tuple[Any, ...]:
    session = Session()
    parsed = SearchUtils.parse_search_filter(filter_string)
    _get_orderby_clauses(order_by, session)
    _get_sqlalchemy_filter_clauses(parsed, session, "sqlite")
    clauses = []
    for clause in parsed:
        kind = _KINDS[clause["type"]]
        value = clause["value"]
        if kind == "metric":
            value = float(value)
        clauses.append(
            (
                kind,
                SearchUtils.translate_key_alias(clause["key"]),
                clause["comparator"].upper(),
                value,
            )
        )
    keys = []
    for text in order_by or []:
        kind, key, ascending = SearchUtils.parse_order_by_for_search_runs(text)
        keys.append((_KINDS[kind], SearchUtils.translate_key_alias(key), ascending))
    return tuple(clauses), tuple(keys)


def _ours(filter_string: str | None, order_by: list[str] | None) -> tuple[Any, ...]:
    query = parse_run_search(filter_string, order_by)
    clauses = tuple((c.kind, c.key, c.comparator, c.value) for c in query.clauses)
    keys = tuple((k.kind, k.key, k.ascending) for k in query.order_by)
    return clauses, keys


def _without_addresses(message: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", message)


def _outcome(fn, *args) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except MlflowException as exc:
        # MLflow raises the duplicate order_by error without a code (a 500): ours is a 400.
        code = exc.error_code
        if code == "INTERNAL_ERROR" and "duplicate fields" in exc.message:
            code = "INVALID_PARAMETER_VALUE"
        return "error", (code, exc.message)
    except MlflowCoreError as exc:
        return "error", (exc.error_code.value, _without_addresses(exc.message))
    except Exception as exc:
        # What MLflow lets escape (its server answers 500) we answer as the client error it is,
        # with the same text.
        return "error", ("INVALID_PARAMETER_VALUE", _without_addresses(str(exc)))


VALID_FILTERS = [
    None,
    "",
    "metrics.acc > 0.5",
    "metrics.acc >= 1",
    "metrics.acc = -3",
    "metrics.acc != 1e3",
    "metrics.acc < .5",
    "metric.acc <= 007",
    "metrics.`my metric` > 1",
    'metrics."my metric" > 1',
    "metrics.'my metric' > 1",
    "params.lr = '0.1'",
    'params.lr = "0.1"',
    "param.lr != 'x'",
    "parameter.lr LIKE '%1'",
    "parameters.lr ILIKE '%A'",
    "params.lr IS NULL",
    "params.lr IS NOT NULL",
    "params.lr is not null",
    "tags.a = 'b'",
    "tag.a LIKE 'b%'",
    "tags.`mlflow.runName` = 'x'",
    "tags.mlflow.source.type = 'LOCAL'",
    "tags.a IS NULL",
    "tags.a Is Not Null",
    "attribute.status = 'FINISHED'",
    "attributes.status != 'RUNNING'",
    "attr.user_id LIKE 'a%'",
    "run.artifact_uri ILIKE '%S3%'",
    "status = 'FAILED'",
    "run_id = 'abc'",
    "run_id IN ('a', 'b')",
    "run_id NOT IN ('a')",
    "attributes.run_id IN ('a',)",
    "run_name = 'r'",
    "attributes.run_name LIKE 'r%'",
    "attributes.`run name` = 'r'",
    "attributes.\"Run name\" = 'r'",
    "attributes.'Run Name' = 'r'",
    "start_time > 5",
    "start_time >= 5.5",
    "end_time < -1",
    "end_time != 0",
    "created > 1",
    "attributes.Created <= 1",
    "`attribute`.status = 'x'",
    "`metrics`.a > 1",
    "datasets.name = 'ds'",
    "dataset.digest != 'abc'",
    "datasets.context LIKE 'tr%'",
    "datasets.name IN ('a', 'b')",
    "datasets.context NOT IN ('train')",
    "datasets.digest ILIKE '%A'",
    "metrics.a > 1 AND params.b = 'c' AND tags.d LIKE 'e%' AND status = 'FINISHED'",
    "metrics.a > 1 and params.b = 'c'",
    "metrics.a > 1 AND",
    "params.b = 'it''s'",
    "params.b = 'é'",
    "tags.`a b` = 'c'",
    "run_id = ('a', 'b')",
]

INVALID_FILTERS = [
    "metrics.a > '1'",
    "metrics.a LIKE 1",
    "metrics.a IS NULL",
    "metrics.a IN (1, 2)",
    "params.a > 'b'",
    "params.a = 1",
    "params.a IN ('a')",
    "tags.a > 'b'",
    "tags.a = 1",
    "tags.a = `b`",
    "status > 'a'",
    "status IN ('a')",
    "status = 1",
    "start_time = 'a'",
    "start_time LIKE 5",
    "created IN (1)",
    "lifecycle_stage = 'active'",
    "experiment_id = '0'",
    "foo = 'a'",
    "foo.a = 'b'",
    "datasets.foo = 'a'",
    "datasets.name > 'a'",
    "datasets.name IS NULL",
    "datasets.name = 1",
    "attributes.status IS NULL",
    "run_id IN ()",
    "run_id IN (1, 2)",
    "run_id IN ('a' 'b' c)",
    "metrics.a > 1 OR metrics.b > 1",
    "metrics.a > 1; metrics.b > 1",
    "metrics.a",
    "(metrics.a > 1)",
    "params.a = 'unterminated",
    "tags.a IS 'x'",
    "metrics.a >> 1",
    "metrics.a == 1",
    "1 = metrics.a",
    "params.a = 'b' AND foo.c = 'd'",
    "params.a > 'b' AND foo.c = 'd'",
]

VALID_ORDER_BYS: list[list[str] | None] = [
    None,
    [],
    ["metrics.acc"],
    ["metrics.acc DESC"],
    ["metric.acc asc"],
    ["params.lr"],
    ["param.lr DESC"],
    ["tags.t"],
    ["tag.`a b` DESC"],
    ['tags."a b"'],
    ["start_time"],
    ["start_time DESC"],
    ["attributes.start_time ASC"],
    ["created DESC"],
    ["Created"],
    ["end_time"],
    ["run_id"],
    ["run_name DESC"],
    ["status", "user_id DESC"],
    ["artifact_uri"],
    ["metrics.a", "params.b DESC", "tags.c", "end_time DESC"],
    ["metrics.a", "params.a"],
]

INVALID_ORDER_BYS: list[list[str]] = [
    [""],
    ["foo"],
    ["datasets.name"],
    ["dataset.digest DESC"],
    ["lifecycle_stage"],
    ["run name"],
    ["attributes.`run name`"],
    ["experiment_id"],
    ["metrics.a", "metrics.a DESC"],
    ["created", "start_time"],
    ["metrics.a", "metric.a"],
    ["params.a", "parameters.a DESC", "foo"],
    ["metrics.a DESCENDING"],
    ["metrics.a ASC DESC"],
    ["metrics.a, metrics.b"],
    ["timestamp"],
    ["`metrics.a"],
    ["foo.a"],
]


@pytest.mark.parametrize("filter_string", VALID_FILTERS)
def test_accepted_filter_parses_as_mlflow_does(filter_string):
    expected = _outcome(_mlflow, filter_string, None)
    assert expected[0] == "ok", expected
    assert _outcome(_ours, filter_string, None) == expected


@pytest.mark.parametrize("filter_string", INVALID_FILTERS)
def test_rejected_filter_fails_with_mlflows_message(filter_string):
    expected = _outcome(_mlflow, filter_string, None)
    assert expected[0] == "error", expected
    assert _outcome(_ours, filter_string, None) == expected


@pytest.mark.parametrize("order_by", VALID_ORDER_BYS)
def test_accepted_order_by_parses_as_mlflow_does(order_by):
    expected = _outcome(_mlflow, None, order_by)
    assert expected[0] == "ok", expected
    assert _outcome(_ours, None, order_by) == expected


@pytest.mark.parametrize("order_by", INVALID_ORDER_BYS)
def test_rejected_order_by_fails_with_mlflows_message(order_by):
    expected = _outcome(_mlflow, None, order_by)
    assert expected[0] == "error", expected
    assert _outcome(_ours, None, order_by) == expected


def test_errors_come_in_mlflows_order():
    # Syntax before order_by, order_by before the store's comparator checks.
    for filter_string, order_by in [
        ("params.a > 'b'", ["foo"]),
        ("params.a = 1", ["foo"]),
        ("params.a > 'b'", ["metrics.a"]),
        ("metrics.a LIKE 1", ["metrics.a", "metrics.a"]),
    ]:
        expected = _outcome(_mlflow, filter_string, order_by)
        assert expected[0] == "error"
        assert _outcome(_ours, filter_string, order_by) == expected


# Clause pieces combined into many filters: every identifier form, comparator and value type.
_IDENTIFIERS = [
    "metrics.m",
    "metric.`m m`",
    "params.p",
    'param."p"',
    "tags.t",
    "tag.'t t'",
    "status",
    "attributes.run_id",
    "run_name",
    "attr.`Run name`",
    "start_time",
    "created",
    "end_time",
    "datasets.name",
    "dataset.context",
    "datasets.digest",
    "datasets.other",
    "nope.x",
    "lifecycle_stage",
]
_OPERATORS = ["=", "!=", "<", ">=", "LIKE", "ilike", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]
_VALUES = ["'v'", '"v"', "5", "-2.5", "('a', 'b')", "('a')", "v", "`v`", ""]


def _generated_filters() -> list[str]:
    clauses = [
        f"{ident} {op} {value}".rstrip()
        for ident, op, value in itertools.product(_IDENTIFIERS, _OPERATORS, _VALUES)
        if not (op.startswith("IS") and value)
    ]
    pairs = [f"{a} AND {b}" for a, b in zip(clauses, reversed(clauses), strict=True)][::5]
    return clauses + pairs


def test_generated_filters_match_mlflow():
    mismatches = [
        (f, ours, expected)
        for f in _generated_filters()
        if (ours := _outcome(_ours, f, None)) != (expected := _outcome(_mlflow, f, None))
    ]
    assert mismatches == []


_ORDER_PIECES = [
    "metrics.m",
    "params.p",
    "tags.t",
    "tags.`t t`",
    "start_time",
    "created",
    "end_time",
    "run_id",
    "run_name",
    "status",
    "user_id",
    "artifact_uri",
    "datasets.name",
    "foo",
    "metric.m",
]


def test_generated_order_bys_match_mlflow():
    rng = random.Random(4)
    cases = []
    for _ in range(400):
        pieces = rng.sample(_ORDER_PIECES, rng.randint(1, 3))
        cases.append([f"{p} {rng.choice(['', 'ASC', 'DESC', 'desc'])}".rstrip() for p in pieces])
    mismatches = [
        (o, ours, expected)
        for o in cases
        if (ours := _outcome(_ours, None, o)) != (expected := _outcome(_mlflow, None, o))
    ]
    assert mismatches == []


def test_repeated_search_is_cached_and_errors_are_fresh():
    first = parse_run_search("metrics.a > 1", ["params.b"])
    assert parse_run_search("metrics.a > 1", ["params.b"]) is first
    errors = []
    for _ in range(2):
        with pytest.raises(MlflowCoreError) as caught:
            parse_run_search("metrics.a LIKE 1", None)
        errors.append(caught.value)
    assert errors[0] is not errors[1]
    assert errors[0].message == errors[1].message


def test_long_filter_is_parsed_without_caching():
    long_filter = " AND ".join(f"params.k{i} = 'v{i}'" for i in range(400))
    assert len(long_filter) > 4096
    assert _outcome(_ours, long_filter, None) == _outcome(_mlflow, long_filter, None)


# Messages that print a Python set depend on the process's hash seed; run them in fresh
# processes with different seeds, where MLflow's and ours must still agree.
_SET_MESSAGES_SCRIPT = textwrap.dedent(
    """
    import sys
    from sqlalchemy.orm import Session
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.sqlalchemy_store import (
        _get_orderby_clauses, _get_sqlalchemy_filter_clauses,
    )
    from mlflow.utils.search_utils import SearchUtils as S
    from mlflow_core.errors import MlflowCoreError
    from mlflow_core.search.runs import parse_run_search

    def mlflow(filter_string, order_by):
        try:
            parsed = S.parse_search_filter(filter_string)
            _get_orderby_clauses(order_by, Session())
            _get_sqlalchemy_filter_clauses(parsed, Session(), "sqlite")
        except MlflowException as exc:
            return exc.message
        raise AssertionError(filter_string)

    def ours(filter_string, order_by):
        try:
            parse_run_search(filter_string, order_by)
        except MlflowCoreError as exc:
            return exc.message
        raise AssertionError(filter_string)

    cases = [
        ("foo = 'a'", None), (None, ["foo"]), ("datasets.foo = 'a'", None),
        ("metrics.a LIKE 1", None), ("params.a > 'a'", None), ("tags.a > 'a'", None),
        ("status > 'a'", None), ("start_time LIKE 1", None), ("datasets.name > 'a'", None),
    ]
    bad = [(c, mlflow(*c), ours(*c)) for c in cases if mlflow(*c) != ours(*c)]
    print(bad)
    sys.exit(1 if bad else 0)
    """
)


@pytest.mark.parametrize("seed", ["0", "3", "12345"])
def test_messages_listing_a_set_match_under_any_hash_seed(seed):
    env = {**os.environ, "PYTHONHASHSEED": seed}
    run = subprocess.run(
        [sys.executable, "-c", _SET_MESSAGES_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
