"""MLflow's experiments search grammar: ``filter_string`` and ``order_by``.

Semantics and error messages are those of ``SearchExperimentsUtils`` and
``_get_search_experiments_*_clauses`` in MLflow's SQL store: a filter is parsed whole first
(so a syntax error anywhere wins), then each clause is checked and its value coerced for the
column, in order, the way the SQL store does before it builds its query.

Clients repeat the same filter and order_by on every page and every poll, so outcomes
(including rejections) are memoised per exact input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, cast

from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.search.fast_grammar import scan_filter, scan_order_by
from mlflow_core.search.filter_terms import (
    NUMERIC_ATTRIBUTES,
    NUMERIC_COMPARATORS,
    STRING_COMPARATORS,
    STRING_COMPARATORS_REPR,
    RawComparison,
    invalid,
)
from mlflow_core.search.sqlparse_grammar import parse_filter, parse_order_by

FilterValue = str | int | tuple[int, ...] | None
ExperimentAttribute = Literal["name", "experiment_id", "creation_time", "last_update_time"]

_ATTRIBUTES: Final[dict[str, ExperimentAttribute]] = {
    "name": "name",
    "experiment_id": "experiment_id",
    "creation_time": "creation_time",
    "last_update_time": "last_update_time",
}
# MLflow's default when order_by is None or empty.
DEFAULT_ORDER_BY: Final = ("creation_time DESC", "experiment_id ASC")
_EXPERIMENT_ID_COMPARATORS: Final = ("=", "!=", "IN", "NOT IN")
_MATCH_COMPARATORS: Final = ("=", "!=", "LIKE", "ILIKE")
_NULL_COMPARATORS: Final = ("IS NULL", "IS NOT NULL")
_CACHE_SIZE: Final = 512
# Longer inputs are parsed every time rather than pinned in the cache by a client.
_CACHEABLE_LENGTH: Final = 4096


@dataclass(frozen=True, slots=True)
class FilterClause:
    """One ``AND``-ed comparison: ``kind`` is "attribute" or "tag".

    ``value`` is already coerced for the column it compares: ``int`` for numeric attributes and
    ``experiment_id``, a tuple of ints for ``experiment_id IN (...)``, ``None`` for the tag
    ``IS NULL`` / ``IS NOT NULL`` comparators, else the string. (MLflow also accepts
    ``experiment_id = ('1', '2')``, whose tuple then fails in the database; so does ours.)
    """

    kind: Literal["attribute", "tag"]
    key: str
    comparator: str
    value: FilterValue


@dataclass(frozen=True, slots=True)
class ExperimentOrderKey:
    key: ExperimentAttribute
    ascending: bool


@dataclass(frozen=True, slots=True)
class _Rejection:
    """A memoised failure; a fresh error is raised from it each time."""

    message: str
    error_code: ErrorCode

    def error(self) -> MlflowCoreError:
        return MlflowCoreError(self.message, self.error_code)


def parse_experiment_filter(filter_string: str | None) -> list[FilterClause]:
    """The clauses of ``filter_string`` (none for None or ""), checked as MLflow's store does."""
    if not filter_string:
        return []
    if len(filter_string) > _CACHEABLE_LENGTH:
        outcome = _filter_outcome.__wrapped__(filter_string)
    else:
        outcome = _filter_outcome(filter_string)
    if isinstance(outcome, _Rejection):
        raise outcome.error()
    return list(outcome)


def parse_experiment_order_by(order_by: Sequence[str] | None) -> list[ExperimentOrderKey]:
    """Parsed keys, defaulting to MLflow's order, ending with MLflow's experiment_id tie-breaker."""
    clauses = tuple(order_by) if order_by else DEFAULT_ORDER_BY
    if sum(map(len, clauses)) > _CACHEABLE_LENGTH:
        outcome = _order_by_outcome.__wrapped__(clauses)
    else:
        outcome = _order_by_outcome(clauses)
    if isinstance(outcome, _Rejection):
        raise outcome.error()
    return list(outcome)


