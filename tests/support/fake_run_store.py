"""The runs half of the in-memory TrackingStore: the RunStore contract without a database."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from mlflow_core.domain.experiments import LifecycleStage
from mlflow_core.domain.runs import (
    RUN_NAME_TAG,
    Metric,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    StoredMetricValue,
)
from mlflow_core.errors import MlflowCoreError
from mlflow_core.ports.runs import MetricPoint, NewRun, RunStore, RunUpdate

# (key, stored value, timestamp, step, is_nan): the metrics table's primary key per run.
_Point = tuple[str, float, int, int, bool]


@dataclass
class _RunRow:
    info: RunInfo
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    history: dict[_Point, None] = field(default_factory=dict)
    latest: dict[str, _Point] = field(default_factory=dict)


class FakeRunStore(RunStore):
    runs: dict[str, _RunRow]

    def _experiment_for_run(self, workspace: str, experiment_id: int) -> tuple[str, str] | None:
        """(lifecycle stage, artifact location) of the experiment; the subclass knows them."""
        raise NotImplementedError

    def _run(self, run_id: str) -> _RunRow:
        row = self.runs.get(run_id)
        if row is None:
            raise MlflowCoreError.does_not_exist(f"Run with id={run_id} not found")
        return row

    def _active(self, run_id: str) -> _RunRow:
        row = self._run(run_id)
        stage = row.info.lifecycle_stage
        if stage != LifecycleStage.ACTIVE:
            raise MlflowCoreError.invalid_parameter_value(
                f"The run {run_id} must be in the 'active' state. Current state is {stage.value}."
            )
        return row

    def create_run(
        self, workspace: str, experiment_id: int, settle: Callable[[str], NewRun]
    ) -> Run:
        found = self._experiment_for_run(workspace, experiment_id)
        if found is None:
            raise MlflowCoreError.does_not_exist(f"No Experiment with id={experiment_id} exists")
        stage, location = found
        if stage != LifecycleStage.ACTIVE.value:
            raise MlflowCoreError.invalid_parameter_value(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {stage}."
            )
        new = settle(location)
        info = RunInfo(
            run_id=new.run_id,
            run_name=new.run_name,
            experiment_id=str(experiment_id),
            user_id=new.user_id,
            status=RunStatus.RUNNING,
            start_time=new.start_time,
            end_time=None,
            artifact_uri=new.artifact_uri,
            lifecycle_stage=LifecycleStage.ACTIVE,
        )
        self.runs[new.run_id] = _RunRow(info, tags={t.key: t.value for t in new.tags})
        return self.get_run(new.run_id)

    def get_run(self, run_id: str) -> Run:
        row = self._run(run_id)
        metrics = [
            Metric(key, math.nan if p[4] else p[1], p[2], p[3]) for key, p in row.latest.items()
        ]
        return Run(row.info, metrics, dict(row.params), dict(row.tags))

    def update_run_info(self, run_id: str, update: RunUpdate) -> RunInfo:
        row = self._active(run_id)
        info = row.info
        if update.status is not None:
            info = replace(info, status=update.status)
        if update.end_time is not None:
            info = replace(info, end_time=update.end_time)
        if update.run_name:
            info = replace(info, run_name=update.run_name)
            row.tags[RUN_NAME_TAG] = update.run_name
        row.info = info
        return info

    def set_run_lifecycle_stage(self, run_id: str, stage: LifecycleStage, now_ms: int) -> None:
        row = self._run(run_id)
        row.info = replace(row.info, lifecycle_stage=stage)

    def _refuse_changed(
        self, row: _RunRow, run_id: str, params: Sequence[Param], single: bool
    ) -> None:
        changed = [
            {"key": p.key, "old_value": row.params[p.key], "new_value": p.value}
            for p in params
            if p.key in row.params and row.params[p.key] != p.value
        ]
        if not changed:
            return
        if single:
            c = changed[0]
            raise MlflowCoreError.invalid_parameter_value(
                f"Changing param values is not allowed. Param with key='{c['key']}' was already"
                f" logged with value='{c['old_value']}' for run ID='{run_id}'. Attempted logging"
                f" new value '{c['new_value']}'."
            )
        raise MlflowCoreError.invalid_parameter_value(
            f"Changing param values is not allowed. Params were already logged='{changed}' for"
            f" run ID='{run_id}'."
        )

    def log_param(self, run_id: str, param: Param) -> None:
        row = self._active(run_id)
        self._refuse_changed(row, run_id, [param], single=True)
        row.params[param.key] = param.value

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        row = self._active(run_id)
        self._refuse_changed(row, run_id, params, single=False)
        for param in params:
            row.params[param.key] = param.value
        for metric in metrics:
            stored = StoredMetricValue.of(metric.value)
            point = (metric.key, stored.value, metric.timestamp, metric.step, stored.is_nan)
            if point in row.history:
                continue
            row.history[point] = None
            current = row.latest.get(metric.key)
            if current is None or (point[3], point[2], point[1]) > (
                current[3],
                current[2],
                current[1],
            ):
                row.latest[metric.key] = point
        for tag in tags:
            if tag.key == RUN_NAME_TAG:
                if not tag.value:
                    continue
                row.info = replace(row.info, run_name=tag.value)
            row.tags[tag.key] = tag.value

    def delete_tag(self, run_id: str, key: str) -> None:
        row = self._active(run_id)
        if row.tags.pop(key, None) is None:
            raise MlflowCoreError.does_not_exist(f"No tag with name: {key} in run with id {run_id}")

    def metric_history(
        self, run_id: str, key: str, page_size: int
    ) -> Iterator[Sequence[MetricPoint]]:
        row = self._run(run_id)
        points = sorted((p for p in row.history if p[0] == key), key=lambda p: (p[2], p[3], p[1]))
        values = [MetricPoint(p[0], math.nan if p[4] else p[1], p[2], p[3]) for p in points]
        for start in range(0, len(values), page_size):
            yield values[start : start + page_size]
