"""The fast lane for model version sources agrees with MLflow's own checks.

``plainly_accepted`` may only say yes where MLflow's ``served_by_mlflow``/``check_source`` path
(MLflow's policy functions) would serve and accept the source; the sources here are chosen to
sit on each side of every rule it reproduces, including symbolic links on this disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlflow_core.entrypoints.http import model_version_sources as sources
from mlflow_core.errors import MlflowCoreError


def mlflow_accepts(source: str, model_id: str = "", tags: dict[str, str] | None = None) -> bool:
    """The slow path's verdict: served natively and accepted by MLflow's functions."""
    if sources.served_by_mlflow(source, model_id, tags or {}):
        return False
    try:
        sources.check_source(source, "")
    except MlflowCoreError:
        return False
    return True


@pytest.mark.parametrize("scheme", sorted(sources.PLAIN_SCHEMES))
def test_plain_schemes_are_neither_local_nor_host_addressed_nor_lineage(scheme: str) -> None:
    from mlflow.server.handlers import _is_mlflow_artifact_source
    from mlflow.store.artifact.host_policy import HOST_ADDRESSED_ARTIFACT_SCHEMES
    from mlflow.store.db.db_types import DATABASE_ENGINES
    from mlflow.utils.uri import get_uri_scheme, is_local_uri

    uri = f"{scheme}://localhost/models/x"
    assert scheme not in HOST_ADDRESSED_ARTIFACT_SCHEMES
    assert scheme not in {"", "file", "runs", "models", "mlflow-artifacts", "http", "https"}
    assert not any(scheme.startswith(engine) for engine in DATABASE_ENGINES)
    assert get_uri_scheme(uri) == scheme
    assert not is_local_uri(uri)
    assert not _is_mlflow_artifact_source(uri)


def _corpus(tmp: Path) -> list[str]:
    real = tmp / "real"
    (real / "model").mkdir(parents=True)
    (tmp / "file.txt").write_text("x")
    os.symlink(real, tmp / "link")
    os.symlink(tmp / "loop", tmp / "loop")
    t = tmp.as_posix()
    return [
        "s3://bucket/models/x",
        "S3://bucket/models/x",
        "gs://bucket/a/b/c",
        "wasbs://container@account.blob.core.windows.net/path",
        "s3://bucket",
        "s3://bucket/",
        "s3://bucket//a///b/",
        "s3:bucket/relative",
        "s3:///absolute/no/host",
        "s3://bucket/a/../b",
        "s3://bucket/a/%2e%2e/b",
        "s3://bucket/a/%252e%252e/b",
        "s3://bucket/a/./b",
        "s3://bucket/a/%2E/b",
        "s3://bucket/a+b/c",
        "s3://bucket/a%00b",
        "s3://bucket/a\x00b",
        "s3://bucket/missing/a%00b",
        "s3://bucket/missing/bad\ud800surrogate",
        "s3://bucket/caf\u00e9/model",
        "s3://bucket/bad\udc80surrogate",
        "s3://bucket/bad\ud800surrogate",
        "s3://bucket/back\\slash",
        "s3://[bucket/x",
        "s3://%5Bbucket/x",
        "s3://bucket/" + "x" * 300 + "/y",
        "s3://bucket/tmp",
        f"s3://bucket{t}/real/model",
        f"s3://bucket{t}/real/model/new",
        f"s3://bucket{t}/file.txt/below",
        f"s3://bucket{t}/link/model",
        f"s3://bucket{t}/link",
        f"s3://bucket{t}/loop/x",
        "ftp://host/path",
        "https://host/path",
        "runs:/abc/model",
        "file:///tmp/x",
        "/local/path",
        "relative/path",
    ]


def test_the_fast_lane_accepts_only_what_mlflow_accepts(tmp_path: Path) -> None:
    accepted = []
    for source in _corpus(tmp_path):
        if sources.plainly_accepted(source, "", {}):
            assert mlflow_accepts(source), source
            accepted.append(source)
    t = tmp_path.as_posix()
    # The lane is not empty: the usual object-store sources take it.
    assert accepted == [
        "s3://bucket/models/x",
        "S3://bucket/models/x",
        "gs://bucket/a/b/c",
        "wasbs://container@account.blob.core.windows.net/path",
        "s3://bucket//a///b/",
        "s3:///absolute/no/host",
        "s3://bucket/a+b/c",
        "s3://bucket/caf\u00e9/model",
        "s3://bucket/bad\udc80surrogate",
        "s3://bucket/back\\slash",
        "s3://bucket/" + "x" * 300 + "/y",
        "s3://bucket/tmp",
        f"s3://bucket{t}/real/model",
        f"s3://bucket{t}/real/model/new",
        f"s3://bucket{t}/file.txt/below",
    ]


def test_a_symbolic_link_on_the_path_is_left_to_mlflow(tmp_path: Path) -> None:
    _corpus(tmp_path)
    through_link = f"s3://bucket{tmp_path.as_posix()}/link/model"
    assert not sources.plainly_accepted(through_link, "", {})
    assert not mlflow_accepts(through_link)


@pytest.mark.parametrize(
    ("model_id", "tags"),
    [("m-123", {}), ("", {"mlflow.prompt.is_prompt": "TRUE"})],
)
def test_requests_mlflow_answers_itself_never_take_the_lane(
    model_id: str, tags: dict[str, str]
) -> None:
    assert not sources.plainly_accepted("s3://bucket/models/x", model_id, tags)
    assert sources.served_by_mlflow("s3://bucket/models/x", model_id, tags)


def test_a_source_regex_sends_every_source_to_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX", "^s3://only/")
    assert not sources.plainly_accepted("s3://bucket/models/x", "", {})
