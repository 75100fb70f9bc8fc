"""Request reading and per-RPC rules: MLflow's answers to well- and ill-formed requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlflow_core.entrypoints.http import areas, request_rules
from mlflow_core.entrypoints.http.handlers import HandlerSet
from mlflow_core.entrypoints.http.protocol import messages
from mlflow_core.entrypoints.http.protocol.rpcs import RPCS
from mlflow_core.entrypoints.http.requests import ParsedRequest, parse_request
from mlflow_core.errors import ErrorCode, MlflowCoreError

JSON = "application/json"


def _post(message_class, body: object, content_type: str | None = JSON) -> ParsedRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_request(message_class, "POST", b"", raw, content_type)


ALL_SETS: list[HandlerSet[Any]] = [*areas.TRACKING, *areas.REGISTRY]
RULES = {name: rules for handler_set in ALL_SETS for name, rules in handler_set.rules.items()}
HANDLED = {rpc for handler_set in ALL_SETS for rpc in handler_set.handlers}


def _checked(message_name: str, request: ParsedRequest) -> ParsedRequest:
    request_rules.apply_rules(RULES[message_name], request)
    return request


def _message(fn, *args) -> str:
    with pytest.raises(MlflowCoreError) as info:
        fn(*args)
    assert info.value.error_code is ErrorCode.INVALID_PARAMETER_VALUE
    return info.value.message


def test_every_rule_names_a_field_of_its_message() -> None:
    for message_name, rules in RULES.items():
        fields = {f.name for f in getattr(messages, message_name).DESCRIPTOR.fields}
        assert set(rules) <= fields, f"{message_name}: {set(rules) - fields}"


def test_every_ported_rpc_has_rules() -> None:
    for rpc in RPCS:
        if rpc.ported:
            assert rpc.request in RULES, rpc.name
            assert rpc.name in HANDLED, rpc.name


def test_valid_body_parses() -> None:
    request = _checked(
        "CreateExperiment",
        _post(messages.CreateExperiment, {"name": "e", "tags": [{"key": "a", "value": "b"}]}),
    )
    assert request.parsed_by_protobuf
    assert request.message.name == "e"
    assert [(t.key, t.value) for t in request.message.tags] == [("a", "b")]


def test_content_type_is_required_for_post() -> None:
    missing = _message(_post, messages.CreateExperiment, {"name": "e"}, None)
    assert missing == "Bad Request. Content-Type header is missing."
    wrong = _message(_post, messages.CreateExperiment, {"name": "e"}, "text/plain")
    assert wrong == "Bad Request. Content-Type must be one of ['application/json']."
    _post(messages.CreateExperiment, {"name": "e"}, "application/json; charset=utf-8")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "Missing value for required parameter 'name'."),
        ({"name": ""}, "Missing value for required parameter 'name'."),
        (b"not json", "Missing value for required parameter 'name'."),
        (
            {"name": 5},
            "Invalid value 5 for parameter 'name' supplied:  Hint: Value was of type 'int'.",
        ),
        (
            {"name": "e", "tags": {"a": 1}},
            "Invalid value {\"a\":1} for parameter 'tags' supplied:  "
            "Hint: Value was of type 'dict'.",
        ),
    ],
)
def test_create_experiment_rule_messages(body: object, expected: str) -> None:
    request = _post(messages.CreateExperiment, body)
    message = _message(_checked, "CreateExperiment", request)
    assert message == expected + " See the API docs for more information about request parameters."


def test_double_encoded_json_is_accepted() -> None:
    request = _post(messages.CreateExperiment, json.dumps({"name": "e"}))
    assert _checked("CreateExperiment", request).message.name == "e"


def test_non_object_body_is_a_client_error() -> None:
    assert _message(_post, messages.CreateExperiment, [1, 2]).startswith("Invalid request body")


def test_both_spellings_of_a_field_are_refused() -> None:
    body = {"experiment_id": "1", "experimentId": "2"}
    assert _message(_post, messages.GetExperiment, body) == (
        "Request specifies both 'experiment_id' and 'experimentId'; provide only one of them."
    )


def test_type_checks_run_only_when_protobuf_fails() -> None:
    # "5" parses as an int64 for protobuf: no type check, the value is used
    request = _checked("SearchExperiments", _post(messages.SearchExperiments, {"max_results": "5"}))
    assert request.message.max_results == 5
    bad = _post(messages.SearchExperiments, {"max_results": "five"})
    assert not bad.parsed_by_protobuf
    assert _message(_checked, "SearchExperiments", bad).startswith(
        "Invalid value \"five\" for parameter 'max_results' supplied"
    )
    # a list is an invalid value (MLflow lets a TypeError escape as a 500 here)
    listed = _post(messages.SearchExperiments, {"max_results": [1]})
    assert _message(_checked, "SearchExperiments", listed).startswith("Invalid value [1]")


def test_get_reads_query_parameters() -> None:
    request = parse_request(
        messages.SearchExperiments,
        "GET",
        b"max_results=2&order_by=name&order_by=creation_time+DESC&filter=name+%3D+%27a%27",
        b"",
        None,
    )
    assert request.message.max_results == 2
    assert list(request.message.order_by) == ["name", "creation_time DESC"]
    assert request.message.filter == "name = 'a'"


def test_get_without_parameters_reads_a_body() -> None:
    request = parse_request(messages.GetExperiment, "GET", b"", b'{"experiment_id": "3"}', None)
    assert request.message.experiment_id == "3"


def test_nan_literal_bodies_are_read_like_flask() -> None:
    request = _post(messages.LogMetric, b'{"run_id": "r", "key": "m", "value": NaN}')
    assert request.raw["value"] != request.raw["value"]