@lru_cache(maxsize=_CACHE_SIZE)
def _filter_outcome(filter_string: str) -> tuple[FilterClause, ...] | _Rejection:
    try:
        raw = scan_filter(filter_string)
        if raw is None:
            raw = parse_filter(filter_string)
        return tuple(_checked(comparison) for comparison in raw)
    except MlflowCoreError as exc:
        return _Rejection(exc.message, exc.error_code)


def _checked(raw: RawComparison) -> FilterClause:
    """One clause through ``_get_search_experiments_filter_clauses``'s checks and coercions."""
    comparator, value = raw.comparator, raw.value
    if raw.kind == "tag":
        if comparator not in _NULL_COMPARATORS and comparator not in _MATCH_COMPARATORS:
            raise invalid(f"Invalid comparator for tag: {comparator}")
        return FilterClause("tag", raw.key, comparator, _as_string_or_none(value))
    if raw.key == "experiment_id":
        if comparator not in _EXPERIMENT_ID_COMPARATORS:
            raise invalid(f"Invalid comparator for experiment_id: {comparator}")
        if isinstance(value, tuple):
            return FilterClause("attribute", raw.key, comparator, tuple(map(_experiment_id, value)))
        return FilterClause("attribute", raw.key, comparator, _experiment_id(value))
    if raw.key in NUMERIC_ATTRIBUTES:
        # MLflow's message here lists the string comparators and lacks its closing quote.
        if comparator not in NUMERIC_COMPARATORS:
            raise invalid(
                f"Invalid comparator '{comparator}' not one of '{STRING_COMPARATORS_REPR}"
            )
        return FilterClause("attribute", raw.key, comparator, _numeric(raw.key, value))
    if comparator not in STRING_COMPARATORS:
        raise invalid(f"Invalid comparator '{comparator}' not one of '{STRING_COMPARATORS_REPR}'")
    if comparator not in _MATCH_COMPARATORS:
        raise invalid(f"Invalid comparator for string attribute: {comparator}")
    return FilterClause("attribute", raw.key, comparator, _as_string_or_none(value))


def _experiment_id(value: object) -> int:
    """MLflow's ``_parse_experiment_id``: Python's ``int()``, so ``' 1'`` and ``'1_0'`` pass."""
    try:
        return int(cast("str", value))  # any type, as MLflow: int() decides what passes
    except (ValueError, TypeError):
        raise invalid(
            f"Invalid experiment ID '{value}'. Experiment ID must be a valid integer."
        ) from None


def _numeric(key: str, value: object) -> int:
    if isinstance(value, float):
        raise invalid(f"Invalid value for numeric attribute '{key}': {str(value)!r}")
    try:
        return int(cast("int", value))
    except (TypeError, ValueError):
        raise invalid(f"Invalid value for numeric attribute '{key}': {value!r}") from None


def _as_string_or_none(value: object) -> str | None:
    # The grammar only yields strings (or None for IS [NOT] NULL) for these keys.
    return cast("str | None", value)


@lru_cache(maxsize=_CACHE_SIZE)
def _order_by_outcome(clauses: tuple[str, ...]) -> tuple[ExperimentOrderKey, ...] | _Rejection:
    try:
        keys = [_order_key(clause) for clause in clauses]
    except MlflowCoreError as exc:
        return _Rejection(exc.message, exc.error_code)
    if not any(key.key == "experiment_id" for key in keys):
        keys.append(ExperimentOrderKey("experiment_id", ascending=False))
    return tuple(keys)


def _order_key(clause: str) -> ExperimentOrderKey:
    scanned = scan_order_by(clause)
    if scanned is not None:
        key, ascending = scanned
    else:
        kind, key, ascending = parse_order_by(clause)
        if kind != "attribute":
            raise invalid(f"Invalid order_by entity: {kind}")
    return ExperimentOrderKey(_ATTRIBUTES[key], ascending)
