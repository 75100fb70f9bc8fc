"""Parsed registry search clauses as SQLAlchemy Core WHERE and ORDER BY terms.

Comparisons are MLflow's (``SearchUtils.get_sql_comparison_func``, with MySQL's ``BINARY``
pairing), built by ``comparisons.compare``. MLflow groups tag clauses by key and
joins a ``GROUP BY ... HAVING count = keys`` subquery; (name, key) is the tag table's primary
key, so that selects exactly the rows for which every clause's key has a matching tag row: one
EXISTS per clause here. Prompts are excluded, unless the filter asks for them, with MLflow's
anti-join written as NOT EXISTS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression

from mlflow_core.adapters.sql.comparisons import compare
from mlflow_core.domain.registry import IS_PROMPT_TAG_KEY
from mlflow_core.search.registry import RegistryFilter, RegistryOrderKey


def registry_where(
    parsed: RegistryFilter, entity: sa.Table, tags: sa.Table, dialect: str
) -> list[ColumnElement[bool]]:
    """WHERE terms over ``entity`` (registered_models or model_versions) and its tag table."""
    terms: list[ColumnElement[bool]] = []
    versioned = "version" in tags.c and "version" in entity.c
    for clause in parsed.clauses:
        if clause.kind == "attribute":
            terms.append(compare(entity.c[clause.column], clause.comparator, clause.value, dialect))
            continue
        match = [
            tags.c.workspace == entity.c.workspace,
            tags.c.name == entity.c.name,
            compare(tags.c.key, "=", clause.column, dialect),
            compare(tags.c.value, clause.comparator, clause.value, dialect),
        ]
        if versioned:
            match.append(tags.c.version == entity.c.version)
        terms.append(sa.select(tags.c.name).where(*match).exists())
    if not parsed.include_prompts:
        # Any tag row of the name marks a prompt (for versions: any version's tag, as MLflow).
        prompt = sa.select(tags.c.name).where(
            tags.c.workspace == entity.c.workspace,
            tags.c.name == entity.c.name,
            compare(tags.c.key, "=", IS_PROMPT_TAG_KEY, dialect),
            compare(tags.c.value, "=", "true", dialect),
        )
        terms.append(~prompt.exists())
    return terms


def registry_order_by(
    keys: Sequence[RegistryOrderKey], entity: sa.Table
) -> list[UnaryExpression[Any]]:
    return [
        entity.c[key.column].asc() if key.ascending else entity.c[key.column].desc() for key in keys
    ]
