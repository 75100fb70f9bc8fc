"""What log-inputs and log-outputs write: datasets, their links to runs, logged-model links.

Runs inside the caller's transaction. Datasets are shared per experiment by (name, digest);
a dataset already linked to the run keeps its link and tags, as in MLflow.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlflow_core.adapters.sql import tables
from mlflow_core.domain.runs import DatasetInput, LoggedModelOutput

_datasets = tables.datasets
_inputs = tables.inputs
_input_tags = tables.input_tags

_EXISTING_DATASETS = sa.select(
    _datasets.c.dataset_uuid, _datasets.c.name, _datasets.c.digest
).where(
    _datasets.c.experiment_id == sa.bindparam("exp_id"),
    _datasets.c.name.in_(sa.bindparam("names", expanding=True)),
    _datasets.c.digest.in_(sa.bindparam("digests", expanding=True)),
)
_LINKED_DATASETS = sa.select(_inputs.c.source_id).where(
    _inputs.c.source_type == "DATASET",
    _inputs.c.source_id.in_(sa.bindparam("uuids", expanding=True)),
    _inputs.c.destination_type == "RUN",
    _inputs.c.destination_id == sa.bindparam("run_id"),
)
_MODEL_INPUT_EXISTS = sa.select(_inputs.c.input_uuid).where(
    _inputs.c.source_type == "RUN_INPUT",
    _inputs.c.source_id == sa.bindparam("run_id"),
    _inputs.c.destination_type == "MODEL_INPUT",
    _inputs.c.destination_id == sa.bindparam("model_id"),
)
_INSERT_DATASETS = sa.insert(_datasets)
_INSERT_INPUTS = sa.insert(_inputs)
_INSERT_INPUT_TAGS = sa.insert(_input_tags)


def write_inputs(
    conn: Connection,
    run_id: str,
    experiment_id: int,
    datasets: Sequence[DatasetInput],
    model_ids: Sequence[str],
) -> None:
    # The first of several inputs with one (name, digest) wins, as in MLflow.
    unique: dict[tuple[str, str], DatasetInput] = {}
    for dataset_input in datasets:
        unique.setdefault((dataset_input.dataset.name, dataset_input.dataset.digest), dataset_input)
    uuids: dict[tuple[str, str], str] = {}
    if unique:
        names = sorted({name for name, _ in unique})
        digests = sorted({digest for _, digest in unique})
        for row in conn.execute(
            _EXISTING_DATASETS, {"exp_id": experiment_id, "names": names, "digests": digests}
        ):
            uuids[(row.name, row.digest)] = row.dataset_uuid
    new_datasets: list[dict[str, Any]] = []
    for key, dataset_input in unique.items():
        if key in uuids:
            continue
        uuids[key] = uuid.uuid4().hex
        d = dataset_input.dataset
        new_datasets.append(
            {
                "dataset_uuid": uuids[key],
                "experiment_id": experiment_id,
                "name": d.name,
                "digest": d.digest,
                "dataset_source_type": d.source_type,
                "dataset_source": d.source,
                "dataset_schema": d.schema,
                "dataset_profile": d.profile,
            }
        )
    if new_datasets:
        conn.execute(_INSERT_DATASETS, new_datasets)
    linked: set[str] = set()
    if uuids:
        linked = set(
            conn.scalars(_LINKED_DATASETS, {"uuids": list(uuids.values()), "run_id": run_id})
        )
    links: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    for key, dataset_input in unique.items():
        if uuids[key] in linked:
            continue
        input_uuid = uuid.uuid4().hex
        links.append(_link(input_uuid, "DATASET", uuids[key], "RUN", run_id, 0))
        tags += [
            {"input_uuid": input_uuid, "name": t.key, "value": t.value} for t in dataset_input.tags
        ]
    for model_id in dict.fromkeys(model_ids):
        found = conn.execute(_MODEL_INPUT_EXISTS, {"run_id": run_id, "model_id": model_id})
        if found.first() is None:
            links.append(_link(uuid.uuid4().hex, "RUN_INPUT", run_id, "MODEL_INPUT", model_id, 0))
    if links:
        conn.execute(_INSERT_INPUTS, links)
    if tags:
        conn.execute(_INSERT_INPUT_TAGS, tags)


def write_outputs(conn: Connection, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None:
    if outputs:
        conn.execute(
            _INSERT_INPUTS,
            [
                _link(uuid.uuid4().hex, "RUN_OUTPUT", run_id, "MODEL_OUTPUT", o.model_id, o.step)
                for o in outputs
            ],
        )


def _link(
    input_uuid: str, source_type: str, source_id: str, dest_type: str, dest_id: str, step: int
) -> dict[str, Any]:
    return {
        "input_uuid": input_uuid,
        "source_type": source_type,
        "source_id": source_id,
        "destination_type": dest_type,
        "destination_id": dest_id,
        "step": step,
    }
