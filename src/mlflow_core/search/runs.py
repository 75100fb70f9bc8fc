"""MLflow's runs search grammar: ``filter`` and ``order_by`` of SearchRuns.

Semantics and error messages are those of ``SearchUtils.parse_search_filter``,
``SearchUtils.parse_order_by_for_search_runs`` and the checks MLflow's SQL store makes while it
builds its query (``_get_sqlalchemy_filter_clauses``, ``_get_orderby_clauses``), raised in the
store's order: the filter's syntax first, then every order_by clause, then each filter clause's
comparator. ``parse_run_search`` does all three; its outcome (a rejection included) is memoised
per exact input in a bounded LRU, because clients send the same filter on every page and poll.

Aliases are resolved here (``created`` is ``start_time``, ``run name`` is ``run_name``), so a
clause names the key the store compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

from sqlparse import tokens as T
from sqlparse.sql import Identifier, Parenthesis

from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.search.filter_terms import (
    invalid,
    quoted_string_value,
    strip_quotes,
    trim_backticks,
)
from mlflow_core.search.sqlparse_grammar import (
    filter_tokens,
    is_and,
    is_clause_or_and,
    is_string_operand,
    literal_list,
    split_order_by,
    token_parts,
)

RunEntity = Literal["attribute", "metric", "param", "tag", "dataset"]
OrderEntity = Literal["attribute", "metric", "param", "tag"]
RunFilterValue = str | int | float | tuple[str, ...] | None


def _constant_set(*items: str) -> set[str]:
    """A set literal of three or more constants, as MLflow's ``.pyc`` rebuilds it.

    Such a literal is a frozenset constant that ``marshal`` stores sorted (for short ASCII
    strings: by length, then text) and copies into a new set; its repr, which MLflow puts in
    messages, depends on that insertion order and this process's hash seed, as ours does.
    """
    return set(frozenset(sorted(items, key=lambda item: (len(item), item))))


def _source_order_set(*items: str) -> set[str]:
    """A set literal naming a variable (or of two items): built element by element, in order."""
    built: set[str] = set()
    for item in items:
        built.add(item)
    return built


# SearchUtils' vocabulary, built the way MLflow builds it so the sets print the same.
_SEARCHABLE: Final = (
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
)
_ALTERNATE_NUMERIC: Final = _source_order_set("created", "Created")
_ALTERNATE_STRING: Final = _constant_set("run name", "Run name", "Run Name")
SEARCH_ATTRIBUTE_KEYS: Final = _source_order_set(
    *_SEARCHABLE, *_ALTERNATE_NUMERIC, *_ALTERNATE_STRING
)
ORDER_BY_ATTRIBUTE_KEYS: Final = _source_order_set(*_SEARCHABLE, *_ALTERNATE_NUMERIC)
NUMERIC_ATTRIBUTES: Final = frozenset(("start_time", "end_time", "created", "Created"))
DATASET_KEYS: Final = _constant_set("name", "digest", "context")
METRIC_COMPARATORS: Final = _constant_set(">", ">=", "!=", "=", "<", "<=")
PARAM_COMPARATORS: Final = _source_order_set("!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL")
TAG_COMPARATORS: Final = _source_order_set("!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL")
STRING_ATTRIBUTE_COMPARATORS: Final = _source_order_set("!=", "=", "LIKE", "ILIKE", "IN", "NOT IN")
DATASET_COMPARATORS: Final = _source_order_set("!=", "=", "LIKE", "ILIKE", "IN", "NOT IN")
_LIST_KEYS: Final = ("run_id",)
_IDENTIFIERS: Final = ["metric", "parameter", "tag", "attribute", "dataset"]
_ENTITY_ALIASES: Final[dict[str, RunEntity]] = {
    "metric": "metric",
    "metrics": "metric",
    "parameter": "param",
    "parameters": "param",
    "param": "param",
    "params": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attr": "attribute",
    "attributes": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}
# MLflow's own names for the entity kinds, as its messages print them.
_MLFLOW_NAMES: Final[dict[RunEntity, str]] = {
    "metric": "metric",
    "param": "parameter",
    "tag": "tag",
    "attribute": "attribute",
    "dataset": "dataset",
}
_NULL_COMPARATORS: Final = ("IS NULL", "IS NOT NULL")
_NUMBER_TYPES: Final = (T.Number.Integer, T.Number.Float)
_CACHE_SIZE: Final = 512
# Longer inputs are parsed every time rather than pinned in the cache by a client.
_CACHEABLE_LENGTH: Final = 4096


@dataclass(frozen=True, slots=True)
class RunFilterClause:
    """One ``AND``-ed comparison, checked and coerced as MLflow's SQL store does.

    ``key`` has its alias resolved (``start_time`` for ``created``, ``run_name`` for
    ``run name``); ``comparator`` is upper case. ``value`` is a float for metrics, an int or float
    for numeric attributes, a tuple of strings for a list, None for ``IS [NOT] NULL``, else the
    string.
    """

    kind: RunEntity
    key: str
    comparator: str
    value: RunFilterValue


@dataclass(frozen=True, slots=True)
class RunOrderKey:
    """One order_by clause; ``key`` has its alias resolved. Attribute keys are MLflow's names."""

    kind: OrderEntity
    key: str
    ascending: bool


