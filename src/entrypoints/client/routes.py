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


# MLflow tracking store method -> our service call.
TRACKING_ROUTES: dict[str, Route] = {
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

# Methods whose MLflow semantics under MLFLOW_ENABLE_WORKSPACES our service does not reproduce
# yet: a new experiment's default artifact location is scoped by workspace there.
NOT_WORKSPACE_AWARE: frozenset[str] = frozenset({"create_experiment"})

# MLflow model registry store method -> our service call. The registry is not ported on this
# branch; its entries arrive with ModelRegistryService (issue 5).
REGISTRY_ROUTES: dict[str, Route] = {}
