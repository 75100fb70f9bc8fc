"""Which methods of MLflow's stores the shim serves with our services: one entry per method.

Each entry maps the name of a method of MLflow's ``SqlAlchemyStore`` to a function with that
method's signature, whose first argument is the shim store (``store.tracking`` is our
``TrackingService``, ``store.registry`` our ``RegistryService``, ``store.workspace()`` the active
workspace). A method listed here is served
by our service; every other method is MLflow's own, on the same engine. A route raises ``Defer``
for a call it leaves to MLflow (as an HTTP handler returns ``DEFER``).

Porting an RPC adds one entry here (and the service method it calls).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlflow.entities import ViewType as MlflowViewType
from mlflow.exceptions import MlflowException

from mlflow_core.domain.experiments import ViewType
from mlflow_core.domain.paging import Page
from mlflow_core.domain.runs import LoggedModelOutput
from mlflow_core.entrypoints.client import entities
from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.validation import limits

if TYPE_CHECKING:
    from mlflow_core.entrypoints.client.stores import ShimRegistryStore, ShimTrackingStore

Route = Callable[..., Any]


class Defer(Exception):
    """Raised by a route for a call whose semantics live in MLflow's store: MLflow serves it."""


def _create_experiment(
    store: ShimTrackingStore,
    name: str,
    artifact_location: str | None = None,
    tags: Any = None,
) -> str:
    return store.tracking.create_experiment(
        name, artifact_location, entities.experiment_tags(tags), workspace=store.workspace()
    )


def _get_experiment(store: ShimTrackingStore, experiment_id: str) -> Any:
    return entities.experiment(
        store.tracking.get_experiment(str(experiment_id), workspace=store.workspace())
    )


def _get_experiment_by_name(store: ShimTrackingStore, experiment_name: str) -> Any:
    found = store.tracking.get_experiment_by_name(experiment_name, workspace=store.workspace())
    return None if found is None else entities.experiment(found)


def _search_experiments(
    store: ShimTrackingStore,
    view_type: int = MlflowViewType.ACTIVE_ONLY,
    max_results: int = limits.SEARCH_MAX_RESULTS_DEFAULT,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    page_token: str | None = None,
) -> Any:  # PagedList
    page = store.tracking.search_experiments(
        ViewType(view_type),
        max_results,
        filter_string,
        order_by,
        page_token,
        workspace=store.workspace(),
    )
    return entities.paged(page, entities.experiment)


def _delete_experiment(store: ShimTrackingStore, experiment_id: str) -> None:
    store.tracking.delete_experiment(str(experiment_id), workspace=store.workspace())


def _restore_experiment(store: ShimTrackingStore, experiment_id: str) -> None:
    store.tracking.restore_experiment(str(experiment_id), workspace=store.workspace())


def _rename_experiment(store: ShimTrackingStore, experiment_id: str, new_name: str) -> None:
    store.tracking.rename_experiment(str(experiment_id), new_name, workspace=store.workspace())


def _set_experiment_tag(store: ShimTrackingStore, experiment_id: str, tag: Any) -> None:
    (domain_tag,) = entities.experiment_tags([tag])
    store.tracking.set_experiment_tag(str(experiment_id), domain_tag, workspace=store.workspace())


def _delete_experiment_tag(store: ShimTrackingStore, experiment_id: str, key: str) -> None:
    store.tracking.delete_experiment_tag(str(experiment_id), key, workspace=store.workspace())


def _create_run(
    store: ShimTrackingStore,
    experiment_id: str,
    user_id: str | None,
    start_time: int | None,
    tags: Any,
    run_name: str | None,
) -> Any:
    created = store.tracking.create_run(
        "" if experiment_id is None else str(experiment_id),
        user_id,
        start_time,
        entities.run_tags(tags),
        run_name,
        workspace=store.workspace(),
    )
    return entities.run(created, outputs=False)


def _get_run(store: ShimTrackingStore, run_id: str) -> Any:
    return entities.run(store.tracking.get_run(run_id))


