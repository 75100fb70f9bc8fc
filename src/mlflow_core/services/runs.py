"""The run RPCs of MLflowService: create/get/update/delete/restore, and logging to runs.

A mixin of ``TrackingService`` (one service per MLflow service, one module per concept): each
method checks its input with MLflow's rules, in MLflow's order, then makes one store call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence

from mlflow_core.artifact_uris import append_to_uri_path
from mlflow_core.domain.experiments import DEFAULT_EXPERIMENT_ID, LifecycleStage
from mlflow_core.domain.runs import (
    RUN_ARTIFACTS_FOLDER,
    RUN_NAME_TAG,
    DatasetInput,
    LoggedModelOutput,
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
from mlflow_core.ports.runs import MetricPoint, NewRun, RunUpdate
from mlflow_core.ports.tracking import TrackingStore
from mlflow_core.search.page_tokens import decode_offset_token, encode_offset_token
from mlflow_core.validation.experiments import parse_experiment_id
from mlflow_core.validation.runs import (
    validate_batch,
    validate_dataset_inputs,
    validate_metric,
    validate_param,
    validate_run_id,
    validate_tag,
)

RunNameGenerator = Callable[[], str]
# Points read per round trip when streaming a metric's history: bounds the server's memory.
HISTORY_CHUNK_SIZE = 10_000
# get-history-bulk-interval's bounds (mlflow/server/handlers.py).
MAX_RUNS_PER_BULK_INTERVAL = 100
MAX_RESULTS_PER_RUN = 2500


class MetricHistoryPage:
    """A page of one metric's history, produced chunk by chunk as it is iterated.

    ``next_page_token`` is known once iteration has finished (it is set only when
    ``max_results`` cut the history short, as MLflow's paged get-history does).
    """

    def __init__(
        self, chunks: Iterator[list[MetricPoint]], offset: int, max_results: int | None
    ) -> None:
        self._chunks = chunks
        self._offset = offset
        self._max_results = max_results
        self.next_page_token: str | None = None

    def __iter__(self) -> Iterator[list[MetricPoint]]:
        sent = 0
        for chunk in self._chunks:
            if self._max_results is not None and sent + len(chunk) > self._max_results:
                self.next_page_token = encode_offset_token(self._offset + self._max_results)
                if rest := chunk[: self._max_results - sent]:
                    yield rest
                return
            sent += len(chunk)
            yield chunk


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
                # MLflow's RunInfo refuses a NULL user id or start time when it reads the run
                # back; its client fills them in (the HTTP request always carries them).
                user_id=user_id or "",
                start_time=self._clock.now_ms() if start_time is None else start_time,
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

    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] = (),
        model_ids: Sequence[str] = (),
    ) -> None:
        validate_run_id(run_id)
        validate_dataset_inputs(datasets)
        self._store.log_inputs(run_id, datasets, model_ids)

    def log_outputs(self, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None:
        self._store.log_outputs(run_id, outputs)

    # -- metric histories --------------------------------------------------------------------

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> MetricHistoryPage:
        """All of a metric's points (lazily), or a page of ``max_results`` with a token."""
        if max_results is not None and max_results <= 0:
            raise MlflowCoreError.invalid_parameter_value(
                f"Invalid value {max_results} for parameter 'max_results' supplied. "
                "It must be a positive integer."
            )
        offset = decode_offset_token(page_token)
        limit = None if max_results is None else max_results + 1
        chunks = self._store.metric_history(run_id, key, offset, limit, HISTORY_CHUNK_SIZE)
        return MetricHistoryPage(chunks, offset, max_results)

    def get_metric_history_bulk_interval(
        self,
        run_ids: Sequence[str],
        key: str,
        max_results: int = MAX_RESULTS_PER_RUN,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> list[tuple[str, MetricPoint]]:
        """Up to ``max_results`` evenly sampled points per run, keeping the last one."""
        steps: tuple[int, int] | None = None
        if start_step is not None and end_step is not None:
            if start_step > end_step:
                raise MlflowCoreError.invalid_parameter_value(
                    "end_step must be greater than start_step. "
                    f"Found start_step={start_step} and end_step={end_step}."
                )
            steps = (start_step, end_step)
        elif start_step is not None or end_step is not None:
            raise MlflowCoreError.invalid_parameter_value(
                "If either start step or end step are specified, both must be specified."
            )
        return self._store.sampled_metric_history(run_ids, key, max(1, max_results), steps)
