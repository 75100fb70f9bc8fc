"""MLflow's registry search grammars: registered models and model versions.

``SearchModelUtils`` / ``SearchModelVersionUtils`` tokenize with ``sqlparse`` like the experiments
grammar (shared here through ``comparison_parts``) but read each comparison their own way, and
the SQL store then checks comparators and coerces values clause by clause. Both steps are here,
with MLflow's messages, so the store only compiles the clauses.

Where MLflow lets an exception escape (its server answers 500: an ``IS NULL`` clause, a
malformed list) we answer INVALID_PARAMETER_VALUE with the exception's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

from sqlparse import tokens as T
from sqlparse.sql import Identifier, Parenthesis

from mlflow_core.domain.registry import IS_PROMPT_TAG_KEY
from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.search.filter_terms import (
    _python_set_repr,
    invalid,
    quoted_string_value,
    strip_quotes,
    trim_backticks,
)
from mlflow_core.search.sqlparse_grammar import comparison_parts, literal_list, split_order_by

RegistryValue = str | int | tuple[str, ...]
Entity = Literal["registered_model", "model_version"]

_MODEL_ATTRIBUTES: Final = ("name",)
_MODEL_ATTRIBUTES_REPR: Final = repr({"name"})
_VERSION_ATTRIBUTES: Final = ("name", "version_number", "run_id", "source_path")
_VERSION_ATTRIBUTES_REPR: Final = _python_set_repr(_VERSION_ATTRIBUTES, via_frozenset=True)
_VERSION_NUMERIC: Final = ("version_number", "creation_timestamp", "last_updated_timestamp")
_VERSION_NUMERIC_REPR: Final = _python_set_repr(_VERSION_NUMERIC, via_frozenset=True)
_VERSION_ORDER_KEYS: Final = (
    "name",
    "version_number",
    "creation_timestamp",
    "last_updated_timestamp",
)
_VERSION_ORDER_KEYS_REPR: Final = _python_set_repr(_VERSION_ORDER_KEYS, via_frozenset=True)
_MODEL_ORDER_KEYS: Final = ("timestamp", "last_updated_timestamp", "name")
_MODEL_ORDER_RECOMMENDED_REPR: Final = _python_set_repr(("name", "timestamp"), via_frozenset=False)
_STRING_COMPARATORS: Final = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_TAG_COMPARATORS: Final = ("=", "!=", "LIKE", "ILIKE")
_NUMERIC_COMPARATORS: Final = (">", ">=", "!=", "=", "<", "<=")
# Search attribute -> column of model_versions.
_VERSION_COLUMNS: Final = {
    "name": "name",
    "version_number": "version",
    "run_id": "run_id",
    "source_path": "source",
    "creation_timestamp": "creation_time",
    "last_updated_timestamp": "last_updated_time",
}
DEFAULT_VERSION_ORDER_BY: Final = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")
_CACHE_SIZE: Final = 512


@dataclass(frozen=True, slots=True)
class RegistryClause:
    """One ``AND``-ed comparison; ``column`` names the table column (or the tag key)."""

    kind: Literal["attribute", "tag"]
    column: str
    comparator: str
    value: RegistryValue


@dataclass(frozen=True, slots=True)
class RegistryFilter:
    """A parsed filter: its clauses and whether it asks for prompts (else they are excluded).

    Unless the filter selects prompts, MLflow drops every clause on the prompt tag and excludes
    prompts instead; ``clauses`` is already without them.
    """

    clauses: tuple[RegistryClause, ...]
    include_prompts: bool


@dataclass(frozen=True, slots=True)
class RegistryOrderKey:
    column: str
    ascending: bool


@dataclass(frozen=True, slots=True)
class _Rejection:
    message: str
    error_code: ErrorCode


def parse_registered_model_filter(filter_string: str | None) -> RegistryFilter:
    parsed: RegistryFilter = _outcome(_model_filter, filter_string or "")
    return parsed


def parse_model_version_filter(filter_string: str | None) -> RegistryFilter:
    parsed: RegistryFilter = _outcome(_version_filter, filter_string or "")
    return parsed


def parse_registered_model_order_by(order_by: Sequence[str] | None) -> list[RegistryOrderKey]:
    return list(_outcome(_model_order_by, tuple(order_by or ())))


def parse_model_version_order_by(order_by: Sequence[str] | None) -> list[RegistryOrderKey]:
    return list(_outcome(_version_order_by, tuple(order_by or DEFAULT_VERSION_ORDER_BY)))


def _outcome(fn: Any, arg: Any) -> Any:
    result = fn(arg)
    if isinstance(result, _Rejection):
        raise MlflowCoreError(result.message, result.error_code)
    return result


def _memoised(fn: Any) -> Any:
    @lru_cache(maxsize=_CACHE_SIZE)
    def wrapper(arg: Any) -> Any:
        try:
            return fn(arg)
        except MlflowCoreError as exc:
            return _Rejection(exc.message, exc.error_code)

    return wrapper


# -- filters ---------------------------------------------------------------------------------


@_memoised
def _model_filter(filter_string: str) -> RegistryFilter:
    raw = [_read(parts, "registered_model") for parts in _parts(filter_string)]
    checked = [_check_model_clause(*clause) for clause in raw]
    return _with_prompt_rule(checked)


@_memoised
def _version_filter(filter_string: str) -> RegistryFilter:
    raw = [_read(parts, "model_version") for parts in _parts(filter_string)]
    checked = [_check_version_clause(*clause) for clause in raw]
    return _with_prompt_rule(checked)


def _parts(filter_string: str) -> list[Sequence[Any]]:
    return comparison_parts(filter_string) if filter_string else []


def _read(parts: Sequence[Any], entity: Entity) -> tuple[str, str, str, Any]:
    """``_get_comparison``: (kind, key, comparator, value) as MLflow's parser returns them."""
    base = "Invalid comparison clause"
    if len(parts) == 2 and str(parts[1].value).upper() in ("IS NULL", "IS NOT NULL"):
        if not isinstance(parts[0], Identifier):
            raise invalid(f"{base}. Expected 'Identifier' found '{parts[0]}'")
        # MLflow then unpacks two tokens into three and fails (a 500).
        raise invalid("not enough values to unpack (expected 3, got 2)")
    if len(parts) != 3:
        raise invalid(f"{base}. Expected 3 tokens found {len(parts)}")
    left, comparator, right = parts
    if not isinstance(left, Identifier):
        raise invalid(f"{base}. Expected 'Identifier' found '{left}'")
    kind, key = _identifier(str(left.value), entity)
    return kind, key, str(comparator.value).upper(), _value(kind, key, right, entity)


