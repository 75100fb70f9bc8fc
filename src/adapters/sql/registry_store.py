"""The model registry store port on MLflow's SQL schema, with SQLAlchemy Core.

Each port method is one transaction. Every write to a model or one of its versions first
updates (so locks) the model's ``registered_models`` row: writers of one model are serialized
in a fixed order on every database (a row lock on PostgreSQL and MySQL, the write lock on
SQLite), so ``create_model_version`` reads the highest number and inserts the next without a
race, and transitions that archive other versions cannot deadlock. On PostgreSQL a create is
first tried as one statement that locks the row the same way (``new_version``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.database import ConnectionRows, Database, RowReader
from mlflow_core.adapters.sql.id_lists import in_list, in_pairs, list_value, pair_values
from mlflow_core.adapters.sql.integrity import unique_violation_message
from mlflow_core.adapters.sql.new_version import create_version
from mlflow_core.adapters.sql.registry_search import registry_order_by, registry_where
from mlflow_core.domain.registry import (
    STAGE_ARCHIVED,
    STAGE_DELETED_INTERNAL,
    STAGE_NONE,
    STATUS_READY,
    ModelVersion,
    NewModelVersion,
    RegisteredModel,
    RegistryTag,
)
from mlflow_core.errors import MlflowCoreError
from mlflow_core.ports.registry import ModelRegistryStore, RegistrySearch
from mlflow_core.search.registry import RegistryFilter, RegistryOrderKey
from mlflow_core.validation.registry import model_not_found, version_not_found

_rm = tables.registered_models
_rm_tags = tables.registered_model_tags
_aliases = tables.registered_model_aliases
_mv = tables.model_versions
_mv_tags = tables.model_version_tags

_ws: sa.BindParameter[str] = sa.bindparam("ws")
_name: sa.BindParameter[str] = sa.bindparam("model")
_version: sa.BindParameter[int] = sa.bindparam("ver")

_GET_MODEL = sa.select(_rm).where(_rm.c.workspace == _ws, _rm.c.name == _name)
_LOCK_MODEL = _GET_MODEL.with_for_update()
_TOUCH_MODEL = (
    sa.update(_rm)
    .where(_rm.c.workspace == _ws, _rm.c.name == _name)
    .values(last_updated_time=sa.bindparam("now"))
)
_INSERT_MODEL = sa.insert(_rm)
_INSERT_MODEL_TAG = sa.insert(_rm_tags)
_UPDATE_DESCRIPTION = (
    sa.update(_rm)
    .where(_rm.c.workspace == _ws, _rm.c.name == _name)
    .values(description=sa.bindparam("new_description"), last_updated_time=sa.bindparam("now"))
)
_RENAME_MODEL = (
    sa.update(_rm)
    .where(_rm.c.workspace == _ws, _rm.c.name == _name)
    .values(name=sa.bindparam("new_name"), last_updated_time=sa.bindparam("now"))
)
_TOUCH_VERSIONS = (
    sa.update(_mv)
    .where(_mv.c.workspace == _ws, _mv.c.name == _name)
    .values(last_updated_time=sa.bindparam("now"))
)
_UPDATE_MODEL_TAG = (
    sa.update(_rm_tags)
    .where(_rm_tags.c.workspace == _ws, _rm_tags.c.name == _name)
    .where(_rm_tags.c.key == sa.bindparam("tag_key"))
    .values(value=sa.bindparam("tag_value"))
)
_DELETE_MODEL_TAG = sa.delete(_rm_tags).where(
    _rm_tags.c.workspace == _ws, _rm_tags.c.name == _name, _rm_tags.c.key == sa.bindparam("tag_key")
)
_DELETE_MODEL_CHILDREN = (
    sa.delete(_mv_tags).where(_mv_tags.c.workspace == _ws, _mv_tags.c.name == _name),
    sa.delete(_aliases).where(_aliases.c.workspace == _ws, _aliases.c.name == _name),
    sa.delete(_mv).where(_mv.c.workspace == _ws, _mv.c.name == _name),
    sa.delete(_rm_tags).where(_rm_tags.c.workspace == _ws, _rm_tags.c.name == _name),
    sa.delete(_rm).where(_rm.c.workspace == _ws, _rm.c.name == _name),
)
_live = _mv.c.current_stage != STAGE_DELETED_INTERNAL
_MAX_VERSION = sa.select(sa.func.max(_mv.c.version)).where(
    _mv.c.workspace == _ws, _mv.c.name == _name
)
_INSERT_VERSION = sa.insert(_mv)
# Every column of a new version but its number, which the statement computes.
_NEW_VERSION_FIELDS = tuple(column.name for column in _mv.c if column.name != "version")
# PostgreSQL and SQLite number and insert a version in one statement (MySQL has no RETURNING):
# the model's row is locked first (_TOUCH_MODEL), so the max read here sees every committed one.
_INSERT_NEXT_VERSION = (
    sa.insert(_mv)
    .from_select(
        [*_NEW_VERSION_FIELDS, "version"],
        sa.select(
            *(sa.bindparam(field, type_=_mv.c[field].type) for field in _NEW_VERSION_FIELDS),
            sa.func.coalesce(sa.func.max(_mv.c.version), 0) + 1,
        ).where(_mv.c.workspace == _ws, _mv.c.name == _name),
    )
    .returning(_mv.c.version)
)
_INSERT_VERSION_TAG = sa.insert(_mv_tags)
_GET_VERSION = sa.select(_mv).where(
    _mv.c.workspace == _ws, _mv.c.name == _name, _mv.c.version == _version, _live
)
_LOCK_VERSION = _GET_VERSION.with_for_update()
# Rows are read by position (a Row's attribute access costs many times its unpacking): every
# version row starts with ``model_versions``' columns in table order, every model row is
# ``registered_models``' columns.
_NAME, _VERSION = 1, 2
_VERSION_WIDTH = len(_mv.c)
_VERSION_ALIASES = sa.select(_aliases.c.alias).where(
    _aliases.c.workspace == _ws, _aliases.c.name == _name, _aliases.c.version == _version
)
_UPDATE_VERSION_DESCRIPTION = (
    sa.update(_mv)
    .where(_mv.c.workspace == _ws, _mv.c.name == _name, _mv.c.version == _version, _live)
    .values(description=sa.bindparam("new_description"), last_updated_time=sa.bindparam("now"))
)
_ARCHIVE_OTHERS = (
    sa.update(_mv)
    .where(_mv.c.workspace == _ws, _mv.c.name == _name, _mv.c.version != _version)
    .where(_mv.c.current_stage == sa.bindparam("stage"))
    .values(current_stage=STAGE_ARCHIVED, last_updated_time=sa.bindparam("now"))
)
_SET_STAGE = (
    sa.update(_mv)
    .where(_mv.c.workspace == _ws, _mv.c.name == _name, _mv.c.version == _version, _live)
    .values(current_stage=sa.bindparam("stage"), last_updated_time=sa.bindparam("now"))
)
# delete_model_version keeps the row (its number stays used) and redacts it, as MLflow.
_MARK_VERSION_DELETED = (
    sa.update(_mv)
    .where(_mv.c.workspace == _ws, _mv.c.name == _name, _mv.c.version == _version, _live)
    .values(
        current_stage=STAGE_DELETED_INTERNAL,
        last_updated_time=sa.bindparam("now"),
        description=None,
        user_id=None,
        source="REDACTED-SOURCE-PATH",
        run_id="REDACTED-RUN-ID",
        run_link="REDACTED-RUN-LINK",
        status_message=None,
    )
)
_DELETE_VERSION_ALIASES = sa.delete(_aliases).where(
    _aliases.c.workspace == _ws, _aliases.c.name == _name, _aliases.c.version == _version
)
_UPDATE_VERSION_TAG = (
    sa.update(_mv_tags)
    .where(_mv_tags.c.workspace == _ws, _mv_tags.c.name == _name)
    .where(_mv_tags.c.version == _version, _mv_tags.c.key == sa.bindparam("tag_key"))
    .values(value=sa.bindparam("tag_value"))
)
_DELETE_VERSION_TAG = sa.delete(_mv_tags).where(
    _mv_tags.c.workspace == _ws,
    _mv_tags.c.name == _name,
    _mv_tags.c.version == _version,
    _mv_tags.c.key == sa.bindparam("tag_key"),
)
_GET_ALIAS = sa.select(_aliases.c.name, _aliases.c.version).where(
    _aliases.c.workspace == _ws,
    _aliases.c.name == _name,
    _aliases.c.alias == sa.bindparam("alias_name"),
)
_UPDATE_ALIAS = (
    sa.update(_aliases)
    .where(_aliases.c.workspace == _ws, _aliases.c.name == _name)
    .where(_aliases.c.alias == sa.bindparam("alias_name"))
    .values(version=_version)
)
_INSERT_ALIAS = sa.insert(_aliases)
_DELETE_ALIAS = sa.delete(_aliases).where(
    _aliases.c.workspace == _ws,
    _aliases.c.name == _name,
    _aliases.c.alias == sa.bindparam("alias_name"),
)


def _latest_per_stage(name_test: ColumnElement[bool]) -> Any:
    """Per live (model, stage): its newest version, ``latest``, and its first, ``first_version``.

    MLflow builds ``latest_versions`` in a dict keyed by stage while walking the versions in
    order, so the stages come out in order of their first version.
    """
    return (
        sa.select(
            _mv.c.name,
            _mv.c.current_stage,
            sa.func.max(_mv.c.version).label("latest"),
            sa.func.min(_mv.c.version).label("first_version"),
        )
        .where(_mv.c.workspace == _ws, name_test, _live)
        .group_by(_mv.c.name, _mv.c.current_stage)
        .subquery()
    )


def _latest_versions_statement(name_test: ColumnElement[bool]) -> sa.Select[Any]:
    """The newest live version per (model, stage), stages in MLflow's order."""
    per_stage = _latest_per_stage(name_test)
    return (
        sa.select(_mv)
        .join(
            per_stage,
            sa.and_(_mv.c.name == per_stage.c.name, _mv.c.version == per_stage.c.latest),
        )
        .where(_mv.c.workspace == _ws)
        .order_by(_mv.c.name, per_stage.c.first_version)
    )


