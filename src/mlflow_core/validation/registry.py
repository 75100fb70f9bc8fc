"""Store-level rules of MLflow's model registry: names, versions, tags, aliases, stages."""

from __future__ import annotations

import re

from mlflow_core.domain.registry import ALL_STAGES, PROMPT_TEXT_TAG_KEY
from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.validation import limits
from mlflow_core.validation.messages import invalid_value, missing_value
from mlflow_core.validation.names import (
    bad_path_message,
    path_not_unique,
    validate_length_limit,
    validate_tag_name,
)

_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
LATEST_ALIAS = "latest"
_CANONICAL_STAGES = {stage.lower(): stage for stage in ALL_STAGES}


def validate_model_name(name: str | None) -> None:
    if name is None or name.strip() == "":
        raise MlflowCoreError.invalid_parameter_value(missing_value("name"))
    if "/" in name or ":" in name:
        raise MlflowCoreError.invalid_parameter_value(
            f"Invalid model name '{name}'. Names cannot contain '/' or ':'."
        )
    if path_not_unique(name):
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value("name", name, bad_path_message(name))
        )


def validate_model_renaming(new_name: str | None) -> None:
    if new_name is None or str(new_name).strip() == "":
        raise MlflowCoreError.invalid_parameter_value(missing_value("new_name"))
    validate_model_name(new_name)


def parse_model_version(version: str | int | None) -> int:
    """MLflow's ``_validate_model_version``: Python's ``int()`` decides."""
    try:
        return int(version)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise MlflowCoreError.invalid_parameter_value(
            f"Parameter 'version' must be an integer, got '{version}'."
        ) from None


def validate_registered_model_tag(key: str | None, value: str | None) -> None:
    validate_tag_name(key)
    validate_length_limit("key", limits.MAX_MODEL_REGISTRY_TAG_KEY_LENGTH, key)
    validate_length_limit("value", limits.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, value)


def validate_model_version_tag(key: str | None, value: str | None) -> None:
    validate_tag_name(key)
    if value is None:
        raise MlflowCoreError.invalid_parameter_value("Tag value cannot be None")
    validate_length_limit("key", limits.MAX_MODEL_REGISTRY_TAG_KEY_LENGTH, key)
    if key == PROMPT_TEXT_TAG_KEY and len(value) > limits.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH:
        raise MlflowCoreError.invalid_parameter_value(
            "Prompt text exceeds max length of "
            f"{limits.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH} characters."
        )
    validate_length_limit("value", limits.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, value)


def validate_alias_name(alias: str | None) -> None:
    if alias is None or alias == "":
        raise MlflowCoreError.invalid_parameter_value(
            "Registered model alias name cannot be empty."
        )
    if not _ALIAS.match(alias):
        raise MlflowCoreError.invalid_parameter_value(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            "underscores (_), and dashes (-)."
        )
    validate_length_limit(
        "Registered model alias name", limits.MAX_REGISTERED_MODEL_ALIAS_LENGTH, alias
    )


def validate_alias_not_reserved(alias: str) -> None:
    if alias.lower() == LATEST_ALIAS:
        raise MlflowCoreError.invalid_parameter_value(
            "'latest' alias name (case insensitive) is reserved."
        )
    if _VERSION_ALIAS.match(alias):
        raise MlflowCoreError.invalid_parameter_value(f"Version alias name '{alias}' is reserved.")


def canonical_stage(stage: str) -> str:
    canonical = _CANONICAL_STAGES.get(stage.lower())
    if canonical is None:
        raise MlflowCoreError.invalid_parameter_value(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ALL_STAGES)}."
        )
    return canonical


# -- the errors the registry store reports, worded as MLflow's ----------------------------------


def model_not_found(name: str) -> MlflowCoreError:
    return MlflowCoreError.does_not_exist(f"Registered Model with name={name} not found")


def version_not_found(name: str, version: int | str) -> MlflowCoreError:
    return MlflowCoreError.does_not_exist(
        f"Model Version (name={name}, version={version}) not found"
    )


def name_taken(name: str, existing_is_prompt: bool, new_is_prompt: bool) -> MlflowCoreError:
    """``handle_resource_already_exist_error``: a model and a prompt cannot share a name."""
    old_entity = "Prompt" if existing_is_prompt else "Registered Model"
    new_entity = "Prompt" if new_is_prompt else "Registered Model"
    if old_entity != new_entity:
        return MlflowCoreError.already_exists(
            f"Tried to create a {new_entity.lower()} with name {name!r}, but the name is "
            f"already taken by a {old_entity.lower()}. MLflow does not allow creating a "
            "model and a prompt with the same name."
        )
    return MlflowCoreError.already_exists(f"{new_entity} (name={name}) already exists.")


def internal(message: str) -> MlflowCoreError:
    """MLflow raises some of its errors without a code: its server answers INTERNAL_ERROR."""
    return MlflowCoreError(message, ErrorCode.INTERNAL_ERROR)
