"""The run RPCs of MLflowService: create/get/update/delete/restore, and logging to runs.

A mixin of ``TrackingService`` (one service per MLflow service, one module per concept): each
method checks its input with MLflow's rules, in MLflow's order, then makes one store call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from mlflow_core.artifact_uris import append_to_uri_path
from mlflow_core.domain.experiments import DEFAULT_EXPERIMENT_ID, LifecycleStage
from mlflow_core.domain.runs import (
    RUN_ARTIFACTS_FOLDER,
    RUN_NAME_TAG,
    Metric,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
)
from mlflow_core.domain.workspaces import DEFAULT_WORKSPACE
from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.ports.clock import Clock
from mlflow_core.ports.runs import NewRun, RunUpdate
from mlflow_core.ports.tracking import TrackingStore
from mlflow_core.validation.experiments import parse_experiment_id
from mlflow_core.validation.runs import (
    validate_batch,
    validate_metric,
    validate_param,
    validate_run_id,
    validate_tag,
)

RunNameGenerator = Callable[[], str]


class RunOperations:
    _store: TrackingStore
    _clock: Clock
    _run_names: RunNameGenerator

    def create_run(
        self,
        experiment_id: str,
        user_id: str | None = None,
        start_time: int | None = None,
        tags: Sequence[RunTag] = (),
        run_name: str | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Run:
        if experiment_id == "":
            # MLflow checks the default experiment but then inserts the run with experiment id
            # '', which the database refuses (a BAD_REQUEST carrying the driver's text).
            raise MlflowCoreError(
                "(sqlite3.IntegrityError) FOREIGN KEY constraint failed", ErrorCode.BAD_REQUEST
            )
        parsed = parse_experiment_id(experiment_id or DEFAULT_EXPERIMENT_ID)

        def settle(experiment_artifact_location: str) -> NewRun:
            run_id = uuid.uuid4().hex
            run_tags = list(tags)
            name_tag = next((t.value for t in run_tags if t.key == RUN_NAME_TAG), None)
            if run_name and name_tag and run_name != name_tag:
                raise MlflowCoreError.invalid_parameter_value(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                    f"different values (run_name='{run_name}', mlflow.runName='{name_tag}')."
                )
            name = run_name or name_tag or self._run_names()
            if not name_tag:
                run_tags.append(RunTag(RUN_NAME_TAG, name))
            return NewRun(
                run_id=run_id,
                run_name=name,
                artifact_uri=append_to_uri_path(
                    experiment_artifact_location, run_id, RUN_ARTIFACTS_FOLDER
                ),
                user_id=user_id,
                start_time=start_time,
                tags=run_tags,
            )

        return self._store.create_run(workspace, parsed, settle)

    def get_run(self, run_id: str) -> Run:
        return self._store.get_run(run_id)

    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        return self._store.update_run_info(run_id, RunUpdate(status, end_time, run_name))

    def delete_run(self, run_id: str) -> None:
        self._store.set_run_lifecycle_stage(run_id, LifecycleStage.DELETED, self._clock.now_ms())

    def restore_run(self, run_id: str) -> None:
        self._store.set_run_lifecycle_stage(run_id, LifecycleStage.ACTIVE, self._clock.now_ms())

    def log_metric(self, run_id: str, metric: Metric) -> None:
        validate_metric(metric)
        self._store.log_batch(run_id, [metric], (), ())

    def log_param(self, run_id: str, param: Param) -> None:
        self._store.log_param(run_id, validate_param(param))

    def set_tag(self, run_id: str, tag: RunTag) -> None:
        self._store.log_batch(run_id, (), (), [validate_tag(tag)])

    def delete_tag(self, run_id: str, key: str) -> None:
        self._store.delete_tag(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        validate_run_id(run_id)
        checked_params, checked_tags = validate_batch(metrics, params, tags)
        self._store.log_batch(run_id, metrics, checked_params, checked_tags)
