"""MLflow's ``_search_datasets``: the distinct (experiment, name, digest, context) of inputs.

The statement is MLflow's own, clause for clause (DISTINCT, inner join to ``inputs``, outer join
to the input's context tag, ``LIMIT 1000``, no ORDER BY), so each database returns the same rows
in the same order as it does for MLflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlflow_core.adapters.sql import tables
from mlflow_core.domain.datasets import DatasetSummary

_datasets = tables.datasets
_inputs = tables.inputs
_input_tags = tables.input_tags
_experiments = tables.experiments

MAX_DATASET_SUMMARIES: Final = 1000
_IDS: sa.BindParameter[Any] = sa.bindparam("exp_ids", expanding=True)
_IN_WORKSPACE = sa.select(_experiments.c.experiment_id).where(
    _experiments.c.experiment_id.in_(_IDS), _experiments.c.workspace == sa.bindparam("ws")
)
_SUMMARIES = (
    sa.select(_datasets.c.experiment_id, _datasets.c.name, _datasets.c.digest, _input_tags.c.value)
    .select_from(_datasets)
    .distinct()
    .join(_inputs, _inputs.c.source_id == _datasets.c.dataset_uuid)
    .outerjoin(
        _input_tags,
        sa.and_(
            _inputs.c.input_uuid == _input_tags.c.input_uuid,
            _input_tags.c.name == "mlflow.data.context",
        ),
    )
    .where(_datasets.c.experiment_id.in_(_IDS))
    .limit(MAX_DATASET_SUMMARIES)
)


def dataset_summaries(
    conn: Connection, workspace: str, experiment_ids: Sequence[int]
) -> list[DatasetSummary]:
    ids = list(conn.scalars(_IN_WORKSPACE, {"exp_ids": list(experiment_ids), "ws": workspace}))
    if not ids:
        return []
    return [
        DatasetSummary(str(row.experiment_id), row.name, row.digest, row.value)
        for row in conn.execute(_SUMMARIES, {"exp_ids": ids})
    ]