def _identifier(identifier: str, entity: Entity) -> tuple[str, str]:
    """``_get_model[_version]_search_identifier``: the key is checked before unquoting."""
    head, dot, rest = identifier.partition(".")
    if not dot:
        kind, key = "attribute", head
    else:
        if head not in ("attribute", "tag", "tags"):
            raise invalid(
                f"Invalid entity type '{head}'. Valid entity types are ('attribute', 'tag', 'tags')"
            )
        kind, key = ("tag" if head in ("tag", "tags") else "attribute"), rest
    if kind == "attribute":
        valid, valid_repr = (
            (_MODEL_ATTRIBUTES, _MODEL_ATTRIBUTES_REPR)
            if entity == "registered_model"
            else (_VERSION_ATTRIBUTES, _VERSION_ATTRIBUTES_REPR)
        )
        if key not in valid:
            raise invalid(f"Invalid attribute key '{key}' specified. Valid keys are '{valid_repr}'")
    return kind, trim_backticks(strip_quotes(key))


def _is_string(token: Any) -> bool:
    return token.ttype == T.String.Single or isinstance(token, Identifier)


def _value(kind: str, key: str, token: Any, entity: Entity) -> Any:
    text = str(token.value)
    if kind == "tag":
        if _is_string(token):
            return quoted_string_value(text)
        raise invalid(f"Expected a quoted string value for tag (e.g. 'my-value'). Got value {text}")
    if _is_string(token):
        return quoted_string_value(text)
    if isinstance(token, Parenthesis):
        supported = ["name"] if entity == "registered_model" else ["name", "run_id"]
        if key not in supported:
            raise invalid(
                f"Only {supported} attributes support comparison with a list of quoted "
                "string values."
            )
        return literal_list(text)
    if entity == "model_version" and token.ttype in (T.Number.Integer, T.Number.Float):
        if key not in _VERSION_NUMERIC:
            raise invalid(
                f"Only the '{_VERSION_NUMERIC_REPR}' attributes support comparison with "
                "numeric values."
            )
        return int(text) if token.ttype == T.Number.Integer else float(text)
    raise invalid(
        "Expected a quoted string value or a list of quoted string values for attributes. "
        f"Got value {text}"
    )


def _check_model_clause(kind: str, key: str, comparator: str, value: Any) -> RegistryClause:
    """``_get_search_registered_model_filter_query``'s checks, clause by clause."""
    if kind == "attribute":
        if comparator not in _STRING_COMPARATORS:
            raise invalid(f"Invalid comparator for attribute: {comparator}")
        return RegistryClause("attribute", "name", comparator, value)
    return _tag_clause(key, comparator, value)


