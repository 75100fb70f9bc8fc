"""The in-process shim's model registry: MLflow's client on MLflow's stores and on ours.

One script of ``MlflowClient`` registry calls (and ``mlflow.register_model``), bad inputs
included, runs with MLflow's own stores and with ``mlflow_core.enable()``, each on a new
database of the same kind: every result (the entities MLflow's store returns, times masked) and
every error (code and message) must be the same. The routed methods must really be ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as MlflowRegistryStore
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as MlflowTrackingStore

import mlflow_core
from mlflow_core.entrypoints.client.routes import REGISTRY_ROUTES
from mlflow_core.entrypoints.client.stores import ShimRegistryStore
from tests.integration.test_client_shim import _comparable, _difference, _uri
from tests.support.databases import fresh_database

PROMPT = {"mlflow.prompt.is_prompt": "true"}


@pytest.fixture
def shim_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # set_tracking_uri/set_registry_uri also export MLFLOW_*_URI, and set_registry_uri(None)
    # leaves its variable set: later tests in this process (and their subprocesses) would open
    # this test's dropped database. monkeypatch removes whatever the test exported.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    yield
    mlflow_core.disable()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def test_routed_registry_methods_are_ours() -> None:
    for name in REGISTRY_ROUTES:
        assert getattr(ShimRegistryStore, name) is not getattr(MlflowRegistryStore, name)
    assert ShimRegistryStore.create_webhook is MlflowRegistryStore.create_webhook


Op = Callable[[MlflowClient], Any]


def _second_page(c: MlflowClient, search: Callable[..., Any], **kwargs: Any) -> Any:
    first = search(max_results=2, **kwargs)
    return search(max_results=2, page_token=first.token, **kwargs)


SCRIPT: list[tuple[str, Op]] = [
    # registered models
    ("create", lambda c: c.create_registered_model("m1", {"t": "v", "u": "w"}, "first")),
    ("create m2", lambda c: c.create_registered_model("m2")),
    ("create m3", lambda c: c.create_registered_model("m3", description="third")),
    ("create taken", lambda c: c.create_registered_model("m1")),
    ("create taken as prompt", lambda c: c.create_registered_model("m1", PROMPT)),
    ("create prompt", lambda c: c.create_registered_model("p1", PROMPT)),
    ("create taken by prompt", lambda c: c.create_registered_model("p1")),
    ("create empty name", lambda c: c.create_registered_model("")),
    ("create slash name", lambda c: c.create_registered_model("a/b")),
    ("create bad tag", lambda c: c.create_registered_model("x", {"../k": "v"})),
    ("create long tag", lambda c: c.create_registered_model("x", {"k": "v" * 100_001})),
    ("get", lambda c: c.get_registered_model("m1")),
    ("get missing", lambda c: c.get_registered_model("nope")),
    ("get empty", lambda c: c.get_registered_model("")),
    ("update", lambda c: c.update_registered_model("m2", "described")),
    ("update to None", lambda c: c.update_registered_model("m3", None)),
    ("update missing", lambda c: c.update_registered_model("nope", "d")),
    ("set tag", lambda c: c.set_registered_model_tag("m1", "t", "changed")),
    ("set new tag", lambda c: c.set_registered_model_tag("m1", "n", 5)),
    ("set bad tag", lambda c: c.set_registered_model_tag("m1", "bad key!", "v")),
    ("set tag missing", lambda c: c.set_registered_model_tag("nope", "k", "v")),
    ("delete tag", lambda c: c.delete_registered_model_tag("m1", "u")),
    ("delete tag again", lambda c: c.delete_registered_model_tag("m1", "u")),
    ("delete tag missing", lambda c: c.delete_registered_model_tag("nope", "u")),
    ("get after tags", lambda c: c.get_registered_model("m1")),
    # model versions
    ("version 1", lambda c: c.create_model_version("m1", "s3://b/1", "r1", {"a": "1"}, "l", "d")),
    ("version 2", lambda c: c.create_model_version("m1", "s3://b/2", run_id="r2")),
    ("version 3", lambda c: c.create_model_version("m1", "s3://b/3", description="three")),
    ("version m2", lambda c: c.create_model_version("m2", "/abs/path", tags={"k": "v"})),
    ("version missing model", lambda c: c.create_model_version("nope", "s3://b/x")),
    ("version bad tag", lambda c: c.create_model_version("m1", "s3://b/x", tags={"": "v"})),
    ("version from models uri", lambda c: c.create_model_version("m2", "models:/m1/2")),
    ("version from bad models uri", lambda c: c.create_model_version("m2", "models:/m1/99")),
    ("register_model", lambda c: mlflow.register_model("s3://b/reg", "reg")),
    (
        "register_model again",
        lambda c: mlflow.register_model("s3://b/reg2", "reg", tags={"a": "b"}),
    ),
    ("register_model bad name", lambda c: mlflow.register_model("s3://b/reg", "x/y")),
    ("get version", lambda c: c.get_model_version("m1", "1")),
    ("get version int", lambda c: c.get_model_version("m1", 2)),  # type: ignore[arg-type]
    ("get version missing", lambda c: c.get_model_version("m1", "99")),
    ("get version bad", lambda c: c.get_model_version("m1", "abc")),
    ("get version no model", lambda c: c.get_model_version("nope", "1")),
    ("download uri", lambda c: c.get_model_version_download_uri("m1", "1")),
    ("download uri copied", lambda c: c.get_model_version_download_uri("m2", "2")),
    ("download uri missing", lambda c: c.get_model_version_download_uri("m1", "99")),
    ("update version", lambda c: c.update_model_version("m1", "2", "new")),
    ("update version None", lambda c: c.update_model_version("m1", "1", None)),
    ("update version missing", lambda c: c.update_model_version("m1", "99", "x")),
    ("stage", lambda c: c.transition_model_version_stage("m1", "1", "staging")),
    ("stage prod", lambda c: c.transition_model_version_stage("m1", "2", "Production")),
    ("stage archive", lambda c: c.transition_model_version_stage("m1", "3", "Production", True)),
    ("stage bad", lambda c: c.transition_model_version_stage("m1", "1", "bogus")),
    ("stage archive None", lambda c: c.transition_model_version_stage("m1", "1", "None", True)),
    ("stage missing", lambda c: c.transition_model_version_stage("m1", "99", "Staging")),
    ("stage bad version", lambda c: c.transition_model_version_stage("m1", "x", "Staging")),
    ("latest", lambda c: c.get_latest_versions("m1")),
    ("latest prod", lambda c: c.get_latest_versions("m1", ["production"])),
    ("latest bad stage", lambda c: c.get_latest_versions("m1", ["bogus"])),
    ("latest none", lambda c: c.get_latest_versions("m3")),
    ("latest missing", lambda c: c.get_latest_versions("nope")),
    ("get with versions", lambda c: c.get_registered_model("m1")),
    ("set version tag", lambda c: c.set_model_version_tag("m1", "1", "k", "v")),
    ("set version tag again", lambda c: c.set_model_version_tag("m1", "1", "k", "w")),
    ("set version tag bad", lambda c: c.set_model_version_tag("m1", "1", "bad key!", "v")),
    ("set version tag missing", lambda c: c.set_model_version_tag("m1", "99", "k", "v")),
    ("delete version tag", lambda c: c.delete_model_version_tag("m1", "1", "a")),
    ("delete version tag again", lambda c: c.delete_model_version_tag("m1", "1", "a")),
    ("delete version tag missing", lambda c: c.delete_model_version_tag("m1", "99", "a")),
    # aliases
    ("alias", lambda c: c.set_registered_model_alias("m1", "champ", "1")),
    ("alias 2", lambda c: c.set_registered_model_alias("m1", "other", 1)),  # type: ignore[arg-type]
    ("alias move", lambda c: c.set_registered_model_alias("m1", "champ", "2")),
    ("alias reserved", lambda c: c.set_registered_model_alias("m1", "latest", "1")),
    ("alias version name", lambda c: c.set_registered_model_alias("m1", "v3", "1")),
    ("alias bad", lambda c: c.set_registered_model_alias("m1", "a b", "1")),
    ("alias missing version", lambda c: c.set_registered_model_alias("m1", "x", "99")),
    ("by alias", lambda c: c.get_model_version_by_alias("m1", "champ")),
    ("by alias latest", lambda c: c.get_model_version_by_alias("m1", "latest")),
    ("by alias latest none", lambda c: c.get_model_version_by_alias("m3", "LATEST")),
    ("by alias missing", lambda c: c.get_model_version_by_alias("m1", "nope")),
    ("by alias no model", lambda c: c.get_model_version_by_alias("nope", "champ")),
    ("version with aliases", lambda c: c.get_model_version("m1", "1")),
    ("model with aliases", lambda c: c.get_registered_model("m1")),
    ("delete alias", lambda c: c.delete_registered_model_alias("m1", "other")),
    ("delete alias again", lambda c: c.delete_registered_model_alias("m1", "other")),
    ("delete alias no model", lambda c: c.delete_registered_model_alias("nope", "other")),
    # searches
    ("search models", lambda c: c.search_registered_models()),
    ("search models like", lambda c: c.search_registered_models("name LIKE 'm%'")),
    ("search models tag", lambda c: c.search_registered_models("tags.t = 'changed'")),
    (
        "search prompts",
        lambda c: c.search_registered_models(f"tags.`{next(iter(PROMPT))}` = 'true'"),
    ),
    ("search models order", lambda c: c.search_registered_models(order_by=["name DESC"])),
    ("search models bad", lambda c: c.search_registered_models("foo = 'x'")),
    ("search models bad order", lambda c: c.search_registered_models(order_by=["foo"])),
    ("search models 0", lambda c: c.search_registered_models(max_results=0)),
    ("search models 1001", lambda c: c.search_registered_models(max_results=1001)),
    ("search models page", lambda c: _second_page(c, c.search_registered_models)),
    ("search models bad token", lambda c: c.search_registered_models(page_token="garbage")),
    ("search versions", lambda c: c.search_model_versions()),
    ("search versions name", lambda c: c.search_model_versions("name = 'm1'")),
    ("search versions run", lambda c: c.search_model_versions("run_id = 'r1'")),
    ("search versions tag", lambda c: c.search_model_versions("tags.k = 'w'")),
    (
        "search versions order",
        lambda c: c.search_model_versions(order_by=["version_number ASC", "name DESC"]),
    ),
    ("search versions bad", lambda c: c.search_model_versions("bogus = 1")),
    ("search versions 0", lambda c: c.search_model_versions(max_results=0)),
    ("search versions page", lambda c: _second_page(c, c.search_model_versions)),
    ("search versions bad token", lambda c: c.search_model_versions(page_token="e30=")),
    ("search versions list token", lambda c: c.search_model_versions(page_token="WzFd")),
    ("search versions bytes token", lambda c: c.search_model_versions(page_token=b"\xff")),  # type: ignore[arg-type]
    (
        "search models bytes token",
        lambda c: c.search_registered_models(
            page_token=c.search_registered_models(max_results=1).token
        ),
    ),
    ("search versions is null", lambda c: c.search_model_versions("run_id IS NULL")),
    ("search models is null", lambda c: c.search_registered_models("tags.t IS NULL")),
    ("search versions max None", lambda c: c.search_model_versions(max_results=None)),  # type: ignore[arg-type]
    ("search models max -1", lambda c: c.search_registered_models(max_results=-1)),
    # prompts: MLflow's prompt methods build on the routed registry methods
    ("register prompt", lambda c: _prompt(mlflow.genai.register_prompt("pr", "Hi {{x}}"))),
    ("prompt v2", lambda c: _prompt(mlflow.genai.register_prompt("pr", "Bye", tags={"a": "b"}))),
    ("prompt alias", lambda c: mlflow.genai.set_prompt_alias("pr", "prod", 2)),
    ("load prompt", lambda c: _prompt(mlflow.genai.load_prompt("prompts:/pr@prod"))),
    ("load missing prompt", lambda c: _prompt(mlflow.genai.load_prompt("prompts:/pr/9"))),
    ("search prompts api", lambda c: [p.name for p in mlflow.genai.search_prompts()]),
    ("model onto prompt", lambda c: c.create_registered_model("pr")),
    # renames and deletes
    ("rename", lambda c: c.rename_registered_model("m1", "m1r")),
    ("rename taken", lambda c: c.rename_registered_model("m2", "m1r")),
    ("rename missing", lambda c: c.rename_registered_model("nope", "q")),
    ("rename empty", lambda c: c.rename_registered_model("m2", "")),
    ("renamed version", lambda c: c.get_model_version("m1r", "2")),
    ("delete version", lambda c: c.delete_model_version("m1r", "1")),
    ("delete version again", lambda c: c.delete_model_version("m1r", "1")),
    ("delete version bad", lambda c: c.delete_model_version("m1r", "one")),
    ("get deleted version", lambda c: c.get_model_version("m1r", "1")),
    ("version after delete", lambda c: c.create_model_version("m1r", "s3://b/4")),
    ("latest after delete", lambda c: c.get_latest_versions("m1r")),
    ("delete model", lambda c: c.delete_registered_model("m2")),
    ("delete model again", lambda c: c.delete_registered_model("m2")),
    ("get deleted model", lambda c: c.get_registered_model("m2")),
    ("final search", lambda c: c.search_registered_models(max_results=100)),
]


def _prompt(version: Any) -> tuple[Any, ...]:
    return (version.name, version.version, version.template, version.tags, version.aliases)


def _view(value: Any) -> Any:
    """Registry entities as dicts of their properties, times masked (they differ per run)."""
    if isinstance(value, RegisteredModel | ModelVersion):
        fields = {key: _view(item) for key, item in dict(value).items()}
        for key in ("creation_timestamp", "last_updated_timestamp"):
            fields[key] = "<time>" if fields.get(key) else fields.get(key)
        return fields
    if isinstance(value, list):
        return [_view(item) for item in value] + (
            [("token", value.token)] if hasattr(value, "token") else []
        )
    return _comparable(value)


def _unordered_latest(value: Any) -> Any:
    """A search's models with their latest versions sorted: on PostgreSQL MLflow's window query
    hands them back in the table's physical row order (docs/compatibility.md)."""
    if isinstance(value, list):
        return [_unordered_latest(item) for item in value]
    if isinstance(value, dict) and isinstance(value.get("latest_versions"), list):
        return {**value, "latest_versions": sorted(value["latest_versions"], key=repr)}
    return value


