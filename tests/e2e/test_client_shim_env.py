"""MLFLOW_CORE_ENABLE=1 puts the shim under ``mlflow`` at import, with no code change.

Each case runs a fresh interpreter, as a user's program would start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_PROGRAM = """
import sys
import mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri(sys.argv[1])
experiment = mlflow.set_experiment("env")
with mlflow.start_run():
    mlflow.log_metric("m", 1.0)
print(type(MlflowClient()._tracking_client.store).__name__)
print(type(MlflowClient()._get_registry_client().store).__name__)
print(experiment.name)
"""


def _run(tmp_path: Path, enable: str | None) -> list[str]:
    # A user's program: none of the variables another test in this process may have exported.
    unset = ("MLFLOW_CORE_ENABLE", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    if enable is not None:
        env["MLFLOW_CORE_ENABLE"] = enable
    uri = f"sqlite:///{tmp_path / 'env.db'}"
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, uri],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("value", ["1", "true"])
def test_environment_variable_enables_the_shim_at_import(tmp_path: Path, value: str) -> None:
    assert _run(tmp_path, value) == ["ShimTrackingStore", "ShimRegistryStore", "env"]


@pytest.mark.parametrize("value", [None, "0"])
def test_without_it_mlflow_keeps_its_own_stores(tmp_path: Path, value: str | None) -> None:
    assert _run(tmp_path, value) == ["SqlAlchemyStore", "SqlAlchemyStore", "env"]
