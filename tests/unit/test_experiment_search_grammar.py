"""Our experiments search grammar against MLflow's own, input by input.

For every filter and order_by below, MLflow's answer (its parser followed by the SQL store's
checks and coercions) and ours must be the same clauses, or the same error with the same text.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import (
    _get_search_experiments_filter_clauses,
    _get_search_experiments_order_by_clauses,
)
from mlflow.utils.search_utils import SearchExperimentsUtils, SearchUtils
from sqlalchemy.dialects import sqlite

from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.search import fast_grammar, sqlparse_grammar
from mlflow_core.search.experiments import (
    parse_experiment_filter,
    parse_experiment_order_by,
)
from mlflow_core.search.page_tokens import decode_offset_token, encode_offset_token

VALID_FILTERS = [
    None,
    "experiment_id NOT  IN ('1') AND",
    "experiment_id IN ('\\x31')",
    "",
    "name = 'a'",
    'name = "a"',
    "name != 'a'",
    "name LIKE 'a%'",
    "name ILIKE '%A%'",
    "name='a'",
    "name = ''",
    'name = ""',
    "name = 'a b AND c = d'",
    "name = 'it''s'",
    "name = 'a\\'b'",
    "name = 'é ü 日本'",
    "name = 'line\nbreak'",
    "attribute.name = 'x'",
    "attribute.`name` = 'x'",
    "attribute.\"name\" = 'x'",
    "attribute.'name' = 'x'",
    "`name` = 'a'",
    "\"name\" = 'a'",
    "experiment_id = '1'",
    'experiment_id = "2"',
    "experiment_id != '3'",
    "experiment_id = ' 4 '",
    "experiment_id = '1_0'",
    "experiment_id = '-1'",
    "experiment_id = '+5'",
    "experiment_id = '٣'",
    "experiment_id IN ('1', '2')",
    "experiment_id IN ('1')",
    "experiment_id IN ('1',)",
    'experiment_id IN ("1", "2")',
    "experiment_id IN('1','2')",
    "experiment_id IN (\n'1',\r\n'2'\t)",
    "experiment_id NOT IN ('1', '2')",
    "experiment_id not in ('1')",
    "experiment_id Not In ('1')",
    "experiment_id IN (' 1 ')",
    "experiment_id IN ('1' '2')",
    "experiment_id IN ((('1')))",
    "experiment_id = ('1', '2')",
    "attribute.experiment_id IN ('7')",
    "creation_time > 5",
    "creation_time >= -5",
    "creation_time>5",
    "creation_time=5",
    "creation_time = 007",
    "creation_time != 1",
    "last_update_time < 100",
    "last_update_time <= 0",
    "last_update_time = 99999999999999999999",
    "tags.a = 'b'",
    "tag.a = 'b'",
    'tags.a = "b"',
    "tags.`a b` = 'c'",
    "tags.\"a b\" = 'c'",
    "tags.'a b' = 'c'",
    "tags.a != 'b'",
    "tags.a LIKE '%b'",
    "tags.a ILIKE 'B%'",
    "tags.a IS NULL",
    "tags.a IS NOT NULL",
    "tags.a is null",
    "tags.a is not null",
    "tags.a Is Not Null",
    "tags.a   IS    NULL",
    "tags.select = 'x'",
    "tags.null = 'x'",
    "tags.order = 'x'",
    "tags._x = 'y'",
    "tags.a.b = 'c'",
    "tags.mlflow.note.content LIKE '%x%'",
    "tags.`` = 'x'",
    "tags.\"\" = 'x'",
    "tags.'' = 'x'",
    "tags.`a.b` = 'c'",
    "tags.`a\"b` = 'c'",
    "tags.é = 'x'",
    "name = 'a' AND tags.b = 'c' AND creation_time > 1",
    "name = 'a' and tags.b = 'c'",
    "name = 'a' AnD tags.b = 'c'",
    "name = 'a'\nAND\ttags.x = 'y'",
    "  name = 'a'  ",
    "name = 'a' AND",
    "AND name = 'a'",
    "AND",
    "name = 'a' AND AND tags.b = 'c'",
    "name = 'a' name = 'b'",
    "tags.a IS NULL AND tags.b IS NOT NULL AND experiment_id IN ('1')",
    "experiment_id IN ('1') AND experiment_id NOT IN ('2') AND name LIKE 'x%'",
    "name = 'a'\u00a0AND tags.x = 'y'",
]

INVALID_FILTERS = [
    "name = 'a';",
    "name = 'a' /* comment */",
    "name = 'a' # a comment",
    "name = 'a' -- a comment",
    "   ",
    ";",
    "name = 'a'; name = 'b'",
    "name = 'a' OR name = 'b'",
    "name = 'a' or name = 'b'",
    "(name = 'a')",
    "name = 'a' AND (tags.b = 'c')",
    "NOT name = 'a'",
    "foo = 'a'",
    "metrics.a > 1",
    "metric.a > 1",
    "params.a = 'b'",
    "param.a = 'b'",
    "attr.name = 'x'",
    "attributes.name = 'x'",
    "run.name = 'x'",
    "dataset.name = 'x'",
    "`tags`.a = 'b'",
    "tags . a = 'b'",
    "\"tags.a\" = 'b'",
    "`tags.a` = 'b'",
    "attribute.foo = 'x'",
    "attribute.Name = 'x'",
    "NAME = 'x'",
    "name = a",
    "name = 5",
    "name = 5.5",
    "name = `a`",
    "name = tags.a",
    "name = NULL",
    "tags.a = b",
    "tags.a = 1",
    "tags.a = ('x')",
    "tags.a IN ('x')",
    "name > 'a'",
    "name like 'a'",
    "name ilike 'a'",
    "name <> 'a'",
    "name == 'a'",
    "name NOT LIKE 'a'",
    "name RLIKE 'a'",
    "name IN ('a')",
    "name NOT IN ('a')",
    "name ~ 'a'",
    "creation_time = 'a'",
    'creation_time = "5"',
    "creation_time > 5.5",
    "creation_time > 5.",
    "creation_time > .5",
    "creation_time > 1e3",
    "creation_time LIKE 5",
    "creation_time ILIKE 5",
    "creation_time IN (1)",
    "creation_time = 0x10",
    "creation_time IS NULL",
    "creation_time > -",
    "experiment_id = 1",
    "experiment_id = 'abc'",
    "experiment_id = ''",
    "experiment_id = '1.5'",
    "experiment_id > '1'",
    "experiment_id LIKE '1'",
    "experiment_id IN ()",
    "experiment_id IN (1, 2)",
    "experiment_id IN ('1', 2)",
    "experiment_id IN ('a', 'b')",
    "experiment_id IN ('1', 'x')",
    "experiment_id IN (a, b)",
    "experiment_id IN ('1'",
    "experiment_id IN '1'",
    "experiment_id in ('1')",
    "experiment_id IN (('1', '2'), '3')",
    "experiment_id IN ('a\\')",
    "experiment_id IS NULL",
    "tags.a > 'b'",
    "tags.a < 'b'",
    "tags.a like 'b'",
    "tags.a IS 'b'",
    "tags.a IS NOT  NULL",
    "tags.a IS NOT",
    "tags.a NOT NULL",
    "name IS NULL",
    "attribute.name IS NOT NULL",
    "tags.a IS NULL AND name IS NULL",
    "tags.in = 'x'",
    "tags.a-b = 'c'",
    "'a' = name",
    "5 = 5",
    "name",
    "tags.a",
    "name =",
    "= 'a'",
    "name = 'a' = 'b'",
    "name /* c */ = 'a'",
    "name = $$a$$",
    "name experiment_id IN ('1')",
    "x y z experiment_id IN ('1')",
    "name = 'a' AND foo = 'b'",
    "name = 'a' AND name > 'b' AND foo = 'c'",
    "experiment_id = 'x' AND foo = 'a'",
    "experiment_id = 'x' AND name > 'a'",
    "BETWEEN",
    "SELECT * FROM experiments",
    "name = 'a' UNION SELECT 1",
    "(" * 150 + "name = 'a'" + ")" * 150,
    "name = 'unterminated",
    'name = "unterminated',
    "tags.`unterminated = 'x'",
]

VALID_ORDER_BYS: list[list[str] | None] = [
    None,
    [],
    ["name"],
    ["name ASC"],
    ["name DESC"],
    ["name asc"],
    ["name desc"],
    ["name  DESC"],
    ["name\tDESC"],
    ["experiment_id"],
    ["experiment_id DESC"],
    ["experiment_id ASC", "name DESC"],
    ["creation_time", "name"],
    ["last_update_time DESC"],
    ["attribute.name"],
    ["attribute.name DESC"],
    ["attribute.experiment_id desc"],
    ["`name`"],
    ["`name` DESC"],
    ['"name" DESC'],
    ['"name"'],
    ["name DESC", "name ASC"],
    ["creation_time DESC", "last_update_time ASC"],
]

INVALID_ORDER_BYS: list[list[str]] = [
    [""],
    [" "],
    ["foo"],
    ["Name"],
    ["tags.a"],
    ["tag.a DESC"],
    ["metrics.a"],
    ["params.a"],
    ["attr.name"],
    ["name DESCENDING"],
    ["name DESC NULLS LAST"],
    ["name ASC DESC"],
    ["name up"],
    [" name"],
    ["name "],
    ["timestamp"],
    ["timestamp DESC"],
    ["name, experiment_id"],
    ["name;"],
    ["name; experiment_id"],
    ["experiment_id", "foo"],
    ["name DESC", "tags.x"],
    ["tags.x", "foo"],
    ['"name'],
    ["`name"],
    ["name.x"],
    ["(name)"],
    ["name = 'a'"],
    ["`a b` DESC"],
    ["tags.`a b` DESC"],
    ["name -- c"],
    ["(" * 150 + ")" * 150],
]

# A grammar of clause pieces, combined into many filters, so the fast scanner meets every
# shape it accepts and many near misses next to them.
_IDENTIFIERS = [
    "name",
    "experiment_id",
    "creation_time",
    "attribute.last_update_time",
    "tags.k",
    "tag.`k x`",
    'tags."k"',
    "tags.in",
    "names",
]
_OPERATORS = [
    "=",
    "!=",
    ">=",
    "<",
    "LIKE",
    "ILIKE",
    "like",
    "IN",
    "NOT IN",
    "IS NULL",
    "IS NOT NULL",
]
_VALUES = ["'v'", '"v"', "'1'", "5", "-5", "5.5", "('1', '2')", "('1')", "v", ""]


def _generated_filters() -> list[str]:
    clauses = [
        f"{ident} {op} {value}".rstrip()
        for ident, op, value in itertools.product(_IDENTIFIERS, _OPERATORS, _VALUES)
        if not (op.startswith("IS") and value)
    ]
    pairs = [f"{a} AND {b}" for a, b in zip(clauses, reversed(clauses), strict=True)][::7]
    return clauses + pairs


def _mlflow_filter(filter_string: str | None) -> list[tuple[Any, ...]]:
    """MLflow's parse, then its SQL store's checks, with each clause's bound value read back."""
    parsed = SearchExperimentsUtils.parse_search_filter(filter_string)
    attribute_clauses, tag_clauses = _get_search_experiments_filter_clauses(parsed, "sqlite")
    attribute_clauses, tag_clauses = iter(attribute_clauses), iter(tag_clauses)
    result = []
    for clause in parsed:
        null_check = clause["comparator"] in ("IS NULL", "IS NOT NULL")
        sql = next(
            attribute_clauses if clause["type"] == "attribute" or null_check else tag_clauses
        )
        params = sql.compile(dialect=sqlite.dialect()).params
        if null_check:
            value = None
        elif clause["type"] == "tag":
            assert sorted(params.values(), key=str) == sorted([clause["key"], params["value_1"]])
            value = params["value_1"]
        else:
            (value,) = params.values()
            value = tuple(value) if isinstance(value, list) else value
        result.append((clause["type"], clause["key"], clause["comparator"], value))
    return result


