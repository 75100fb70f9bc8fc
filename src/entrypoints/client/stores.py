# mypy: disallow-untyped-calls=False
# (MLflow's store code, which these classes extend and call, carries no annotations.)
"""MLflow's SQL stores with our services underneath: the in-process shim's store classes.

Each class subclasses the MLflow store it replaces (tracking and registry, plain and
workspace-aware), constructs like it and keeps every attribute MLflow's code and tests use
(``engine``, ``ManagedSessionMaker``, ``db_uri``, ...). Methods listed in ``routes.py`` are served
by our services; every other method is MLflow's own, on the same engine (one pool per database).

Construction avoids what makes MLflow's slow on a new database: a new SQLite file gets the
schema snapshot in one transaction instead of ~70 alembic migrations, and the revision check
compares one row with the pinned head instead of loading MLflow's migration scripts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy
from mlflow.exceptions import MlflowException
from mlflow.store.db import utils as mlflow_db_utils
from mlflow.store.model_registry import sqlalchemy_store as mlflow_registry_module
from mlflow.store.model_registry.sqlalchemy_store import (
    SqlAlchemyStore as MlflowRegistryStore,
)
from mlflow.store.model_registry.sqlalchemy_workspace_store import (
    WorkspaceAwareSqlAlchemyStore as MlflowWorkspaceRegistryStore,
)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as MlflowTrackingStore
from mlflow.store.tracking.sqlalchemy_workspace_store import (
    WorkspaceAwareSqlAlchemyStore as MlflowWorkspaceTrackingStore,
)
from mlflow.utils import workspace_utils
from mlflow.utils.uri import extract_db_type_from_uri, resolve_uri_if_local

from mlflow_core.adapters.sql.database import Database
from mlflow_core.adapters.sql.registry_store import SqlRegistryStore
from mlflow_core.adapters.sql.schema import SchemaError, prepare_schema
from mlflow_core.adapters.sql.tracking_store import SqlTrackingStore
from mlflow_core.entrypoints.client.entities import mlflow_exception
from mlflow_core.entrypoints.client.routes import (
    NOT_WORKSPACE_AWARE,
    REGISTRY_ROUTES,
    TRACKING_ROUTES,
    Defer,
    Route,
)
from mlflow_core.entrypoints.run_names import random_run_name
from mlflow_core.errors import MlflowCoreError
from mlflow_core.services.registry import RegistryService
from mlflow_core.services.tracking import TrackingService

_logger = logging.getLogger(__name__)

# With these deployment features on, MLflow's store adds semantics to the routed methods
# (effective trace-archival retention on experiments, ...) that our services do not reproduce
# yet: the shim then leaves every method to MLflow (it still opens databases fast).
_UNROUTED_FEATURES = ("MLFLOW_TRACE_ARCHIVAL_CONFIG", "MLFLOW_SQL_TRACE_ROLLUPS_ENABLED")
_FALSE = {"", "0", "false", "no", "off"}


class _RegistryStoreClock:
    """MLflow's registry store's clock, looked up at each call: ``get_current_time_millis`` as
    that module sees it (``int(time.time() * 1000)``), so code that patches either one (MLflow's
    own tests do) stamps our rows as it would stamp MLflow's."""

    def now_ms(self) -> int:
        return int(mlflow_registry_module.get_current_time_millis())  # type: ignore[attr-defined]


def _routable(read_db_uri: str | None, db_uri: str) -> bool:
    if read_db_uri and read_db_uri != db_uri:
        return False  # MLflow sends reads to the replica; our services know one engine
    on = [name for name in _UNROUTED_FEATURES if os.environ.get(name, "").lower() not in _FALSE]
    if on:
        _logger.info("mlflow-core shim: %s set, MLflow's store serves every method", on)
    return not on


def _prepared_database(engine: sqlalchemy.engine.Engine, db_uri: str) -> Database:
    """Our ``Database`` on MLflow's engine, with MLflow's schema at the pinned head."""
    database = Database.wrapping(engine, db_uri)
    try:
        prepare_schema(database)
    except SchemaError as error:
        # MLflow's store refuses such a database too (``_verify_schema``), with INTERNAL_ERROR.
        raise MlflowException(str(error)) from None
    return database


def _set_session_makers(store: Any, db_uri: str, read_db_uri: str | None) -> None:
    """``ManagedSessionMaker`` and ``read_engine`` exactly as MLflow's store __init__ sets them."""
    if read_db_uri and read_db_uri != db_uri:
        store.read_engine = store._get_or_create_engine(read_db_uri)
        store.ManagedSessionMaker = mlflow_db_utils._get_routing_session_maker(
            sqlalchemy.orm.sessionmaker(bind=store.engine),
            sqlalchemy.orm.sessionmaker(bind=store.read_engine),
            store.db_type,
        )
    else:
        store.read_engine = None
        store.ManagedSessionMaker = mlflow_db_utils._get_managed_session_maker(
            sqlalchemy.orm.sessionmaker(bind=store.engine), store.db_type
        )


