"""The reference front end: MLflow's grammar on ``sqlparse``'s tokens, for every input.

MLflow defines its filter and order_by grammar as "whatever ``sqlparse`` groups, then these
checks", so the only way to answer every odd input (comments, stray keywords, nested
parentheses, aliases) exactly as MLflow does is to let the same ``sqlparse`` tokenize it. The
fast scanner handles the common shapes; everything else, and every error, comes through here.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlparse
from sqlparse import tokens as T
from sqlparse.sql import Comparison, Identifier, Parenthesis, Statement

from mlflow_core.errors import MlflowCoreError
from mlflow_core.search.filter_terms import (
    LIST_ATTRIBUTES,
    NUMERIC_ATTRIBUTES,
    EntityKind,
    RawComparison,
    RawValue,
    invalid,
    list_not_supported,
    quoted_string_value,
    resolve_identifier,
)

_NULL_COMPARATORS = ("IS NULL", "IS NOT NULL")


class _Joined(NamedTuple):
    """A comparison MLflow assembles itself from statement-level tokens (IN, NOT IN, IS NULL)."""

    parts: tuple[Any, ...]


class _Comparator(NamedTuple):
    """The operator of a joined comparison, spelled as MLflow spells it ("NOT IN", "IS NULL")."""

    value: str


def parse_filter(filter_string: str) -> list[RawComparison]:
    """``SearchExperimentsUtils.parse_search_filter`` for a non-empty filter string."""
    return [_comparison(parts) for parts in comparison_parts(filter_string)]


def comparison_parts(filter_string: str) -> list[Sequence[Any]]:
    """The non-whitespace tokens of each comparison in a non-empty filter string.

    ``SearchUtils.parse_search_filter`` up to ``_process_statement``'s validity check, which
    every MLflow search grammar (experiments, registered models, model versions) shares; the
    grammars differ only in how they read each comparison.
    """
    try:
        statements = sqlparse.parse(filter_string)
    except Exception as exc:  # sqlparse's own limits (depth, token count) and any lexer failure
        raise invalid(f"Error on parsing filter '{filter_string}'") from exc
    if len(statements) == 0 or not isinstance(statements[0], Statement):
        raise invalid(f"Invalid filter '{filter_string}'. Could not be parsed.")
    if len(statements) > 1:
        raise invalid(
            f"Search filter contained multiple expression {filter_string!r}. "
            "Provide AND-ed expression list."
        )
    tokens = _join_comparisons([t for t in statements[0].tokens if not t.is_whitespace])
    rejected = [t for t in tokens if not _is_clause_or_and(t)]
    if rejected:
        raise invalid(f"Invalid clause(s) in filter string: {', '.join(map(str, rejected))}")
    return [_parts(t) for t in tokens if not _is_and(t)]


def _parts(token: Any) -> Sequence[Any]:
    if isinstance(token, _Joined):
        return token.parts
    return [t for t in token.tokens if not t.is_whitespace]


def _is_and(token: Any) -> bool:
    return not isinstance(token, _Joined) and bool(token.match(T.Keyword, ["AND"]))


def _is_clause_or_and(token: Any) -> bool:
    return isinstance(token, (_Joined, Comparison)) or _is_and(token)


def _join_comparisons(tokens: list[Any]) -> list[Any]:
    """Fold ``x IN (..)``, ``x NOT IN (..)``, ``x IS [NOT] NULL`` into comparisons.

    ``sqlparse`` leaves these as loose tokens. The scan reproduces MLflow's exactly, including
    its quirk: an identifier followed by anything else swallows the next three tokens unchecked,
    so ``a b c x IN (..)`` never joins the ``IN``.
    """
    joined: list[Any] = []
    count = len(tokens)
    index = 0
    while index < count:
        if count - index < 3:
            joined.extend(tokens[index:])
            break
        first = tokens[index]
        if not isinstance(first, Identifier):
            joined.append(first)
            index += 1
            continue
        second, third = tokens[index + 1], tokens[index + 2]
        if second.match(T.Keyword, ["IN"]) and isinstance(third, Parenthesis):
            joined.append(_Joined((first, second, third)))
            index += 3
            continue
        if second.match(T.Keyword, ["IS"]) and third.match(T.Keyword, ["NULL"]):
            joined.append(_Joined((first, _Comparator("IS NULL"))))
            index += 3
            continue
        if (
            second.match(T.Keyword, ["IS"])
            and third.ttype == T.Keyword
            and third.value.upper() == "NOT NULL"
        ):
            joined.append(_Joined((first, _Comparator("IS NOT NULL"))))
            index += 3
            continue
        if index + 3 >= count:
            joined.extend((first, second, third))
            break
        fourth = tokens[index + 3]
        if (
            second.match(T.Keyword, ["NOT"])
            and third.match(T.Keyword, ["IN"])
            and isinstance(fourth, Parenthesis)
        ):
            joined.append(_Joined((first, _Comparator("NOT IN"), fourth)))
        else:
            joined.extend((first, second, third, fourth))
        index += 4
    return joined


def _comparison(parts: Sequence[Any]) -> RawComparison:
    base = "Invalid comparison clause"
    if len(parts) == 2 and parts[1].value.upper() in _NULL_COMPARATORS:
        if not isinstance(parts[0], Identifier):
            raise invalid(f"{base}. Expected 'Identifier' found '{parts[0]}'")
        kind, key = resolve_identifier(parts[0].value)
        if kind != "tag":
            raise invalid(
                f"IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'"
            )
        return RawComparison(kind, key, parts[1].value.upper(), None)
    if len(parts) != 3:
        raise invalid(f"{base}. Expected 3 tokens found {len(parts)}")
    left, comparator, right = parts
    if not isinstance(left, Identifier):
        raise invalid(f"{base}. Expected 'Identifier' found '{left}'")
    kind, key = resolve_identifier(left.value)
    return RawComparison(kind, key, str(comparator.value), _operand(kind, key, right))


def _is_string_operand(token: Any) -> bool:
    return token.ttype == T.String.Single or isinstance(token, Identifier)


def _operand(kind: EntityKind, key: str, token: Any) -> RawValue:
    """The right-hand side, per MLflow's ``SearchUtils._get_value``."""
    text = str(token.value)
    if kind == "tag":
        if _is_string_operand(token):
            return quoted_string_value(text)
        raise invalid(f"Expected a quoted string value for tag (e.g. 'my-value'). Got value {text}")
    if key in NUMERIC_ATTRIBUTES:
        if token.ttype == T.Number.Integer:
            return int(text)
        if token.ttype == T.Number.Float:
            return float(text)
        raise invalid(f"Expected numeric value type for numeric attribute: {key}. Found {text}")
    if _is_string_operand(token):
        return quoted_string_value(text)
    if isinstance(token, Parenthesis):
        if key not in LIST_ATTRIBUTES:
            raise list_not_supported()
        return literal_list(text)
    raise invalid(f"Expected a quoted string value for attributes. Got value {text}")


