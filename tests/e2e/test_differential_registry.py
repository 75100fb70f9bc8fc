"""The same model registry requests, good and bad, against stock ``mlflow server`` and ours.

Both servers start on new databases of the same kind; each response pair must agree on status
and JSON, field by field, once times are masked and unordered lists (tags, aliases, latest
versions) are sorted. Where MLflow fails unhandled (an HTML 500) we must answer a 4xx with an
MLflow error code (docs/compatibility.md).
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_differential_experiments import (
    JSON,
    Call,
    _mlflow_crashed,
    _send,
    _sorted_sets,
)
from tests.support.databases import fresh_database
from tests.support.servers import Server, mlflow_core_server, started_together, stock_mlflow_server


def wait_for_fallback(server: Server) -> None:
    """Our server answers /health before MLflow's in-process app has loaded; stock MLflow only
    after. A request MLflow's app serves waits for it, so both start the script fully loaded
    (the registry handlers use MLflow's webhook delivery and source checks)."""
    with urllib.request.urlopen(f"{server.url}/version", timeout=300) as response:
        response.read()


RM = "/api/2.0/mlflow/registered-models"
MV = "/api/2.0/mlflow/model-versions"
RUN = "0123456789abcdef0123456789abcdef"
PROMPT_TAG = "mlflow.prompt.is_prompt"
# Seconds a server may take to answer /health: MLflow's migrations on a busy shared machine.
STARTUP = 300


def call(method: str, path: str, body: Any = None, query: str = "") -> Call:
    if method == "GET":
        return Call("GET", path, None, query, ())
    return Call(method, path, body, query, tuple(JSON.items()))


def rm(method: str, action: str, body: Any = None, query: str = "") -> Call:
    return call(method, f"{RM}/{action}", body, query)


def mv(method: str, action: str, body: Any = None, query: str = "") -> Call:
    return call(method, f"{MV}/{action}", body, query)


def version(name: str, source: str = "s3://bucket/model", **extra: Any) -> Call:
    return mv("POST", "create", {"name": name, "source": source, **extra})


SCRIPT: list[Call] = [
    # registered models: create good and bad
    rm(
        "POST",
        "create",
        {"name": "m1", "tags": [{"key": "team", "value": "a"}], "description": "d"},
    ),
    rm("POST", "create", {"name": "m2", "tags": [{"key": "team", "value": "b"}, {"key": "n"}]}),
    rm("POST", "create", {"name": "Other"}),
    rm("POST", "create", {"name": "p1", "tags": [{"key": PROMPT_TAG, "value": "true"}]}),
    rm("POST", "create", {"name": "m1"}),
    rm("POST", "create", {"name": "m1", "tags": [{"key": PROMPT_TAG, "value": "true"}]}),
    rm("POST", "create", {"name": "p1"}),
    rm("POST", "create", {}),
    rm("POST", "create", {"name": ""}),
    rm("POST", "create", {"name": "   "}),
    rm("POST", "create", {"name": "a/b"}),
    rm("POST", "create", {"name": "a:b"}),
    rm("POST", "create", {"name": "../x"}),
    rm("POST", "create", {"name": 5}),
    rm("POST", "create", {"name": "x", "tags": {"k": "v"}}),
    rm("POST", "create", {"name": "x", "tags": [{"key": "bad key!"}]}),
    rm("POST", "create", {"name": "x", "tags": [{"key": "k" * 251, "value": "v"}]}),
    rm(
        "POST",
        "create",
        {"name": "dup", "tags": [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]},
    ),
    rm("POST", "create", b"not json"),
    rm("GET", "get", query="name=m1"),
    rm("GET", "get", query="name=nope"),
    rm("GET", "get", query=""),
    rm("GET", "get", query="name=a%2Fb"),
    # versions: create good and bad (s3 and runs:/ sources are ours; others MLflow's in both)
    version("m1"),
    version("m1", tags=[{"key": "t", "value": "1"}], description="first", run_id=RUN),
    version("m1", run_link="http://link"),
    version("m1", f"runs:/{RUN}/model", run_id=RUN),
    version("m1", f"runs:/{RUN}/model", run_id="f" * 32),
    version("m1", "s3://bucket/../etc"),
    version("m2"),
    version("nope"),
    version("m1", ""),
    mv("POST", "create", {"name": "m1"}),
    version("m1", tags=[{"key": "k"}]),
    version("m1", tags=[{"key": "bad key!", "value": "v"}]),
    version("a/b"),
    version("m1", "file:///tmp/not-in-a-run"),
    version("m1", "models:/m1/1"),
    # get / update / download-uri
    mv("GET", "get", query="name=m1&version=2"),
    mv("GET", "get", query="name=m1&version=99"),
    mv("GET", "get", query="name=m1&version=abc"),
    mv("GET", "get", query="name=m1"),
    mv("PATCH", "update", {"name": "m1", "version": "1", "description": "new"}),
    mv("PATCH", "update", {"name": "m1", "version": "2"}),
    mv("PATCH", "update", {"name": "m1", "version": "99", "description": "x"}),
    mv("GET", "get-download-uri", query="name=m1&version=1"),
    mv("GET", "get-download-uri", query="name=m1&version=99"),
    mv("GET", "get-download-uri", query=""),
    rm("PATCH", "update", {"name": "m1", "description": "updated"}),
    rm("PATCH", "update", {"name": "m1"}),
    rm("PATCH", "update", {"name": "nope", "description": "x"}),
    # stages
    mv("POST", "transition-stage", {"name": "m1", "version": "1", "stage": "Staging"}),
    mv("POST", "transition-stage", {"name": "m1", "version": "2", "stage": "production"}),
    mv(
        "POST",
        "transition-stage",
        {"name": "m1", "version": "3", "stage": "Production", "archive_existing_versions": True},
    ),
    mv(
        "POST",
        "transition-stage",
        {"name": "m1", "version": "3", "stage": "None", "archive_existing_versions": True},
    ),
    mv("POST", "transition-stage", {"name": "m1", "version": "3", "stage": "bogus"}),
    mv("POST", "transition-stage", {"name": "m1", "version": "99", "stage": "Staging"}),
    mv("POST", "transition-stage", {"name": "m1", "version": "1"}),
    mv(
        "POST",
        "transition-stage",
        {"name": "m1", "version": "1", "stage": "Staging", "archive_existing_versions": "yes"},
    ),
    rm("POST", "get-latest-versions", {"name": "m1"}),
    rm("POST", "get-latest-versions", {"name": "m1", "stages": ["production", "None"]}),
    rm("POST", "get-latest-versions", {"name": "m1", "stages": ["bogus"]}),
    rm("POST", "get-latest-versions", {"name": "nope"}),
    rm("POST", "get-latest-versions", {"name": "m1", "stages": [1]}),
    rm("GET", "get-latest-versions", query="name=m1&stages=Staging&stages=Archived"),
    rm("GET", "get-latest-versions", query="name=m2"),
    # tags
    rm("POST", "set-tag", {"name": "m1", "key": "team", "value": "z"}),
    rm("POST", "set-tag", {"name": "m1", "key": "extra", "value": "e"}),
    rm("POST", "set-tag", {"name": "m1", "key": "bad key!", "value": "e"}),
    rm("POST", "set-tag", {"name": "nope", "key": "k", "value": "v"}),
    rm("POST", "set-tag", {"name": "m1", "key": "k", "value": "v" * 100_001}),
    rm("DELETE", "delete-tag", {"name": "m1", "key": "extra"}),
    rm("DELETE", "delete-tag", {"name": "m1", "key": "never"}),
    rm("DELETE", "delete-tag", {"name": "nope", "key": "k"}),
    mv("POST", "set-tag", {"name": "m1", "version": "1", "key": "a", "value": "1"}),
    mv("POST", "set-tag", {"name": "m1", "version": "1", "key": "a", "value": "2"}),
    mv("POST", "set-tag", {"name": "m1", "version": "99", "key": "a", "value": "1"}),
    mv("POST", "set-tag", {"name": "m1", "version": "x", "key": "a", "value": "1"}),
    mv("POST", "set-tag", {"name": "m1", "version": "1", "key": "a"}),
    mv("DELETE", "delete-tag", {"name": "m1", "version": "2", "key": "t"}),
    mv("DELETE", "delete-tag", {"name": "m1", "version": "2", "key": "t"}),
    mv("DELETE", "delete-tag", {"name": "m1", "version": "99", "key": "t"}),
    # aliases
    rm("POST", "alias", {"name": "m1", "alias": "champion", "version": "3"}),
    rm("POST", "alias", {"name": "m1", "alias": "challenger", "version": "2"}),
    rm("POST", "alias", {"name": "m1", "alias": "champion", "version": "1"}),
    rm("POST", "alias", {"name": "m1", "alias": "latest", "version": "1"}),
    rm("POST", "alias", {"name": "m1", "alias": "v3", "version": "1"}),
    rm("POST", "alias", {"name": "m1", "alias": "bad alias", "version": "1"}),
    rm("POST", "alias", {"name": "m1", "alias": "ok", "version": "99"}),
    rm("POST", "alias", {"name": "nope", "alias": "ok", "version": "1"}),
    rm("GET", "alias", query="name=m1&alias=champion"),
    rm("GET", "alias", query="name=m1&alias=latest"),
    rm("GET", "alias", query="name=m1&alias=unknown"),
    rm("GET", "alias", query="name=m2&alias=LATEST"),
    rm("GET", "alias", query="name=nope&alias=latest"),
    rm("GET", "alias", query="name=Other&alias=latest"),
    rm("DELETE", "alias", {"name": "m1", "alias": "challenger"}),
    rm("DELETE", "alias", {"name": "m1", "alias": "challenger"}),
    rm("DELETE", "alias", {"name": "nope", "alias": "x"}),
    # latest versions again, now that versions carry tags and aliases (one statement reads both)
    rm("POST", "get-latest-versions", {"name": "m1"}),
    rm("GET", "get-latest-versions", query="name=m1&stages=None&stages=Production"),
    rm("GET", "get", query="name=m1"),
    mv("GET", "get", query="name=m1&version=1"),
    # search registered models
    rm("GET", "search", query=""),
    rm("GET", "search", query="max_results=1"),
    rm("GET", "search", query="max_results=1001"),
    rm("GET", "search", query="max_results=abc"),
    rm("GET", "search", query="filter=name+%3D+%27m1%27"),
    rm("GET", "search", query="filter=name+LIKE+%27m%25%27"),
    rm("GET", "search", query="filter=name+ILIKE+%27o%25%27"),
    rm("GET", "search", query="filter=name+IN+%28%27m1%27%2C+%27m2%27%29"),
    rm("GET", "search", query="filter=tags.team+%3D+%27b%27"),
    rm("GET", "search", query="filter=tags.team+%21%3D+%27b%27"),
    rm("GET", "search", query="filter=tags.%60mlflow.prompt.is_prompt%60+%3D+%27true%27"),
    rm("GET", "search", query="filter=tags.%60mlflow.prompt.is_prompt%60+%3D+%27false%27"),
    rm("GET", "search", query="filter=name+%3E+%27a%27"),
    rm("GET", "search", query="filter=run_id+%3D+%27a%27"),
    rm("GET", "search", query="filter=tags.team+IS+NULL"),
    rm("GET", "search", query="filter=name+%3D+%27a%27+OR+name+%3D+%27b%27"),
    rm("GET", "search", query="filter=name+%3D+1"),
    rm("GET", "search", query="order_by=name+DESC"),
    rm("GET", "search", query="order_by=timestamp+DESC&order_by=name"),
    rm("GET", "search", query="order_by=last_updated_timestamp&order_by=timestamp"),
    rm("GET", "search", query="order_by=creation_timestamp"),
    rm("GET", "search", query="order_by=name+sideways"),
    rm("GET", "search", query="page_token=garbage"),
    # search model versions
    mv("GET", "search", query=""),
    mv("GET", "search", query="filter=name+%3D+%27m1%27&order_by=version_number+ASC"),
    mv("GET", "search", query="filter=version_number+%3E+1+AND+name+%3D+%27m1%27"),
    mv("GET", "search", query="filter=version_number+%3D+%272%27"),
    mv("GET", "search", query="filter=version_number+LIKE+%272%27"),
    mv("GET", "search", query="filter=version_number+%3D+1.5"),
    mv("GET", "search", query=f"filter=run_id+%3D+%27{RUN}%27"),
    mv("GET", "search", query=f"filter=run_id+IN+%28%27{RUN}%27%29"),
    mv("GET", "search", query="filter=source_path+LIKE+%27s3%3A%2F%2F%25%27"),
    mv("GET", "search", query="filter=source_path+IN+%28%27x%27%29"),
    mv("GET", "search", query="filter=tags.t+%3D+%271%27"),
    mv("GET", "search", query="filter=tags.t+IS+NULL"),
    mv("GET", "search", query="filter=run_id+%3D+1"),
    mv("GET", "search", query="filter=foo+%3D+%27x%27"),
    mv("GET", "search", query="max_results=2&order_by=creation_timestamp+DESC"),
    mv("GET", "search", query="max_results=0"),
    mv("GET", "search", query="max_results=200001"),
    mv("GET", "search", query="order_by=tags.t"),
    mv("GET", "search", query="order_by=name&order_by=name"),
    mv("GET", "search", query="order_by=bogus"),
    # rename, delete version, delete model
    rm("POST", "rename", {"name": "m2", "new_name": "m2-renamed"}),
    rm("POST", "rename", {"name": "m2-renamed", "new_name": "m1"}),
    rm("POST", "rename", {"name": "nope", "new_name": "x"}),
    rm("POST", "rename", {"name": "m1"}),
    rm("POST", "rename", {"name": "m1", "new_name": "a/b"}),
    mv("GET", "get", query="name=m2-renamed&version=1"),
    mv("DELETE", "delete", {"name": "m1", "version": "3"}),
    mv("DELETE", "delete", {"name": "m1", "version": "3"}),
    mv("DELETE", "delete", {"name": "m1", "version": "x"}),
    mv("GET", "get", query="name=m1&version=3"),
    rm("GET", "get", query="name=m1"),
    version("m1"),
    rm("DELETE", "delete", {"name": "m2-renamed"}),
    rm("DELETE", "delete", {"name": "m2-renamed"}),
    rm("GET", "get", query="name=m2-renamed"),
    mv("GET", "search", query="filter=name+%3D+%27m2-renamed%27"),
    version("m2-renamed"),
    rm("POST", "create", {"name": "m2-renamed"}),
    version("m2-renamed"),
]

_TIMES = ("creation_timestamp", "last_updated_timestamp")


def _normalized(value: Any) -> Any:
    """Times masked; tags, aliases and latest versions sorted (their order is the database's)."""
    if isinstance(value, dict):
        out = {k: "<time>" if k in _TIMES else _normalized(v) for k, v in value.items()}
        for key, sort_key in (
            ("tags", "key"),
            ("aliases", "alias"),
            ("latest_versions", "version"),
        ):
            if isinstance(out.get(key), list) and out[key] and isinstance(out[key][0], dict):
                out[key] = sorted(out[key], key=lambda item, k=sort_key: str(item.get(k)))
        if (
            isinstance(out.get("aliases"), list)
            and out["aliases"]
            and isinstance(out["aliases"][0], str)
        ):
            out["aliases"] = sorted(out["aliases"])
        return out
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def _comparable(status: int, body: Any) -> tuple[int, Any]:
    body = _normalized(body)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = _sorted_sets(body["message"])
        if "Error: (" in message:
            message = message.split("Error: (", 1)[0] + "<driver error>"
        body = {**body, "message": message}
    return status, body


@pytest.fixture(scope="module")
def server_pair(
    server_kind: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    theirs_dir = tmp_path_factory.mktemp(f"stock-registry-{server_kind}")
    ours_dir = tmp_path_factory.mktemp(f"ours-registry-{server_kind}")
    with (
        fresh_database(server_kind, theirs_dir) as theirs_uri,
        fresh_database(server_kind, ours_dir) as ours_uri,
        started_together(
            stock_mlflow_server(theirs_uri, theirs_dir, timeout=STARTUP),
            mlflow_core_server(ours_uri, ours_dir, timeout=STARTUP),
        ) as (theirs, ours),
    ):
        wait_for_fallback(ours)
        yield theirs, ours


_DRIVER_ERROR = re.compile(r"\((psycopg|pymysql)[\w.]*\) ")


def _mlflow_failed_in_the_database(answer: tuple[int, Any]) -> bool:
    """MLflow let a raw driver error through on PostgreSQL or MySQL (docs/compatibility.md:
    transition-stage with archive_existing_versions on PostgreSQL; a rename onto a taken name
    on MySQL). We answer as MLflow does on SQLite."""
    status, body = answer
    message = body.get("message", "") if isinstance(body, dict) else ""
    return status >= 400 and "Error: (" not in message and bool(_DRIVER_ERROR.search(message))


def _archive_as_sqlite_does(theirs: Server, each: Call) -> None:
    """Bring stock MLflow's database to the state its failed transition has on SQLite."""
    body = each.body
    found = _send(
        theirs, call("GET", f"{MV}/search", query=f"filter=name+%3D+%27{body['name']}%27")
    )
    for other in found[1].get("model_versions", []):
        if other["version"] != body["version"] and other["current_stage"] == body["stage"]:
            archive = {"name": body["name"], "version": other["version"], "stage": "Archived"}
            _send(theirs, mv("POST", "transition-stage", archive))
    _send(theirs, mv("POST", "transition-stage", {**body, "archive_existing_versions": False}))


def _mismatches(
    theirs: Server, ours: Server, script: list[Call]
) -> list[tuple[int, Call, Any, Any]]:
    found = []
    for index, each in enumerate(script):
        expected = _send(theirs, each)
        actual = _send(ours, each)
        if _mlflow_failed_in_the_database(expected):
            if actual[0] == 200 and each.path.endswith("/transition-stage"):
                _archive_as_sqlite_does(theirs, each)
            elif not (400 <= actual[0] < 500 and actual[1].get("error_code")):
                found.append((index, each, expected, actual))
            continue
        if _mlflow_crashed(expected):
            if not (400 <= actual[0] < 500 and actual[1].get("error_code")):
                found.append((index, each, expected, actual))
            continue
        if _comparable(*expected) != _comparable(*actual):
            found.append((index, each, expected, actual))
    return found


def test_script_answers_match(server_pair: tuple[Server, Server]) -> None:
    theirs, ours = server_pair
    mismatches = _mismatches(theirs, ours, SCRIPT)
    assert not mismatches, "\n\n".join(
        f"#{i} {c.method} {c.path}?{c.query} {c.body!r}\n  mlflow: {e}\n  ours:   {a}"
        for i, c, e, a in mismatches
    )


def test_page_tokens_are_interchangeable(server_pair: tuple[Server, Server]) -> None:
    theirs, ours = server_pair
    for path in (f"{RM}/search", f"{MV}/search"):
        first = call("GET", path, query="max_results=1")
        theirs_token = _send(theirs, first)[1]["next_page_token"]
        ours_token = _send(ours, first)[1]["next_page_token"]
        assert theirs_token == ours_token
        on_ours = _send(ours, call("GET", path, query=f"max_results=1&page_token={theirs_token}"))
        on_theirs = _send(theirs, call("GET", path, query=f"max_results=1&page_token={ours_token}"))
        assert _comparable(*on_ours) == _comparable(*on_theirs)


def test_a_prompt_is_created_and_hidden_as_mlflow_does(server_pair: tuple[Server, Server]) -> None:
    theirs, ours = server_pair
    script = [
        rm("GET", "search", query="filter=name+LIKE+%27p%25%27"),
        rm("GET", "get", query="name=p1"),
        rm("POST", "set-tag", {"name": "p1", "key": "k", "value": "v"}),
        mv("GET", "search", query="filter=name+%3D+%27p1%27"),
    ]
    assert not _mismatches(theirs, ours, script)