def _play(uri: str) -> list[tuple[str, Any]]:
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()
    results = []
    for name, op in SCRIPT:
        try:
            results.append((name, _view(op(client))))
        except MlflowException as error:
            results.append((name, _comparable(error)))
        except Exception as error:  # MLflow lets some bad input fail as a plain Python error
            results.append((name, ("python error", type(error).__name__, str(error))))
    return results


def test_registry_script_matches_mlflows_own_stores(
    db_kind: str, tmp_path: Path, shim_off: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with fresh_database(db_kind, tmp_path) as theirs, fresh_database(db_kind, tmp_path) as ours:
        mlflow_core.disable()
        expected = _play(_uri(theirs))
        mlflow_core.enable()
        actual = _play(_uri(ours))
        assert type(MlflowClient()._get_registry_client().store) is ShimRegistryStore
        if db_kind == "postgresql":
            expected, actual = (
                [
                    (name, _unordered_latest(v) if name.startswith(("search", "final")) else v)
                    for name, v in results
                ]
                for results in (expected, actual)
            )
        mismatches = [
            _difference(name, e, a)
            for (name, e), (_, a) in zip(expected, actual, strict=True)
            if e != a
        ]
        assert not mismatches, "\n".join(mismatches)
        for uri in (theirs, ours):
            for store in (MlflowTrackingStore, MlflowRegistryStore):
                store._engine_map.pop(_uri(uri), sa.create_engine("sqlite://")).dispose()


def test_workspace_aware_registry_matches_mlflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.store.model_registry.sqlalchemy_workspace_store import (
        WorkspaceAwareSqlAlchemyStore as MlflowWorkspaceRegistryStore,
    )
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_core.entrypoints.client.stores import ShimWorkspaceAwareRegistryStore

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")

    def play(store: Any) -> list[Any]:
        calls: list[Callable[[], Any]] = [
            lambda: store.get_registered_model("m"),  # no active workspace
            lambda: store.get_registered_model(""),  # MLflow checks the name first
            lambda: store.create_model_version("m", "s3://b/1"),
        ]
        in_default: list[Callable[[], Any]] = [
            lambda: store.create_registered_model("m"),
            lambda: store.create_model_version("m", "s3://b/1"),
            lambda: store.set_registered_model_alias("m", "a", 1),
            lambda: store.get_registered_model("m"),
            store.search_model_versions,
            lambda: store.get_model_version_by_alias("m", "a"),
        ]
        out = []
        for call in calls:
            try:
                out.append(_view(call()))
            except MlflowException as error:
                out.append(_comparable(error))
        with WorkspaceContext("default"):
            out += [_view(call()) for call in in_default]
        return out

    stock = MlflowWorkspaceRegistryStore(f"sqlite:///{tmp_path / 'theirs.db'}")
    ours = ShimWorkspaceAwareRegistryStore(f"sqlite:///{tmp_path / 'ours.db'}")
    assert ours._mlflow_core_routes == frozenset(REGISTRY_ROUTES)
    assert play(ours) == play(stock)
    for store in (stock, ours):
        store.engine.dispose()