def _with_tags_and_aliases(statement: sa.Select[Any]) -> sa.Select[Any]:
    """``statement``'s versions (of the model bound to ``model``), one row per tag and per
    alias (or one bare row): the whole get-latest-versions answer in one round trip.

    Tags and aliases are one derived table (a UNION ALL), so a version's rows are its tags
    plus its aliases, never their product.
    """
    extras = sa.union_all(
        sa.select(
            _mv_tags.c.workspace,
            _mv_tags.c.name,
            _mv_tags.c.version,
            _mv_tags.c.key.label("tag_key"),
            _mv_tags.c.value.label("tag_value"),
            sa.null().label("alias"),
        ).where(_mv_tags.c.workspace == _ws, _mv_tags.c.name == _name),
        sa.select(
            _aliases.c.workspace,
            _aliases.c.name,
            _aliases.c.version,
            sa.null(),
            sa.null(),
            _aliases.c.alias,
        ).where(_aliases.c.workspace == _ws, _aliases.c.name == _name),
    ).subquery("extras")
    return statement.add_columns(extras.c.tag_key, extras.c.tag_value, extras.c.alias).outerjoin(
        extras,
        sa.and_(
            extras.c.workspace == _mv.c.workspace,
            extras.c.name == _mv.c.name,
            extras.c.version == _mv.c.version,
        ),
    )