def literal_list(text: str) -> tuple[object, ...]:
    """A parenthesised list, read as a Python literal exactly as MLflow reads it."""
    try:
        parsed = ast.literal_eval(text)
    except SyntaxError as exc:
        raise invalid(
            "While parsing a list in the query, expected a non-empty list of string values, "
            "but got ill-formed list."
        ) from exc
    except Exception as exc:
        # MLflow lets these escape (ValueError for `(a, b)`, ...) as a 500; it is bad input.
        raise MlflowCoreError.invalid_parameter_value(str(exc)) from exc
    values = parsed if isinstance(parsed, tuple) else (parsed,)
    if len(values) == 0:
        raise invalid(
            "While parsing a list in the query, expected a non-empty list of string values, "
            "but got empty list"
        )
    if not all(isinstance(v, str) for v in values):
        raise invalid(
            "While parsing a list in the query, expected string value, punctuation, or "
            f"whitespace, but got different type in list: {values}"
        )
    return values


def parse_order_by(clause: str) -> tuple[EntityKind, str, bool]:
    """``SearchExperimentsUtils.parse_order_by_for_search_experiments``: (kind, key, ascending)."""
    text, ascending = split_order_by(clause)
    kind, key = resolve_identifier(text.strip())
    return kind, key, ascending


def split_order_by(clause: str) -> tuple[str, bool]:
    """``SearchUtils._parse_order_by_string``: (the key's text, ascending)."""
    text = _order_by_token_text(clause)
    try:
        words = shlex.split(text.replace("`", '"'))
    except ValueError as exc:
        # An unbalanced quote: MLflow lets shlex's error escape as a 500; it is bad input.
        raise MlflowCoreError.invalid_parameter_value(str(exc)) from exc
    ascending = True
    if len(words) > 2:
        raise invalid(f"Invalid order_by clause '{clause}'. Could not be parsed.")
    if len(words) == 2:
        direction = words[1].lower()
        if direction not in ("asc", "desc"):
            raise invalid(f"Invalid ordering key in order_by clause '{clause}'.")
        ascending = direction == "asc"
        text = words[0]
    return text, ascending


def _order_by_token_text(clause: str) -> str:
    try:
        statements = sqlparse.parse(clause)
    except Exception as exc:
        raise invalid(f"Error on parsing order_by clause '{clause}'") from exc
    unparsable = invalid(f"Invalid order_by clause '{clause}'. Could not be parsed.")
    if len(statements) != 1 or not isinstance(statements[0], Statement):
        raise unparsable
    tokens = statements[0].tokens
    if len(tokens) == 1 and isinstance(tokens[0], Identifier):
        return str(tokens[0].value)
    if len(tokens) == 1 and tokens[0].match(T.Name.Builtin, ["timestamp"]):
        return "timestamp"
    if (
        tokens[0].match(T.Name.Builtin, ["timestamp"])
        and all(t.is_whitespace for t in tokens[1:-1])
        and tokens[-1].ttype == T.Keyword.Order
    ):
        return f"timestamp {tokens[-1].value}"
    raise unparsable
