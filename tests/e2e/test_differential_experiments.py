"""The same experiment requests, good and bad, against stock ``mlflow server`` and ours.

Both servers start on new databases of the same kind, so ids line up; each response pair must
agree on status and JSON, field by field, once times (which differ by when each server ran)
are masked. Documented deviations (docs/compatibility.md) are compared by their stated rule.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.databases import fresh_database
from tests.support.servers import Server, mlflow_core_server, started_together, stock_mlflow_server

API = "/api/2.0/mlflow/experiments"
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None  # dict -> JSON body; bytes -> raw body; None -> no body
    query: str = ""
    headers: tuple[tuple[str, str], ...] = tuple(JSON.items())


def post(path: str, body: Any, **kw: Any) -> Call:
    return Call("POST", f"{API}/{path}", body, **kw)


def get(path: str, query: str) -> Call:
    return Call("GET", f"{API}/{path}", None, query, ())


SCRIPT: list[Call] = [
    # create: good, duplicate, malformed
    post("create", {"name": "alpha", "tags": [{"key": "team", "value": "a"}]}),
    post("create", {"name": "beta"}),
    post("create", {"name": "gamma", "tags": [{"key": "team", "value": "b"}, {"key": "n"}]}),
    post("create", {"name": "alpha"}),
    post("create", {}),
    post("create", {"name": ""}),
    post("create", {"name": 7}),
    post("create", {"name": "x", "tags": {"a": 1}}),
    post("create", {"name": "x", "tags": [{"key": "../up", "value": "v"}]}),
    post("create", {"name": "x" * 501}),
    post("create", b"not json"),
    post("create", json.dumps({"name": "double-encoded"})),
    post("create", {"name": "ct"}, headers=(("Content-Type", "text/plain"),)),
    post("create", {"name": "ct"}, headers=()),
    post("create", {"name": "both", "artifact_location": "x", "artifactLocation": "y"}),
    post("create", {"name": "dup-tags", "tags": [{"key": "k"}, {"key": "k"}]}),
    # get / get-by-name
    get("get", "experiment_id=1"),
    get("get", "experiment_id=0"),
    get("get", "experiment_id=999"),
    get("get", "experiment_id=abc"),
    get("get", ""),
    get("get-by-name", "experiment_name=gamma"),
    get("get-by-name", "experiment_name=nope"),
    get("get-by-name", ""),
    # tags
    post("set-experiment-tag", {"experiment_id": "1", "key": "team", "value": "z"}),
    post("set-experiment-tag", {"experiment_id": "1", "key": "new"}),
    post("set-experiment-tag", {"experiment_id": "1", "key": "bad key!"}),
    post("set-experiment-tag", {"experiment_id": "1", "key": "k", "value": "v" * 20001}),
    post("set-experiment-tag", {"experiment_id": "999", "key": "k", "value": "v"}),
    post("set-experiment-tag", {"experiment_id": "1"}),
    post("delete-experiment-tag", {"experiment_id": "1", "key": "new"}),
    post("delete-experiment-tag", {"experiment_id": "1", "key": "new"}),
    get("get", "experiment_id=1"),
    # rename
    post("update", {"experiment_id": "2", "new_name": "beta-renamed"}),
    post("update", {"experiment_id": "2", "new_name": "alpha"}),
    post("update", {"experiment_id": "2"}),
    post("update", {"experiment_id": "999", "new_name": "q"}),
    # delete / restore and their effect on other calls
    post("delete", {"experiment_id": "3"}),
    post("delete", {"experiment_id": "3"}),
    post("set-experiment-tag", {"experiment_id": "3", "key": "k", "value": "v"}),
    post("update", {"experiment_id": "3", "new_name": "gamma2"}),
    get("get", "experiment_id=3"),
    post("restore", {"experiment_id": "3"}),
    post("restore", {"experiment_id": "3"}),
    post("delete", {"experiment_id": "abc"}),
    post("delete", {}),
    # search: POST and GET, filters, orders, views, bounds
    post("search", {"max_results": 100}),
    post("search", {}),
    post("search", {"max_results": 0}),
    post("search", {"max_results": 50001}),
    post("search", {"max_results": "five"}),
    post("search", {"max_results": 2, "order_by": ["name ASC"]}),
    post("search", {"max_results": 100, "filter": "name LIKE 'a%'"}),
    post("search", {"max_results": 100, "filter": "name ILIKE 'A%'"}),
    post("search", {"max_results": 100, "filter": "tags.team = 'b'"}),
    post("search", {"max_results": 100, "filter": "tags.team != 'b'"}),
    post("search", {"max_results": 100, "filter": "tags.n IS NULL"}),
    post("search", {"max_results": 100, "filter": "experiment_id IN ('1', '3')"}),
    post("search", {"max_results": 100, "filter": "creation_time > 0", "view_type": "ALL"}),
    post("search", {"max_results": 100, "filter": "name = 'alpha' OR name = 'beta'"}),
    post("search", {"max_results": 100, "filter": "foo = 'x'"}),
    post("search", {"max_results": 100, "filter": "name > 'a'"}),
    post("search", {"max_results": 100, "order_by": ["tags.team"]}),
    post("search", {"max_results": 100, "order_by": ["nonsense DESC"]}),
    post("search", {"max_results": 100, "view_type": "DELETED_ONLY"}),
    post("search", {"max_results": 100, "page_token": "garbage"}),
    get("search", "max_results=2&order_by=name&order_by=experiment_id+DESC"),
    get("search", "max_results=100&filter=name+LIKE+%27%25a%25%27&view_type=ALL"),
    get("search", "max_results=abc"),
    # a method the route does not have goes to MLflow's application in both
    Call("GET", f"{API}/create", None, "name=x", ()),
]


def _send(server: Server, call: Call) -> tuple[int, Any]:
    url = server.url + call.path + (f"?{call.query}" if call.query else "")
    data = None
    if call.body is not None:
        data = call.body if isinstance(call.body, bytes) else json.dumps(call.body).encode()
    request = urllib.request.Request(url, data=data, method=call.method, headers=dict(call.headers))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


_PY_SET = re.compile(r"\{('[^']*'(?:, '[^']*')*)\}")


def _sorted_sets(message: str) -> str:
    """MLflow prints Python sets in its messages; their order changes with every process."""
    return _PY_SET.sub(lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


def _masked(value: Any) -> Any:
    """Times differ by when each server ran; everything else must be equal."""
    if isinstance(value, dict):
        return {
            k: "<time>" if k in ("creation_time", "last_update_time") else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _comparable(status: int, body: Any) -> tuple[int, Any]:
    body = _masked(body)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = _sorted_sets(body["message"])
        body = {**body, "message": message}
        # Messages that embed the database driver's text (it names the failed statement and
        # differs per database): we answer with the first line MLflow answers with on SQLite
        # (docs/compatibility.md), so compare everything before the driver's part.
        if "Error: (" in message:
            body = {**body, "message": message.split("Error: (", 1)[0] + "<driver error>"}
        elif re.match(r"\((sqlite3|psycopg|pymysql)[\w.]*\) ", message):
            body = {**body, "message": "<driver error>"}
    if isinstance(body, dict) and "experiments" in body:
        for experiment in body["experiments"]:
            if "tags" in experiment:
                experiment["tags"] = sorted(experiment["tags"], key=lambda t: t["key"])
    if isinstance(body, dict) and isinstance(body.get("experiment"), dict):
        tags = body["experiment"].get("tags")
        if tags:
            body["experiment"]["tags"] = sorted(tags, key=lambda t: t["key"])
    return status, body


def _mlflow_crashed(theirs: tuple[int, Any]) -> bool:
    """MLflow failed unhandled (an HTML 500), where we answer a client error (documented).

    A JSON 5xx with an MLflow error code (INVALID_STATE is a 500 in MLflow) is an answer,
    not a crash, and must match exactly.
    """
    status, body = theirs
    return status >= 500 and not (isinstance(body, dict) and "error_code" in body)


@pytest.fixture(scope="module")
def server_pair(
    server_kind: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    theirs_dir = tmp_path_factory.mktemp(f"stock-{server_kind}")
    ours_dir = tmp_path_factory.mktemp(f"ours-{server_kind}")
    with (
        fresh_database(server_kind, theirs_dir) as theirs_uri,
        fresh_database(server_kind, ours_dir) as ours_uri,
        started_together(
            stock_mlflow_server(theirs_uri, theirs_dir),
            mlflow_core_server(ours_uri, ours_dir),
        ) as (theirs, ours),
    ):
        yield theirs, ours


def test_script_answers_match(server_pair: tuple[Server, Server]) -> None:
    theirs, ours = server_pair
    mismatches = []
    for index, call in enumerate(SCRIPT):
        expected = _send(theirs, call)
        actual = _send(ours, call)
        if _mlflow_crashed(expected):
            if not (400 <= actual[0] < 500 and actual[1].get("error_code")):
                mismatches.append((index, call, expected, actual))
            continue
        if _comparable(*expected) != _comparable(*actual):
            mismatches.append((index, call, expected, actual))
    assert not mismatches, "\n\n".join(
        f"#{i} {c.method} {c.path}?{c.query} {c.body!r}\n  mlflow: {e}\n  ours:   {a}"
        for i, c, e, a in mismatches
    )


def test_page_tokens_are_interchangeable(server_pair: tuple[Server, Server]) -> None:
    theirs, ours = server_pair
    first = post("search", {"max_results": 1, "order_by": ["name ASC"], "view_type": "ALL"})
    theirs_token = _send(theirs, first)[1]["next_page_token"]
    ours_token = _send(ours, first)[1]["next_page_token"]
    assert theirs_token == ours_token
    follow = {"max_results": 1, "order_by": ["name ASC"], "view_type": "ALL"}
    on_ours = _send(ours, post("search", {**follow, "page_token": theirs_token}))
    on_theirs = _send(theirs, post("search", {**follow, "page_token": ours_token}))
    assert _comparable(*on_ours) == _comparable(*on_theirs)
