"""Runs as MLflow's JSON: the dicts ``message_to_json(run.to_proto())`` would produce.

Presence rules follow MLflow's ``to_proto`` methods (end time and artifact URI only when
set, metrics/params/tags lists only when non-empty); NaN metric values are the string
"NaN" as protobuf's JSON writes them.
"""

from __future__ import annotations

import math
from typing import Any

from mlflow_core.domain.runs import DatasetInput, Metric, Run, RunInfo


def _double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def run_info(info: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"run_uuid": info.run_id, "experiment_id": info.experiment_id}
    if info.run_name is not None:
        out["run_name"] = info.run_name
    if info.user_id is not None:
        out["user_id"] = info.user_id
    out["status"] = info.status.name
    if info.start_time is not None:
        out["start_time"] = info.start_time
    if info.end_time:
        out["end_time"] = info.end_time
    if info.artifact_uri:
        out["artifact_uri"] = info.artifact_uri
    out["lifecycle_stage"] = info.lifecycle_stage.value
    out["run_id"] = info.run_id
    return out


def metric(value: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {"key": value.key, "value": _double(value.value)}
    if value.timestamp is not None:
        out["timestamp"] = value.timestamp
    out["step"] = value.step
    return out


def _dataset_input(value: DatasetInput) -> dict[str, Any]:
    dataset: dict[str, Any] = {
        "name": value.dataset.name,
        "digest": value.dataset.digest,
        "source_type": value.dataset.source_type,
        "source": value.dataset.source,
    }
    if value.dataset.schema is not None:
        dataset["schema"] = value.dataset.schema
    if value.dataset.profile is not None:
        dataset["profile"] = value.dataset.profile
    out: dict[str, Any] = {}
    if value.tags:
        out["tags"] = [{"key": t.key, "value": t.value} for t in value.tags]
    out["dataset"] = dataset
    return out


def run(value: Run, *, with_outputs: bool = True) -> dict[str, Any]:
    """A run; ``with_outputs`` is off for create-run's answer, which has no outputs."""
    data: dict[str, Any] = {}
    if value.metrics:
        data["metrics"] = [metric(m) for m in value.metrics]
    if value.params:
        data["params"] = [{"key": k, "value": v} for k, v in value.params.items()]
    if value.tags:
        data["tags"] = [{"key": k, "value": v} for k, v in value.tags.items()]
    inputs: dict[str, Any] = {}
    if value.dataset_inputs:
        inputs["dataset_inputs"] = [_dataset_input(d) for d in value.dataset_inputs]
    if value.model_inputs:
        inputs["model_inputs"] = [{"model_id": m} for m in value.model_inputs]
    out: dict[str, Any] = {"info": run_info(value.info), "data": data, "inputs": inputs}
    if with_outputs:
        outputs: dict[str, Any] = {}
        if value.model_outputs:
            outputs["model_outputs"] = [
                {"model_id": o.model_id, "step": o.step} for o in value.model_outputs
            ]
        out["outputs"] = outputs
    return out
