"""The runs half of the tracking store port on MLflow's SQL schema.

One transaction per method. The run row is read first (existence and lifecycle stage, with
MLflow's errors); writes then go through ``run_writes`` with statements built once per dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.database import Database
from mlflow_core.adapters.sql.driver_sql import WriteStatements
from mlflow_core.adapters.sql.run_loading import RUN_COLUMNS, load_runs, run_info
from mlflow_core.adapters.sql.run_writes import (
    metric_rows,
    write_metrics,
    write_params,
    write_tags,
)
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

_exp = tables.experiments
_runs = tables.runs
_tags = tables.tags
_metrics = tables.metrics
_logged_model_metrics = tables.logged_model_metrics
_assessments = tables.assessments

_EXPERIMENT_FOR_RUN = sa.select(_exp.c.lifecycle_stage, _exp.c.artifact_location).where(
    _exp.c.experiment_id == sa.bindparam("exp_id"), _exp.c.workspace == sa.bindparam("ws")
)
_INSERT_RUN = sa.insert(_runs)
_INSERT_TAGS = sa.insert(_tags)
_SELECT_RUN = sa.select(*RUN_COLUMNS).where(_runs.c.run_uuid == sa.bindparam("run_id"))
_LOCK_RUN = _SELECT_RUN.with_for_update()
_SET_STAGE = (
    sa.update(_runs)
    .where(_runs.c.run_uuid == sa.bindparam("run_id"))
    .values(lifecycle_stage=sa.bindparam("stage"), deleted_time=sa.bindparam("deleted"))
)
_DELETE_TAG = sa.delete(_tags).where(
    _tags.c.run_uuid == sa.bindparam("run_id"), _tags.c.key == sa.bindparam("tag_key")
)
_DELETE_RUN_ASSESSMENTS = sa.delete(_assessments).where(
    _assessments.c.assessment_metadata.like(sa.bindparam("pattern"))
)
_SOURCE_RUN_ID_KEY = "mlflow.assessment.sourceRunId"
_INSERT_MODEL_METRICS = sa.insert(_logged_model_metrics)
_HISTORY = (
    sa.select(_metrics.c.key, _metrics.c.value, _metrics.c.timestamp, _metrics.c.step)
    .add_columns(_metrics.c.is_nan)
    .where(_metrics.c.run_uuid == sa.bindparam("run_id"), _metrics.c.key == sa.bindparam("key"))
    .order_by(_metrics.c.timestamp, _metrics.c.step, _metrics.c.value)
)


def run_not_found(run_id: str) -> MlflowCoreError:
    return MlflowCoreError.does_not_exist(f"Run with id={run_id} not found")


def _require_active(run_id: str, stage: str) -> None:
    if stage != LifecycleStage.ACTIVE.value:
        raise MlflowCoreError.invalid_parameter_value(
            f"The run {run_id} must be in the 'active' state. Current state is {stage}."
        )


class SqlRunStore(RunStore):
    database: Database

    def __init__(self, database: Database) -> None:
        self.database = database
        self._writes = WriteStatements(database.dialect, database.engine.dialect)

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        workspace: str,
        experiment_id: int,
        settle: Callable[[str], NewRun],
    ) -> Run:
        with self.database.begin() as conn:
            found = conn.execute(
                _EXPERIMENT_FOR_RUN, {"exp_id": experiment_id, "ws": workspace}
            ).first()
            if found is None:
                raise MlflowCoreError.does_not_exist(
                    f"No Experiment with id={experiment_id} exists"
                )
            if found.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise MlflowCoreError.invalid_parameter_value(
                    f"The experiment {experiment_id} must be in the 'active' state. "
                    f"Current state is {found.lifecycle_stage}."
                )
            new_run = settle(found.artifact_location)
            conn.execute(
                _INSERT_RUN,
                {
                    "run_uuid": new_run.run_id,
                    "name": new_run.run_name,
                    "artifact_uri": new_run.artifact_uri,
                    "experiment_id": experiment_id,
                    "source_type": "UNKNOWN",
                    "source_name": "",
                    "entry_point_name": "",
                    "user_id": new_run.user_id,
                    "status": RunStatus.RUNNING.name,
                    "start_time": new_run.start_time,
                    "end_time": None,
                    "deleted_time": None,
                    "source_version": "",
                    "lifecycle_stage": LifecycleStage.ACTIVE.value,
                },
            )
            if new_run.tags:
                conn.execute(
                    _INSERT_TAGS,
                    [
                        {"run_uuid": new_run.run_id, "key": t.key, "value": t.value}
                        for t in new_run.tags
                    ],
                )
        return Run(
            info=RunInfo(
                run_id=new_run.run_id,
                run_name=new_run.run_name,
                experiment_id=str(experiment_id),
                user_id=new_run.user_id,
                status=RunStatus.RUNNING,
                start_time=new_run.start_time,
                end_time=None,
                artifact_uri=new_run.artifact_uri,
                lifecycle_stage=LifecycleStage.ACTIVE,
            ),
            tags={t.key: t.value for t in new_run.tags},
        )

    def get_run(self, run_id: str) -> Run:
        with self.database.connect() as conn:
            runs = load_runs(conn, [run_id])
        if not runs:
            raise run_not_found(run_id)
        return runs[0]

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """The existing runs among ``run_ids``, in that order (a fixed number of queries)."""
        with self.database.connect() as conn:
            return load_runs(conn, run_ids)

    def update_run_info(self, run_id: str, update: RunUpdate) -> RunInfo:
        with self.database.begin() as conn:
            row = self._locked_run(conn, run_id)
            _require_active(run_id, row.lifecycle_stage)
            values: dict[str, Any] = {}
            if update.status is not None:
                values["status"] = update.status.name
            if update.end_time is not None:
                values["end_time"] = update.end_time
            if update.run_name:
                values["name"] = update.run_name
            if values:
                conn.execute(sa.update(_runs).where(_runs.c.run_uuid == run_id).values(values))
            if update.run_name:
                write_tags(conn, self._writes, run_id, [RunTag(RUN_NAME_TAG, update.run_name)])
            return run_info(conn.execute(_SELECT_RUN, {"run_id": run_id}).one())

    def set_run_lifecycle_stage(self, run_id: str, stage: LifecycleStage, now_ms: int) -> None:
        with self.database.begin() as conn:
            self._locked_run(conn, run_id)
            deleted = stage == LifecycleStage.DELETED
            if deleted:
                conn.execute(
                    _DELETE_RUN_ASSESSMENTS,
                    {"pattern": f'%"{_SOURCE_RUN_ID_KEY}": "{run_id}"%'},
                )
            conn.execute(
                _SET_STAGE,
                {"run_id": run_id, "stage": stage.value, "deleted": now_ms if deleted else None},
            )

    # -- logging -----------------------------------------------------------------------------

    def log_param(self, run_id: str, param: Param) -> None:
        with self.database.begin() as conn:
            self._active_run(conn, run_id)
            write_params(conn, self._writes, run_id, [param], single=True)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        with self.database.begin() as conn:
            experiment_id = self._active_run(conn, run_id)
            write_params(conn, self._writes, run_id, params)
            if metrics:
                write_metrics(conn, self._writes, metric_rows(run_id, metrics))
                self._log_model_metrics(conn, run_id, experiment_id, metrics)
            write_tags(conn, self._writes, run_id, tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        with self.database.begin() as conn:
            self._active_run(conn, run_id)
            if conn.execute(_DELETE_TAG, {"run_id": run_id, "tag_key": key}).rowcount == 0:
                raise MlflowCoreError.does_not_exist(
                    f"No tag with name: {key} in run with id {run_id}"
                )

    def metric_history(
        self, run_id: str, key: str, page_size: int
    ) -> Iterator[Sequence[MetricPoint]]:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    def _active_run(self, conn: Connection, run_id: str) -> int:
        """The run's experiment id; MLflow's errors if it is missing or not active."""
        row = conn.exec_driver_sql(self._writes.select_run, (run_id,)).first()
        if row is None:
            raise run_not_found(run_id)
        _require_active(run_id, row[0])
        return int(row[1])

    def _locked_run(self, conn: Connection, run_id: str) -> Any:
        row = conn.execute(_LOCK_RUN, {"run_id": run_id}).first()
        if row is None:
            raise run_not_found(run_id)
        return row

    def _log_model_metrics(
        self, conn: Connection, run_id: str, experiment_id: int, metrics: Sequence[Metric]
    ) -> None:
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for m in metrics:
            if m.model_id is None:
                continue
            value = StoredMetricValue.of(m.value).value
            identity = (m.model_id, m.key, m.timestamp, m.step, run_id)
            rows.setdefault(
                identity,
                {
                    "model_id": m.model_id,
                    "metric_name": m.key,
                    "metric_timestamp_ms": m.timestamp,
                    "metric_step": m.step,
                    "metric_value": value,
                    "experiment_id": experiment_id,
                    "run_id": run_id,
                    "dataset_uuid": None,
                    "dataset_name": m.dataset_name,
                    "dataset_digest": m.dataset_digest,
                },
            )
        for row in rows.values():
            # Rare (metrics linked to a logged model): one guarded insert per row keeps the
            # batch's transaction usable when a point was stored before (then skipped).
            try:
                with conn.begin_nested():
                    conn.execute(_INSERT_MODEL_METRICS, row)
            except sa.exc.IntegrityError:
                continue