@dataclass(frozen=True, slots=True)
class RunSearchQuery:
    clauses: tuple[RunFilterClause, ...]
    order_by: tuple[RunOrderKey, ...]

    @property
    def orders_by_start_time(self) -> bool:
        """MLflow appends ``start_time DESC`` (then ``run_uuid``) unless start_time is a key."""
        return any(k.kind == "attribute" and k.key == "start_time" for k in self.order_by)


@dataclass(frozen=True, slots=True)
class _Rejection:
    message: str
    error_code: ErrorCode

    def error(self) -> MlflowCoreError:
        return MlflowCoreError(self.message, self.error_code)

    @staticmethod
    def of(exc: MlflowCoreError) -> _Rejection:
        return _Rejection(exc.message, exc.error_code)


@dataclass(frozen=True, slots=True)
class _ParsedFilter:
    """A filter after MLflow's parser; ``check`` is the store's later verdict on its clauses."""

    clauses: tuple[RunFilterClause, ...]
    check: _Rejection | None


def parse_run_search(filter_string: str | None, order_by: Sequence[str] | None) -> RunSearchQuery:
    """The filter's clauses and the order keys, or MLflow's first error for this input."""
    order = tuple(order_by) if order_by else ()
    size = len(filter_string or "") + sum(map(len, order))
    if size > _CACHEABLE_LENGTH:
        outcome = _search_outcome.__wrapped__(filter_string or "", order)
    else:
        outcome = _search_outcome(filter_string or "", order)
    if isinstance(outcome, _Rejection):
        raise outcome.error()
    return outcome


@lru_cache(maxsize=_CACHE_SIZE)
def _search_outcome(filter_string: str, order_by: tuple[str, ...]) -> RunSearchQuery | _Rejection:
    try:
        parsed = _parse_filter(filter_string)
        keys = _parse_order_by(order_by)
    except MlflowCoreError as exc:
        return _Rejection.of(exc)
    if parsed.check is not None:
        return parsed.check
    return RunSearchQuery(parsed.clauses, keys)


# -- filter -------------------------------------------------------------------------------------


def _parse_filter(filter_string: str) -> _ParsedFilter:
    if not filter_string:
        return _ParsedFilter((), None)
    tokens = filter_tokens(filter_string)
    rejected = [t for t in tokens if not is_clause_or_and(t)]
    if rejected:
        listed = ", ".join(f"'{t}'" for t in rejected)
        raise invalid(f"Invalid clause(s) in filter string: {listed}")
    raw = [_comparison(t) for t in tokens if not is_and(t)]
    try:
        return _ParsedFilter(tuple(_checked(*clause) for clause in raw), None)
    except MlflowCoreError as exc:
        return _ParsedFilter((), _Rejection.of(exc))


def _comparison(token: Any) -> tuple[RunEntity, str, str, RunFilterValue]:
    """``SearchUtils._get_comparison``: (kind, key as written, comparator as written, value)."""
    parts = token_parts(token)
    base = "Invalid comparison clause"
    if len(parts) == 2 and parts[1].value.upper() in _NULL_COMPARATORS:
        if not isinstance(parts[0], Identifier):
            raise invalid(f"{base}. Expected 'Identifier' found '{parts[0]}'")
        kind, key = _identifier(parts[0].value, SEARCH_ATTRIBUTE_KEYS)
        if kind not in ("tag", "param"):
            raise invalid(
                "IS NULL / IS NOT NULL is only supported for tags and params, "
                f"not for '{_MLFLOW_NAMES[kind]}' '{key}'"
            )
        return kind, key, parts[1].value.upper(), None
    if len(parts) != 3:
        raise invalid(f"{base}. Expected 3 tokens found {len(parts)}")
    left, comparator, right = parts
    if not isinstance(left, Identifier):
        raise invalid(f"{base}. Expected 'Identifier' found '{left}'")
    kind, key = _identifier(left.value, SEARCH_ATTRIBUTE_KEYS)
    return kind, key, str(comparator.value), _operand(kind, key, right)


def _identifier(identifier: str, valid_attributes: set[str]) -> tuple[RunEntity, str]:
    """``SearchUtils._get_identifier``: ``[entity.]key`` to (kind, key)."""
    entity, dot, key = identifier.partition(".")
    if not dot:
        entity, key = "attribute", entity
    entity = trim_backticks(entity)
    kind = _ENTITY_ALIASES.get(entity)
    if kind is None:
        raise invalid(f"Invalid entity type '{entity}'. Valid values are {_IDENTIFIERS}")
    key = trim_backticks(strip_quotes(key))
    if kind == "attribute" and key not in valid_attributes:
        raise invalid(
            f"Invalid attribute key '{key}' specified. Valid keys are '{valid_attributes}'"
        )
    if kind == "dataset" and key not in DATASET_KEYS:
        raise invalid(f"Invalid dataset key '{key}' specified. Valid keys are '{DATASET_KEYS}'")
    return kind, key


