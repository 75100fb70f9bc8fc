"""Requests of plain strings skip protobuf's JSON parser; the message must be what it builds.

For every RPC's request message and a set of bodies around each rule of the shortcut, the
answer of ``parse_request`` is compared with protobuf's ``ParseDict`` after MLflow's alias
check (the path every request took before): same message, same parse flag, same error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from mlflow_core.entrypoints.http import requests
from mlflow_core.entrypoints.http.protocol import messages
from mlflow_core.entrypoints.http.protocol.rpcs import RPCS
from mlflow_core.errors import MlflowCoreError

REQUEST_CLASSES = sorted({rpc.request for rpc in RPCS})


def reference(message_class: Any, body: bytes) -> tuple[bytes, bool] | str:
    """What every request got before the shortcut: the message and parse flag, or the error."""
    request_json = requests._body_to_json(body)
    try:
        requests._reject_conflicting_aliases(request_json, message_class.DESCRIPTOR)
    except MlflowCoreError as exc:
        return exc.message
    message = message_class()
    try:
        json_format.ParseDict(request_json, message, ignore_unknown_fields=True)
    except json_format.ParseError:
        return message.SerializeToString(deterministic=True), False
    return message.SerializeToString(deterministic=True), True


def ours(message_class: Any, body: bytes) -> tuple[bytes, bool] | str:
    try:
        parsed = requests.parse_request(message_class, "POST", b"", body, "application/json")
    except MlflowCoreError as exc:
        return exc.message
    return parsed.message.SerializeToString(deterministic=True), parsed.parsed_by_protobuf


def bodies(message_class: Any) -> list[dict[str, Any]]:
    fields = message_class.DESCRIPTOR.fields
    strings = [f for f in fields if f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated]
    found: list[dict[str, Any]] = [{}, {"no_such_field": "x"}]
    if strings:
        found.append({f.name: f"v-{f.name}" for f in strings})
        found.append({f.json_name: f"v-{f.name}" for f in strings})
    for f in strings:
        found += [
            {f.name: "plain"},
            {f.name: None},
            {f.name: ""},
            {f.name: 7},
            {f.name: True},
            {f.name: ["a"]},
            {f.name: {"a": "b"}},
            {f.name: "caf\u00e9"},
            {f.name: "bad\ud800"},
            {f.name: "x", "no_such_field": "y"},
        ]
        if f.json_name != f.name:
            found.append({f.name: "a", f.json_name: "b"})
            found.append({f.json_name: "a"})
    for f in fields:
        if f.type != FieldDescriptor.TYPE_STRING or f.is_repeated:
            found.append({f.name: "1"})
            found.append({f.name: []})
    return found


@pytest.mark.parametrize("class_name", REQUEST_CLASSES)
def test_the_shortcut_builds_what_protobuf_builds(class_name: str) -> None:
    message_class = getattr(messages, class_name)
    for body in bodies(message_class):
        raw = json.dumps(body).encode()
        assert ours(message_class, raw) == reference(message_class, raw), body


def test_the_shortcut_is_taken_for_plain_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("protobuf's parser was used")

    monkeypatch.setattr(json_format, "ParseDict", refuse)
    parsed = requests.parse_request(
        messages.CreateModelVersion,
        "POST",
        b"",
        b'{"name": "m", "source": "s3://b/p", "run_id": null, "runLink": "http://x"}',
        "application/json",
    )
    assert parsed.parsed_by_protobuf
    assert (parsed.message.name, parsed.message.source, parsed.message.run_link) == (
        "m",
        "s3://b/p",
        "http://x",
    )
    assert not parsed.message.HasField("run_id")
