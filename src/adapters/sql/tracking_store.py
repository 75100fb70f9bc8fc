"""The tracking store port on MLflow's SQL schema, with SQLAlchemy Core.

Each port method is one transaction. Statements are module-level constants built once with
bound parameters; nothing here builds SQL per request beyond the search filters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.database import Database
from mlflow_core.adapters.sql.dataset_search import dataset_summaries
from mlflow_core.adapters.sql.experiment_search import experiment_order_by, experiment_where
from mlflow_core.adapters.sql.integrity import unique_violation_message
from mlflow_core.adapters.sql.metric_first_page import (
    TIE_CAP,
    MetricFirstPage,
    metric_first_page,
    orders_first_by_a_metric,
)
from mlflow_core.adapters.sql.run_loading import load_runs
from mlflow_core.adapters.sql.run_search import run_ids_statement
from mlflow_core.adapters.sql.run_store import SqlRunStore
from mlflow_core.adapters.sql.search_indexes import search_indexes_present
from mlflow_core.domain.datasets import DatasetSummary
from mlflow_core.domain.experiments import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    Experiment,
    ExperimentTag,
    LifecycleStage,
    ViewType,
)
from mlflow_core.domain.runs import Run
from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.ports.tracking import ExperimentSearch, RunSearch, TrackingStore
from mlflow_core.search.experiments import ExperimentOrderKey, FilterClause

_exp = tables.experiments
_exp_tags = tables.experiment_tags
_runs = tables.runs
_assessments = tables.assessments

_EXPERIMENT_COLUMNS = (
    _exp.c.experiment_id,
    _exp.c.name,
    _exp.c.artifact_location,
    _exp.c.lifecycle_stage,
    _exp.c.creation_time,
    _exp.c.last_update_time,
    _exp.c.workspace,
)
# One round trip for an experiment and its tags.
_GET_EXPERIMENT = (
    sa.select(*_EXPERIMENT_COLUMNS, _exp_tags.c.key, _exp_tags.c.value)
    .select_from(_exp.outerjoin(_exp_tags, _exp_tags.c.experiment_id == _exp.c.experiment_id))
    .where(_exp.c.experiment_id == sa.bindparam("exp_id"))
    .where(_exp.c.workspace == sa.bindparam("ws"))
)
_GET_EXPERIMENT_BY_NAME = (
    sa.select(*_EXPERIMENT_COLUMNS, _exp_tags.c.key, _exp_tags.c.value)
    .select_from(_exp.outerjoin(_exp_tags, _exp_tags.c.experiment_id == _exp.c.experiment_id))
    .where(_exp.c.name == sa.bindparam("exp_name"))
    .where(_exp.c.workspace == sa.bindparam("ws"))
)
# An expanding IN, not id_lists' array: experiment_tags has no index on experiment_id (its key
# is (key, experiment_id)), so PostgreSQL scans it, and tests a constant list with a hash but
# a bound array (a prepared statement's generic plan) one element after another: measured
# 0.5 vs 7.7 ms of database CPU per 100-experiment page.
_TAGS_OF_EXPERIMENTS = sa.select(
    _exp_tags.c.experiment_id, _exp_tags.c.key, _exp_tags.c.value
).where(_exp_tags.c.experiment_id.in_(sa.bindparam("exp_ids", expanding=True)))
_LOCK_EXPERIMENT_STAGE = (
    sa.select(_exp.c.lifecycle_stage)
    .where(_exp.c.experiment_id == sa.bindparam("exp_id"))
    .where(_exp.c.workspace == sa.bindparam("ws"))
    .with_for_update()
)
_INSERT_EXPERIMENT = sa.insert(_exp)
_SET_ARTIFACT_LOCATION = (
    sa.update(_exp)
    .where(_exp.c.experiment_id == sa.bindparam("exp_id"))
    .values(artifact_location=sa.bindparam("location"))
)
_INSERT_EXPERIMENT_TAG = sa.insert(_exp_tags)
_UPDATE_EXPERIMENT_STAGE = (
    sa.update(_exp)
    .where(_exp.c.experiment_id == sa.bindparam("exp_id"))
    .values(lifecycle_stage=sa.bindparam("new_stage"), last_update_time=sa.bindparam("now"))
)
_RUN_IDS_OF_EXPERIMENT = sa.select(_runs.c.run_uuid).where(
    _runs.c.experiment_id == sa.bindparam("exp_id")
)
_MARK_RUNS_DELETED = (
    sa.update(_runs)
    .where(_runs.c.experiment_id == sa.bindparam("exp_id"))
    .values(lifecycle_stage=LifecycleStage.DELETED.value, deleted_time=sa.bindparam("now"))
)
_MARK_RUNS_ACTIVE = (
    sa.update(_runs)
    .where(_runs.c.experiment_id == sa.bindparam("exp_id"))
    .values(lifecycle_stage=LifecycleStage.ACTIVE.value, deleted_time=None)
)
# Assessments logged by an evaluation run name it in their metadata JSON; MLflow deletes them
# with the run (a LIKE match on the serialized key, as here).
_DELETE_RUN_ASSESSMENTS = sa.delete(_assessments).where(
    _assessments.c.assessment_metadata.like(sa.bindparam("pattern"))
)
_RENAME_EXPERIMENT = (
    sa.update(_exp)
    .where(_exp.c.experiment_id == sa.bindparam("exp_id"))
    .values(name=sa.bindparam("new_name"), last_update_time=sa.bindparam("now"))
)
_TAG_EXISTS = sa.select(sa.func.count()).where(
    _exp_tags.c.experiment_id == sa.bindparam("exp_id"),
    _exp_tags.c.key == sa.bindparam("tag_key"),
)
_UPDATE_EXPERIMENT_TAG = (
    sa.update(_exp_tags)
    .where(_exp_tags.c.experiment_id == sa.bindparam("exp_id"))
    .where(_exp_tags.c.key == sa.bindparam("tag_key"))
    .values(value=sa.bindparam("tag_value"))
)
_DELETE_EXPERIMENT_TAG = (
    sa.delete(_exp_tags)
    .where(_exp_tags.c.experiment_id == sa.bindparam("exp_id"))
    .where(_exp_tags.c.key == sa.bindparam("tag_key"))
)
_DEFAULT_EXPERIMENT_EXISTS = sa.select(_exp.c.experiment_id).where(
    _exp.c.experiment_id == int(DEFAULT_EXPERIMENT_ID)
)
_SOURCE_RUN_ID_KEY = "mlflow.assessment.sourceRunId"


def _not_found(experiment_id: int) -> MlflowCoreError:
    return MlflowCoreError.does_not_exist(f"No Experiment with id={experiment_id} exists")


def _name_taken(name: str, table: str, columns: tuple[str, ...]) -> MlflowCoreError:
    return MlflowCoreError.already_exists(
        f"Experiment(name={name}) already exists. Error: "
        + unique_violation_message(table, columns)
    )


def _experiment(row: Any, tags: dict[str, str]) -> Experiment:
    """An Experiment from a row starting with ``_EXPERIMENT_COLUMNS`` (unpacked: a Row's
    attribute access costs many times its unpacking)."""
    experiment_id, name, location, stage, created, updated, workspace = row[:7]
    return Experiment(
        experiment_id=str(experiment_id),
        name=name,
        artifact_location=location,
        lifecycle_stage=LifecycleStage(stage),
        creation_time=created,
        last_update_time=updated,
        workspace=workspace,
        tags=tags,
    )


def _experiment_from_joined_rows(rows: Sequence[Any]) -> Experiment | None:
    if not rows:
        return None
    tags = {key: value for *_, key, value in rows if key is not None}
    return _experiment(rows[0], tags)


# PostgreSQL's estimate of each frequent experiment's share of all runs (its statistics).
_RUN_SHARES: Final = sa.text(
    "SELECT most_common_vals::text::int[], most_common_freqs FROM pg_stats"
    " WHERE schemaname = current_schema() AND tablename = 'runs' AND attname = 'experiment_id'"
)
_RUN_SHARES_TTL_S: Final = 60.0


class SqlTrackingStore(SqlRunStore, TrackingStore):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        # Whether run search may read the opt-in search indexes; None until the first search.
        self._search_indexed: bool | None = None
        # A page ordered first by a metric is read from the metric index (metric_first_page)
        # when the searched experiments hold at least this share of all runs: the value
        # indexes span every experiment, so for a small experiment among many the usual
        # statement, which starts from the experiment's runs, reads less.
        self.metric_first_min_share = 0.5
        # ... and when fewer runs than this share the metric's first value (metric_first_page).
        self.metric_first_tie_cap = TIE_CAP
        self._run_shares: tuple[float, dict[int, float]] | None = None

    # -- experiments -------------------------------------------------------------------------

    def create_experiment(
        self,
        workspace: str,
        name: str,
        artifact_location: str | None,
        tags: Sequence[ExperimentTag],
        now_ms: int,
        default_artifact_location: Callable[[str], str],
    ) -> str:
        with self.database.begin() as conn:
            try:
                result = conn.execute(
                    _INSERT_EXPERIMENT,
                    {
                        "name": name,
                        "workspace": workspace,
                        "artifact_location": artifact_location,
                        "lifecycle_stage": LifecycleStage.ACTIVE.value,
                        "creation_time": now_ms,
                        "last_update_time": now_ms,
                    },
                )
            except sa.exc.IntegrityError as exc:
                raise _name_taken(name, "experiments", ("workspace", "name")) from exc
            (experiment_id,) = result.inserted_primary_key or (None,)
            if experiment_id is None:
                raise MlflowCoreError("experiment insert returned no id")
            if not artifact_location:
                conn.execute(
                    _SET_ARTIFACT_LOCATION,
                    {
                        "exp_id": experiment_id,
                        "location": default_artifact_location(str(experiment_id)),
                    },
                )
            if tags:
                rows = [
                    {"experiment_id": experiment_id, "key": t.key, "value": t.value} for t in tags
                ]
                try:
                    conn.execute(_INSERT_EXPERIMENT_TAG, rows)
                except sa.exc.IntegrityError as exc:
                    # A key given twice: MLflow reports it as this (misleading) error too.
                    raise _name_taken(name, "experiment_tags", ("key", "experiment_id")) from exc
            return str(experiment_id)

    def get_experiment(self, workspace: str, experiment_id: int) -> Experiment | None:
        with self.database.connect() as conn:
            rows = conn.execute(_GET_EXPERIMENT, {"exp_id": experiment_id, "ws": workspace}).all()
        return _experiment_from_joined_rows(rows)

    def get_experiment_by_name(self, workspace: str, name: str) -> Experiment | None:
        with self.database.connect() as conn:
            rows = conn.execute(_GET_EXPERIMENT_BY_NAME, {"exp_name": name, "ws": workspace}).all()
        return _experiment_from_joined_rows(rows)

    def search_experiments(self, workspace: str, search: ExperimentSearch) -> list[Experiment]:
        dialect = self.database.dialect
        statement = _search_statement(
            workspace, search.view_type, tuple(search.clauses), tuple(search.order_by), dialect
        )
        page = {"limit": search.limit, "offset": search.offset}
        with self.database.connect() as conn:
            rows = conn.execute(statement, page).all()
            tags_by_id: dict[int, dict[str, str]] = {row[0]: {} for row in rows}
            if rows:
                tag_rows = conn.execute(_TAGS_OF_EXPERIMENTS, {"exp_ids": list(tags_by_id)})
                for experiment_id, key, value in tag_rows.all():
                    tags_by_id[experiment_id][key] = value
        return [_experiment(row, tags_by_id[row[0]]) for row in rows]

    def search_run_ids(self, workspace: str, search: RunSearch) -> list[str]:
        with self.database.connect() as conn:
            return self._page_run_ids(conn, workspace, search)

    def _page_run_ids(self, conn: Connection, workspace: str, search: RunSearch) -> list[str]:
        if self._search_indexed is None:
            # Looked up once per process: indexes made later are used after a restart.
            self._search_indexed = search_indexes_present(conn)
        indexed = self._search_indexed
        if indexed and orders_first_by_a_metric(search) and self._hold_most_runs(conn, search):
            page = metric_first_page(workspace, search)
            cap = self.metric_first_tie_cap
            if (conn.scalar(page.top_ties, {"cap": cap}) or 0) < cap:
                return self._metric_first_run_ids(conn, page, workspace, search)
        statement = run_ids_statement(workspace, search, self.database.dialect, indexed)
        return list(conn.scalars(statement))

    def _metric_first_run_ids(
        self, conn: Connection, page: MetricFirstPage, workspace: str, search: RunSearch
    ) -> list[str]:
        # Parallel workers would take the cores other requests are served on: with two
        # searches at once on two cores the statement answered 20 req/s with them, 40 without
        # (docs/performance.md). SET LOCAL keeps the setting to a transaction, so nothing leaks
        # to the next user of a pooler's server connection: our autocommit read scopes get one
        # of their own, rolled back at once; a scope already in one (MLflow's engine, under
        # the in-process shim) keeps the setting until it ends.
        own_transaction = bool(getattr(conn.connection.driver_connection, "autocommit", False))
        if own_transaction:
            conn.exec_driver_sql("BEGIN")
        try:
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            return self._metric_first_reads(conn, page, workspace, search)
        finally:
            if own_transaction:
                conn.exec_driver_sql("ROLLBACK")

    def _metric_first_reads(
        self, conn: Connection, page: MetricFirstPage, workspace: str, search: RunSearch
    ) -> list[str]:
        limit = search.limit if search.limit is not None else 0
        run_ids = list(conn.scalars(page.present))
        if len(run_ids) == limit:
            return run_ids
        # The page runs past the numbers: the rest comes from the runs whose metric is NaN or
        # absent, which MLflow orders after them.
        if run_ids or search.offset == 0:
            with_number = search.offset + len(run_ids)
        else:
            with_number = conn.scalar(page.present_count) or 0
        rest = replace(
            page.rest, offset=max(0, search.offset - with_number), limit=limit - len(run_ids)
        )
        statement = run_ids_statement(workspace, rest, self.database.dialect, True)
        # The reads need not share a snapshot (READ COMMITTED): a run must not be on the page
        # twice if its metric became NaN between them.
        seen = set(run_ids)
        return run_ids + [run_id for run_id in conn.scalars(statement) if run_id not in seen]

    def _hold_most_runs(self, conn: Connection, search: RunSearch) -> bool:
        """Whether PostgreSQL estimates the searched experiments hold at least
        ``metric_first_min_share`` of all runs (statistics read at most once a minute)."""
        if self.metric_first_min_share <= 0:
            return True
        now = time.monotonic()
        if self._run_shares is None or self._run_shares[0] <= now:
            row = conn.execute(_RUN_SHARES).first()
            shares = dict(zip(row[0], row[1], strict=True)) if row and row[0] else {}
            self._run_shares = (now + _RUN_SHARES_TTL_S, shares)
        held = sum(self._run_shares[1].get(int(i), 0.0) for i in set(search.experiment_ids))
        return held >= self.metric_first_min_share

    def search_dataset_summaries(
        self, workspace: str, experiment_ids: Sequence[int]
    ) -> list[DatasetSummary]:
        with self.database.connect() as conn:
            return dataset_summaries(conn, workspace, experiment_ids)

    def search_runs(self, workspace: str, search: RunSearch) -> list[Run]:
        with self.database.connect() as conn:
            run_ids = self._page_run_ids(conn, workspace, search)
            # MLflow's search attaches dataset inputs but not model inputs.
            runs = load_runs(conn, run_ids, with_model_inputs=False)
        if len(runs) == len(run_ids):
            return runs
        # A run id repeats only where MLflow's MySQL query repeats it too (see run_search).
        by_id = {run.info.run_id: run for run in runs}
        return [by_id[run_id] for run_id in run_ids if run_id in by_id]

    def delete_experiment(self, workspace: str, experiment_id: int, now_ms: int) -> None:
        with self.database.begin() as conn:
            self._require_stage(conn, workspace, experiment_id, LifecycleStage.ACTIVE)
            self._set_stage(conn, experiment_id, LifecycleStage.DELETED, now_ms)
            run_ids = conn.scalars(_RUN_IDS_OF_EXPERIMENT, {"exp_id": experiment_id}).all()
            conn.execute(_MARK_RUNS_DELETED, {"exp_id": experiment_id, "now": now_ms})
            for run_id in run_ids:
                conn.execute(
                    _DELETE_RUN_ASSESSMENTS,
                    {"pattern": f'%"{_SOURCE_RUN_ID_KEY}": "{run_id}"%'},
                )

    def restore_experiment(self, workspace: str, experiment_id: int, now_ms: int) -> None:
        with self.database.begin() as conn:
            self._require_stage(conn, workspace, experiment_id, LifecycleStage.DELETED)
            self._set_stage(conn, experiment_id, LifecycleStage.ACTIVE, now_ms)
            conn.execute(_MARK_RUNS_ACTIVE, {"exp_id": experiment_id})

    def rename_experiment(
        self, workspace: str, experiment_id: int, new_name: str, now_ms: int
    ) -> None:
        with self.database.begin() as conn:
            stage = self._locked_stage(conn, workspace, experiment_id)
            if stage is None:
                raise _not_found(experiment_id)
            if stage != LifecycleStage.ACTIVE:
                raise MlflowCoreError.invalid_state("Cannot rename a non-active experiment.")
            try:
                conn.execute(
                    _RENAME_EXPERIMENT,
                    {"exp_id": experiment_id, "new_name": new_name, "now": now_ms},
                )
            except sa.exc.IntegrityError as exc:
                # MLflow lets the constraint violation surface as a BAD_REQUEST.
                raise MlflowCoreError(
                    unique_violation_message("experiments", ("workspace", "name")),
                    ErrorCode.BAD_REQUEST,
                ) from exc

    def set_experiment_tag(self, workspace: str, experiment_id: int, tag: ExperimentTag) -> None:
        with self.database.begin() as conn:
            self._require_active_for_tags(conn, workspace, experiment_id)
            # The experiment row lock serializes writers of this experiment's tags, so the
            # update-or-insert below cannot interleave with another writer's.
            updated = conn.execute(
                _UPDATE_EXPERIMENT_TAG,
                {"exp_id": experiment_id, "tag_key": tag.key, "tag_value": tag.value},
            ).rowcount
            if updated == 0:
                conn.execute(
                    _INSERT_EXPERIMENT_TAG,
                    {"experiment_id": experiment_id, "key": tag.key, "value": tag.value},
                )

    def delete_experiment_tag(self, workspace: str, experiment_id: int, key: str) -> None:
        with self.database.begin() as conn:
            self._require_active_for_tags(conn, workspace, experiment_id)
            deleted = conn.execute(
                _DELETE_EXPERIMENT_TAG, {"exp_id": experiment_id, "tag_key": key}
            ).rowcount
            if deleted == 0:
                raise MlflowCoreError.does_not_exist(
                    f"No tag with name: {key} in experiment with id {experiment_id}"
                )

    def ensure_default_experiment(
        self, workspace: str, artifact_location: str, now_ms: int
    ) -> None:
        with self.database.begin() as conn:
            if conn.execute(_DEFAULT_EXPERIMENT_EXISTS).first() is not None:
                return
            values = {
                "experiment_id": int(DEFAULT_EXPERIMENT_ID),
                "name": DEFAULT_EXPERIMENT_NAME,
                "workspace": workspace,
                "artifact_location": artifact_location,
                "lifecycle_stage": LifecycleStage.ACTIVE.value,
                "creation_time": now_ms,
                "last_update_time": now_ms,
            }
            restore_mode: str | None = None
            if self.database.dialect == "mysql":
                # Without NO_AUTO_VALUE_ON_ZERO MySQL treats an explicit 0 as "next id".
                restore_mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar()
                conn.exec_driver_sql("SET SESSION sql_mode='NO_AUTO_VALUE_ON_ZERO'")
            try:
                with conn.begin_nested():
                    conn.execute(_INSERT_EXPERIMENT, values)
            except sa.exc.IntegrityError:
                pass  # another process created it first: the outcome we wanted
            finally:
                if restore_mode is not None:
                    conn.execute(sa.text("SET SESSION sql_mode = :mode"), {"mode": restore_mode})

    def close(self) -> None:
        self.database.dispose()

    # -- helpers -----------------------------------------------------------------------------

    def _locked_stage(
        self, conn: Connection, workspace: str, experiment_id: int
    ) -> LifecycleStage | None:
        stage = conn.execute(
            _LOCK_EXPERIMENT_STAGE, {"exp_id": experiment_id, "ws": workspace}
        ).scalar()
        return None if stage is None else LifecycleStage(stage)

    def _require_stage(
        self, conn: Connection, workspace: str, experiment_id: int, expected: LifecycleStage
    ) -> None:
        if self._locked_stage(conn, workspace, experiment_id) != expected:
            raise _not_found(experiment_id)

    def _require_active_for_tags(
        self, conn: Connection, workspace: str, experiment_id: int
    ) -> None:
        stage = self._locked_stage(conn, workspace, experiment_id)
        if stage is None:
            raise _not_found(experiment_id)
        if stage != LifecycleStage.ACTIVE:
            raise MlflowCoreError.invalid_parameter_value(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {stage.value}."
            )

    def _set_stage(
        self, conn: Connection, experiment_id: int, stage: LifecycleStage, now_ms: int
    ) -> None:
        conn.execute(
            _UPDATE_EXPERIMENT_STAGE,
            {"exp_id": experiment_id, "new_stage": stage.value, "now": now_ms},
        )


@lru_cache(maxsize=256)
def _search_statement(
    workspace: str,
    view_type: ViewType,
    clauses: tuple[FilterClause, ...],
    order_by: tuple[ExperimentOrderKey, ...],
    dialect: str,
) -> sa.Select[Any]:
    """A search's statement, built once per distinct search (clients repeat theirs); the page
    (``limit``, ``offset``) is bound at execution."""
    stages = [stage.value for stage in view_type.stages()]
    return (
        sa.select(*_EXPERIMENT_COLUMNS)
        .where(_exp.c.workspace == workspace, _exp.c.lifecycle_stage.in_(stages))
        .where(*experiment_where(clauses, dialect))
        .order_by(*experiment_order_by(order_by))
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
    )