def _update_run_info(
    store: ShimTrackingStore,
    run_id: str,
    run_status: Any,
    end_time: int | None,
    run_name: str | None,
) -> Any:
    info = store.tracking.update_run(run_id, entities.run_status(run_status), end_time, run_name)
    return entities.run_info(info)


def _delete_run(store: ShimTrackingStore, run_id: str) -> None:
    store.tracking.delete_run(run_id)


def _restore_run(store: ShimTrackingStore, run_id: str) -> None:
    store.tracking.restore_run(run_id)


def _log_metric(store: ShimTrackingStore, run_id: str, metric: Any) -> None:
    (domain_metric,) = entities.metrics([metric])
    store.tracking.log_metric(run_id, domain_metric)


def _log_param(store: ShimTrackingStore, run_id: str, param: Any) -> None:
    (domain_param,) = entities.params([param])
    store.tracking.log_param(run_id, domain_param)


def _set_tag(store: ShimTrackingStore, run_id: str, tag: Any) -> None:
    (domain_tag,) = entities.run_tags([tag])
    store.tracking.set_tag(run_id, domain_tag)


def _delete_tag(store: ShimTrackingStore, run_id: str, key: str) -> None:
    store.tracking.delete_tag(run_id, key)


def _log_batch(store: ShimTrackingStore, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
    store.tracking.log_batch(
        run_id, entities.metrics(metrics), entities.params(params), entities.run_tags(tags)
    )


def _log_inputs(
    store: ShimTrackingStore, run_id: str, datasets: Any = None, models: Any = None
) -> None:
    if datasets is not None and not isinstance(datasets, list):
        raise Defer  # MLflow's TypeError
    if any(d is None or d.dataset is None or None in (d.tags or ()) for d in datasets or ()):
        raise Defer  # a None where an entity belongs: MLflow's checks word it
    # Nothing is written when ours refuses (one transaction): MLflow's attempt then answers.
    with _mlflow_judges_errors():
        store.tracking.log_inputs(
            run_id, entities.dataset_inputs(datasets), [m.model_id for m in models or ()]
        )


def _log_outputs(store: ShimTrackingStore, run_id: str, models: Any) -> None:
    outputs = [LoggedModelOutput(m.model_id, m.step) for m in models]
    with _mlflow_judges_errors():
        store.tracking.log_outputs(run_id, outputs)


_VIEW_TYPES = frozenset(int(view_type) for view_type in ViewType)


def _search_runs(
    store: ShimTrackingStore,
    experiment_ids: Any,
    filter_string: str | None,
    run_view_type: int,
    max_results: int | None,
    order_by: list[str] | None,
    page_token: Any,
) -> tuple[list[Any], Any]:
    """MLflow's ``_search_runs`` hook (its ``search_runs`` wraps the pair in a PagedList)."""
    if (
        isinstance(experiment_ids, (str, int))
        or not isinstance(max_results, (int, type(None)))
        or run_view_type not in _VIEW_TYPES
    ):
        raise Defer  # MLflow's own parsing decides what such arguments mean
    with _mlflow_judges_errors():
        page = store.tracking.search_runs(
            list(experiment_ids),
            filter_string,
            ViewType(run_view_type),
            max_results,
            order_by,
            _token_text(page_token),
            workspace=store.workspace(),
        )
    # A search's runs carry dataset inputs and model outputs, no model inputs, as MLflow's.
    runs = entities.paged(page, entities.run)
    return list(runs), runs.token


def _get_metric_history(
    store: ShimTrackingStore,
    run_id: str,
    metric_key: str,
    max_results: int | None = None,
    page_token: Any = None,
) -> Any:  # PagedList
    if max_results is not None and (not isinstance(max_results, int) or max_results <= 0):
        # MLflow's store takes these (its REST handler refuses them; our service does too).
        raise Defer
    with _mlflow_judges_errors():
        page = store.tracking.get_metric_history(
            run_id, metric_key, max_results=max_results, page_token=_token_text(page_token)
        )
        points = [point for chunk in page for point in chunk]
    return entities.paged(Page(points, page.next_page_token), entities.metric)


# MLflow tracking store method -> our service call.
TRACKING_ROUTES: dict[str, Route] = {
    "create_run": _create_run,
    "get_run": _get_run,
    "update_run_info": _update_run_info,
    "delete_run": _delete_run,
    "restore_run": _restore_run,
    "log_metric": _log_metric,
    "log_param": _log_param,
    "set_tag": _set_tag,
    "delete_tag": _delete_tag,
    "log_batch": _log_batch,
    "log_inputs": _log_inputs,
    "log_outputs": _log_outputs,
    "_search_runs": _search_runs,
    "get_metric_history": _get_metric_history,
    "create_experiment": _create_experiment,
    "get_experiment": _get_experiment,
    "get_experiment_by_name": _get_experiment_by_name,
    "search_experiments": _search_experiments,
    "delete_experiment": _delete_experiment,
    "restore_experiment": _restore_experiment,
    "rename_experiment": _rename_experiment,
    "set_experiment_tag": _set_experiment_tag,
    "delete_experiment_tag": _delete_experiment_tag,
}

# Methods whose MLflow semantics under MLFLOW_ENABLE_WORKSPACES our services do not reproduce
# yet: a new experiment's default artifact location is scoped by workspace there, and so are runs.
NOT_WORKSPACE_AWARE: frozenset[str] = frozenset(
    {
        "create_experiment",
        # MLflow's workspace-aware store checks that a run's experiment is in the active
        # workspace; our run methods address runs by id alone.
        "create_run",
        "get_run",
        "update_run_info",
        "delete_run",
        "restore_run",
        "log_metric",
        "log_param",
        "set_tag",
        "delete_tag",
        "log_batch",
        "log_inputs",
        "log_outputs",
        # MLflow's workspace-aware store refuses a run of another workspace here; ours reads by
        # run id alone.
        "get_metric_history",
    }
)

# -- model registry ----------------------------------------------------------------------------


def _workspace(store: ShimRegistryStore) -> str:
    """The active workspace, or Defer: without one MLflow's workspace-aware store raises only
    when it first queries, after its argument checks, so it reports bad arguments first."""
    try:
        return store.workspace()
    except MlflowException:
        raise Defer from None


@contextmanager
def _mlflow_judges_errors() -> Iterator[None]:
    """A search we refuse is re-run by MLflow's store, whose error is then the answer: for some
    bad input (``IS NULL`` filters, a token that is not a JSON object, ...) its parser raises a
    plain Python error where ours reports INVALID_PARAMETER_VALUE. Only failures pay for it."""
    try:
        yield
    except MlflowCoreError:
        raise Defer from None


def _create_registered_model(
    store: ShimRegistryStore,
    name: str,
    tags: Any = None,
    description: str | None = None,
    deployment_job_id: str | None = None,  # unused by MLflow's SQL store too
) -> Any:
    workspace = _workspace(store)
    model = store.registry.create_registered_model(
        name, entities.registry_tags(tags), description, workspace=workspace
    )
    return entities.registered_model(model, workspace)


def _update_registered_model(
    store: ShimRegistryStore,
    name: str,
    description: str | None,
    deployment_job_id: str | None = None,
) -> Any:
    workspace = _workspace(store)
    model = store.registry.update_registered_model(name, description, workspace=workspace)
    return entities.registered_model(model, workspace)


def _rename_registered_model(store: ShimRegistryStore, name: str, new_name: str) -> Any:
    workspace = _workspace(store)
    try:
        model = store.registry.rename_registered_model(name, new_name, workspace=workspace)
    except MlflowCoreError as error:
        if store.db_type == "mysql" and error.error_code is ErrorCode.RESOURCE_ALREADY_EXISTS:
            # MLflow's store fails there on MySQL's foreign-key cascade instead (its
            # TEMPORARILY_UNAVAILABLE); nothing was written, so its own attempt answers.
            raise Defer from None
        raise
    return entities.registered_model(model, workspace)


def _delete_registered_model(store: ShimRegistryStore, name: str) -> None:
    store.registry.delete_registered_model(name, workspace=_workspace(store))


def _search_registered_models(
    store: ShimRegistryStore,
    filter_string: str | None = None,
    max_results: int = limits.SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    order_by: list[str] | None = None,
    page_token: str | None = None,
) -> Any:  # PagedList
    if not isinstance(max_results, int) or max_results < 0:
        # MLflow fails on the comparison (a TypeError), or slices its rows with a negative
        # bound after a LIMIT each database reads its own way.
        raise Defer
    workspace = _workspace(store)
    with _mlflow_judges_errors():
        page = store.registry.search_registered_models(
            filter_string, max_results, order_by, _token_text(page_token), workspace=workspace
        )
    return entities.paged(page, lambda model: entities.registered_model(model, workspace, True))


def _token_text(page_token: Any) -> str | None:
    # MLflow's pages carry their token as bytes, and clients hand it back as they got it.
    if not isinstance(page_token, bytes):
        return page_token  # type: ignore[no-any-return]
    try:
        return page_token.decode("ascii")
    except UnicodeDecodeError:
        raise Defer from None  # not base64 at all: MLflow's parser words the error


def _get_registered_model(store: ShimRegistryStore, name: str) -> Any:
    workspace = _workspace(store)
    model = store.registry.get_registered_model(name, workspace=workspace)
    return entities.registered_model(model, workspace)


def _get_latest_versions(
    store: ShimRegistryStore, name: str, stages: list[str] | None = None
) -> list[Any]:
    workspace = _workspace(store)
    versions = store.registry.get_latest_versions(name, stages, workspace=workspace)
    return [entities.model_version(version, workspace) for version in versions]


def _set_registered_model_tag(store: ShimRegistryStore, name: str, tag: Any) -> None:
    store.registry.set_registered_model_tag(
        name, entities.registry_tag(tag), workspace=_workspace(store)
    )


def _delete_registered_model_tag(store: ShimRegistryStore, name: str, key: str) -> None:
    store.registry.delete_registered_model_tag(name, key, workspace=_workspace(store))


def _create_model_version(
    store: ShimRegistryStore,
    name: str,
    source: str,
    run_id: str | None = None,
    tags: Any = None,
    run_link: str | None = None,
    description: str | None = None,
    local_model_path: str | None = None,  # unused by MLflow's SQL store too
    model_id: str | None = None,
) -> Any:
    if model_id or not isinstance(source, str) or urllib.parse.urlparse(source).scheme == "models":
        # A logged model's or a registered version's location is resolved by MLflow's store
        # through MlflowClient (the tracking store, logged models, stage and alias URIs).
        raise Defer
    workspace = _workspace(store)
    version = store.registry.create_model_version(
        name,
        source,
        run_id=run_id,
        tags=entities.registry_tags(tags),
        run_link=run_link,
        description=description,
        workspace=workspace,
    )
    return entities.model_version(version, workspace)


def _get_model_version(store: ShimRegistryStore, name: str, version: Any) -> Any:
    workspace = _workspace(store)
    found = store.registry.get_model_version(name, version, workspace=workspace)
    return entities.model_version(found, workspace)


def _get_model_version_download_uri(store: ShimRegistryStore, name: str, version: Any) -> Any:
    # MLflow's store answers None when a version has neither (the service, for HTTP, "").
    found = store.registry.get_model_version(name, version, workspace=_workspace(store))
    return found.storage_location or found.source


def _update_model_version(
    store: ShimRegistryStore, name: str, version: Any, description: str | None = None
) -> Any:
    workspace = _workspace(store)
    updated = store.registry.update_model_version(name, version, description, workspace=workspace)
    return entities.model_version(updated, workspace)


def _transition_model_version_stage(
    store: ShimRegistryStore, name: str, version: Any, stage: str, archive_existing_versions: bool
) -> Any:
    if not isinstance(stage, str):
        raise Defer  # MLflow fails on it with a Python error
    if archive_existing_versions and (
        not _is_int(version) or (store.db_type == "postgresql" and not isinstance(version, int))
    ):
        # MLflow compares the raw version with the integer column before it validates it:
        # PostgreSQL refuses a string there (BAD_REQUEST, which the HTTP server deliberately
        # does not reproduce, docs/compatibility.md); in-process MLflow's own code decides.
        raise Defer
    workspace = _workspace(store)
    moved = store.registry.transition_model_version_stage(
        name, version, stage, bool(archive_existing_versions), workspace=workspace
    )
    return entities.model_version(moved, workspace)


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def _delete_model_version(store: ShimRegistryStore, name: str, version: Any) -> None:
    store.registry.delete_model_version(name, version, workspace=_workspace(store))


def _search_model_versions(
    store: ShimRegistryStore,
    filter_string: str | None = None,
    max_results: int = limits.SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    order_by: list[str] | None = None,
    page_token: str | None = None,
) -> Any:  # PagedList
    if not isinstance(max_results, int):
        raise Defer  # MLflow's own INVALID_PARAMETER_VALUE for it
    workspace = _workspace(store)
    with _mlflow_judges_errors():
        page = store.registry.search_model_versions(
            filter_string, max_results, order_by, _token_text(page_token), workspace=workspace
        )
    return entities.paged(page, lambda version: entities.model_version(version, workspace))


def _set_model_version_tag(store: ShimRegistryStore, name: str, version: Any, tag: Any) -> None:
    store.registry.set_model_version_tag(
        name, version, entities.registry_tag(tag), workspace=_workspace(store)
    )


def _delete_model_version_tag(store: ShimRegistryStore, name: str, version: Any, key: str) -> None:
    store.registry.delete_model_version_tag(name, version, key, workspace=_workspace(store))


def _set_registered_model_alias(
    store: ShimRegistryStore, name: str, alias: str, version: Any
) -> None:
    store.registry.set_registered_model_alias(name, alias, version, workspace=_workspace(store))


def _delete_registered_model_alias(store: ShimRegistryStore, name: str, alias: str) -> None:
    store.registry.delete_registered_model_alias(name, alias, workspace=_workspace(store))


def _get_model_version_by_alias(store: ShimRegistryStore, name: str, alias: str) -> Any:
    workspace = _workspace(store)
    found = store.registry.get_model_version_by_alias(name, alias, workspace=workspace)
    return entities.model_version(found, workspace)


# MLflow model registry store method -> our service call. Every RPC of ModelRegistryService
# that our HTTP server serves natively; the rest (prompts' own methods, webhooks, copies,
# MLflow's private helpers) stays MLflow's. MLflow's registry store scopes every query to the
# active workspace, as our service does, so the workspace-aware store routes them all too.
REGISTRY_ROUTES: dict[str, Route] = {
    "create_registered_model": _create_registered_model,
    "update_registered_model": _update_registered_model,
    "rename_registered_model": _rename_registered_model,
    "delete_registered_model": _delete_registered_model,
    "search_registered_models": _search_registered_models,
    "get_registered_model": _get_registered_model,
    "get_latest_versions": _get_latest_versions,
    "set_registered_model_tag": _set_registered_model_tag,
    "delete_registered_model_tag": _delete_registered_model_tag,
    "create_model_version": _create_model_version,
    "update_model_version": _update_model_version,
    "transition_model_version_stage": _transition_model_version_stage,
    "delete_model_version": _delete_model_version,
    "get_model_version": _get_model_version,
    "get_model_version_download_uri": _get_model_version_download_uri,
    "search_model_versions": _search_model_versions,
    "set_model_version_tag": _set_model_version_tag,
    "delete_model_version_tag": _delete_model_version_tag,
    "set_registered_model_alias": _set_registered_model_alias,
    "delete_registered_model_alias": _delete_registered_model_alias,
    "get_model_version_by_alias": _get_model_version_by_alias,
}
