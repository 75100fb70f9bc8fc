"""Store-level rules for experiments (what ``SqlAlchemyStore`` checks before touching the DB)."""

from __future__ import annotations

import os

from mlflow_core.errors import MlflowCoreError
from mlflow_core.validation import limits
from mlflow_core.validation.messages import exceeds_maximum_length
from mlflow_core.validation.names import validate_length_limit, validate_tag_name
from mlflow_core.validation.trace_archival import validate_trace_experiment_tag

CUSTOM_VIEW_TAG_PREFIX = "mlflow.customView.view"


def validate_experiment_name(name: str | None) -> None:
    if name == "" or name is None:
        raise MlflowCoreError.invalid_parameter_value(f"Invalid experiment name: '{name}'")
    if len(name) > limits.MAX_EXPERIMENT_NAME_LENGTH:
        raise MlflowCoreError.invalid_parameter_value(
            exceeds_maximum_length("name", limits.MAX_EXPERIMENT_NAME_LENGTH)
        )


def validate_experiment_tag(key: str | None, value: str | None) -> None:
    validate_tag_name(key)
    validate_length_limit("key", limits.MAX_EXPERIMENT_TAG_KEY_LENGTH, key)
    validate_length_limit("value", limits.MAX_EXPERIMENT_TAG_VAL_LENGTH, value)
    validate_trace_experiment_tag(key, value)


def parse_experiment_id(experiment_id: str | int) -> int:
    try:
        return int(experiment_id)
    except (ValueError, TypeError):
        raise MlflowCoreError.invalid_parameter_value(
            f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer."
        ) from None


def artifact_location_max_length() -> int:
    raw = os.environ.get("MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH")
    return int(raw) if raw else limits.DEFAULT_ARTIFACT_LOCATION_MAX_LENGTH


def validate_artifact_location_length(artifact_location: str) -> None:
    max_length = artifact_location_max_length()
    if len(artifact_location) > max_length:
        raise MlflowCoreError.invalid_parameter_value(
            "Invalid artifact path length. The length of the artifact path cannot be "
            f"greater than {max_length} characters. To configure this limit, please set the "
            "MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable."
        )


def is_custom_view_tag(key: str) -> bool:
    return key.startswith(CUSTOM_VIEW_TAG_PREFIX)


def custom_view_limit_error(experiment_id: str | None = None) -> MlflowCoreError:
    experiment_ref = f" for experiment {experiment_id}" if experiment_id else ""
    return MlflowCoreError.invalid_parameter_value(
        f"Unable to create another custom view{experiment_ref}; the maximum number of custom "
        f"views per experiment is {limits.MAX_CUSTOM_VIEWS_PER_EXPERIMENT}. Delete an existing "
        "custom view before creating a new one."
    )
