"""Our error codes, HTTP statuses and JSON bodies are MLflow's."""

from __future__ import annotations

import json

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from mlflow_core.errors import ErrorCode, MlflowCoreError


@pytest.mark.parametrize("code", list(ErrorCode))
def test_each_code_answers_as_mlflow_does(code: ErrorCode) -> None:
    theirs = MlflowException("boom", error_code=databricks_pb2.ErrorCode.Value(code.value))
    ours = MlflowCoreError("boom", code)
    assert ours.http_status == theirs.get_http_status_code()
    assert ours.to_dict() == json.loads(theirs.serialize_as_json())
