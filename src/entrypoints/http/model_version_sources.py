"""Which ``create_model_version`` sources we serve natively, and MLflow's checks on them.

MLflow's handler applies a security policy to a new version's ``source`` (no host-addressed
schemes, no relative path tricks, ``runs:/`` URIs must name the request's run) and, for local
paths, ``mlflow-artifacts`` URIs, ``models:/`` URIs, logged-model ids and prompts, resolves
lineage through the tracking store. We run MLflow's own policy functions for the rest and let
MLflow's application answer those (``DEFER``), so every source is judged by MLflow's code.
MLflow is imported lazily: the first such request pays for it, not start-up.
"""

from __future__ import annotations

import os
import urllib.parse

from mlflow_core.domain.registry import IS_PROMPT_TAG_KEY
from mlflow_core.entrypoints.http.fallback import MLFLOW_SERVER_IMPORT_LOCK
from mlflow_core.errors import ErrorCode, MlflowCoreError

_SOURCE_REGEX_ENV = "MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX"


def served_by_mlflow(source: str, model_id: str, tags: dict[str, str]) -> bool:
    """True when MLflow's application must answer this create_model_version request."""
    if model_id or os.environ.get(_SOURCE_REGEX_ENV):
        return True
    if tags.get(IS_PROMPT_TAG_KEY, "false").lower() == "true":
        return True
    if urllib.parse.urlparse(source).scheme == "models":
        return True
    with MLFLOW_SERVER_IMPORT_LOCK:
        from mlflow.server.handlers import _is_mlflow_artifact_source
        from mlflow.utils.uri import is_local_uri

    try:
        return bool(is_local_uri(source) or _is_mlflow_artifact_source(source))  # type: ignore[no-untyped-call]
    except Exception:
        return True


def check_source(source: str, run_id: str) -> None:
    """MLflow's checks for a source that needs no tracking lookups (``served_by_mlflow`` False)."""
    with MLFLOW_SERVER_IMPORT_LOCK:
        from mlflow.exceptions import MlflowException
        from mlflow.server.handlers import _validate_artifact_uri_scheme, _validate_source_run

    try:
        _validate_artifact_uri_scheme(source, "source")
        _validate_source_run(source, run_id)
    except MlflowException as exc:
        raise MlflowCoreError(exc.message, ErrorCode(exc.error_code)) from None
