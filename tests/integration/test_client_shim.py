"""The in-process shim: ``mlflow_core.enable()`` puts our stores under the ``mlflow`` package.

The same client-side script runs through ``MlflowClient`` and the fluent API with MLflow's own
stores and with ours, each on a new database of the same kind; every result and every error
(code and message) must be the same. The stores' construction is checked against MLflow's:
same attributes, same rows on a new database, old schemas refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
import sqlalchemy as sa
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as MlflowRegistryStore
from mlflow.store.model_registry.sqlalchemy_workspace_store import (
    WorkspaceAwareSqlAlchemyStore as MlflowWorkspaceRegistryStore,
)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as MlflowTrackingStore
from mlflow.store.tracking.sqlalchemy_workspace_store import (
    WorkspaceAwareSqlAlchemyStore as MlflowWorkspaceTrackingStore,
)
from mlflow.tracking._model_registry.utils import _get_store as registry_store
from mlflow.tracking._tracking_service.utils import _get_store as tracking_store

import mlflow_core
from mlflow_core.adapters.sql.database import mlflow_store_uri
from mlflow_core.entrypoints.client import is_enabled
from mlflow_core.entrypoints.client.routes import TRACKING_ROUTES
from mlflow_core.entrypoints.client.stores import (
    ShimRegistryStore,
    ShimTrackingStore,
    ShimWorkspaceAwareRegistryStore,
    ShimWorkspaceAwareTrackingStore,
)
from tests.support.databases import fresh_database


@pytest.fixture
def shim_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test leaves ``mlflow`` as it found it: MLflow's own stores, no tracking URI."""
    # set_tracking_uri/set_registry_uri also export MLFLOW_*_URI, and set_registry_uri(None)
    # leaves its variable set: later tests in this process (and their subprocesses) would open
    # this test's dropped database. monkeypatch removes whatever the test exported.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    yield
    mlflow_core.disable()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def _uri(uri: str) -> str:
    # The drivers we ship (a bare postgresql:// would ask SQLAlchemy for psycopg2).
    return mlflow_store_uri(uri)


# -- switching -------------------------------------------------------------------------------


def test_enable_and_disable_switch_the_stores_mlflow_builds(tmp_path: Path, shim_off: None) -> None:
    uri = f"sqlite:///{tmp_path / 'switch.db'}"
    assert type(tracking_store(uri)) is MlflowTrackingStore
    assert not is_enabled()

    mlflow_core.enable()
    assert is_enabled()
    assert type(tracking_store(uri)) is ShimTrackingStore
    assert type(registry_store(uri)) is ShimRegistryStore
    mlflow.set_tracking_uri(uri)
    assert type(MlflowClient()._tracking_client.store) is ShimTrackingStore

    mlflow_core.disable()
    assert not is_enabled()
    assert type(tracking_store(uri)) is MlflowTrackingStore
    assert type(registry_store(uri)) is MlflowRegistryStore


_FIRST_STORE_PROGRAM = """
import gc, sys
import mlflow, mlflow_core
mlflow_core.enable()
if sys.argv[2] == "off":
    gc.disable()
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("first")
print(gc.isenabled(), "mlflow_core.entrypoints.client.stores" in sys.modules)
"""


