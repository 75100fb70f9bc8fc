"""Experiment tags that configure trace archival carry a JSON duration MLflow checks on write."""

from __future__ import annotations

import json
import re
from typing import Any

from mlflow_core.errors import MlflowCoreError
from mlflow_core.validation import limits

ARCHIVAL_RETENTION_TAG = "mlflow.trace.archivalRetention"
ARCHIVE_NOW_TAG = "mlflow.trace.archiveNow"
_RETENTION = re.compile(r"^[1-9][0-9]*[mhd]$")
_RETENTION_FORM = (
    "Trace archival retention must be in the form `<int><unit>`, "
    "where unit is one of 'm', 'h', or 'd'."
)


def validate_retention_string(value: Any) -> str:
    if not isinstance(value, str):
        raise MlflowCoreError.invalid_parameter_value(_RETENTION_FORM)
    trimmed = value.strip()
    if len(trimmed) > limits.MAX_TRACE_ARCHIVAL_RETENTION_LENGTH:
        raise MlflowCoreError.invalid_parameter_value(
            "Trace archival duration must be at most 32 characters."
        )
    if _RETENTION.fullmatch(trimmed) is None:
        raise MlflowCoreError.invalid_parameter_value(_RETENTION_FORM)
    return trimmed


def _parse_duration_config(
    value: str | None,
    *,
    duration_key: str,
    expected_type: str | None = None,
    allow_missing_duration: bool = False,
) -> str | None:
    if value is None:
        return None
    try:
        payload = json.loads(value)
    except Exception:
        raise MlflowCoreError.invalid_parameter_value(
            "Trace archival config must be encoded as a JSON object."
        ) from None
    if not isinstance(payload, dict):
        raise MlflowCoreError.invalid_parameter_value(
            "Trace archival config must be encoded as a JSON object."
        )
    if expected_type is not None and payload.get("type") != expected_type:
        raise MlflowCoreError.invalid_parameter_value(
            f"Trace archival config must use type '{expected_type}'."
        )
    duration = payload.get(duration_key)
    if duration is None and allow_missing_duration:
        return None
    return validate_retention_string(duration)


def validate_trace_experiment_tag(key: str | None, value: str | None) -> None:
    if key == ARCHIVAL_RETENTION_TAG:
        _parse_duration_config(value, duration_key="value", expected_type="duration")
    elif key == ARCHIVE_NOW_TAG:
        _parse_duration_config(value, duration_key="older_than", allow_missing_duration=True)
