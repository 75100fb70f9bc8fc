"""Which methods of MLflow's stores the shim serves with our services: one entry per method.

Each entry maps the name of a method of MLflow's ``SqlAlchemyStore`` to a function with that
method's signature, whose first argument is the shim store (``store.tracking`` is our
``TrackingService``, ``store.workspace()`` the active workspace). A method listed here is served
by our service; every other method is MLflow's own, on the same engine. A route raises ``Defer``
for a call it leaves to MLflow (as an HTTP handler returns ``DEFER``).

Porting an RPC adds one entry here (and the service method it calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlflow.entities import ViewType as MlflowViewType

from mlflow_core.domain.experiments import ViewType
from mlflow_core.entrypoints.client import entities
from mlflow_core.validation import limits

if TYPE_CHECKING:
    from mlflow_core.entrypoints.client.stores import ShimTrackingStore

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
    }
)

# MLflow model registry store method -> our service call. The registry is not ported on this
# branch; its entries arrive with ModelRegistryService (issue 5).
REGISTRY_ROUTES: dict[str, Route] = {}