_LATEST_OF_MODEL = _with_tags_and_aliases(_latest_versions_statement(_mv.c.name == _name))


# The columns of ``_model_completion``'s rows: what the row is, then ``model_versions``'
# columns in table order (a model tag or alias row fills workspace and name, an alias row
# also version), then a tag's key and value (an alias row: the alias in key), then the
# first version of the stage a latest version is the newest of.
_MODEL_TAG, _MODEL_ALIAS, _LATEST_VERSION = 0, 1, 2
_KIND = 0
_ROW_NAME = 1 + _NAME
_ROW_VERSION = 1 + _VERSION
_ROW_KEY = 1 + _VERSION_WIDTH
_ROW_VALUE = _ROW_KEY + 1
_ROW_FIRST_VERSION = _ROW_KEY + 2


@cache
def _model_completion(dialect: str) -> sa.CompoundSelect[Any]:
    """Tags, aliases and latest versions (with their tags) of the models named in ``names``
    (a list; one array parameter on PostgreSQL, see ``id_lists``): one statement, one row per
    model tag, alias and (latest version, tag) pair, told apart by the first column."""

    def padded(kind: int, *columns: Any, key: Any, value: Any) -> sa.Select[Any]:
        nulls = [sa.null()] * (_VERSION_WIDTH - len(columns))
        return sa.select(sa.literal_column(str(kind)), *columns, *nulls, key, value, sa.null())

    model_tags = padded(
        _MODEL_TAG,
        _rm_tags.c.workspace,
        _rm_tags.c.name,
        key=_rm_tags.c.key,
        value=_rm_tags.c.value,
    ).where(_rm_tags.c.workspace == _ws, in_list(_rm_tags.c.name, "names", dialect))
    aliases = padded(
        _MODEL_ALIAS,
        _aliases.c.workspace,
        _aliases.c.name,
        _aliases.c.version,
        key=_aliases.c.alias,
        value=sa.null(),
    ).where(_aliases.c.workspace == _ws, in_list(_aliases.c.name, "names", dialect))
    per_stage = _latest_per_stage(in_list(_mv.c.name, "names", dialect))
    latest = (
        sa.select(
            sa.literal_column(str(_LATEST_VERSION)),
            _mv,
            _mv_tags.c.key,
            _mv_tags.c.value,
            per_stage.c.first_version,
        )
        .join(
            per_stage,
            sa.and_(_mv.c.name == per_stage.c.name, _mv.c.version == per_stage.c.latest),
        )
        .outerjoin(
            _mv_tags,
            sa.and_(
                _mv_tags.c.workspace == _mv.c.workspace,
                _mv_tags.c.name == _mv.c.name,
                _mv_tags.c.version == _mv.c.version,
            ),
        )
        .where(_mv.c.workspace == _ws)
    )
    return sa.union_all(latest, model_tags, aliases)


