"""pytest plugin that runs MLflow's own tests against mlflow-core (loaded with ``-p``).

At pytest start, before MLflow's test modules are imported, it swaps MLflow's SQL store classes
for our shim stores (tracking and registry, plain and workspace-aware) in the modules MLflow's
tests import them from, and enables the shim, so every store those tests build is ours. It then
marks the tests listed in ``expectations.toml`` as skipped or expected to fail, with the reason.

Environment (set by ``python -m tools.upstream``):
- MLFLOW_CORE_UPSTREAM_MODE: ``shim`` (default): our shim stores; ``server``: MLflow's stores,
  and the in-process test server (``tests/tracking/integration_test_utils.ServerThread``) serves
  our ASGI application (``mlflow-core server``'s, on the database the test initialized) instead
  of MLflow's; ``baseline``: MLflow's own everything, to tell our failures from failures of the
  pinned tests against the installed MLflow.
- MLFLOW_CORE_UPSTREAM_EXPECTATIONS: the expectations file.
"""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

MODE = os.environ.get("MLFLOW_CORE_UPSTREAM_MODE", "shim")


# Modules that test ``isinstance(store, SqlAlchemyStore)`` against the name they import: imported
# before the swap, they keep MLflow's class, which every shim store (workspace-aware included)
# subclasses. Imported after it, they would check against ``ShimTrackingStore`` alone.
_IMPORT_BEFORE_SWAP = (
    "mlflow.server.handlers",
    "mlflow.server.gateway_api",
    "mlflow.store.tracking.gateway.config_resolver",
)


def _swap_store_classes() -> None:
    import importlib

    for module_name in _IMPORT_BEFORE_SWAP:
        importlib.import_module(module_name)
    from mlflow.store.model_registry import sqlalchemy_store as registry_module
    from mlflow.store.model_registry import sqlalchemy_workspace_store as registry_ws_module
    from mlflow.store.tracking import sqlalchemy_store as tracking_module
    from mlflow.store.tracking import sqlalchemy_workspace_store as tracking_ws_module

    import mlflow_core
    from mlflow_core.entrypoints.client import stores

    swaps = [
        (tracking_module, "SqlAlchemyStore", stores.ShimTrackingStore),
        (
            tracking_ws_module,
            "WorkspaceAwareSqlAlchemyStore",
            stores.ShimWorkspaceAwareTrackingStore,
        ),
        (registry_module, "SqlAlchemyStore", stores.ShimRegistryStore),
        (
            registry_ws_module,
            "WorkspaceAwareSqlAlchemyStore",
            stores.ShimWorkspaceAwareRegistryStore,
        ),
    ]
    for module, name, shim in swaps:
        setattr(module, name, shim)
    mlflow_core.enable()


def _expectations() -> dict[str, dict[str, str]]:
    path = os.environ.get("MLFLOW_CORE_UPSTREAM_EXPECTATIONS")
    if not path:
        return {"skip": {}, "xfail": {}}
    data: dict[str, Any] = tomllib.loads(Path(path).read_text())
    return {kind: dict(data.get(kind, {})) for kind in ("skip", "xfail")}


def _serve_our_application() -> None:
    """Make the REST suites' in-process server our ASGI application (as the Go backend did)."""
    from mlflow.server import handlers

    from mlflow_core.entrypoints.config import ARTIFACT_ROOT, BACKEND_STORE_URI, ServerSettings
    from mlflow_core.entrypoints.http.asgi import create_app
    from tests.tracking import integration_test_utils as server_utils

    mlflow_init = server_utils.ServerThread.__init__

    def __init__(self: Any, app: Any, port: int) -> None:
        store: Any = handlers._tracking_store
        if getattr(store, "db_uri", None) is None:
            mlflow_init(self, app, port)  # not a SQL store: nothing of ours to serve it
            return
        settings = ServerSettings.from_environment(
            {
                **os.environ,
                BACKEND_STORE_URI: store.db_uri,
                ARTIFACT_ROOT: store.artifact_root_uri,
            }
        )
        mlflow_init(self, create_app(settings), port)

    server_utils.ServerThread.__init__ = __init__


_built: Counter[str] = Counter()


def _count_store_constructions() -> None:
    """Count the SQL stores the tests build, by class: proof of what the suite ran against."""
    from mlflow.store.model_registry import sqlalchemy_store as registry_module
    from mlflow.store.model_registry import sqlalchemy_workspace_store as registry_ws_module
    from mlflow.store.tracking import sqlalchemy_store as tracking_module
    from mlflow.store.tracking import sqlalchemy_workspace_store as tracking_ws_module

    from mlflow_core.entrypoints.client import stores

    classes: list[Any] = [
        tracking_module.SqlAlchemyStore,
        tracking_ws_module.WorkspaceAwareSqlAlchemyStore,
        registry_module.SqlAlchemyStore,
        registry_ws_module.WorkspaceAwareSqlAlchemyStore,
        stores.ShimTrackingStore,
        stores.ShimWorkspaceAwareTrackingStore,
        stores.ShimRegistryStore,
        stores.ShimWorkspaceAwareRegistryStore,
    ]
    for cls in classes:
        original = cls.__init__

        def counted(
            self: Any, *args: Any, _cls: Any = cls, _init: Any = original, **kw: Any
        ) -> None:
            if type(self) is _cls:  # the outermost constructor only
                _built[f"{_cls.__module__.rsplit('.', 2)[-2]}.{_cls.__name__}"] += 1
            _init(self, *args, **kw)

        setattr(cls, "__init__", counted)  # noqa: B010


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before any conftest.py is imported (a hook only ``-p`` plugins get): MLflow's conftests
    # import the store classes at their own import, before ``pytest_configure`` runs. Importing
    # this module has no side effect.
    _count_store_constructions()
    if MODE == "shim":
        _swap_store_classes()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    built = ", ".join(f"{name}: {count}" for name, count in sorted(_built.items()))
    terminalreporter.write_line(f"mlflow-core ({MODE}): SQL stores built by the tests: {built}")


def pytest_sessionstart(session: pytest.Session) -> None:
    if MODE == "server":
        _serve_our_application()


def _matches(nodeid: str, pattern: str) -> bool:
    # A pattern names a test (any parameters), a parametrized case, or a whole file.
    return nodeid == pattern or nodeid.startswith((pattern + "[", pattern + "::"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MODE == "baseline":
        return
    expectations = _expectations()
    for item in items:
        for pattern, reason in expectations["skip"].items():
            if _matches(item.nodeid, pattern):
                item.add_marker(pytest.mark.skip(reason=f"mlflow-core: {reason}"))
                break
        else:
            for pattern, reason in expectations["xfail"].items():
                if _matches(item.nodeid, pattern):
                    item.add_marker(pytest.mark.xfail(reason=f"mlflow-core: {reason}"))
                    break
