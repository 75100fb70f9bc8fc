"""Reading runs with everything MLflow returns for them, for one run or a page of runs.

A fixed number of queries whatever the number of runs: the run rows, then their latest
metrics, params, tags, dataset inputs and logged-model inputs/outputs, each one ``IN``
query over the run ids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from mlflow_core.adapters.sql import tables
from mlflow_core.adapters.sql.id_lists import in_list, list_value
from mlflow_core.adapters.sql.plain_rows import plain_rows
from mlflow_core.domain.experiments import LifecycleStage
from mlflow_core.domain.runs import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Run,
    RunInfo,
    RunStatus,
)

_runs = tables.runs
_latest = tables.latest_metrics
_params = tables.params
_tags = tables.tags
_inputs = tables.inputs
_input_tags = tables.input_tags
_datasets = tables.datasets

RUN_COLUMNS = (
    _runs.c.run_uuid,
    _runs.c.name,
    _runs.c.experiment_id,
    _runs.c.user_id,
    _runs.c.status,
    _runs.c.start_time,
    _runs.c.end_time,
    _runs.c.artifact_uri,
    _runs.c.lifecycle_stage,
)


@dataclass(frozen=True)
class _Loads:
    """The statements that read a page of runs, for one dialect (see ``id_lists``)."""

    runs: sa.Select[Any]
    latest: sa.Select[Any]
    params: sa.Select[Any]
    tags: sa.Select[Any]
    dataset_inputs: sa.Select[Any]
    model_links: sa.Select[Any]


@cache
def _loads(dialect: str) -> _Loads:
    def ids(column: sa.Column[Any]) -> ColumnElement[bool]:
        return in_list(column, "run_ids", dialect)

    return _Loads(
        runs=sa.select(*RUN_COLUMNS).where(ids(_runs.c.run_uuid)),
        latest=sa.select(
            _latest.c.run_uuid,
            _latest.c.key,
            _latest.c.value,
            _latest.c.timestamp,
            _latest.c.step,
            _latest.c.is_nan,
        ).where(ids(_latest.c.run_uuid)),
        params=sa.select(_params.c.run_uuid, _params.c.key, _params.c.value).where(
            ids(_params.c.run_uuid)
        ),
        tags=sa.select(_tags.c.run_uuid, _tags.c.key, _tags.c.value).where(ids(_tags.c.run_uuid)),
        dataset_inputs=sa.select(
            _inputs.c.destination_id.label("run_uuid"),
            _inputs.c.input_uuid,
            _datasets.c.dataset_uuid,
            _datasets.c.name,
            _datasets.c.digest,
            _datasets.c.dataset_source_type,
            _datasets.c.dataset_source,
            _datasets.c.dataset_schema,
            _datasets.c.dataset_profile,
            _input_tags.c.name.label("tag_key"),
            _input_tags.c.value.label("tag_value"),
        )
        .select_from(_inputs)
        .join(_datasets, _inputs.c.source_id == _datasets.c.dataset_uuid)
        .outerjoin(_input_tags, _input_tags.c.input_uuid == _inputs.c.input_uuid)
        .where(_inputs.c.destination_type == "RUN", ids(_inputs.c.destination_id)),
        model_links=sa.select(
            _inputs.c.source_type, _inputs.c.source_id, _inputs.c.destination_id, _inputs.c.step
        ).where(
            _inputs.c.source_type.in_(("RUN_INPUT", "RUN_OUTPUT")),
            _inputs.c.destination_type.in_(("MODEL_INPUT", "MODEL_OUTPUT")),
            ids(_inputs.c.source_id),
        ),
    )


def run_info(row: Any) -> RunInfo:
    """A ``RUN_COLUMNS`` row as a RunInfo."""
    run_id, name, experiment_id, user_id, status, start, end, artifact_uri, stage = row
    return RunInfo(
        run_id=run_id,
        run_name=name,
        experiment_id=str(experiment_id),
        user_id=user_id,
        status=RunStatus[status],
        start_time=start,
        end_time=end,
        artifact_uri=artifact_uri,
        lifecycle_stage=LifecycleStage(stage),
    )


class _Parts:
    __slots__ = ("datasets", "metrics", "model_inputs", "model_outputs", "params", "tags")

    def __init__(self) -> None:
        self.metrics: list[Metric] = []
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.datasets: dict[str, tuple[Dataset, list[InputTag]]] = {}
        self.model_inputs: list[str] = []
        self.model_outputs: list[LoggedModelOutput] = []


def load_runs(
    conn: Connection, run_ids: Sequence[str], *, with_model_inputs: bool = True
) -> list[Run]:
    """The runs among ``run_ids`` that exist, in the order of ``run_ids``.

    ``with_model_inputs`` off leaves model inputs empty, as MLflow's search answers runs.
    """
    if not run_ids:
        return []
    loads = _loads(conn.dialect.name)
    unique_ids = list(dict.fromkeys(run_ids))
    ids = {"run_ids": list_value(unique_ids, conn.dialect.name)}
    # Rows are unpacked as tuples throughout: a Row's attribute access costs about 20 times
    # its unpacking, and a page of 100 runs reads thousands of rows (the three largest reads
    # skip Row objects altogether). .all() fetches the buffered rows in one call, where
    # iterating fetches them one call at a time.
    infos = {row[0]: run_info(row) for row in conn.execute(loads.runs, ids).all()}
    if not infos:
        return []
    parts = {run_id: _Parts() for run_id in infos}
    for run_id, key, value, timestamp, step, is_nan in plain_rows(conn, loads.latest, ids):
        parts[run_id].metrics.append(Metric(key, math.nan if is_nan else value, timestamp, step))
    for run_id, key, value in plain_rows(conn, loads.params, ids):
        parts[run_id].params[key] = value
    for run_id, key, value in plain_rows(conn, loads.tags, ids):
        parts[run_id].tags[key] = value
    for row in conn.execute(loads.dataset_inputs, ids).all():
        (run_id, _, dataset_uuid, name, digest, source_type, source, schema, profile) = row[:9]
        tag_key, tag_value = row[9], row[10]
        found = parts[run_id].datasets.get(dataset_uuid)
        if found is None:
            dataset = Dataset(
                name=name,
                digest=digest,
                source_type=source_type,
                source=source,
                schema=schema,
                profile=profile,
            )
            found = (dataset, [])
            parts[run_id].datasets[dataset_uuid] = found
        if tag_key is not None:
            found[1].append(InputTag(tag_key, tag_value))
    for source_type, source_id, destination_id, step in conn.execute(loads.model_links, ids).all():
        if source_type == "RUN_INPUT":
            if with_model_inputs:
                parts[source_id].model_inputs.append(destination_id)
        else:
            parts[source_id].model_outputs.append(LoggedModelOutput(destination_id, step))
    runs = []
    for run_id in unique_ids:
        info = infos.get(run_id)
        if info is None:
            continue
        p = parts[run_id]
        runs.append(
            Run(
                info=info,
                metrics=p.metrics,
                params=p.params,
                tags=p.tags,
                dataset_inputs=[DatasetInput(d, tags) for d, tags in p.datasets.values()],
                model_inputs=p.model_inputs,
                model_outputs=p.model_outputs,
            )
        )
    return runs
