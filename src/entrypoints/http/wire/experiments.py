"""Domain values as MLflow's JSON: the dicts ``message_to_json`` would produce for them.

Built directly instead of through protobuf messages (about 10x cheaper for a page of
results); field names, order, presence rules and int64-as-number follow MLflow's protos and
its ``to_proto`` methods.
"""

from __future__ import annotations

from typing import Any

from mlflow_core.domain.datasets import DatasetSummary
from mlflow_core.domain.experiments import Experiment


def experiment(value: Experiment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "experiment_id": value.experiment_id,
        "name": value.name,
    }
    if value.artifact_location is not None:
        out["artifact_location"] = value.artifact_location
    out["lifecycle_stage"] = value.lifecycle_stage.value
    # Experiment.to_proto sets the times only when truthy (pre-1.29 rows have none).
    if value.last_update_time:
        out["last_update_time"] = value.last_update_time
    if value.creation_time:
        out["creation_time"] = value.creation_time
    if value.tags:
        out["tags"] = [{"key": k, "value": v} for k, v in value.tags.items()]
    out["workspace"] = value.workspace
    return out


def dataset_summary(summary: DatasetSummary) -> dict[str, Any]:
    """``_DatasetSummary.to_proto``: the context only when non-empty."""
    out: dict[str, Any] = {
        "experiment_id": summary.experiment_id,
        "name": summary.name,
        "digest": summary.digest,
    }
    if summary.context:
        out["context"] = summary.context
    return out
