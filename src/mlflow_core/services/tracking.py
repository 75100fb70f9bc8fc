"""TrackingService: MLflowService's RPCs as plain method calls.

Each method checks its input with MLflow's rules, calls the store port once, and returns domain
values. The HTTP server, the in-process shim and library users all call these methods.

``server_rules`` adds the checks MLflow's REST handlers make on top of its store (a cap on
custom-view tags, say); the in-process shim leaves them off, as MLflow's store does.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlflow_core.artifact_uris import append_to_uri_path, resolve_uri_if_local
from mlflow_core.domain.experiments import (
    DEFAULT_EXPERIMENT_ID,
    Experiment,
    ExperimentTag,
    ViewType,
)
from mlflow_core.domain.paging import Page
from mlflow_core.domain.workspaces import DEFAULT_WORKSPACE
from mlflow_core.errors import MlflowCoreError
from mlflow_core.ports.clock import Clock, SystemClock
from mlflow_core.ports.tracking import ExperimentSearch, TrackingStore
from mlflow_core.search.experiments import parse_experiment_filter, parse_experiment_order_by
from mlflow_core.search.page_tokens import decode_offset_token, encode_offset_token
from mlflow_core.services.runs import RunNameGenerator, RunOperations
from mlflow_core.validation import limits
from mlflow_core.validation.experiments import (
    custom_view_limit_error,
    is_custom_view_tag,
    parse_experiment_id,
    validate_artifact_location_length,
    validate_experiment_name,
    validate_experiment_tag,
)


def _not_found(experiment_id: int) -> MlflowCoreError:
    return MlflowCoreError.does_not_exist(f"No Experiment with id={experiment_id} exists")


def _validate_max_results(max_results: int) -> None:
    if max_results < 1:
        raise MlflowCoreError.invalid_parameter_value(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            "a positive integer"
        )
    if max_results > limits.SEARCH_MAX_RESULTS_THRESHOLD:
        raise MlflowCoreError.invalid_parameter_value(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {limits.SEARCH_MAX_RESULTS_THRESHOLD}"
        )


def _no_run_names() -> str:
    raise MlflowCoreError("no run name generator configured")


class TrackingService(RunOperations):
    def __init__(
        self,
        store: TrackingStore,
        default_artifact_root: str,
        *,
        clock: Clock | None = None,
        server_rules: bool = False,
        run_names: RunNameGenerator | None = None,
    ) -> None:
        self._store = store
        self._artifact_root = resolve_uri_if_local(default_artifact_root)
        self._clock: Clock = clock or SystemClock()
        self._server_rules = server_rules
        self._run_names = run_names or _no_run_names

    @property
    def store(self) -> TrackingStore:
        return self._store

    def default_artifact_location(self, experiment_id: str) -> str:
        return append_to_uri_path(self._artifact_root, experiment_id)

    def ensure_default_experiment(self, workspace: str = DEFAULT_WORKSPACE) -> None:
        """Create experiment 0 ("Default") if missing, as MLflow's store does when it opens."""
        self._store.ensure_default_experiment(
            workspace, self.default_artifact_location(DEFAULT_EXPERIMENT_ID), self._clock.now_ms()
        )

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Sequence[ExperimentTag] = (),
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> str:
        if self._server_rules:
            custom_views = sum(1 for tag in tags if is_custom_view_tag(tag.key))
            if custom_views > limits.MAX_CUSTOM_VIEWS_PER_EXPERIMENT:
                raise custom_view_limit_error()
        validate_experiment_name(name)
        if artifact_location:
            artifact_location = resolve_uri_if_local(artifact_location)
            validate_artifact_location_length(artifact_location)
        for tag in tags:
            validate_experiment_tag(tag.key, tag.value)
        return self._store.create_experiment(
            workspace,
            name,
            artifact_location or None,
            tags,
            self._clock.now_ms(),
            self.default_artifact_location,
        )

    def get_experiment(
        self, experiment_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Experiment:
        # MLflow reads an empty id as the default experiment's.
        parsed = parse_experiment_id(experiment_id or DEFAULT_EXPERIMENT_ID)
        experiment = self._store.get_experiment(workspace, parsed)
        if experiment is None:
            raise _not_found(parsed)
        return experiment

    def get_experiment_by_name(
        self, name: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Experiment | None:
        return self._store.get_experiment_by_name(workspace, name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = limits.SEARCH_MAX_RESULTS_DEFAULT,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page[Experiment]:
        _validate_max_results(max_results)
        clauses = parse_experiment_filter(filter_string)
        order_keys = parse_experiment_order_by(order_by)
        offset = decode_offset_token(page_token)
        # One extra row tells whether another page follows, as MLflow does.
        found = self._store.search_experiments(
            workspace,
            ExperimentSearch(view_type, clauses, order_keys, offset=offset, limit=max_results + 1),
        )
        token = encode_offset_token(offset + max_results) if len(found) > max_results else None
        return Page(found[:max_results], token)

    def delete_experiment(self, experiment_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        parsed = parse_experiment_id(experiment_id or DEFAULT_EXPERIMENT_ID)
        self._store.delete_experiment(workspace, parsed, self._clock.now_ms())

    def restore_experiment(self, experiment_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        parsed = parse_experiment_id(experiment_id or DEFAULT_EXPERIMENT_ID)
        self._store.restore_experiment(workspace, parsed, self._clock.now_ms())

    def rename_experiment(
        self, experiment_id: str, new_name: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        validate_experiment_name(new_name)
        parsed = parse_experiment_id(experiment_id or DEFAULT_EXPERIMENT_ID)
        self._store.rename_experiment(workspace, parsed, new_name, self._clock.now_ms())

    def set_experiment_tag(
        self, experiment_id: str, tag: ExperimentTag, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        if self._server_rules and is_custom_view_tag(tag.key):
            experiment = self.get_experiment(experiment_id, workspace=workspace)
            if tag.key not in experiment.tags:
                existing = sum(1 for key in experiment.tags if is_custom_view_tag(key))
                if existing >= limits.MAX_CUSTOM_VIEWS_PER_EXPERIMENT:
                    raise custom_view_limit_error(experiment.experiment_id)
        validate_experiment_tag(tag.key, tag.value)
        parsed = parse_experiment_id(experiment_id or DEFAULT_EXPERIMENT_ID)
        self._store.set_experiment_tag(workspace, parsed, tag)

    def delete_experiment_tag(
        self, experiment_id: str, key: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        parsed = parse_experiment_id(experiment_id or DEFAULT_EXPERIMENT_ID)
        self._store.delete_experiment_tag(workspace, parsed, key)
