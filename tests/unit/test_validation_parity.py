"""Our re-implementations of MLflow's helpers give MLflow's answers on a spread of inputs."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.utils import uri as mlflow_uri
from mlflow.utils import validation as mlflow_validation

from mlflow_core import artifact_uris
from mlflow_core.errors import MlflowCoreError
from mlflow_core.validation import experiments as ours
from mlflow_core.validation import names

ROOTS = [
    "mlflow-artifacts:/",
    "mlflow-artifacts://host:5000/path",
    "s3://bucket/prefix",
    "s3://bucket/prefix?query=1",
    "/abs/path",
    "rel/path",
    "file:///abs/path",
    "file:rel",
    "./mlruns",
    "gs://b",
    "hdfs://nn:8020/x/",
    "dbfs:/databricks/mlflow",
    "http://host/a/b/",
]
SUFFIXES = ["0", "12", "/abs", "a/b", ""]


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_append_to_uri_path(root: str, suffix: str) -> None:
    assert artifact_uris.append_to_uri_path(root, suffix) == mlflow_uri.append_to_uri_path(
        root, suffix
    )


@pytest.mark.parametrize("uri", [*ROOTS, "file://localhost/x", "C:/x", "databricks"])
def test_resolve_uri_if_local(uri: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert artifact_uris.resolve_uri_if_local(uri) == mlflow_uri.resolve_uri_if_local(uri)


def test_traversal_in_query_is_refused_like_mlflow() -> None:
    with pytest.raises(MlflowException) as theirs:
        mlflow_uri.append_to_uri_path("s3://b/p?x=%2E%2E/", "1")
    with pytest.raises(MlflowCoreError) as mine:
        artifact_uris.append_to_uri_path("s3://b/p?x=%2E%2E/", "1")
    assert mine.value.message == theirs.value.message


KEYS = ["a", "a/b", "a b", "a:b", "a.b-c_d", "", "../x", "./x", "/x", "a//b", "a/", ".", "é", "a$b"]


def _outcome(fn, *args):
    try:
        fn(*args)
    except (MlflowException, MlflowCoreError) as exc:
        return exc.message
    return None


@pytest.mark.parametrize("key", KEYS)
def test_tag_names(key: str) -> None:
    assert _outcome(names.validate_tag_name, key) == _outcome(
        mlflow_validation._validate_tag_name, key
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("k", "v"),
        ("k" * 251, "v"),
        ("k", "v" * 20001),
        ("mlflow.trace.archivalRetention", "x"),
        ("mlflow.trace.archivalRetention", "[]"),
        ("mlflow.trace.archivalRetention", '{"type": "other"}'),
        ("mlflow.trace.archivalRetention", '{"type": "duration", "value": "0d"}'),
        ("mlflow.trace.archivalRetention", '{"type": "duration", "value": "30d"}'),
        ("mlflow.trace.archiveNow", "{}"),
        ("mlflow.trace.archiveNow", '{"older_than": "5x"}'),
        ("mlflow.trace.archiveNow", '{"older_than": "' + "1" * 40 + 'd"}'),
    ],
)
def test_experiment_tags(key: str, value: str) -> None:
    assert _outcome(ours.validate_experiment_tag, key, value) == _outcome(
        mlflow_validation._validate_experiment_tag, key, value
    )


@pytest.mark.parametrize("name", ["", "ok", "x" * 500, "x" * 501])
def test_experiment_names(name: str) -> None:
    assert _outcome(ours.validate_experiment_name, name) == _outcome(
        mlflow_validation._validate_experiment_name, name
    )
