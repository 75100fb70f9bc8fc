"""Which ``create_model_version`` sources we serve natively, and MLflow's checks on them.

MLflow's handler applies a security policy to a new version's ``source`` (no host-addressed
schemes, no relative path tricks, ``runs:/`` URIs must name the request's run) and, for local
paths, ``mlflow-artifacts`` URIs, ``models:/`` URIs, logged-model ids and prompts, resolves
lineage through the tracking store. We run MLflow's own policy functions for the rest and let
MLflow's application answer those (``DEFER``), so every source is judged by MLflow's code.
MLflow is imported lazily: the first such request pays for it, not start-up.

Most sources are object-store URIs (``s3://bucket/path``) whose verdict needs none of that:
``plainly_accepted`` shows MLflow would accept one without running its functions, which cost
about a tenth of a native create's CPU (``_validate_source_run`` alone 40 us). Anything it
cannot show goes through MLflow's functions as before, so it never decides a rejection.
"""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from collections.abc import Mapping

from mlflow_core.domain.registry import IS_PROMPT_TAG_KEY
from mlflow_core.entrypoints.http.fallback import MLFLOW_SERVER_IMPORT_LOCK
from mlflow_core.errors import ErrorCode, MlflowCoreError

_SOURCE_REGEX_ENV = "MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX"

# Schemes MLflow's policy treats alike: not local (``is_local_uri`` is False for any scheme but
# "" and "file"), not host-addressed (``host_policy.HOST_ADDRESSED_ARTIFACT_SCHEMES``), no
# lineage (``runs``, ``models``, ``mlflow-artifacts``, ``http(s)``), no database-engine prefix
# (``get_uri_scheme``). For them ``_validate_source_run`` is only the relative-path check.
# tests/unit/test_model_version_sources.py holds these facts against the installed MLflow.
PLAIN_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "wasb", "wasbs", "oss"})
_SLASHES = re.compile(r"/+")


def plainly_accepted(source: str, model_id: str, tags: Mapping[str, str]) -> bool:
    """True only when MLflow serves this source itself (nothing to ``DEFER``) and its checks
    accept it. False means "not shown": ask ``served_by_mlflow`` and ``check_source``."""
    if model_id or os.environ.get(_SOURCE_REGEX_ENV):
        return False
    if tags and tags.get(IS_PROMPT_TAG_KEY, "false").lower() == "true":
        return False
    try:
        if urllib.parse.urlparse(source).scheme not in PLAIN_SCHEMES:
            return False
    except ValueError:
        return False
    return _keeps_its_path(source)


def _keeps_its_path(source: str) -> bool:
    """MLflow's ``_validate_non_local_source_contains_relative_paths`` passes: the source's
    fully unquoted path has no ``..`` and resolves, on this machine's disk, to itself."""
    while (unquoted := urllib.parse.unquote_plus(source)) != source:
        source = unquoted
    if any(part == ".." for part in source.split("/")):
        return False
    try:
        path = _SLASHES.sub("/", urllib.parse.urlparse(source).path.rstrip("/"))
    except ValueError:  # MLflow's check raises it too, on the slow path
        return False
    if not path.startswith("/") or "\x00" in path:
        return False
    # ``Path(path).resolve()`` equals ``path`` when ``path`` is absolute, normalized (no "."
    # part; the slashes are already single) and has no symbolic link on its way. A link may
    # still resolve to the same path (a loop raises in ``resolve``): MLflow's code decides.
    parts = path[1:].split("/")
    if "." in parts:
        return False
    try:
        os.fsencode(path)
    except UnicodeError:  # ``resolve`` raises on characters the file system cannot name
        return False
    prefix = ""
    for part in parts:
        prefix += "/" + part
        try:
            mode = os.lstat(prefix).st_mode
        except OSError:
            # ``realpath`` takes an entry it cannot read as no link, and nothing below it can
            # be read either: the rest of the path stays as it is.
            return True
        if stat.S_ISLNK(mode):
            return False
    return True


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