def _ours_filter(filter_string: str | None) -> list[tuple[Any, ...]]:
    return [(c.kind, c.key, c.comparator, c.value) for c in parse_experiment_filter(filter_string)]


def _mlflow_order_by(order_by: list[str] | None) -> list[tuple[str, bool]]:
    clauses = _get_search_experiments_order_by_clauses(order_by)
    return [(c.element.key, c.modifier.__name__ == "asc_op") for c in clauses]


def _ours_order_by(order_by: list[str] | None) -> list[tuple[str, bool]]:
    return [(k.key, k.ascending) for k in parse_experiment_order_by(order_by)]


def _without_addresses(message: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", message)


def _outcome(fn, *args) -> tuple[str, Any]:
    """("ok", result) or ("error", (error code name, message)) in one comparable shape."""
    try:
        return "ok", fn(*args)
    except MlflowException as exc:
        return "error", (exc.error_code, exc.message)
    except MlflowCoreError as exc:
        return "error", (exc.error_code.value, _without_addresses(exc.message))
    except Exception as exc:
        # What MLflow lets escape (its server answers 500) we answer as the client error it is,
        # with the same text.
        return "error", ("INVALID_PARAMETER_VALUE", _without_addresses(str(exc)))


@pytest.mark.parametrize("filter_string", VALID_FILTERS)
def test_accepted_filter_parses_as_mlflow_does(filter_string):
    expected = _outcome(_mlflow_filter, filter_string)
    assert expected[0] == "ok", expected
    assert _outcome(_ours_filter, filter_string) == expected


@pytest.mark.parametrize("filter_string", INVALID_FILTERS)
def test_rejected_filter_fails_with_mlflows_message(filter_string):
    expected = _outcome(_mlflow_filter, filter_string)
    assert expected[0] == "error", expected
    assert _outcome(_ours_filter, filter_string) == expected


def test_generated_filters_match_mlflow():
    mismatches = [
        (f, ours, expected)
        for f in _generated_filters()
        if (ours := _outcome(_ours_filter, f)) != (expected := _outcome(_mlflow_filter, f))
    ]
    assert mismatches == []


@pytest.mark.parametrize("filter_string", [*VALID_FILTERS, *INVALID_FILTERS, *_generated_filters()])
def test_fast_scanner_agrees_with_the_sqlparse_path(filter_string):
    """Whatever the fast scanner accepts, the reference path parses to the same clauses."""
    if not filter_string:
        return
    scanned = fast_grammar.scan_filter(filter_string)
    if scanned is not None:
        assert scanned == sqlparse_grammar.parse_filter(filter_string)


def test_fast_scanner_takes_the_common_shapes():
    # These must not fall back to sqlparse: they are what clients send on every page.
    for filter_string in [
        "name = 'a'",
        "name LIKE '%x%' AND tags.k = 'v'",
        "experiment_id IN ('1', '2')",
        "tags.`a b` IS NOT NULL AND creation_time > 5",
    ]:
        assert fast_grammar.scan_filter(filter_string) is not None, filter_string
    assert fast_grammar.scan_order_by("last_update_time DESC") is not None


def test_repeated_filter_gives_equal_results_and_fresh_errors():
    assert parse_experiment_filter("name = 'r'") == parse_experiment_filter("name = 'r'")
    first = _outcome(_ours_filter, "name > 'r'")
    with pytest.raises(MlflowCoreError) as again:
        parse_experiment_filter("name > 'r'")
    assert again.value.error_code is ErrorCode.INVALID_PARAMETER_VALUE
    assert ("error", (again.value.error_code.value, again.value.message)) == first


def test_long_filter_is_parsed_without_caching():
    long_filter = " AND ".join(f"tags.k{i} = 'v{i}'" for i in range(400))
    assert len(long_filter) > 4096
    assert _outcome(_ours_filter, long_filter) == _outcome(_mlflow_filter, long_filter)


@pytest.mark.parametrize("order_by", VALID_ORDER_BYS)
def test_accepted_order_by_parses_as_mlflow_does(order_by):
    expected = _outcome(_mlflow_order_by, order_by)
    assert expected[0] == "ok", expected
    assert _outcome(_ours_order_by, order_by) == expected


@pytest.mark.parametrize("order_by", INVALID_ORDER_BYS)
def test_rejected_order_by_fails_with_mlflows_message(order_by):
    expected = _outcome(_mlflow_order_by, order_by)
    assert expected[0] == "error", expected
    assert _outcome(_ours_order_by, order_by) == expected


def test_default_order_and_tie_breaker():
    assert _ours_order_by(None) == [("creation_time", False), ("experiment_id", True)]
    assert _ours_order_by(["name"]) == [("name", True), ("experiment_id", False)]


# Messages that print a Python set depend on the process's hash seed; run them in fresh
# processes with different seeds, where MLflow's and ours must still agree.
_SET_MESSAGES_SCRIPT = textwrap.dedent(
    """
    import sys
    from mlflow.exceptions import MlflowException
    from mlflow.utils.search_utils import SearchExperimentsUtils as S
    from mlflow_core.errors import MlflowCoreError
    from mlflow_core.search.experiments import parse_experiment_filter, parse_experiment_order_by

    def message(fn, *args):
        try:
            fn(*args)
        except (MlflowException, MlflowCoreError) as exc:
            return exc.message
        raise AssertionError(args)

    pairs = [
        (message(S.parse_search_filter, "foo = 'a'"),
         message(parse_experiment_filter, "foo = 'a'")),
        (message(S.parse_order_by_for_search_experiments, "foo"),
         message(parse_experiment_order_by, ["foo"])),
        (message(S.is_string_attribute, "attribute", "name", ">"),
         message(parse_experiment_filter, "name > 'a'")),
        (message(S.is_numeric_attribute, "attribute", "creation_time", "LIKE"),
         message(parse_experiment_filter, "creation_time LIKE 5")),
    ]
    bad = [p for p in pairs if p[0] != p[1]]
    print(bad)
    sys.exit(1 if bad else 0)
    """
)


@pytest.mark.parametrize("seed", ["0", "1", "7", "12345"])
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


def _mlflow_token(offset: int) -> str:
    return str(SearchUtils.create_page_token(offset).decode("utf-8"))


@pytest.mark.parametrize("offset", [1, 10, 1000, 123456789, 2**63])
def test_page_tokens_round_trip_both_ways(offset):
    assert encode_offset_token(offset) == _mlflow_token(offset)
    assert decode_offset_token(_mlflow_token(offset)) == offset
    assert SearchUtils.parse_start_offset_from_page_token(encode_offset_token(offset)) == offset


def _b64(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "eyJvZmZzZXQiOiAxMH0=",
        "eyJvZmZzZXQiOiAxMH0",
        "eyJvZmZzZXQi OiAxMH0=",
        "eyJvZmZzZXQiOiAxMH0=!!",
        "not a token",
        "abc",
        "a",
        "é",
        _b64("not json"),
        _b64(b"\xff\xfe"),
        _b64("{}"),
        _b64('{"offset": 0}'),
        _b64('{"offset": null}'),
        _b64('{"offset": ""}'),
        _b64('{"offset": "12"}'),
        _b64('{"offset": " 12 "}'),
        _b64('{"offset": "abc"}'),
        _b64('{"offset": -5}'),
        _b64('{"offset": 3.7}'),
        _b64('{"offset": true}'),
        _b64('{"offset": false}'),
        _b64('{"offset": [1]}'),
        _b64('{"offset": {"a": 1}}'),
        _b64('{"offset": NaN}'),
        _b64('{"offset": Infinity}'),
        _b64('{"other": 5}'),
        _b64("[1]"),
        _b64("7"),
        _b64('"offset"'),
        _b64(json.dumps({"offset": 5}).encode("utf-16")),
    ],
)
def test_page_token_decodes_or_fails_as_mlflow(token):
    expected = _outcome(SearchUtils.parse_start_offset_from_page_token, token)
    assert _outcome(decode_offset_token, token) == expected
