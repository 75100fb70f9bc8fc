"""The vocabulary of MLflow's experiments search grammar and its error messages.

Both grammar front ends (the fast scanner and the ``sqlparse`` reference path) resolve
identifiers and values through these functions, so a rule or message exists once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from mlflow_core.errors import MlflowCoreError

EntityKind = Literal["attribute", "tag"]
RawValue = str | int | float | tuple[object, ...] | None

SEARCH_ATTRIBUTES: Final = frozenset(("name", "experiment_id", "creation_time", "last_update_time"))
NUMERIC_ATTRIBUTES: Final = frozenset(("creation_time", "last_update_time"))
LIST_ATTRIBUTES: Final = ("experiment_id",)
ENTITY_TYPES: Final = ("attribute", "tag", "tags")


def _python_set_repr(insertion_order: tuple[str, ...], *, via_frozenset: bool) -> str:
    """Render a set the way MLflow's own set prints in this very process.

    MLflow puts Python sets into some messages; a set's order depends on the process's hash seed
    and on insertion order. Rebuilding the same set the same way, in the same process, prints the
    same text. MLflow's all-constant set literals are loaded from its ``.pyc``, where ``marshal``
    stores a frozenset sorted by each element's marshalled bytes (for these short ASCII strings:
    by length, then by text) and the literal copies it into a new set; literals that mention a
    variable are built element by element in source order.
    """
    if via_frozenset:
        return repr(set(frozenset(insertion_order)))
    return repr(set(insertion_order))


# SearchExperimentsUtils.VALID_SEARCH_ATTRIBUTE_KEYS / VALID_ORDER_BY_ATTRIBUTE_KEYS.
ATTRIBUTE_KEYS_REPR: Final = _python_set_repr(
    ("name", "creation_time", "experiment_id", "last_update_time"), via_frozenset=True
)
# SearchUtils.VALID_STRING_ATTRIBUTE_COMPARATORS (a literal naming LIKE_OPERATOR and friends).
STRING_COMPARATORS: Final = frozenset(("!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"))
STRING_COMPARATORS_REPR: Final = _python_set_repr(
    ("!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"), via_frozenset=False
)
NUMERIC_COMPARATORS: Final = frozenset((">", ">=", "!=", "=", "<", "<="))


@dataclass(frozen=True, slots=True)
class RawComparison:
    """One parsed comparison before the SQL store's checks (a ``parse_search_filter`` dict)."""

    kind: EntityKind
    key: str
    comparator: str
    value: RawValue


def invalid(message: str) -> MlflowCoreError:
    return MlflowCoreError.invalid_parameter_value(message)


def is_quoted(text: str, quote: str) -> bool:
    return len(text) >= 2 and text.startswith(quote) and text.endswith(quote)


def strip_quotes(text: str) -> str:
    """One pair of matching single or double quotes removed, if there is one."""
    if is_quoted(text, "'") or is_quoted(text, '"'):
        return text[1:-1]
    return text


def trim_backticks(text: str) -> str:
    return text[1:-1] if is_quoted(text, "`") else text


def quoted_string_value(text: str) -> str:
    """A string operand, which must be quoted (MLflow's ``expect_quoted_value``)."""
    if is_quoted(text, "'") or is_quoted(text, '"'):
        return text[1:-1]
    raise invalid(
        "Parameter value is either not quoted or unidentified quote types used for string "
        f"value {text}. Use either single or double quotes."
    )


def resolve_identifier(identifier: str) -> tuple[EntityKind, str]:
    """``[entity.]key`` to (kind, key); only ``attribute``, ``tag`` and ``tags`` are entities."""
    entity, dot, key = identifier.partition(".")
    if not dot:
        kind: EntityKind = "attribute"
        key = entity
    elif entity not in ENTITY_TYPES:
        raise invalid(f"Invalid entity type '{entity}'. Valid entity types are {ENTITY_TYPES}")
    else:
        kind = "attribute" if entity == "attribute" else "tag"
    key = trim_backticks(strip_quotes(key))
    if kind == "attribute" and key not in SEARCH_ATTRIBUTES:
        raise invalid(
            f"Invalid attribute key '{key}' specified. Valid keys are '{ATTRIBUTE_KEYS_REPR}'"
        )
    return kind, key


def list_not_supported() -> MlflowCoreError:
    return invalid(
        f"Only {sorted(LIST_ATTRIBUTES)} attributes support comparison with a list of quoted "
        "string values."
    )