@cache
def _version_tags(dialect: str) -> sa.Select[Any]:
    """The tags of the versions bound with ``pair_values("versions", ...)``."""
    return sa.select(_mv_tags.c.name, _mv_tags.c.version, _mv_tags.c.key, _mv_tags.c.value).where(
        _mv_tags.c.workspace == _ws,
        in_pairs(_mv_tags.c.name, _mv_tags.c.version, "versions", dialect),
    )


def _group_tags_and_aliases(
    rows: Iterable[Any],
) -> list[tuple[Any, dict[str, str | None], list[str]]]:
    """Rows of ``_with_tags_and_aliases`` folded back to (version row, tags, aliases)."""
    grouped: dict[tuple[str, int], tuple[Any, dict[str, str | None], list[str]]] = {}
    for row in rows:
        key = (row[_NAME], row[_VERSION])
        entry = grouped.get(key)
        if entry is None:
            entry = grouped[key] = (row, {}, [])
        tag_key, tag_value, alias = row[_VERSION_WIDTH:]
        if tag_key is not None:
            entry[1][tag_key] = tag_value
        elif alias is not None:
            entry[2].append(alias)
    return list(grouped.values())


_AUTOFLUSH = (
    "(raised as a result of Query-invoked autoflush; consider using a session.no_autoflush "
    "block if this flush is occurring prematurely)"
)


@lru_cache(maxsize=256)
def _search_statement(
    entity: Literal["models", "versions"],
    workspace: str,
    parsed: RegistryFilter,
    order_by: tuple[RegistryOrderKey, ...],
    dialect: str,
) -> sa.Select[Any]:
    """A search's statement, built once per distinct search (clients repeat theirs); the page
    (``limit``, ``offset``) is bound at execution."""
    if entity == "models":
        table, tags, live = _rm, _rm_tags, []
    else:
        table, tags, live = _mv, _mv_tags, [_live]
    return (
        sa.select(table)
        .where(table.c.workspace == workspace, *live)
        .where(*registry_where(parsed, table, tags, dialect))
        .order_by(*registry_order_by(order_by, table))
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
    )


class _NameTaken(Exception):
    """An insert hit the model's primary key; caught outside the failed transaction."""


def _version_of(row: Any, tags: dict[str, str | None], aliases: Sequence[str] = ()) -> ModelVersion:
    """A version from a row starting with ``model_versions``' columns in table order."""
    (_, name, version, created, updated, description, user_id, stage, source, storage) = row[:10]
    run_id, run_link, status, status_message = row[10:_VERSION_WIDTH]
    return ModelVersion(
        name=name,
        version=version,
        creation_time=created,
        last_updated_time=updated,
        description=description,
        user_id=user_id,
        current_stage=stage,
        source=source,
        run_id=run_id,
        run_link=run_link,
        status=status,
        status_message=status_message,
        tags=tags,
        aliases=tuple(aliases),
        storage_location=storage,
    )