def _check_version_clause(kind: str, key: str, comparator: str, value: Any) -> RegistryClause:
    """``_get_search_model_versions_filter_clauses``'s checks and coercions."""
    if kind == "tag":
        return _tag_clause(key, comparator, value)
    if key in _VERSION_NUMERIC:
        if comparator not in _NUMERIC_COMPARATORS:
            raise invalid(f"Invalid comparator for attribute {key}: {comparator}")
        if isinstance(value, float):
            raise invalid(f"Invalid value for numeric attribute '{key}': {value!r}")
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise invalid(f"Invalid value for numeric attribute '{key}': {value!r}") from None
    elif comparator not in _STRING_COMPARATORS or (
        comparator in ("IN", "NOT IN") and key not in ("run_id", "name")
    ):
        raise invalid(f"Invalid comparator for attribute: {comparator}")
    return RegistryClause("attribute", _VERSION_COLUMNS[key], comparator, value)


def _tag_clause(key: str, comparator: str, value: Any) -> RegistryClause:
    if comparator not in _TAG_COMPARATORS:
        raise invalid(f"Invalid comparator for tag: {comparator}")
    return RegistryClause("tag", key, comparator, value)


def _with_prompt_rule(clauses: list[RegistryClause]) -> RegistryFilter:
    """``_is_querying_prompt`` and the removal of prompt-tag clauses when not querying them."""
    include_prompts = False
    for clause in clauses:
        if clause.kind == "tag" and clause.column == IS_PROMPT_TAG_KEY:
            value = str(clause.value).lower()
            include_prompts = (clause.comparator == "=" and value == "true") or (
                clause.comparator == "!=" and value == "false"
            )
            break
    if not include_prompts:
        clauses = [c for c in clauses if not (c.kind == "tag" and c.column == IS_PROMPT_TAG_KEY)]
    return RegistryFilter(tuple(clauses), include_prompts)


# -- order_by --------------------------------------------------------------------------------


@_memoised
def _model_order_by(clauses: tuple[str, ...]) -> tuple[RegistryOrderKey, ...]:
    """``_parse_search_registered_models_order_by``; ties broken by name ascending."""
    keys: list[RegistryOrderKey] = []
    seen: set[str] = set()
    for clause in clauses:
        text, ascending = split_order_by(clause)
        token = text.strip()
        if token not in _MODEL_ORDER_KEYS:
            raise invalid(
                f"Invalid order by key '{token}' specified. Valid keys "
                f"are '{_MODEL_ORDER_RECOMMENDED_REPR}'"
            )
        column = "name" if token == "name" else "last_updated_time"
        if column in seen:
            raise MlflowCoreError(
                f"`order_by` contains duplicate fields: {list(clauses)}", ErrorCode.INTERNAL_ERROR
            )
        seen.add(column)
        keys.append(RegistryOrderKey(column, ascending))
    if "name" not in seen:
        keys.append(RegistryOrderKey("name", True))
    return tuple(keys)


@_memoised
def _version_order_by(clauses: tuple[str, ...]) -> tuple[RegistryOrderKey, ...]:
    """``_parse_search_model_versions_order_by``; ties: name ascending, version descending."""
    keys: list[RegistryOrderKey] = []
    seen: set[str] = set()
    for clause in clauses:
        text, ascending = split_order_by(clause)
        kind, key = _order_identifier(text.strip())
        if kind != "attribute":
            raise invalid(
                f"Invalid order by key '{key}' specified. Valid keys are {_VERSION_ORDER_KEYS_REPR}"
            )
        column = _VERSION_COLUMNS[key]
        if column in seen:
            raise MlflowCoreError(
                f"`order_by` contains duplicate fields: {list(clauses)}", ErrorCode.INTERNAL_ERROR
            )
        seen.add(column)
        keys.append(RegistryOrderKey(column, ascending))
    if "name" not in seen:
        keys.append(RegistryOrderKey("name", True))
    if "version" not in seen:
        keys.append(RegistryOrderKey("version", False))
    return tuple(keys)


def _order_identifier(identifier: str) -> tuple[str, str]:
    """``SearchExperimentsUtils._get_identifier`` with the model-version order_by keys."""
    head, dot, rest = identifier.partition(".")
    if not dot:
        kind, key = "attribute", head
    else:
        if head not in ("attribute", "tag", "tags"):
            raise invalid(
                f"Invalid entity type '{head}'. Valid entity types are ('attribute', 'tag', 'tags')"
            )
        kind, key = ("attribute" if head == "attribute" else "tag"), rest
    key = trim_backticks(strip_quotes(key))
    if kind == "attribute" and key not in _VERSION_ORDER_KEYS:
        raise invalid(
            f"Invalid attribute key '{key}' specified. Valid keys are '{_VERSION_ORDER_KEYS_REPR}'"
        )
    return kind, key
