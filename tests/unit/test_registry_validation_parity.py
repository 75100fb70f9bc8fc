"""Registry names, versions, tags, aliases and stages: our checks give MLflow's answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mlflow.entities.model_registry.model_version_stages import get_canonical_stage
from mlflow.exceptions import MlflowException
from mlflow.prompt.registry_utils import handle_resource_already_exist_error
from mlflow.utils import validation as mlflow_validation

from mlflow_core.errors import MlflowCoreError
from mlflow_core.validation import registry as ours

NAMES: list[Any] = [
    "model",
    "My Model 1",
    "",
    "   ",
    None,
    "a/b",
    "a:b",
    "..",
    ".",
    "../x",
    "x/..",
    "./x",
    "a\\b",
    "ünïcode",
    "x" * 300,
    "tab\tname",
    "with.dot",
]
VERSIONS: list[Any] = ["1", "01", " 2 ", "-1", "1.5", "abc", "", "1_0", 3, "１"]
TAGS: list[tuple[Any, Any]] = [
    ("k", "v"),
    ("k", None),
    ("k", ""),
    ("bad key!", "v"),
    ("../k", "v"),
    ("k" * 251, "v"),
    ("k", "v" * 100_001),
    ("mlflow.prompt.text", "v" * 100_001),
    (None, "v"),
    ("a/b", "v"),
]
ALIASES: list[Any] = [
    "champion",
    "Champion-2",
    "",
    None,
    "bad alias",
    "a/b",
    "latest",
    "LATEST",
    "v1",
    "V22",
    "v1a",
    "x" * 256,
    "ünï",
]
STAGES = ["None", "none", "STAGING", "production", "Archived", "archived", "Deleted_Internal", "x"]


def _outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except (MlflowException, MlflowCoreError) as exc:
        return "error", exc.message
    except Exception as exc:
        return "crash", type(exc).__name__


@pytest.mark.parametrize("name", NAMES)
def test_model_names(name: Any) -> None:
    assert _outcome(ours.validate_model_name, name) == _outcome(
        mlflow_validation._validate_model_name, name
    )
    assert _outcome(ours.validate_model_renaming, name) == _outcome(
        mlflow_validation._validate_model_renaming, name
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_versions(version: Any) -> None:
    assert _outcome(ours.parse_model_version, version) == _outcome(
        mlflow_validation._validate_model_version, version
    )


@pytest.mark.parametrize(("key", "value"), TAGS)
def test_tags(key: Any, value: Any) -> None:
    for mine, theirs in (
        (ours.validate_registered_model_tag, mlflow_validation._validate_registered_model_tag),
        (ours.validate_model_version_tag, mlflow_validation._validate_model_version_tag),
    ):
        expected = _outcome(theirs, key, value)
        actual = _outcome(mine, key, value)
        if expected[0] == "crash":  # MLflow's TypeError on None: we must still refuse it
            assert actual[0] == "error"
        else:
            assert actual == expected


@pytest.mark.parametrize("alias", ALIASES)
def test_aliases(alias: Any) -> None:
    assert _outcome(ours.validate_alias_name, alias) == _outcome(
        mlflow_validation._validate_model_alias_name, alias
    )
    if isinstance(alias, str):
        assert _outcome(ours.validate_alias_not_reserved, alias) == _outcome(
            mlflow_validation._validate_model_alias_name_reserved, alias
        )


@pytest.mark.parametrize("stage", STAGES)
def test_stages(stage: str) -> None:
    assert _outcome(ours.canonical_stage, stage) == _outcome(get_canonical_stage, stage)


@pytest.mark.parametrize("existing", [True, False])
@pytest.mark.parametrize("new", [True, False])
def test_name_taken_messages(existing: bool, new: bool) -> None:
    expected = _outcome(handle_resource_already_exist_error, "n", existing, new)
    assert ("error", ours.name_taken("n", existing, new).message) == expected
