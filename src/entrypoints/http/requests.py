"""Reading a request into its protobuf message exactly as MLflow's handlers read it.

MLflow (``handlers._get_request_message``) takes GET parameters from the query string and
everything else from a JSON body (content type checked for POST and PUT), rejects a field
spelled both ways (``run_id``/``runId``), parses with protobuf's ``ParseDict`` and remembers
whether that failed: its per-RPC rules then check the *raw* JSON, with type checks only when
protobuf could not parse it. We do the same steps with the same protobuf code, so malformed
input gets the same answer. A body of singular ASCII strings (most requests) is set on the
message directly, as ``ParseDict`` would set it: it costs a tenth (a create-model-version's
body: 20 -> 2 us), and tests/unit/test_request_plain_strings.py compares the two for every RPC.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mlflow_core.errors import MlflowCoreError


@dataclass(slots=True)
class ParsedRequest:
    message: Any  # the protobuf message; typed per RPC by the handler reading it
    raw: dict[str, Any]  # the JSON (or query parameters) the rules check
    parsed_by_protobuf: bool


def _query_args(query_string: bytes) -> dict[str, list[str]]:
    args: dict[str, list[str]] = {}
    if not query_string:
        return args
    for key, value in urllib.parse.parse_qsl(
        query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="replace"
    ):
        args.setdefault(key, []).append(value)
    return args


def _args_to_json(descriptor: Any, args: dict[str, list[str]]) -> dict[str, Any]:
    request_json: dict[str, Any] = {}
    for field in descriptor.fields:
        values = args.get(field.name)
        if values is None:
            continue
        if field.is_repeated:
            request_json[field.name] = values
            continue
        value: Any = values[0]
        if field.type == FieldDescriptor.TYPE_BOOL:
            if value.lower() not in ("true", "false"):
                raise MlflowCoreError.invalid_parameter_value(
                    f"Invalid boolean value: {value}, must be 'true' or 'false'."
                )
            value = value.lower() == "true"
        request_json[field.name] = value
    return request_json


def _check_content_type(content_type: str | None) -> None:
    if content_type is None:
        raise MlflowCoreError.invalid_parameter_value(
            "Bad Request. Content-Type header is missing."
        )
    if content_type.split(";")[0] != "application/json":
        raise MlflowCoreError.invalid_parameter_value(
            "Bad Request. Content-Type must be one of ['application/json']."
        )


def decode_json_body(body: bytes) -> Any:
    """The body as Flask's ``get_json(force=True, silent=True)`` reads it: None if unreadable."""
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    # Python's json also reads what orjson refuses and Flask accepts: NaN/Infinity literals,
    # integers beyond 64 bits, UTF-16/32 bodies.
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _body_to_json(body: bytes) -> dict[str, Any]:
    request_json = decode_json_body(body)
    if isinstance(request_json, str):
        # Older clients double-encode the JSON object as a JSON string.
        try:
            request_json = json.loads(request_json)
        except ValueError:
            request_json = _not_an_object()
    if request_json is None:
        return {}
    if not isinstance(request_json, dict):
        # MLflow answers a non-object body with a 500; we say what is wrong instead.
        _not_an_object()
    body_object: dict[str, Any] = request_json
    return body_object


def _not_an_object() -> Any:
    raise MlflowCoreError.invalid_parameter_value(
        "Invalid request body: expected a JSON object. See the API docs for more information "
        "about request parameters."
    )


def _reject_conflicting_aliases(request_json: Any, descriptor: Any) -> None:
    if not isinstance(request_json, dict):
        return
    for field in descriptor.fields:
        if (
            field.name != field.json_name
            and field.name in request_json
            and field.json_name in request_json
        ):
            raise MlflowCoreError.invalid_parameter_value(
                f"Request specifies both '{field.name}' and '{field.json_name}'; "
                "provide only one of them."
            )
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        nested = field.message_type
        if nested.GetOptions().map_entry or nested.full_name.startswith("google.protobuf."):
            continue
        value = request_json.get(field.name, request_json.get(field.json_name))
        for item in value if isinstance(value, list) else [value]:
            _reject_conflicting_aliases(item, nested)


def parse_request(
    message_class: type[Message],
    method: str,
    query_string: bytes,
    body: bytes,
    content_type: str | None,
) -> ParsedRequest:
    descriptor = message_class.DESCRIPTOR
    args = _query_args(query_string) if method == "GET" else {}
    if args:
        request_json = _args_to_json(descriptor, args)
    else:
        if method in ("POST", "PUT"):
            _check_content_type(content_type)
        request_json = _body_to_json(body)
    message = message_class()
    if _set_plain_strings(message_class, request_json, message):
        return ParsedRequest(message, request_json, True)
    _reject_conflicting_aliases(request_json, descriptor)
    parsed = True
    try:
        json_format.ParseDict(request_json, message, ignore_unknown_fields=True)
    except json_format.ParseError:
        parsed = False
    return ParsedRequest(message, request_json, parsed)


_PLAIN_STRING_FIELDS: dict[type[Message], dict[str, str]] = {}


def _plain_string_fields(message_class: type[Message]) -> dict[str, str]:
    """Each spelling (``run_id``, ``runId``) of the message's singular string fields outside a
    oneof (no request has one today), mapped to the field's name."""
    found = _PLAIN_STRING_FIELDS.get(message_class)
    if found is not None:
        return found
    fields: dict[str, str] = {}
    for field in message_class.DESCRIPTOR.fields:
        if (
            field.type == FieldDescriptor.TYPE_STRING
            and not field.is_repeated
            and field.containing_oneof is None
        ):
            fields[field.name] = field.name
            fields[field.json_name] = field.name
    _PLAIN_STRING_FIELDS[message_class] = fields
    return fields


def _set_plain_strings(
    message_class: type[Message], request_json: dict[str, Any], message: Message
) -> bool:
    """Most requests are a few ASCII strings: set them as ``ParseDict`` would (a null leaves
    the field unset) and return True. False, with nothing set, for anything else, which then
    takes protobuf's path and MLflow's checks (both spellings of a field, other types,
    unknown fields, non-ASCII text: unpaired surrogates are a parse error there)."""
    fields = _plain_string_fields(message_class)
    values: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, value in request_json.items():
        name = fields.get(key)
        if name is None or name in seen:
            return False
        seen.add(name)
        if value is None:
            continue
        if type(value) is not str or not value.isascii():
            return False
        values.append((name, value))
    for name, value in values:
        setattr(message, name, value)
    return True
