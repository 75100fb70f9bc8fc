"""A model version created by one PostgreSQL statement, committed on its own.

The transaction path (``SqlRegistryStore.create_model_version``) is four round trips: BEGIN,
the UPDATE that locks the model's row, the INSERT that numbers the version, COMMIT, each a
wake-up of our worker and of a PostgreSQL backend. Here the same writes are one statement in
autocommit (measured side by side: 0.69 -> 0.56 ms of our server's CPU per create, 1,956 ->
2,395 req/s; docs/performance.md):

- ``model`` locks the model's row as the transaction path's UPDATE does (FOR NO KEY UPDATE, the
  same lock mode), so creators of one model still queue on it, in the same order on both paths;
- ``created`` inserts the next number after the highest in the statement's snapshot;
- ``tagged`` inserts the version's tags, ``touched`` sets the model's ``last_updated_time``, both
  only if ``created`` wrote a row. A version without tags (most are) is created by the statement
  without ``tagged`` (``CREATE_UNTAGGED_VERSION``): PostgreSQL sets up fewer plan nodes for each
  execution, and the driver dumps no arrays.

A statement's snapshot is taken before it waits for the lock, so after waiting for another
creator it misses the version that creator committed: its number then conflicts and
``ON CONFLICT DO NOTHING`` writes nothing at all (the tags and the touch need ``created``'s
row). The caller tells that apart from a missing model (``model_found``) and runs the
transaction path, whose statements each take a snapshot after the lock. So a version is
written once, numbered after every committed one, whichever path wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from mlflow_core.adapters.sql import tables

_rm = tables.registered_models
_mv = tables.model_versions
_mv_tags = tables.model_version_tags

_FIELDS: Final = tuple(
    column.name for column in _mv.c if column.name not in ("workspace", "name", "version")
)


def create_version(
    workspace: str, name: str, fields: Mapping[str, Any], tags: Mapping[str, str | None]
) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The statement creating this version, and its parameters: ``fields`` holds the new row's
    other columns."""
    # The version's columns are bound under names of their own: an UPDATE (``touched``) would
    # also set the model's columns of the same names from the parameters.
    params = {f"new_{field}": fields[field] for field in _FIELDS}
    params.update(ws=workspace, model=name, now=fields["last_updated_time"])
    if not tags:
        return CREATE_UNTAGGED_VERSION, params
    params.update(tag_keys=list(tags), tag_values=list(tags.values()))
    return CREATE_VERSION, params


def _build(with_tags: bool) -> sa.Select[Any]:
    ws = sa.bindparam("ws", type_=sa.String)
    name = sa.bindparam("model", type_=sa.String)
    model = (
        sa.select(_rm.c.workspace, _rm.c.name)
        .where(_rm.c.workspace == ws, _rm.c.name == name)
        .with_for_update(key_share=True)
        .cte("model")
    )
    highest = (
        sa.select(sa.func.max(_mv.c.version))
        .where(_mv.c.workspace == model.c.workspace, _mv.c.name == model.c.name)
        .scalar_subquery()
    )
    created = (
        postgresql.insert(_mv)
        .from_select(
            ["workspace", "name", *_FIELDS, "version"],
            sa.select(
                model.c.workspace,
                model.c.name,
                *(sa.bindparam(f"new_{field}", type_=_mv.c[field].type) for field in _FIELDS),
                sa.func.coalesce(highest, 0) + 1,
            ),
        )
        .on_conflict_do_nothing()
        .returning(_mv.c.workspace, _mv.c.name, _mv.c.version)
        .cte("created")
    )
    touched = (
        sa.update(_rm)
        .where(_rm.c.workspace == ws, _rm.c.name == name, sa.exists(sa.select(created.c.version)))
        .values(last_updated_time=sa.bindparam("now", type_=sa.BigInteger))
        .cte("touched")
    )
    answer = sa.select(
        sa.select(created.c.version).scalar_subquery().label("version"),
        sa.exists(sa.select(model.c.name)).label("model_found"),
    ).add_cte(touched)
    if not with_tags:
        return answer
    pairs = (
        sa.func.unnest(
            sa.bindparam("tag_keys", type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("tag_values", type_=postgresql.ARRAY(sa.String)),
        )
        .table_valued("key", "value")
        .render_derived(name="pairs")
    )
    tagged = (
        sa.insert(_mv_tags)
        .from_select(
            ["workspace", "name", "version", "key", "value"],
            # Every tag with the created row, none without one.
            sa.select(
                created.c.workspace, created.c.name, created.c.version, pairs.c.key, pairs.c.value
            ).select_from(created.join(pairs, sa.true())),
        )
        .cte("tagged")
    )
    return answer.add_cte(tagged)


CREATE_VERSION: Final = _build(with_tags=True)
CREATE_UNTAGGED_VERSION: Final = _build(with_tags=False)