def _routed(name: str, route: Route, base: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if name not in self._mlflow_core_routes:
            return base(self, *args, **kwargs)
        try:
            return route(self, *args, **kwargs)
        except MlflowCoreError as error:
            raise mlflow_exception(error) from None
        except Defer:
            return base(self, *args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"routed.{name}"
    method.__doc__ = base.__doc__
    method.__wrapped__ = base  # type: ignore[attr-defined]  # inspect.signature sees MLflow's
    return method


def _with_routes(routes: Mapping[str, Route]) -> Callable[[type[Any]], type[Any]]:
    """Class decorator: each routed method calls our service, else MLflow's own method."""

    def install(cls: type[Any]) -> type[Any]:
        for name, route in routes.items():
            setattr(cls, name, _routed(name, route, getattr(cls, name)))
        return cls

    return install


class _TrackingShim:
    """What every shim tracking store adds to MLflow's: our service and the route set."""

    tracking: TrackingService
    _mlflow_core_routes: frozenset[str]
    _mlflow_core_database: Database

    def workspace(self) -> str:
        return str(self._get_active_workspace())  # type: ignore[attr-defined]

    def _open_fast(
        self,
        db_uri: str,
        default_artifact_root: str,
        read_db_uri: str | None,
        routes: frozenset[str],
    ) -> None:
        store: Any = self
        store.db_uri = db_uri
        store.db_type = extract_db_type_from_uri(db_uri)
        store.artifact_root_uri = resolve_uri_if_local(default_artifact_root)
        store.engine = store._get_or_create_engine(db_uri)
        self._mlflow_core_database = _prepared_database(store.engine, db_uri)
        _set_session_makers(store, db_uri, read_db_uri)
        self.tracking = TrackingService(
            SqlTrackingStore(self._mlflow_core_database),
            default_artifact_root,
            run_names=random_run_name,
        )
        self._mlflow_core_routes = routes if _routable(read_db_uri, db_uri) else frozenset()


@_with_routes(TRACKING_ROUTES)
class ShimTrackingStore(_TrackingShim, MlflowTrackingStore):
    """MLflow's tracking ``SqlAlchemyStore``, experiments (and what else is ported) served by us."""

    def __init__(
        self, db_uri: str, default_artifact_root: str, read_db_uri: str | None = None
    ) -> None:
        # MLflow's __init__ minus migrations and its alembic-script schema check (see module doc).
        super(MlflowTrackingStore, self).__init__()  # MLflow's mixins and AbstractStore
        self._open_fast(db_uri, default_artifact_root, read_db_uri, frozenset(TRACKING_ROUTES))
        self._initialize_store_state()


@_with_routes(TRACKING_ROUTES)
class ShimWorkspaceAwareTrackingStore(_TrackingShim, MlflowWorkspaceTrackingStore):
    """MLflow's ``WorkspaceAwareSqlAlchemyStore`` (MLFLOW_ENABLE_WORKSPACES), same routing."""

    def __init__(
        self, db_uri: str, default_artifact_root: str, read_db_uri: str | None = None
    ) -> None:
        self._workspace_provider = None
        self._workspace_store_uri = workspace_utils.resolve_workspace_store_uri(tracking_uri=db_uri)
        super(MlflowTrackingStore, self).__init__()
        self._open_fast(
            db_uri,
            default_artifact_root,
            read_db_uri,
            frozenset(TRACKING_ROUTES) - NOT_WORKSPACE_AWARE,
        )
        self._initialize_store_state()


class _RegistryShim:
    """What every shim registry store adds to MLflow's: our service and the route set."""

    registry: RegistryService
    _mlflow_core_routes: frozenset[str]
    _mlflow_core_database: Database

    def workspace(self) -> str:
        return str(self._get_active_workspace())  # type: ignore[attr-defined]

    def _open_fast(self, db_uri: str, read_db_uri: str | None) -> None:
        store: Any = self
        store.db_uri = db_uri
        store.db_type = extract_db_type_from_uri(db_uri)
        # MLflow keeps a second engine map for its registry store, so a process with both
        # stores on one database holds two pools; ours share the tracking store's engine.
        store.engine = MlflowTrackingStore._get_or_create_engine(db_uri)
        self._mlflow_core_database = _prepared_database(store.engine, db_uri)
        _set_session_makers(store, db_uri, read_db_uri)
        self.registry = RegistryService(
            SqlRegistryStore(self._mlflow_core_database), clock=_RegistryStoreClock()
        )
        routes = frozenset(REGISTRY_ROUTES)
        self._mlflow_core_routes = routes if _routable(read_db_uri, db_uri) else frozenset()


@_with_routes(REGISTRY_ROUTES)
class ShimRegistryStore(_RegistryShim, MlflowRegistryStore):
    """MLflow's model registry ``SqlAlchemyStore``; ported registry methods served by us."""

    def __init__(self, db_uri: str, read_db_uri: str | None = None) -> None:
        super(MlflowRegistryStore, self).__init__()  # AbstractStore
        self._open_fast(db_uri, read_db_uri)
        self._initialize_store_state()


@_with_routes(REGISTRY_ROUTES)
class ShimWorkspaceAwareRegistryStore(_RegistryShim, MlflowWorkspaceRegistryStore):
    """MLflow's workspace-aware registry store (MLFLOW_ENABLE_WORKSPACES), same routing."""

    def __init__(self, db_uri: str, read_db_uri: str | None = None) -> None:
        super(MlflowRegistryStore, self).__init__()
        self._open_fast(db_uri, read_db_uri)
        self._initialize_store_state()


__all__ = [
    "ShimRegistryStore",
    "ShimTrackingStore",
    "ShimWorkspaceAwareRegistryStore",
    "ShimWorkspaceAwareTrackingStore",
]