@pytest.mark.parametrize("collector", ["on", "off"])
def test_first_store_leaves_the_garbage_collector_as_the_program_had_it(
    tmp_path: Path, collector: str
) -> None:
    # The first store imports our store module with the collector paused (plugin._stores); a
    # fresh interpreter, so that import really happens inside the call.
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'first.db'}"
    program = [sys.executable, "-c", _FIRST_STORE_PROGRAM, uri, collector]
    out = subprocess.run(program, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == [str(collector == "on"), "True"]


def test_workspaces_get_the_workspace_aware_shim(
    tmp_path: Path, shim_off: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.utils.workspace_context import WorkspaceContext

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    uri = f"sqlite:///{tmp_path / 'ws.db'}"
    mlflow_core.enable()
    with WorkspaceContext("default"):
        _check_workspace_stores(uri)


def _check_workspace_stores(uri: str) -> None:
    tracking = tracking_store(uri)
    registry = registry_store(uri)
    assert type(tracking) is ShimWorkspaceAwareTrackingStore
    assert isinstance(tracking, MlflowWorkspaceTrackingStore)
    assert type(registry) is ShimWorkspaceAwareRegistryStore
    assert isinstance(registry, MlflowWorkspaceRegistryStore)
    # Experiment reads go through our service, scoped to the active (default) workspace.
    assert tracking.get_experiment("0").name == "Default"
    assert tracking.get_experiment("0").workspace == "default"
    # MLflow's workspace-scoped default artifact location stays MLflow's: not routed.
    assert "create_experiment" not in tracking._mlflow_core_routes
    experiment_id = tracking.create_experiment("in-workspace")
    assert tracking.get_experiment_by_name("in-workspace").experiment_id == experiment_id


def test_driver_variants_are_served_by_the_shim(shim_off: None, tmp_path: Path) -> None:
    mlflow_core.enable()
    uri = f"sqlite+pysqlite:///{tmp_path / 'driver.db'}"
    assert type(tracking_store(uri)) is ShimTrackingStore


# -- construction ----------------------------------------------------------------------------


def _stock_tracking(uri: str, root: str) -> Any:
    return MlflowTrackingStore(_uri(uri), root)


def _rows(uri: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but alembic's, times masked, in a stable order."""
    engine = sa.create_engine(_uri(uri))
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as conn:
            for table in sorted(sa.inspect(conn).get_table_names()):
                if table == "alembic_version":
                    continue
                result = conn.execute(sa.text(f"SELECT * FROM {table}"))
                keys = list(result.keys())
                rows = [
                    tuple(
                        "<time>" if key.endswith("_time") else value
                        for key, value in zip(keys, row, strict=True)
                    )
                    for row in result
                ]
                if rows:
                    out[table] = sorted(rows, key=repr)
        return out
    finally:
        engine.dispose()


def test_new_database_matches_mlflows_own_store(db_kind: str, tmp_path: Path) -> None:
    root = str(tmp_path / "artifacts")
    with fresh_database(db_kind, tmp_path) as ours, fresh_database(db_kind, tmp_path) as theirs:
        shim = ShimTrackingStore(_uri(ours), root)
        ShimRegistryStore(_uri(ours))
        stock = _stock_tracking(theirs, root)
        MlflowRegistryStore(_uri(theirs))
        # Same rows (the default workspace, the Default experiment), same attributes.
        assert _rows(ours) == _rows(theirs)
        assert set(vars(stock)) <= set(vars(shim))
        assert shim.engine is MlflowTrackingStore._engine_map[_uri(ours)]
        assert shim._mlflow_core_database.engine is shim.engine  # one pool per database
        shim.engine.dispose()
        stock.engine.dispose()


def test_old_schema_is_refused_as_mlflow_refuses_it(tmp_path: Path) -> None:
    from tests.integration.test_schema import _old_sqlite_database

    uri = _old_sqlite_database(tmp_path / "old.db")
    with pytest.raises(MlflowException, match="mlflow-core db upgrade"):
        ShimTrackingStore(uri, str(tmp_path / "artifacts"))


def test_routed_methods_are_ours_and_the_rest_mlflows() -> None:
    for name in TRACKING_ROUTES:
        assert getattr(ShimTrackingStore, name) is not getattr(MlflowTrackingStore, name)
    assert ShimTrackingStore.create_logged_model is MlflowTrackingStore.create_logged_model


# -- the same script through MLflow's client, with MLflow's stores and with ours --------------

Op = Callable[[MlflowClient], Any]


def _created_apart(client: MlflowClient, name: str, **kwargs: Any) -> str:
    """A new experiment, a few milliseconds after the last: the default search order is by
    creation time (in milliseconds), and ties fall back to the id, so experiments created
    within one millisecond would sort by how fast the store is."""
    time.sleep(0.003)
    return client.create_experiment(name, **kwargs)


SCRIPT: list[tuple[str, Op]] = [
    ("create alpha", lambda c: _created_apart(c, "alpha", tags={"team": "a"})),
    ("create beta", lambda c: _created_apart(c, "beta")),
    ("create gamma", lambda c: _created_apart(c, "gamma", tags={"team": "b", "n": "1"})),
    ("create taken name", lambda c: c.create_experiment("alpha")),
    ("create empty name", lambda c: c.create_experiment("")),
    ("create long name", lambda c: c.create_experiment("x" * 501)),
    ("create bad tag", lambda c: c.create_experiment("x", tags={"../up": "v"})),
    ("create own location", lambda c: _created_apart(c, "own", artifact_location="loc")),
    ("get 1", lambda c: c.get_experiment("1")),
    ("get 0", lambda c: c.get_experiment("0")),
    ("get 999", lambda c: c.get_experiment("999")),
    ("get abc", lambda c: c.get_experiment("abc")),
    ("by name", lambda c: c.get_experiment_by_name("gamma")),
    ("by name missing", lambda c: c.get_experiment_by_name("nope")),
    ("set tag", lambda c: c.set_experiment_tag("1", "team", "z")),
    ("set bad tag", lambda c: c.set_experiment_tag("1", "bad key!", "v")),
    ("set long tag", lambda c: c.set_experiment_tag("1", "k", "v" * 20001)),
    ("set tag missing", lambda c: c.set_experiment_tag("999", "k", "v")),
    ("delete tag", lambda c: c.delete_experiment_tag("1", "team")),
    ("delete tag again", lambda c: c.delete_experiment_tag("1", "team")),
    ("get after tags", lambda c: c.get_experiment("1")),
    ("rename", lambda c: c.rename_experiment("2", "beta-renamed")),
    ("rename to taken", lambda c: c.rename_experiment("2", "alpha")),
    ("rename missing", lambda c: c.rename_experiment("999", "q")),
    ("delete", lambda c: c.delete_experiment("3")),
    ("delete again", lambda c: c.delete_experiment("3")),
    ("tag deleted", lambda c: c.set_experiment_tag("3", "k", "v")),
    ("rename deleted", lambda c: c.rename_experiment("3", "gamma2")),
    ("get deleted", lambda c: c.get_experiment("3")),
    ("restore", lambda c: c.restore_experiment("3")),
    ("restore again", lambda c: c.restore_experiment("3")),
    ("search", lambda c: c.search_experiments()),
    ("search 0", lambda c: c.search_experiments(max_results=0)),
    ("search None", lambda c: c.search_experiments(max_results=None)),
    ("search 50001", lambda c: c.search_experiments(max_results=50001)),
    ("search page", lambda c: c.search_experiments(max_results=2, order_by=["name ASC"])),
    ("search like", lambda c: c.search_experiments(filter_string="name LIKE 'a%'")),
    ("search ilike", lambda c: c.search_experiments(filter_string="name ILIKE 'A%'")),
    ("search tag", lambda c: c.search_experiments(filter_string="tags.team = 'b'")),
    ("search null tag", lambda c: c.search_experiments(filter_string="tags.n IS NULL")),
    ("search ids", lambda c: c.search_experiments(filter_string="experiment_id IN ('1','3')")),
    ("search bad key", lambda c: c.search_experiments(filter_string="foo = 'x'")),
    ("search tag order", lambda c: c.search_experiments(order_by=["tags.team"])),
    ("search bad order", lambda c: c.search_experiments(order_by=["nonsense DESC"])),
    ("search deleted", lambda c: c.search_experiments(view_type=ViewType.DELETED_ONLY)),
    ("search all", lambda c: c.search_experiments(view_type=ViewType.ALL)),
    ("search bad token", lambda c: c.search_experiments(page_token="garbage")),
    (
        "second page",
        lambda c: c.search_experiments(
            max_results=2,
            order_by=["name ASC"],
            page_token=c.search_experiments(max_results=2, order_by=["name ASC"]).token,
        ),
    ),
    # Runs through MlflowClient: good and bad calls (ids differ between the two databases).
    ("run", lambda c: _run_view(c.create_run("1", run_name="r1", tags={"t": "v"}))),
    ("run missing experiment", lambda c: c.create_run("999")),
    ("run deleted experiment", lambda c: _deleted_experiment_run(c)),  # noqa: PLW0108
    ("run name clash", lambda c: c.create_run("1", run_name="a", tags={"mlflow.runName": "b"})),
    ("get missing run", lambda c: c.get_run("0" * 32)),
    ("run writes", lambda c: _run_writes(c)),  # noqa: PLW0108 (defined below)
    # The fluent API on the same store, and methods not ported served by MLflow's code.
    ("fluent set_experiment", lambda c: mlflow.set_experiment("fluent").experiment_id),
    ("fluent set_experiment again", lambda c: mlflow.set_experiment("fluent").name),
    ("fluent run", lambda c: _fluent_run()),
    ("search runs", lambda c: _run_rows(mlflow.search_runs(experiment_names=["fluent"]))),
    ("client search runs", lambda c: _run_searches(c)),  # noqa: PLW0108 (defined below)
    ("metric history pages", lambda c: _history_pages(c)),  # noqa: PLW0108
    ("inputs and outputs", lambda c: _inputs_and_outputs(c)),  # noqa: PLW0108
]


def _run_view(run: Any) -> dict[str, Any]:
    """A run as a user reads it, minus what differs between databases (ids, times)."""
    info = run.info
    return {
        "name": info.run_name,
        "experiment": info.experiment_id,
        "status": info.status,
        "stage": info.lifecycle_stage,
        "user": info.user_id,
        "ended": info.end_time is not None,
        "artifact_uri": (info.artifact_uri or "").replace(info.run_id, "<id>"),
        "metrics": {key: repr(value) for key, value in run.data.metrics.items()},  # NaN != NaN
        "params": run.data.params,
        "tags": run.data.tags,
        "inputs": None if run.inputs is None else len(run.inputs.dataset_inputs),
    }


def _deleted_experiment_run(client: MlflowClient) -> Any:
    experiment_id = client.create_experiment("doomed")
    client.delete_experiment(experiment_id)
    return client.create_run(experiment_id)


def _run_writes(client: MlflowClient) -> list[Any]:
    from mlflow.entities import Metric, Param, RunTag

    run_id = client.create_run("1", run_name="w").info.run_id
    outcomes: list[Any] = []
    calls: list[Callable[[], Any]] = [
        lambda: client.log_metric(run_id, "m", 1.5, timestamp=10, step=2),
        lambda: client.log_metric(run_id, "m", float("nan"), timestamp=11, step=3),
        lambda: client.log_metric(run_id, "inf", float("inf"), timestamp=11),
        lambda: client.log_metric(run_id, "bad key!", 1.0),
        lambda: client.log_param(run_id, "p", "1"),
        lambda: client.log_param(run_id, "p", "1"),
        lambda: client.log_param(run_id, "p", "2"),
        lambda: client.log_param(run_id, "long", "x" * 6001),  # truncated by the client
        lambda: client.set_tag(run_id, "t", "v"),
        lambda: client.set_tag(run_id, "mlflow.runName", "renamed"),
        lambda: client.delete_tag(run_id, "t"),
        lambda: client.delete_tag(run_id, "t"),
        lambda: client.log_batch(
            run_id,
            metrics=[Metric("b", 1.0, 5, 0), Metric("b", 2.0, 6, 1)],
            params=[Param("q", "1")],
            tags=[RunTag("u", "1")],
        ),
        lambda: client.log_batch(run_id, params=[Param(f"k{i}", "v") for i in range(101)]),
        lambda: client.log_batch(run_id, params=[Param("q", "other")]),
        lambda: client.update_run(run_id, status="FINISHED", name="done"),
        lambda: client.set_terminated(run_id, "KILLED"),
        lambda: client.log_metric("0" * 32, "m", 1.0),
        lambda: client.delete_run(run_id),
        lambda: client.log_metric(run_id, "after-delete", 1.0),
        lambda: client.delete_run(run_id),
        lambda: _run_view(client.get_run(run_id)),
        lambda: client.restore_run(run_id),
        lambda: _run_view(client.get_run(run_id)),
        lambda: [
            (repr(m.value), m.step, m.timestamp) for m in client.get_metric_history(run_id, "m")
        ],
    ]
    for call in calls:
        try:
            outcomes.append(call())
        except MlflowException as error:
            outcomes.append(_comparable(error))
    return [_masked_run_id(outcome, run_id) for outcome in outcomes]


def _searched(found: Any) -> list[Any]:
    """A page of runs by name, with what a search returns besides, and the page's token."""
    return [
        (
            r.info.run_name,
            r.info.status,
            sorted(r.data.params.items()),
            sorted((k, repr(v)) for k, v in r.data.metrics.items()),
            sorted((k, v) for k, v in r.data.tags.items() if not k.startswith("mlflow.")),
            len(r.inputs.dataset_inputs),
            len(r.inputs.model_inputs),
            len(r.outputs.model_outputs) if r.outputs else None,
        )
        for r in found
    ] + [("token", found.token)]


def _run_searches(client: MlflowClient) -> list[Any]:
    """Searches through our ``_search_runs`` route (MlflowClient and its ``search_runs``)."""
    nothing: Any = None  # not a view type: MLflow's store matches no stage
    experiment_id = client.create_experiment("searched")
    for i in range(5):
        run_id = client.create_run(experiment_id, run_name=f"s{i}", tags={"t": str(i % 2)}).info
        client.log_param(run_id.run_id, "p", str(i))
        client.log_metric(run_id.run_id, "m", float(i) if i != 3 else float("nan"), step=i)
        if i == 4:
            client.set_terminated(run_id.run_id)
            client.delete_run(run_id.run_id)
    ids = [experiment_id]
    outcomes: list[Any] = []
    calls: list[Callable[[], Any]] = [
        lambda: client.search_runs(ids),
        lambda: client.search_runs(ids, order_by=["metrics.m DESC"]),
        lambda: client.search_runs(ids, "params.p >= '2'", order_by=["params.p"]),
        lambda: client.search_runs(ids, "tags.t = '1' AND metrics.m > 0"),
        lambda: client.search_runs(ids, "attributes.run_name LIKE 's%'", max_results=2),
        lambda: client.search_runs(
            ids,
            max_results=2,
            order_by=["attributes.run_name"],
            page_token=client.search_runs(ids, max_results=2, order_by=["run_name"]).token,
        ),
        lambda: client.search_runs(ids, run_view_type=ViewType.DELETED_ONLY),
        lambda: client.search_runs(ids, run_view_type=ViewType.ALL, order_by=["start_time"]),
        lambda: client.search_runs(ids, run_view_type=nothing),
        lambda: client.search_runs([experiment_id, "999"]),
        lambda: client.search_runs(ids, "metrics.m = 'x'"),
        lambda: client.search_runs(ids, "nonsense.k = 1"),
        lambda: client.search_runs(ids, order_by=["metrics.m SIDEWAYS"]),
        lambda: client.search_runs(ids, max_results=50001),
        lambda: client.search_runs(ids, max_results=0),
        lambda: client.search_runs(ids, page_token="garbage"),
        lambda: client.search_runs(["abc"]),
    ]
    for call in calls:
        try:
            outcomes.append(_searched(call()))
        except MlflowException as error:
            outcomes.append(_comparable(error))
    return outcomes


def _history_pages(client: MlflowClient) -> list[Any]:
    """``get_metric_history`` through our route: whole, paged, and the calls MLflow keeps."""
    from mlflow.entities import Metric

    run_id = client.create_run("1", run_name="history").info.run_id
    points = [Metric("h", float(i % 3), 100 + i // 2, i % 4) for i in range(7)]
    client.log_batch(run_id, metrics=[*points, Metric("h", float("nan"), 99, 0)])
    store = client._tracking_client.store
    outcomes: list[Any] = []
    calls: list[Callable[[], Any]] = [
        lambda: store.get_metric_history(run_id, "h"),
        lambda: store.get_metric_history(run_id, "h", max_results=3),
        lambda: store.get_metric_history(
            run_id, "h", max_results=3, page_token=store.get_metric_history(run_id, "h", 3).token
        ),
        lambda: store.get_metric_history(run_id, "h", max_results=100),
        lambda: store.get_metric_history(run_id, "h", max_results=0),
        lambda: store.get_metric_history(run_id, "missing"),
        lambda: store.get_metric_history("0" * 32, "h"),
        lambda: store.get_metric_history(run_id, "h", page_token="garbage"),
    ]
    for call in calls:
        try:
            page = call()
            outcomes.append(
                [(m.key, repr(m.value), m.timestamp, m.step) for m in page] + [page.token]
            )
        except MlflowException as error:
            outcomes.append(_comparable(error))
    return [_masked_run_id(outcome, run_id) for outcome in outcomes]


def _inputs_and_outputs(client: MlflowClient) -> list[Any]:
    """``log_inputs`` / ``log_outputs`` through our routes, read back by get and search."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, LoggedModelInput
    from mlflow.entities import LoggedModelOutput as Output

    def dataset(name: str, digest: str, **extra: Any) -> Any:
        return Dataset(name, digest, "local", f"/data/{name}", **extra)

    nothing: Any = None

    def tagged(digest: str, key: Any, value: Any) -> Any:
        return DatasetInput(dataset("t", digest), [InputTag(key, value)])

    train = DatasetInput(
        dataset("train", "d1", schema='{"a": 1}', profile='{"rows": 3}'),
        [InputTag("mlflow.data.context", "training"), InputTag("k", "v")],
    )
    plain = DatasetInput(dataset("plain", "d2"))
    run_id = client.create_run("1", run_name="io").info.run_id
    done = client.create_run("1", run_name="done").info.run_id
    client.set_terminated(done)
    client.delete_run(done)
    outcomes: list[Any] = []
    calls: list[Callable[[], Any]] = [
        lambda: client.log_inputs(run_id, [train, plain], [LoggedModelInput("m-1")]),
        lambda: client.log_inputs(run_id, [train]),  # the same dataset again
        lambda: client.log_inputs(run_id, []),
        lambda: client.log_inputs(run_id, [DatasetInput(dataset("x" * 600, "d3"))]),
        lambda: client.log_inputs(run_id, [DatasetInput(dataset("t", "d4"), [InputTag("k", "")])]),
        lambda: client.log_inputs(run_id, [tagged("d5", None, "")]),
        lambda: client.log_inputs(run_id, [tagged("d6", "k", None)]),
        # Nones where MLflow's entities declare str (a plain Python caller can pass them).
        lambda: client.log_inputs(run_id, [DatasetInput(Dataset(nothing, "d7", "local", "s"))]),
        lambda: client.log_inputs(run_id, [DatasetInput(Dataset("n", "d8", nothing, "s"))]),
        lambda: client.log_inputs(run_id, [DatasetInput(nothing)]),
        lambda: client.log_inputs(done, [plain]),
        lambda: client.log_inputs("0" * 32, [plain]),
        lambda: client.log_outputs(run_id, [Output("m-2", 3), Output("m-3", 0)]),
        lambda: client.log_outputs(done, [Output("m-4", 1)]),
        lambda: client.log_outputs("0" * 32, [Output("m-5", 1)]),
        lambda: _io_view(client.get_run(run_id)),
        lambda: [_io_view(r) for r in client.search_runs(["1"], "run_name = 'io'")],
    ]
    for call in calls:
        try:
            outcomes.append(call())
        except MlflowException as error:
            outcomes.append(_comparable(error))
    return [_masked_run_id(_masked_run_id(o, run_id), done) for o in outcomes]


def _io_view(run: Any) -> dict[str, Any]:
    datasets = [
        (
            d.dataset.name,
            d.dataset.digest,
            d.dataset.source_type,
            d.dataset.source,
            d.dataset.schema,
            d.dataset.profile,
            sorted((t.key, t.value) for t in d.tags),
        )
        for d in run.inputs.dataset_inputs
    ]
    return {
        "datasets": sorted(datasets),
        "models in": sorted(m.model_id for m in run.inputs.model_inputs),
        "models out": sorted((m.model_id, m.step) for m in run.outputs.model_outputs),
    }


def _masked_run_id(value: Any, run_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(run_id, "<id>")
    if isinstance(value, tuple):
        return tuple(_masked_run_id(v, run_id) for v in value)
    return value


def _fluent_run() -> dict[str, Any]:
    with mlflow.start_run(run_name="r") as run:
        mlflow.log_params({"p": "1"})
        mlflow.log_metric("m", 0.5, step=3)
        mlflow.log_metrics({"a": 1.0, "b": 2.0})
        mlflow.set_tag("t", "v")
    got = mlflow.get_run(run.info.run_id)
    history = MlflowClient().get_metric_history(run.info.run_id, "m")
    return {
        "params": got.data.params,
        "metrics": got.data.metrics,
        "tags": {k: v for k, v in got.data.tags.items() if not k.startswith("mlflow.")},
        "history": [(m.key, m.value, m.step) for m in history],
        "status": got.info.status,
    }


def _run_rows(frame: Any) -> list[dict[str, Any]]:
    keep = [c for c in frame.columns if c.startswith(("params.", "metrics.", "tags.t"))]
    return frame[keep].to_dict("records")  # type: ignore[no-any-return]


_PY_SET = re.compile(r"\{('[^']*'(?:, '[^']*')*)\}")


def _comparable(value: Any) -> Any:
    if isinstance(value, MlflowException):
        message = _PY_SET.sub(
            lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", value.message
        )
        # Messages that embed the driver's text differ per database and process.
        message = re.sub(
            r"\((sqlite3|psycopg|pymysql)[\w.]*\).*", "<driver error>", message, flags=re.S
        )
        return ("error", value.error_code, message)
    if hasattr(value, "token") and isinstance(value, list):
        token = getattr(value, "token")  # noqa: B009 (a PagedList, typed as a plain list)
        return [_comparable(item) for item in value] + [("token", token)]
    if hasattr(value, "experiment_id") and hasattr(value, "lifecycle_stage"):
        fields = dict(value)
        for key in ("creation_time", "last_update_time"):
            fields[key] = "<time>" if fields[key] else fields[key]
        return fields
    return value


def _difference(name: str, expected: Any, actual: Any) -> str:
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            if e != a:
                return f"{name} [{index}]\n  mlflow: {str(e)[:800]}\n  ours:   {str(a)[:800]}"
    return f"{name}\n  mlflow: {str(expected)[:800]}\n  ours:   {str(actual)[:800]}"


def _play(uri: str) -> list[tuple[str, Any]]:
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    results = []
    for name, op in SCRIPT:
        try:
            results.append((name, _comparable(op(client))))
        except MlflowException as error:
            results.append((name, _comparable(error)))
    return results


def test_client_script_matches_mlflows_own_stores(
    db_kind: str, tmp_path: Path, shim_off: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One working directory: both runs resolve the default artifact root to the same path.
    monkeypatch.chdir(tmp_path)
    with fresh_database(db_kind, tmp_path) as theirs, fresh_database(db_kind, tmp_path) as ours:
        mlflow_core.disable()
        expected = _play(_uri(theirs))
        mlflow_core.enable()
        actual = _play(_uri(ours))
        assert type(MlflowClient()._tracking_client.store) is ShimTrackingStore
        mismatches = [
            _difference(name, e, a)
            for (name, e), (_, a) in zip(expected, actual, strict=True)
            if e != a
        ]
        assert not mismatches, "\n".join(mismatches)
        for uri in (theirs, ours):
            MlflowTrackingStore._engine_map.pop(_uri(uri)).dispose()
            MlflowRegistryStore._engine_map.pop(_uri(uri), sa.create_engine("sqlite://")).dispose()
