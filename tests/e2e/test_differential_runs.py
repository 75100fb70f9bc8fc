"""The same run requests, good and bad, against stock ``mlflow server`` and ours.

Run ids are random, so the script names runs by the order they were created (``$R0`` is the
id the first successful create-run returned on that server) and every answer has each
server's ids replaced by those names before comparing. Names MLflow generates for unnamed
runs are random too: both must be of its adjective-noun-number shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_differential_experiments import Call, _comparable, _mlflow_crashed, _send
from tests.support.databases import fresh_database
from tests.support.servers import Server, mlflow_core_server, started_together, stock_mlflow_server

API = "/api/2.0/mlflow"
JSON = (("Content-Type", "application/json"),)
_GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+-\d{1,3}$")
_RUN_REF = re.compile(r"\$R(\d+)")
_OFFSET_2 = "eyJvZmZzZXQiOiAyfQ=="  # MLflow's page token for offset 2


def post(path: str, body: Any) -> Call:
    return Call("POST", f"{API}/{path}", body)


def get(path: str, query: str) -> Call:
    return Call("GET", f"{API}/{path}", None, query, ())


def _metric(key: str, value: Any, timestamp: Any = 1, step: Any = 0) -> dict[str, Any]:
    return {"key": key, "value": value, "timestamp": timestamp, "step": step}


def _dataset(name: str, digest: str = "abc123", **more: str) -> dict[str, Any]:
    return {"name": name, "digest": digest, "source_type": "local", "source": "{}", **more}


_DATASET_TRAIN = {
    "tags": [{"key": "mlflow.data.context", "value": "train"}],
    "dataset": _dataset("train", schema='{"a": 1}', profile='{"rows": 3}'),
}
_DATASET_EVAL = {"dataset": _dataset("eval")}


SCRIPT: list[Call] = [
    post("experiments/create", {"name": "runs"}),  # 1
    post("experiments/create", {"name": "to-delete"}),  # 2
    # create: named, tagged, generated names, conflicts, bad experiments
    post(
        "runs/create",
        {
            "experiment_id": "1",
            "run_name": "r0",
            "user_id": "ann",
            "start_time": 1000,
            "tags": [{"key": "a", "value": "b"}],
        },
    ),
    post("runs/create", {"experiment_id": "1"}),
    post(
        "runs/create",
        {"experiment_id": "1", "tags": [{"key": "mlflow.runName", "value": "from-tag"}]},
    ),
    post("runs/create", {}),
    post(
        "runs/create",
        {
            "experiment_id": "1",
            "run_name": "same",
            "tags": [{"key": "mlflow.runName", "value": "same"}],
        },
    ),
    post(
        "runs/create",
        {"experiment_id": "1", "run_name": "x", "tags": [{"key": "mlflow.runName", "value": "y"}]},
    ),
    post("runs/create", {"experiment_id": "999"}),
    post("runs/create", {"experiment_id": "abc"}),
    post("runs/create", {"experiment_id": 5}),
    post("runs/create", {"experiment_id": "1", "start_time": "soon"}),
    post("runs/create", {"experiment_id": "1", "run_name": 7}),
    post("experiments/delete", {"experiment_id": "2"}),
    post("runs/create", {"experiment_id": "2"}),
    # get
    get("runs/get", "run_id=$R0"),
    get("runs/get", "run_uuid=$R0"),
    get("runs/get", "run_id=$R2"),
    get("runs/get", "run_id=nope"),
    get("runs/get", ""),
    # log-metric
    post("runs/log-metric", {"run_id": "$R0", **_metric("loss", 0.5, 10, 1)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("loss", 0.4, 20, 2)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("loss", 0.9, 5, 0)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("loss", 0.4, 20, 2)}),
    post("runs/log-metric", {"run_uuid": "$R0", **_metric("acc", 1)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("nan", "NaN")}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("inf", "Infinity")}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("ninf", "-Infinity")}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("tie", 1, 5, 3)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("tie", 2, 5, 3)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("tie", 0, 6, 2)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("bad", "abc")}),
    post("runs/log-metric", {"run_id": "$R0", "key": "k", "timestamp": 1}),
    post("runs/log-metric", {"run_id": "$R0", "key": "k", "value": 1}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("neg", 1, -5)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("a!b", 1)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("../up", 1)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("k" * 251, 1)}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("s", 1, 1, "x")}),
    post("runs/log-metric", {"run_id": "$R0", "value": 1, "timestamp": 1}),
    post("runs/log-metric", {"run_id": "nope", **_metric("k", 1)}),
    post("runs/log-metric", {**_metric("k", 1)}),
    # log-parameter
    post("runs/log-parameter", {"run_id": "$R0", "key": "lr", "value": "0.1"}),
    post("runs/log-parameter", {"run_id": "$R0", "key": "lr", "value": "0.1"}),
    post("runs/log-parameter", {"run_id": "$R0", "key": "lr", "value": "0.2"}),
    post("runs/log-parameter", {"run_uuid": "$R0", "key": "empty"}),
    post("runs/log-parameter", {"run_id": "$R0", "key": "long", "value": "v" * 6001}),
    post("runs/log-parameter", {"run_id": "$R0", "key": "bad key!", "value": "1"}),
    post("runs/log-parameter", {"run_id": "$R0", "value": "1"}),
    post("runs/log-parameter", {"run_id": "nope", "key": "k", "value": "1"}),
    # set-tag / delete-tag
    post("runs/set-tag", {"run_id": "$R0", "key": "team", "value": "core"}),
    post("runs/set-tag", {"run_id": "$R0", "key": "team", "value": "ml"}),
    post("runs/set-tag", {"run_id": "$R0", "key": "long", "value": "v" * 8001}),
    post("runs/set-tag", {"run_id": "$R0", "key": "bad key!", "value": "1"}),
    post("runs/set-tag", {"run_id": "$R0", "key": "k" * 251, "value": "1"}),
    post("runs/set-tag", {"run_id": "$R2", "key": "mlflow.runName", "value": "renamed"}),
    post("runs/set-tag", {"run_id": "$R2", "key": "mlflow.runName", "value": ""}),
    post("runs/set-tag", {"run_id": "nope", "key": "k", "value": "v"}),
    post("runs/delete-tag", {"run_id": "$R0", "key": "team"}),
    post("runs/delete-tag", {"run_id": "$R0", "key": "team"}),
    post("runs/delete-tag", {"run_id": "$R0"}),
    post("runs/delete-tag", {"run_id": "nope", "key": "team"}),
    get("runs/get", "run_id=$R0"),
    get("runs/get", "run_id=$R2"),
    # log-batch
    post(
        "runs/log-batch",
        {
            "run_id": "$R1",
            "metrics": [_metric("m", i, 100 + i, i) for i in range(5)]
            + [_metric("m", 3, 103, 3), _metric("n", "NaN", 1, 1), _metric("n", "NaN", 1, 1)],
            "params": [{"key": "p1", "value": "1"}, {"key": "p2"}],
            "tags": [
                {"key": "t", "value": "1"},
                {"key": "t", "value": "2"},
                {"key": "mlflow.runName", "value": "batch-named"},
            ],
        },
    ),
    post("runs/log-batch", {"run_id": "$R1", "params": [{"key": "p1", "value": "1"}]}),
    post(
        "runs/log-batch",
        {
            "run_id": "$R1",
            "params": [{"key": "p1", "value": "9"}, {"key": "p2", "value": "x"}],
            "metrics": [_metric("after-conflict", 1)],
        },
    ),
    post(
        "runs/log-batch",
        {"run_id": "$R1", "params": [{"key": "d", "value": "1"}, {"key": "d", "value": "1"}]},
    ),
    post("runs/log-batch", {"run_id": "$R1", "metrics": [_metric("x", 1)] * 1001}),
    post(
        "runs/log-batch",
        {"run_id": "$R1", "params": [{"key": f"p{i}", "value": "1"} for i in range(101)]},
    ),
    post(
        "runs/log-batch",
        {"run_id": "$R1", "tags": [{"key": f"t{i}", "value": "1"} for i in range(101)]},
    ),
    post(
        "runs/log-batch",
        {
            "run_id": "$R1",
            "metrics": [_metric(f"x{i}", 1) for i in range(950)],
            "params": [{"key": f"q{i}", "value": "1"} for i in range(51)],
        },
    ),
    post("runs/log-batch", {"run_id": "$R1", "metrics": [{"value": 1, "timestamp": 1}]}),
    post("runs/log-batch", {"run_id": "$R1", "metrics": [{"key": "k", "timestamp": 1}]}),
    post("runs/log-batch", {"run_id": "$R1", "metrics": [{"key": "k", "value": 1}]}),
    post("runs/log-batch", {"run_id": "$R1", "params": [{"value": "1"}]}),
    post("runs/log-batch", {"run_id": "$R1", "tags": [{"value": "1"}]}),
    post("runs/log-batch", {"run_id": "$R1", "metrics": [_metric("ok", 1), _metric("b!", 1)]}),
    post("runs/log-batch", {"run_id": "$R1", "metrics": [_metric("ok", 1, -1)]}),
    post("runs/log-batch", {"run_id": "$R1", "metrics": {"key": "k"}}),
    post("runs/log-batch", {"run_id": "$R1", "tags": [{"key": "../t", "value": "1"}]}),
    post("runs/log-batch", {"run_id": "$R1", "params": [{"key": "k" * 251, "value": "1"}]}),
    post("runs/log-batch", {"run_id": "bad id!", "metrics": [_metric("k", 1)]}),
    post("runs/log-batch", {"run_id": "nope", "metrics": [_metric("k", 1)]}),
    post("runs/log-batch", {"metrics": [_metric("k", 1)]}),
    post("runs/log-batch", {"run_id": "$R1"}),
    get("runs/get", "run_id=$R1"),
    # inputs (datasets, logged models) and outputs
    post("runs/log-inputs", {"run_id": "$R0", "datasets": [_DATASET_TRAIN]}),
    post("runs/log-inputs", {"run_id": "$R0", "datasets": [_DATASET_TRAIN, _DATASET_TRAIN]}),
    post(
        "runs/log-inputs",
        {"run_id": "$R0", "datasets": [_DATASET_EVAL], "models": [{"model_id": "m-1"}]},
    ),
    post("runs/log-inputs", {"run_id": "$R0", "models": [{"model_id": "m-1"}]}),
    post("runs/log-inputs", {"run_id": "$R2", "datasets": [_DATASET_TRAIN]}),
    post(
        "runs/log-inputs",
        {"run_id": "$R0", "datasets": [{**_DATASET_EVAL, "dataset": _dataset("x", "d" * 37)}]},
    ),
    post(
        "runs/log-inputs",
        {
            "run_id": "$R0",
            "datasets": [{"tags": [{"key": "k", "value": "v" * 501}], "dataset": _dataset("y")}],
        },
    ),
    post("runs/log-inputs", {"run_id": "$R0", "datasets": {"a": 1}}),
    post("runs/log-inputs", {"run_id": "bad id!", "datasets": [_DATASET_TRAIN]}),
    post("runs/log-inputs", {"run_id": "nope", "datasets": [_DATASET_TRAIN]}),
    post("runs/log-inputs", {"datasets": [_DATASET_TRAIN]}),
    post("runs/outputs", {"run_id": "$R0", "models": [{"model_id": "m-2", "step": 3}]}),
    post("runs/outputs", {"run_id": "$R0", "models": [{"model_id": "m-3"}]}),
    post("runs/outputs", {"run_id": "$R0"}),
    post("runs/outputs", {"run_id": "nope", "models": [{"model_id": "m-4"}]}),
    get("runs/get", "run_id=$R0"),
    get("runs/get", "run_id=$R2"),
    # metric histories: whole, paged, bad paging, unknown runs and keys
    get("metrics/get-history", "run_id=$R0&metric_key=loss"),
    get("metrics/get-history", "run_uuid=$R0&metric_key=nan"),
    get("metrics/get-history", "run_id=$R1&metric_key=m&max_results=2"),
    get("metrics/get-history", f"run_id=$R1&metric_key=m&max_results=2&page_token={_OFFSET_2}"),
    get("metrics/get-history", f"run_id=$R1&metric_key=m&max_results=4&page_token={_OFFSET_2}"),
    get("metrics/get-history", "run_id=$R1&metric_key=m&max_results=0"),
    get("metrics/get-history", "run_id=$R1&metric_key=m&max_results=-1"),
    get("metrics/get-history", "run_id=$R1&metric_key=m&max_results=abc"),
    get("metrics/get-history", "run_id=$R1&metric_key=m&page_token=garbage"),
    get("metrics/get-history", "run_id=$R1&metric_key=none"),
    get("metrics/get-history", "run_id=nope&metric_key=m"),
    get("metrics/get-history", "run_id=$R1"),
    get("metrics/get-history", "metric_key=m"),
    get("metrics/get-history-bulk-interval", "run_ids=$R1&run_ids=$R0&metric_key=m"),
    get("metrics/get-history-bulk-interval", "run_ids=$R1&metric_key=m&max_results=2"),
    get("metrics/get-history-bulk-interval", "run_ids=$R1&metric_key=m&max_results=1"),
    get(
        "metrics/get-history-bulk-interval",
        "run_ids=$R1&metric_key=m&start_step=1&end_step=3&max_results=2",
    ),
    get("metrics/get-history-bulk-interval", "run_ids=$R1&metric_key=m&start_step=1"),
    get("metrics/get-history-bulk-interval", "run_ids=$R1&metric_key=m&start_step=3&end_step=1"),
    get("metrics/get-history-bulk-interval", "run_ids=$R1&metric_key=m&max_results=0"),
    get("metrics/get-history-bulk-interval", "run_ids=$R1&metric_key=m&max_results=2501"),
    get("metrics/get-history-bulk-interval", "run_ids=$R1&metric_key=m&max_results=x"),
    get("metrics/get-history-bulk-interval", "metric_key=m"),
    get("metrics/get-history-bulk-interval", "run_ids=$R1"),
    get("metrics/get-history-bulk-interval", "&".join(["run_ids=a"] * 101) + "&metric_key=m"),
    Call(
        "GET",
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        None,
        "run_ids=$R1&metric_key=n",
        (),
    ),
    # update
    post("runs/update", {"run_id": "$R0", "status": "FINISHED", "end_time": 2000}),
    post("runs/update", {"run_id": "$R0", "run_name": "r0-renamed"}),
    post("runs/update", {"run_uuid": "$R0", "status": "KILLED"}),
    post("runs/update", {"run_id": "$R0", "status": "BOGUS"}),
    post("runs/update", {"run_id": "$R0", "end_time": "later"}),
    post("runs/update", {"run_id": "nope", "status": "FINISHED"}),
    post("runs/update", {}),
    post("runs/log-metric", {"run_id": "$R0", **_metric("after-finish", 1)}),
    get("runs/get", "run_id=$R0"),
    # delete / restore and writes to a deleted run
    post("runs/delete", {"run_id": "$R1"}),
    post("runs/delete", {"run_id": "$R1"}),
    post("runs/log-metric", {"run_id": "$R1", **_metric("k", 1)}),
    post("runs/log-parameter", {"run_id": "$R1", "key": "k", "value": "1"}),
    post("runs/set-tag", {"run_id": "$R1", "key": "k", "value": "1"}),
    post("runs/delete-tag", {"run_id": "$R1", "key": "t"}),
    post("runs/log-batch", {"run_id": "$R1", "metrics": [_metric("k", 1)]}),
    post("runs/update", {"run_id": "$R1", "status": "FINISHED"}),
    get("runs/get", "run_id=$R1"),
    post("runs/restore", {"run_id": "$R1"}),
    post("runs/restore", {"run_id": "$R1"}),
    post("runs/restore", {"run_id": "nope"}),
    post("runs/delete", {"run_id": "nope"}),
    post("runs/delete", {}),
    get("runs/get", "run_id=$R1"),
]


class _Session:
    """One server's side of the script: its run ids, in creation order."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.run_ids: list[str] = []

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return _RUN_REF.sub(lambda m: self.run_ids[int(m.group(1))], value)
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value

    def send(self, call: Call) -> tuple[int, Any]:
        resolved = Call(
            call.method,
            call.path,
            self._resolve(call.body),
            self._resolve(call.query),
            call.headers,
        )
        status, body = _send(self.server, resolved)
        if call.path.endswith("runs/create") and status == 200:
            self.run_ids.append(body["run"]["info"]["run_id"])
        return status, self._symbolic(body)

    def _symbolic(self, value: Any) -> Any:
        if isinstance(value, str):
            for index, run_id in enumerate(self.run_ids):
                value = value.replace(run_id, f"$R{index}")
            return "<generated name>" if _GENERATED_NAME.match(value) else value
        if isinstance(value, dict):
            return {k: self._symbolic(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._symbolic(v) for v in value]
        return value


_AUTOFLUSH = re.compile(r"^\(raised as a result of Query-invoked autoflush;[^)]*\)\n")


def _sorted_run_data(body: Any) -> Any:
    """Metrics, params and tags come in the database's order; compare them by key.

    MLflow's ORM prefixes some driver errors with a note on autoflush; the driver's error
    itself is compared as the experiments' differential test compares it.
    """
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        body["message"] = _AUTOFLUSH.sub("", body["message"])
    run = body.get("run") if isinstance(body, dict) else None
    if isinstance(run, dict) and isinstance(run.get("data"), dict):
        for name in ("metrics", "params", "tags"):
            if name in run["data"]:
                run["data"][name] = sorted(run["data"][name], key=lambda x: x["key"])
        inputs = run.get("inputs", {})
        if "dataset_inputs" in inputs:
            inputs["dataset_inputs"].sort(key=lambda d: d["dataset"]["name"])
        if "model_inputs" in inputs:
            inputs["model_inputs"].sort(key=lambda m: m["model_id"])
        if "model_outputs" in run.get("outputs", {}):
            run["outputs"]["model_outputs"].sort(key=lambda m: m["model_id"])
    return body


@pytest.fixture(scope="module")
def run_server_pair(
    server_kind: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    theirs_dir: Path = tmp_path_factory.mktemp(f"stock-runs-{server_kind}")
    ours_dir: Path = tmp_path_factory.mktemp(f"ours-runs-{server_kind}")
    with (
        fresh_database(server_kind, theirs_dir) as theirs_uri,
        fresh_database(server_kind, ours_dir) as ours_uri,
        # Generous start-up allowances: this suite shares a small, busy machine.
        started_together(
            stock_mlflow_server(theirs_uri, theirs_dir, timeout=300),
            mlflow_core_server(ours_uri, ours_dir, timeout=300),
        ) as (theirs, ours),
    ):
        yield theirs, ours


def test_run_script_answers_match(run_server_pair: tuple[Server, Server]) -> None:
    theirs, ours = (_Session(server) for server in run_server_pair)
    mismatches = []
    for index, call in enumerate(SCRIPT):
        expected = theirs.send(call)
        actual = ours.send(call)
        if _mlflow_crashed(expected):
            if not (400 <= actual[0] < 500 and actual[1].get("error_code")):
                mismatches.append((index, call, expected, actual))
            continue
        if _comparable(expected[0], _sorted_run_data(expected[1])) != _comparable(
            actual[0], _sorted_run_data(actual[1])
        ):
            mismatches.append((index, call, expected, actual))
    assert not mismatches, "\n\n".join(
        f"#{i} {c.method} {c.path}?{c.query} {str(c.body)[:300]}\n  mlflow: {str(e)[:1500]}"
        f"\n  ours:   {str(a)[:1500]}"
        for i, c, e, a in mismatches
    )
    assert len(theirs.run_ids) == len(ours.run_ids)
