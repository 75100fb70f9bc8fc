"""pytest plugin that runs MLflow's own tests against mlflow-core (loaded with ``-p``).

At pytest start, before MLflow's test modules are imported, it swaps MLflow's SQL store classes
for our shim stores (tracking and registry, plain and workspace-aware) in the modules MLflow's
tests import them from, and enables the shim, so every store those tests build is ours. It then
marks the tests listed in ``expectations.toml`` as skipped or expected to fail, with the reason.

Environment (set by ``python -m tools.upstream``):
- MLFLOW_CORE_UPSTREAM_MODE: ``shim`` (default) or ``baseline`` (MLflow's own stores, to tell
  our failures from failures of the pinned tests against the installed MLflow).
- MLFLOW_CORE_UPSTREAM_EXPECTATIONS: the expectations file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

MODE = os.environ.get("MLFLOW_CORE_UPSTREAM_MODE", "shim")


def _swap_store_classes() -> None:
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


def pytest_configure(config: pytest.Config) -> None:
    if MODE == "shim":
        _swap_store_classes()


def _matches(nodeid: str, pattern: str) -> bool:
    # A pattern names a test (any parameters), a parametrized case, or a whole file.
    return nodeid == pattern or nodeid.startswith((pattern + "[", pattern + "::"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MODE != "shim":
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
