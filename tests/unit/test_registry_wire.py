"""Our registry JSON is what MLflow's ``to_proto`` + ``message_to_json`` make of the same values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion
from mlflow.entities.model_registry import RegisteredModel as MlflowRegisteredModel
from mlflow.entities.model_registry import RegisteredModelAlias, RegisteredModelTag
from mlflow.entities.model_registry.model_version_tag import ModelVersionTag
from mlflow.utils.proto_json_utils import message_to_json

from mlflow_core.domain.registry import ModelVersion, RegisteredModel
from mlflow_core.entrypoints.http.wire import registry as wire

VERSIONS = [
    ModelVersion("m", 1, 10, 20, None, None, "None", "s3://b", None, None, "READY", None),
    ModelVersion("m", 2, 10, None, "", "", "Production", "", "", "", "READY", ""),
    ModelVersion(
        "m",
        3,
        10,
        30,
        "d",
        "u",
        "Archived",
        "s",
        "r",
        "l",
        "READY",
        "msg",
        {"k": "v", "e": ""},
        ("a",),
    ),
]


def _mlflow_version(value: ModelVersion) -> MlflowModelVersion:
    build: Any = MlflowModelVersion  # its hints leave out None, which it accepts
    return build(  # type: ignore[no-any-return]
        value.name,
        value.version,
        value.creation_time,
        value.last_updated_time,
        value.description,
        value.user_id,
        value.current_stage,
        value.source,
        value.run_id,
        value.status,
        value.status_message,
        [ModelVersionTag(k, v) for k, v in value.tags.items()],
        value.run_link,
        list(value.aliases),
    )


def _json(message: Any) -> Any:
    return json.loads(message_to_json(message))


@pytest.mark.parametrize("value", VERSIONS)
def test_model_version(value: ModelVersion) -> None:
    assert wire.model_version(value) == _json(_mlflow_version(value).to_proto())


@pytest.mark.parametrize(
    "value",
    [
        RegisteredModel("m", 1, 2, None),
        RegisteredModel("m", 1, None, ""),
        RegisteredModel("m", 1, 2, "d", {"k": "v"}, {"champ": 3}, VERSIONS[:2]),
    ],
)
def test_registered_model(value: RegisteredModel) -> None:
    theirs = MlflowRegisteredModel(
        value.name,
        value.creation_time,
        value.last_updated_time,
        value.description,
        [_mlflow_version(v) for v in value.latest_versions],
        [RegisteredModelTag(k, v) for k, v in value.tags.items()],
        [RegisteredModelAlias(a, v) for a, v in value.aliases.items()],
    )
    assert wire.registered_model(value) == _json(theirs.to_proto())
