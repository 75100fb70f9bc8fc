"""Store-level rules for runs, metrics, params and tags (``mlflow/utils/validation.py``).

Texts, order of checks and JSON paths (``metrics[3].value``) are MLflow's, so a bad batch is
refused with the same message by both servers.
"""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Sequence
from typing import Any

from mlflow_core.domain.runs import DatasetInput, Metric, Param, RunTag
from mlflow_core.errors import MlflowCoreError
from mlflow_core.validation import limits
from mlflow_core.validation.messages import exceeds_maximum_length, invalid_value, missing_value
from mlflow_core.validation.names import (
    _BAD_CHARACTER_MESSAGE,
    _VALID_KEY,
    bad_path_message,
    path_not_unique,
)

_RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_MISSING_KEY_NAME = "A key name must be provided."


def json_path(current: str, value: str) -> str:
    """MLflow's ``append_to_json_path``."""
    if not current:
        return value
    if value.startswith("["):
        return f"{current}{value}"
    return f"{current}.{value}"


def truncate_long_values() -> bool:
    """MLFLOW_TRUNCATE_LONG_VALUES (default on): long param/tag values are cut, not refused."""
    raw = os.environ.get("MLFLOW_TRUNCATE_LONG_VALUES")
    if raw is None:
        return True
    return raw.strip().lower() in ("true", "1")


def _limited(entity: str, limit: int, value: str | None, *, truncate: bool = False) -> Any:
    if value is None or len(value) <= limit:
        return value
    if truncate and truncate_long_values():
        return value[:limit]
    raise MlflowCoreError.invalid_parameter_value(exceeds_maximum_length(entity, limit))


def _check_name(name: str, path: str) -> None:
    if not _VALID_KEY.match(name):
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(path, name, _BAD_CHARACTER_MESSAGE)
        )
    if path_not_unique(name):
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(path, name, bad_path_message(name))
        )


def _is_numeric(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


def validate_metric(metric: Metric, path: str = "") -> None:
    key, value, timestamp, step = metric.key, metric.value, metric.timestamp, metric.step
    name_path = json_path(path, "name")
    if key is None:
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(name_path, key, f"Metric name cannot be None. {_MISSING_KEY_NAME}")
        )
    _check_name(key, name_path)
    if value is None:
        raise MlflowCoreError.invalid_parameter_value(missing_value(json_path(path, "value")))
    if not _is_numeric(value):
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(
                json_path(path, "value"),
                value,
                f"(timestamp={timestamp}). "
                "Please specify value as a valid double (64-bit floating point)",
            )
        )
    if not isinstance(timestamp, numbers.Number) or timestamp < 0:
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(
                json_path(path, "timestamp"),
                timestamp,
                f"metric '{key}' (value={value}). "
                "Timestamp must be a nonnegative long (64-bit integer) ",
            )
        )
    if not isinstance(step, numbers.Number):
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(
                json_path(path, "step"),
                step,
                f"metric '{key}' (value={value}). Step must be a valid long (64-bit integer).",
            )
        )
    _limited("Metric name", limits.MAX_ENTITY_KEY_LENGTH, key)


def validate_param(param: Param, path: str = "") -> Param:
    """The param as MLflow stores it (a long value cut to the limit), or MLflow's error."""
    key_path = json_path(path, "key")
    if param.key is None:
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(key_path, "", _MISSING_KEY_NAME)
        )
    _check_name(param.key, key_path)
    key = _limited("Param key", limits.MAX_ENTITY_KEY_LENGTH, param.key)
    value = _limited("Param value", limits.MAX_PARAM_VAL_LENGTH, param.value, truncate=True)
    return param if value is param.value else Param(key, value)


def validate_tag(tag: RunTag, path: str = "") -> RunTag:
    """The tag as MLflow stores it (a long value cut to the limit), or MLflow's error."""
    key_path = json_path(path, "key")
    if tag.key is None:
        raise MlflowCoreError.invalid_parameter_value(missing_value(key_path))
    _check_name(tag.key, key_path)
    _limited(key_path, limits.MAX_ENTITY_KEY_LENGTH, tag.key)
    value = _limited(json_path(path, "value"), limits.MAX_TAG_VAL_LENGTH, tag.value, truncate=True)
    return tag if value is tag.value else RunTag(tag.key, value)