def _operand(kind: RunEntity, key: str, token: Any) -> RunFilterValue:
    """``SearchUtils._get_value``: the right-hand side, before the store's coercions."""
    text = str(token.value)
    if kind == "metric":
        if token.ttype not in _NUMBER_TYPES:
            raise invalid(f"Expected numeric value type for metric. Found {text}")
        return text
    if kind in ("param", "tag"):
        if is_string_operand(token):
            return quoted_string_value(text)
        raise invalid(
            f"Expected a quoted string value for {_MLFLOW_NAMES[kind]} (e.g. 'my-value'). "
            f"Got value {text}"
        )
    if kind == "attribute":
        if key in NUMERIC_ATTRIBUTES:
            if token.ttype not in _NUMBER_TYPES:
                raise invalid(
                    f"Expected numeric value type for numeric attribute: {key}. Found {text}"
                )
            return int(text) if token.ttype == T.Number.Integer else float(text)
        if is_string_operand(token):
            return quoted_string_value(text)
        if isinstance(token, Parenthesis):
            if key not in _LIST_KEYS:
                raise invalid(
                    f"Only {sorted(_LIST_KEYS)} attributes support comparison with a list of "
                    "quoted string values."
                )
            return _strings(literal_list(text))
        raise invalid(f"Expected a quoted string value for attributes. Got value {text}")
    if is_string_operand(token):
        return quoted_string_value(text)
    if isinstance(token, Parenthesis):
        return _strings(literal_list(text))
    raise invalid(f"Expected a quoted string value for dataset attributes. Got value {text}")


def _strings(values: tuple[object, ...]) -> tuple[str, ...]:
    return tuple(str(value) for value in values)  # literal_list admits strings only


def _translate_alias(key: str) -> str:
    """``SearchUtils.translate_key_alias``."""
    if key in ("created", "Created"):
        return "start_time"
    if key in ("run name", "Run name", "Run Name"):
        return "run_name"
    return key


def _checked(kind: RunEntity, key: str, comparator: str, value: RunFilterValue) -> RunFilterClause:
    """One clause through ``_get_sqlalchemy_filter_clauses``'s comparator checks and coercions."""
    comparator = comparator.upper()
    key = _translate_alias(key)
    if kind == "attribute":
        if key not in NUMERIC_ATTRIBUTES:
            if comparator not in STRING_ATTRIBUTE_COMPARATORS:
                raise invalid(
                    f"Invalid comparator '{comparator}' not one of '{STRING_ATTRIBUTE_COMPARATORS}'"
                )
        elif comparator not in METRIC_COMPARATORS:
            # MLflow's message lists the string comparators and lacks its closing quote.
            raise invalid(
                f"Invalid comparator '{comparator}' not one of '{STRING_ATTRIBUTE_COMPARATORS}"
            )
        return RunFilterClause(kind, key, comparator, value)
    if kind == "metric":
        if comparator not in METRIC_COMPARATORS:
            raise invalid(f"Invalid comparator '{comparator}' not one of '{METRIC_COMPARATORS}")
        return RunFilterClause(kind, key, comparator, float(str(value)))
    if kind == "param":
        if comparator not in PARAM_COMPARATORS:
            raise invalid(f"Invalid comparator '{comparator}' not one of '{PARAM_COMPARATORS}'")
    elif kind == "tag":
        if comparator not in TAG_COMPARATORS:
            raise invalid(f"Invalid comparator '{comparator}' not one of '{TAG_COMPARATORS}")
    elif comparator not in DATASET_COMPARATORS:
        raise invalid(f"Invalid comparator '{comparator}' not one of '{DATASET_COMPARATORS}")
    return RunFilterClause(kind, key, comparator, value)


# -- order_by -----------------------------------------------------------------------------------


def _parse_order_by(clauses: tuple[str, ...]) -> tuple[RunOrderKey, ...]:
    """``_get_orderby_clauses``' parsing and checks, clause by clause."""
    keys: list[RunOrderKey] = []
    seen: set[tuple[str, str]] = set()
    for clause in clauses:
        text, ascending = split_order_by(clause)
        kind, key = _identifier(text.strip(), ORDER_BY_ATTRIBUTE_KEYS)
        key = _translate_alias(key)
        if kind == "dataset":
            raise invalid("Invalid identifier type 'dataset'")
        if (kind, key) in seen:
            # MLflow raises this without an error code (a 500); it is the client's mistake.
            raise invalid(f"`order_by` contains duplicate fields: {list(clauses)}")
        seen.add((kind, key))
        keys.append(RunOrderKey(kind, key, ascending))
    return tuple(keys)
