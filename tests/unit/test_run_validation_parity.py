"""Our run rules give MLflow's answers (``mlflow/utils/validation.py``) on a spread of inputs."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from mlflow.entities import Metric as MlflowMetric
from mlflow.entities import Param as MlflowParam
from mlflow.entities import RunTag as MlflowRunTag
from mlflow.exceptions import MlflowException
from mlflow.utils import validation as mlflow_validation

from mlflow_core.domain.runs import Metric, Param, RunTag
from mlflow_core.errors import MlflowCoreError
from mlflow_core.validation import runs as ours

KEYS: list[Any] = ["loss", "a/b", "x:y", "with space", "bad!", "../up", "/abs", ".", "k" * 250]
KEYS += ["k" * 251, "", "a//b", "ü", None]
VALUES: list[Any] = [0.5, 0, -1, math.nan, math.inf, None, "1.5", True]
TIMESTAMPS: list[Any] = [0, 5, -1, None, 1.5]
STEPS: list[Any] = [0, -3, None, "2"]
TEXTS: list[Any] = ["", "v", "v" * 5999, "v" * 6001, "v" * 8001, None]


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except (MlflowException, MlflowCoreError) as error:
        code = getattr(error, "error_code", None)
        return str(code).rsplit(".", 1)[-1], error.message


@pytest.mark.parametrize("path", ["", "metrics[3]"])
def test_metric_rules(path: str) -> None:
    for key, value, timestamp, step in itertools.product(KEYS, VALUES, TIMESTAMPS, STEPS):
        theirs = _outcome(mlflow_validation._validate_metric, key, value, timestamp, step, path)
        mine = _outcome(ours.validate_metric, Metric(key, value, timestamp, step), path)
        assert mine == theirs, (key, value, timestamp, step)


@pytest.mark.parametrize("path", ["", "params[1]"])
@pytest.mark.parametrize("truncate", ["true", "false"])
def test_param_rules(path: str, truncate: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", truncate)
    for key, value in itertools.product(KEYS, TEXTS):
        theirs = _outcome(mlflow_validation._validate_param, key, value, path)
        mine = _outcome(ours.validate_param, Param(key, value), path)
        assert mine[0] == theirs[0], (key, value)
        if mine[0] == "ok":
            assert (mine[1].key, mine[1].value) == (theirs[1].key, theirs[1].value)
        else:
            assert mine[1] == theirs[1], (key, value)


@pytest.mark.parametrize("path", ["", "tags[2]"])
@pytest.mark.parametrize("truncate", ["true", "false"])
def test_tag_rules(path: str, truncate: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRUNCATE_LONG_VALUES", truncate)
    for key, value in itertools.product(KEYS, TEXTS):
        theirs = _outcome(mlflow_validation._validate_tag, key, value, path)
        mine = _outcome(ours.validate_tag, RunTag(key, value), path)
        assert mine[0] == theirs[0], (key, value)
        if mine[0] == "ok":
            assert (mine[1].key, mine[1].value) == (theirs[1].key, theirs[1].value)
        else:
            assert mine[1] == theirs[1], (key, value)


@pytest.mark.parametrize("run_id", ["abc", "a" * 256, "a" * 257, "-a", "a-b_c", "", "a b"])
def test_run_id_rule(run_id: str) -> None:
    assert (
        _outcome(ours.validate_run_id, run_id)[1:]
        == _outcome(mlflow_validation._validate_run_id, run_id)[1:]
    )


def _mlflow_batch(metrics: int, params: list[str], tags: int) -> tuple[str, Any]:
    def run() -> None:
        m = [MlflowMetric("m", 1.0, 1, 0)] * metrics
        p = [MlflowParam(key, "v") for key in params]
        t = [MlflowRunTag("t", "v")] * tags
        mlflow_validation._validate_batch_log_data(m, p, t)
        mlflow_validation._validate_batch_log_limits(m, p, t)
        mlflow_validation._validate_param_keys_unique(p)

    return _outcome(run)


@pytest.mark.parametrize(
    ("metrics", "params", "tags"),
    [
        (1000, [], 0),
        (1001, [], 0),
        (0, [f"p{i}" for i in range(101)], 0),
        (0, [], 101),
        (900, [f"p{i}" for i in range(100)], 1),
        (10, ["a", "b", "a", "c", "b", "a"], 1),
        (0, ["bad!"], 0),
    ],
)
def test_batch_limits_and_duplicate_params(metrics: int, params: list[str], tags: int) -> None:
    mine = _outcome(
        ours.validate_batch,
        [Metric("m", 1.0, 1, 0)] * metrics,
        [Param(key, "v") for key in params],
        [RunTag("t", "v")] * tags,
    )
    theirs = _mlflow_batch(metrics, params, tags)
    assert mine[0] == theirs[0]
    if mine[0] != "ok":
        assert mine[1] == theirs[1]


DATASET_TEXTS: list[Any] = ["d", "", "x" * 600, "x" * 2000, "x" * 70000, None]


def test_dataset_input_rules() -> None:
    from mlflow.entities import Dataset as MlflowDataset
    from mlflow.entities import DatasetInput as MlflowDatasetInput
    from mlflow.entities import InputTag as MlflowInputTag

    from mlflow_core.domain.runs import Dataset, DatasetInput, InputTag

    fields = itertools.product(DATASET_TEXTS, repeat=4)
    tags: list[Any] = [("k", "v"), (None, "v"), ("k", None), ("k" * 300, "v"), ("k", "v" * 600)]
    cases: list[Any] = [(f, ("k", "v")) for f in fields] + [(("n", "d", "t", "s"), t) for t in tags]
    for (name, digest, source_type, source), (key, value) in cases:
        theirs_input = MlflowDatasetInput(
            MlflowDataset(name, digest, source_type, source), [MlflowInputTag(key, value)]
        )
        mine_dataset = Dataset(name, digest, source_type, source)
        mine_input = DatasetInput(mine_dataset, [InputTag(key, value)])
        theirs = _outcome(mlflow_validation._validate_dataset_inputs, [theirs_input])
        mine = _outcome(ours.validate_dataset_inputs, [mine_input])
        assert mine == theirs, (name, digest, source_type, source, key, value)