def validate_run_id(run_id: str, path: str = "run_id") -> None:
    if _RUN_ID.match(run_id) is None:
        raise MlflowCoreError.invalid_parameter_value(invalid_value(path, run_id))


def _batch_limit(entity: str, limit: int, length: int) -> None:
    if length > limit:
        raise MlflowCoreError.invalid_parameter_value(
            f"A batch logging request can contain at most {limit} {entity}. "
            f"Got {length} {entity}. Please split up {entity} across multiple"
            " requests and try again."
        )


def validate_batch(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> tuple[list[Param], list[RunTag]]:
    """MLflow's log_batch checks, in its order; returns params and tags as stored."""
    for index, metric in enumerate(metrics):
        validate_metric(metric, f"metrics[{index}]")
    checked_params = [validate_param(p, f"params[{i}]") for i, p in enumerate(params)]
    checked_tags = [validate_tag(t, f"tags[{i}]") for i, t in enumerate(tags)]
    _batch_limit("metrics", limits.MAX_METRICS_PER_BATCH, len(metrics))
    _batch_limit("params", limits.MAX_PARAMS_TAGS_PER_BATCH, len(params))
    _batch_limit("tags", limits.MAX_PARAMS_TAGS_PER_BATCH, len(tags))
    _batch_limit(
        "metrics, params, and tags",
        limits.MAX_ENTITIES_PER_BATCH,
        len(metrics) + len(params) + len(tags),
    )
    seen: list[str] = []
    duplicates: list[str] = []
    for param in checked_params:
        if param.key not in seen:
            seen.append(param.key)
        else:
            duplicates.append(param.key)
    if duplicates:
        raise MlflowCoreError.invalid_parameter_value(
            f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure "
            "the request contains only one param value per param key."
        )
    return checked_params, checked_tags


def validate_dataset_inputs(inputs: Sequence[DatasetInput]) -> None:
    """MLflow's ``_validate_dataset_inputs``: each dataset and its input tags, in its order.

    The None checks matter to library and shim callers (a REST request has no None strings).
    """
    for dataset_input in inputs:
        dataset = dataset_input.dataset
        if dataset is None:
            raise MlflowCoreError.invalid_parameter_value("Dataset cannot be None")
        for name in ("name", "digest", "source_type", "source"):
            if getattr(dataset, name) is None:
                raise MlflowCoreError.invalid_parameter_value(f"Dataset {name} cannot be None")
        for name, value, limit in (
            ("name", dataset.name, limits.MAX_DATASET_NAME_SIZE),
            ("digest", dataset.digest, limits.MAX_DATASET_DIGEST_SIZE),
            ("source", dataset.source, limits.MAX_DATASET_SOURCE_SIZE),
            ("schema", dataset.schema, limits.MAX_DATASET_SCHEMA_SIZE),
            ("profile", dataset.profile, limits.MAX_DATASET_PROFILE_SIZE),
        ):
            if value is not None and len(value) > limit:
                raise MlflowCoreError.invalid_parameter_value(exceeds_maximum_length(name, limit))
        for tag in dataset_input.tags:
            if tag is None:
                raise MlflowCoreError.invalid_parameter_value("InputTag cannot be None")
            if tag.key is None:
                raise MlflowCoreError.invalid_parameter_value("InputTag key cannot be None")
            if tag.value is None:
                raise MlflowCoreError.invalid_parameter_value("InputTag value cannot be None")
            if len(tag.key) > limits.MAX_INPUT_TAG_KEY_SIZE:
                raise MlflowCoreError.invalid_parameter_value(
                    exceeds_maximum_length("key", limits.MAX_INPUT_TAG_KEY_SIZE)
                )
            if len(tag.value) > limits.MAX_INPUT_TAG_VALUE_SIZE:
                raise MlflowCoreError.invalid_parameter_value(
                    exceeds_maximum_length("value", limits.MAX_INPUT_TAG_VALUE_SIZE)
                )
