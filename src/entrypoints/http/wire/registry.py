"""Registry domain values as MLflow's JSON (what ``to_proto`` + ``message_to_json`` give).

``model_registry.proto`` is proto2: a field MLflow's ``to_proto`` sets is written even when
empty (``"run_id": ""``); one it skips is absent. Times are int64, written as numbers.
"""

from __future__ import annotations

from typing import Any

from mlflow_core.domain.registry import ModelVersion, RegisteredModel


def model_version(value: ModelVersion) -> dict[str, Any]:
    out: dict[str, Any] = {"name": value.name, "version": str(value.version)}
    if value.creation_time is not None:
        out["creation_timestamp"] = value.creation_time
    if value.last_updated_time is not None:
        out["last_updated_timestamp"] = value.last_updated_time
    if value.user_id is not None:
        out["user_id"] = value.user_id
    if value.current_stage is not None:
        out["current_stage"] = value.current_stage
    if value.description is not None:
        out["description"] = value.description
    if value.source is not None:
        out["source"] = value.source
    if value.run_id is not None:
        out["run_id"] = value.run_id
    if value.status is not None:
        out["status"] = value.status
    if value.status_message:
        out["status_message"] = value.status_message
    if value.tags:
        out["tags"] = [_tag(k, v) for k, v in value.tags.items()]
    if value.run_link is not None:
        out["run_link"] = value.run_link
    if value.aliases:
        out["aliases"] = list(value.aliases)
    return out


def registered_model(value: RegisteredModel) -> dict[str, Any]:
    out: dict[str, Any] = {"name": value.name}
    if value.creation_time is not None:
        out["creation_timestamp"] = value.creation_time
    if value.last_updated_time:
        out["last_updated_timestamp"] = value.last_updated_time
    if value.description:
        out["description"] = value.description
    if value.latest_versions:
        out["latest_versions"] = [model_version(v) for v in value.latest_versions]
    if value.tags:
        out["tags"] = [_tag(k, v) for k, v in value.tags.items()]
    if value.aliases:
        out["aliases"] = [{"alias": a, "version": str(v)} for a, v in value.aliases.items()]
    return out


def _tag(key: str, value: str | None) -> dict[str, str]:
    return {"key": key} if value is None else {"key": key, "value": value}