class SqlRegistryStore(ModelRegistryStore):
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- reading helpers (inside a caller's transaction) -------------------------------------

    def _models(
        self, reader: RowReader, workspace: str, rows: Sequence[Any]
    ) -> list[RegisteredModel]:
        """Models for their rows, with tags, aliases and latest versions: one statement."""
        if not rows:
            return []
        names = [row[_NAME] for row in rows]
        params = {"ws": workspace, "names": list_value(names, self.database.dialect)}
        tags: dict[str, dict[str, str | None]] = {name: {} for name in names}
        aliases: dict[str, dict[str, int]] = {name: {} for name in names}
        # (name, version) -> (first version of its stage, its row, its tags)
        latest: dict[tuple[str, int], tuple[int, Any, dict[str, str | None]]] = {}
        for row in reader.rows(_model_completion(self.database.dialect), params):
            kind, name, key = row[_KIND], row[_ROW_NAME], row[_ROW_KEY]
            if kind == _MODEL_TAG:
                tags[name][key] = row[_ROW_VALUE]
            elif kind == _MODEL_ALIAS:
                aliases[name][key] = row[_ROW_VERSION]
            else:
                entry = latest.get((name, row[_ROW_VERSION]))
                if entry is None:
                    entry = latest[name, row[_ROW_VERSION]] = (row[_ROW_FIRST_VERSION], row, {})
                if key is not None:
                    entry[2][key] = row[_ROW_VALUE]
        versions: dict[str, list[ModelVersion]] = {name: [] for name in names}
        for _, row, version_tags in sorted(latest.values(), key=lambda entry: entry[0]):
            versions[row[_ROW_NAME]].append(_version_of(row[1:], version_tags))
        return [
            RegisteredModel(
                name=name,
                creation_time=created,
                last_updated_time=updated,
                description=description,
                tags=tags[name],
                aliases=aliases[name],
                latest_versions=versions[name],
            )
            for _, name, created, updated, description in rows
        ]

    def _version_tags(
        self, conn: Connection, workspace: str, rows: Iterable[Any]
    ) -> dict[tuple[str, int], dict[str, str | None]]:
        keys = [(row[_NAME], row[_VERSION]) for row in rows]
        found: dict[tuple[str, int], dict[str, str | None]] = {key: {} for key in keys}
        if not keys:
            return found
        dialect = self.database.dialect
        params = {"ws": workspace, **pair_values("versions", keys, dialect)}
        for name, version, key, value in conn.execute(_version_tags(dialect), params).all():
            found.setdefault((name, version), {})[key] = value
        return found

    def _model(self, conn: Connection, workspace: str, name: str) -> RegisteredModel:
        row = conn.execute(_GET_MODEL, {"ws": workspace, "model": name}).first()
        if row is None:
            raise model_not_found(name)
        return self._models(ConnectionRows(conn), workspace, [row])[0]

    def _full_version(
        self, conn: Connection, workspace: str, name: str, version: int
    ) -> ModelVersion:
        row = conn.execute(_GET_VERSION, {"ws": workspace, "model": name, "ver": version}).first()
        if row is None:
            raise version_not_found(name, version)
        tags = self._version_tags(conn, workspace, [row])[(row[_NAME], row[_VERSION])]
        aliases = conn.scalars(
            _VERSION_ALIASES, {"ws": workspace, "model": name, "ver": version}
        ).all()
        return _version_of(row, tags, aliases)

    def _touch_model(self, conn: Connection, workspace: str, name: str, now_ms: int) -> bool:
        """Update (and so lock) the model's row; False if there is no such model."""
        params = {"ws": workspace, "model": name, "now": now_ms}
        return conn.execute(_TOUCH_MODEL, params).rowcount > 0

    def _require_model(self, conn: Connection, workspace: str, name: str) -> None:
        if conn.execute(_LOCK_MODEL, {"ws": workspace, "model": name}).first() is None:
            raise model_not_found(name)

    def _require_version(self, conn: Connection, workspace: str, name: str, version: int) -> None:
        params = {"ws": workspace, "model": name, "ver": version}
        if conn.execute(_LOCK_VERSION, params).first() is None:
            raise version_not_found(name, version)

    # -- registered models -------------------------------------------------------------------

    def create_registered_model(
        self,
        workspace: str,
        name: str,
        tags: Sequence[RegistryTag],
        description: str | None,
        now_ms: int,
    ) -> RegisteredModel | None:
        unique = {tag.key: tag.value for tag in tags}
        try:
            with self.database.begin() as conn:
                try:
                    conn.execute(
                        _INSERT_MODEL,
                        {
                            "workspace": workspace,
                            "name": name,
                            "creation_time": now_ms,
                            "last_updated_time": now_ms,
                            "description": description,
                        },
                    )
                except sa.exc.IntegrityError as exc:
                    raise _NameTaken from exc
                if unique:
                    conn.execute(
                        _INSERT_MODEL_TAG,
                        [
                            {"workspace": workspace, "name": name, "key": k, "value": v}
                            for k, v in unique.items()
                        ],
                    )
        except _NameTaken:
            return None
        return RegisteredModel(name, now_ms, now_ms, description, unique, {}, [])

    def get_registered_model(self, workspace: str, name: str) -> RegisteredModel | None:
        with self.database.short_reads() as reader:
            rows = reader.rows(_GET_MODEL, {"ws": workspace, "model": name})
            return self._models(reader, workspace, rows)[0] if rows else None

    def update_registered_model(
        self, workspace: str, name: str, description: str | None, now_ms: int
    ) -> RegisteredModel:
        with self.database.begin() as conn:
            params = {"ws": workspace, "model": name, "new_description": description, "now": now_ms}
            if conn.execute(_UPDATE_DESCRIPTION, params).rowcount == 0:
                raise model_not_found(name)
            return self._model(conn, workspace, name)

    def rename_registered_model(
        self, workspace: str, name: str, new_name: str, now_ms: int
    ) -> RegisteredModel:
        try:
            with self.database.begin() as conn:
                current = conn.execute(_LOCK_MODEL, {"ws": workspace, "model": name}).first()
                if current is None:
                    raise model_not_found(name)
                # A name taken by another model: checked first, because MySQL reports the
                # clash as a foreign-key cascade failure (MLflow's 503 there), not a duplicate.
                taken = conn.execute(_LOCK_MODEL, {"ws": workspace, "model": new_name}).first()
                if taken is not None and taken.name != current.name:
                    raise _NameTaken
                params = {"ws": workspace, "model": name, "new_name": new_name, "now": now_ms}
                try:
                    # Versions, tags and aliases follow by the foreign keys' ON UPDATE CASCADE.
                    conn.execute(_RENAME_MODEL, params)
                except sa.exc.IntegrityError as exc:
                    raise _NameTaken from exc
                conn.execute(_TOUCH_VERSIONS, {"ws": workspace, "model": new_name, "now": now_ms})
                return self._model(conn, workspace, new_name)
        except _NameTaken:
            # MLflow's clash surfaces in an autoflush (it loads the model's versions after
            # renaming), so SQLAlchemy puts that line before the driver's.
            raise MlflowCoreError.already_exists(
                f"Registered Model (name={new_name}) already exists. Error: {_AUTOFLUSH}\n"
                + unique_violation_message("registered_models", ("workspace", "name"))
            ) from None

    def delete_registered_model(self, workspace: str, name: str) -> None:
        with self.database.begin() as conn:
            self._require_model(conn, workspace, name)
            for statement in _DELETE_MODEL_CHILDREN:
                conn.execute(statement, {"ws": workspace, "model": name})

    def search_registered_models(
        self, workspace: str, search: RegistrySearch
    ) -> list[RegisteredModel]:
        statement = _search_statement(
            "models", workspace, search.filter, tuple(search.order_by), self.database.dialect
        )
        params = {"limit": search.limit, "offset": search.offset}
        with self.database.short_reads() as reader:
            return self._models(reader, workspace, reader.rows(statement, params))

    def set_registered_model_tag(self, workspace: str, name: str, tag: RegistryTag) -> None:
        with self.database.begin() as conn:
            self._require_model(conn, workspace, name)
            params = {"ws": workspace, "model": name, "tag_key": tag.key, "tag_value": tag.value}
            if conn.execute(_UPDATE_MODEL_TAG, params).rowcount == 0:
                conn.execute(
                    _INSERT_MODEL_TAG,
                    {"workspace": workspace, "name": name, "key": tag.key, "value": tag.value},
                )

    def delete_registered_model_tag(self, workspace: str, name: str, key: str) -> None:
        with self.database.begin() as conn:
            self._require_model(conn, workspace, name)
            conn.execute(_DELETE_MODEL_TAG, {"ws": workspace, "model": name, "tag_key": key})

    def get_latest_versions(self, workspace: str, name: str) -> list[ModelVersion]:
        params = {"ws": workspace, "model": name}
        with self.database.short_reads() as reader:
            rows = reader.rows(_LATEST_OF_MODEL, params)
            # No live version: the answer is empty if the model exists.
            if not rows and not reader.rows(_GET_MODEL, params):
                raise model_not_found(name)
        return [
            _version_of(row, tags, aliases) for row, tags, aliases in _group_tags_and_aliases(rows)
        ]

    # -- model versions ----------------------------------------------------------------------

    def create_model_version(
        self, workspace: str, name: str, version: NewModelVersion, now_ms: int
    ) -> ModelVersion:
        fields = {
            "workspace": workspace,
            "name": name,
            "creation_time": now_ms,
            "last_updated_time": now_ms,
            "description": version.description,
            "user_id": None,
            "current_stage": STAGE_NONE,
            "source": version.source,
            "storage_location": version.storage_location,
            "run_id": version.run_id,
            "run_link": version.run_link,
            "status": STATUS_READY,
            "status_message": None,
        }
        unique = {tag.key: tag.value for tag in version.tags}
        number = None
        if self.database.dialect == "postgresql":
            number = self._create_version_in_one_statement(workspace, name, fields, unique)
        if number is None:
            number = self._create_version_in_a_transaction(workspace, name, fields, unique, now_ms)
        # Everything is known without reading it back; a new number has no aliases (aliases
        # only point at live versions, and numbers are never reused).
        return ModelVersion(
            name=name,
            version=number,
            creation_time=now_ms,
            last_updated_time=now_ms,
            description=version.description,
            user_id=None,
            current_stage=STAGE_NONE,
            source=version.source,
            run_id=version.run_id,
            run_link=version.run_link,
            status=STATUS_READY,
            status_message=None,
            tags=unique,
            aliases=(),
            storage_location=version.storage_location,
        )

    def _create_version_in_one_statement(
        self,
        workspace: str,
        name: str,
        fields: dict[str, Any],
        tags: dict[str, str | None],
    ) -> int | None:
        """PostgreSQL: the version's number, or None when a concurrent creator took it first
        and nothing was written (``new_version``)."""
        statement, params = create_version(workspace, name, fields, tags)
        with self.database.single_statements() as writer:
            ((number, model_found),) = writer.rows(statement, params)
        if not model_found:
            raise model_not_found(name)
        return number  # type: ignore[no-any-return]

    def _create_version_in_a_transaction(
        self,
        workspace: str,
        name: str,
        fields: dict[str, Any],
        unique: dict[str, str | None],
        now_ms: int,
    ) -> int:
        with self.database.begin() as conn:
            # The update locks the model's row first: concurrent creators queue here, and each
            # reads the highest number only after the previous one committed.
            if not self._touch_model(conn, workspace, name, now_ms):
                raise model_not_found(name)
            if self.database.dialect == "mysql":
                highest = conn.execute(_MAX_VERSION, {"ws": workspace, "model": name}).scalar()
                number = (highest or 0) + 1
                conn.execute(_INSERT_VERSION, {**fields, "version": number})
            else:
                selector = {**fields, "ws": workspace, "model": name}
                number = conn.execute(_INSERT_NEXT_VERSION, selector).scalar_one()
            if unique:
                conn.execute(
                    _INSERT_VERSION_TAG,
                    [
                        {
                            "workspace": workspace,
                            "name": name,
                            "version": number,
                            "key": k,
                            "value": v,
                        }
                        for k, v in unique.items()
                    ],
                )
        return number

    def get_model_version(self, workspace: str, name: str, version: int) -> ModelVersion | None:
        with self.database.connect() as conn:
            try:
                return self._full_version(conn, workspace, name, version)
            except MlflowCoreError:
                return None

    def update_model_version(
        self, workspace: str, name: str, version: int, description: str | None, now_ms: int
    ) -> ModelVersion:
        with self.database.begin() as conn:
            params = {
                "ws": workspace,
                "model": name,
                "ver": version,
                "new_description": description,
                "now": now_ms,
            }
            if conn.execute(_UPDATE_VERSION_DESCRIPTION, params).rowcount == 0:
                raise version_not_found(name, version)
            return self._full_version(conn, workspace, name, version)

    def transition_model_version_stage(
        self,
        workspace: str,
        name: str,
        version: int,
        stage: str,
        archive_existing_versions: bool,
        now_ms: int,
    ) -> ModelVersion:
        with self.database.begin() as conn:
            if not self._touch_model(conn, workspace, name, now_ms):
                raise version_not_found(name, version)
            params = {
                "ws": workspace,
                "model": name,
                "ver": version,
                "stage": stage,
                "now": now_ms,
            }
            if archive_existing_versions:
                conn.execute(_ARCHIVE_OTHERS, params)
            if conn.execute(_SET_STAGE, params).rowcount == 0:
                raise version_not_found(name, version)
            return self._full_version(conn, workspace, name, version)

    def delete_model_version(self, workspace: str, name: str, version: int, now_ms: int) -> None:
        with self.database.begin() as conn:
            if not self._touch_model(conn, workspace, name, now_ms):
                raise version_not_found(name, version)
            params = {"ws": workspace, "model": name, "ver": version, "now": now_ms}
            if conn.execute(_MARK_VERSION_DELETED, params).rowcount == 0:
                raise version_not_found(name, version)
            conn.execute(_DELETE_VERSION_ALIASES, params)

    def search_model_versions(self, workspace: str, search: RegistrySearch) -> list[ModelVersion]:
        statement = _search_statement(
            "versions", workspace, search.filter, tuple(search.order_by), self.database.dialect
        )
        params = {"limit": search.limit, "offset": search.offset}
        with self.database.connect() as conn:
            rows = conn.execute(statement, params).all()
            tags = self._version_tags(conn, workspace, rows)
        # MLflow's search leaves aliases out of its versions.
        return [_version_of(row, tags[(row[_NAME], row[_VERSION])]) for row in rows]

    def set_model_version_tag(
        self, workspace: str, name: str, version: int, tag: RegistryTag
    ) -> None:
        with self.database.begin() as conn:
            self._require_version(conn, workspace, name, version)
            params = {
                "ws": workspace,
                "model": name,
                "ver": version,
                "tag_key": tag.key,
                "tag_value": tag.value,
            }
            if conn.execute(_UPDATE_VERSION_TAG, params).rowcount == 0:
                conn.execute(
                    _INSERT_VERSION_TAG,
                    {
                        "workspace": workspace,
                        "name": name,
                        "version": version,
                        "key": tag.key,
                        "value": tag.value,
                    },
                )

    def delete_model_version_tag(self, workspace: str, name: str, version: int, key: str) -> None:
        with self.database.begin() as conn:
            self._require_version(conn, workspace, name, version)
            conn.execute(
                _DELETE_VERSION_TAG,
                {"ws": workspace, "model": name, "ver": version, "tag_key": key},
            )

    # -- aliases -----------------------------------------------------------------------------

    def set_registered_model_alias(
        self, workspace: str, name: str, alias: str, version: int
    ) -> None:
        with self.database.begin() as conn:
            self._require_version(conn, workspace, name, version)
            params = {"ws": workspace, "model": name, "alias_name": alias, "ver": version}
            if conn.execute(_UPDATE_ALIAS, params).rowcount == 0:
                conn.execute(
                    _INSERT_ALIAS,
                    {"workspace": workspace, "name": name, "alias": alias, "version": version},
                )

    def delete_registered_model_alias(self, workspace: str, name: str, alias: str) -> None:
        with self.database.begin() as conn:
            self._require_model(conn, workspace, name)
            conn.execute(_DELETE_ALIAS, {"ws": workspace, "model": name, "alias_name": alias})

    def get_model_version_by_alias(self, workspace: str, name: str, alias: str) -> ModelVersion:
        with self.database.connect() as conn:
            if conn.execute(_GET_MODEL, {"ws": workspace, "model": name}).first() is None:
                raise model_not_found(name)
            found = conn.execute(
                _GET_ALIAS, {"ws": workspace, "model": name, "alias_name": alias}
            ).first()
            if found is None:
                raise MlflowCoreError.invalid_parameter_value(
                    f"Registered model alias {alias} not found."
                )
            return self._full_version(conn, workspace, found.name, found.version)

    def close(self) -> None:
        self.database.dispose()
