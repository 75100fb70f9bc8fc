"""Rules for entity keys (tags, params, metrics) shared by every resource."""

from __future__ import annotations

import posixpath
import re

from mlflow_core.errors import MlflowCoreError
from mlflow_core.validation.messages import exceeds_maximum_length, invalid_value, missing_value

# POSIX rule of mlflow.utils.validation.validate_param_and_metric_name (colons allowed).
_VALID_KEY = re.compile(r"^[/\w.\- :]*$")
_BAD_CHARACTER_MESSAGE = (
    "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.),"
    " spaces ( ), colon(:) and slashes (/)."
)


def bad_path_message(name: str) -> str:
    return (
        "Names may be treated as files in certain cases, and must not resolve to other names"
        f" when treated as such. This name would resolve to {posixpath.normpath(name)!r}"
    )


def path_not_unique(name: str) -> bool:
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith(("..", "/"))


def validate_tag_name(name: str | None, path: str = "key") -> None:
    if name is None:
        raise MlflowCoreError.invalid_parameter_value(missing_value(path))
    if not _VALID_KEY.match(name):
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(path, name, _BAD_CHARACTER_MESSAGE)
        )
    if path_not_unique(name):
        raise MlflowCoreError.invalid_parameter_value(
            invalid_value(path, name, bad_path_message(name))
        )


def validate_length_limit(entity_name: str, limit: int, value: str | None) -> None:
    if value is not None and len(value) > limit:
        raise MlflowCoreError.invalid_parameter_value(exceeds_maximum_length(entity_name, limit))
