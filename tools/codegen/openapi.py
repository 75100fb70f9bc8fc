"""An OpenAPI 3.0 document for the ported RPCs, from the same descriptors as the RPC table.

Every ported RPC's REST endpoints (``/api/<major>.0/...``; the ``/ajax-api`` aliases answer
alike) with MLflow's shapes: GET parameters in the query string, everything else as a JSON
body; request and response schemas from the protobuf messages (proto field names, the
``validate_required`` option as ``required``); any failure as MLflow's error JSON. Served at
``/openapi.json`` and read by the fuzz test (tests/e2e/test_fuzz_openapi.py), so an RPC is
fuzzed as soon as it is listed in ``ported.toml``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tools.codegen.common import REPO
from tools.codegen.protocol import _endpoints, _services, class_name, ported_rpcs

OUT = REPO / "src" / "entrypoints" / "http" / "protocol" / "openapi.json"
_GENERATOR = "tools/codegen/openapi.py"

_INTEGERS = {
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_SINT64: "int64",
    FieldDescriptor.TYPE_SFIXED64: "int64",
    FieldDescriptor.TYPE_UINT64: "int64",
    FieldDescriptor.TYPE_FIXED64: "int64",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_SINT32: "int32",
    FieldDescriptor.TYPE_SFIXED32: "int32",
    FieldDescriptor.TYPE_UINT32: "int32",
    FieldDescriptor.TYPE_FIXED32: "int32",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "MLflow's error answer",
    "properties": {
        "error_code": {"type": "string"},
        "message": {"type": "string"},
    },
    "required": ["error_code", "message"],
}


def _ref(message: Descriptor) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{class_name(message)}"}


def _value_schema(field: FieldDescriptor, components: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is not None:
        message = field.message_type
        if message.full_name == "google.protobuf.Value":
            return {}
        _add_message(message, components)
        return _ref(message)
    if field.enum_type is not None:
        return {"type": "string", "enum": [value.name for value in field.enum_type.values]}
    if field.type in _INTEGERS:
        return {"type": "integer", "format": _INTEGERS[field.type]}
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return {"type": "number"}
    if field.type == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    if field.type == FieldDescriptor.TYPE_BYTES:
        return {"type": "string", "format": "byte"}
    return {"type": "string"}


def _field_schema(field: FieldDescriptor, components: dict[str, Any]) -> dict[str, Any]:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        value = _value_schema(message.fields_by_name["value"], components)
        return {"type": "object", "additionalProperties": value}
    schema = _value_schema(field, components)
    return {"type": "array", "items": schema} if field.is_repeated else schema


def _required(message: Descriptor) -> list[str]:
    from mlflow.protos import databricks_pb2

    return [
        field.name
        for field in message.fields
        if field.GetOptions().Extensions[databricks_pb2.validate_required]
    ]


def _add_message(message: Descriptor, components: dict[str, Any]) -> None:
    name = class_name(message)
    if name in components:
        return
    components[name] = {}  # placeholder first: messages may refer to themselves
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {field.name: _field_schema(field, components) for field in message.fields},
    }
    if required := _required(message):
        schema["required"] = required
    components[name] = schema


def _query_parameters(message: Descriptor, components: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(_required(message))
    parameters = []
    for field in message.fields:
        if field.message_type is not None:
            continue  # MLflow reads only scalar fields from a query string
        parameter: dict[str, Any] = {
            "name": field.name,
            "in": "query",
            "required": field.name in required,
            "schema": _field_schema(field, components),
        }
        if field.is_repeated:
            parameter.update(style="form", explode=True)
        parameters.append(parameter)
    return parameters


def document() -> dict[str, Any]:
    import mlflow

    ported = ported_rpcs()
    components: dict[str, Any] = {"ErrorResponse": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for module, service_name in _services():
        service = module.DESCRIPTOR.services_by_name[service_name]
        for method in service.methods:
            if method.name not in ported.get(service_name, set()):
                continue
            _add_message(method.output_type, components)
            for verb, path, major in _endpoints(method):
                operation: dict[str, Any] = {
                    "operationId": f"{method.name}{verb.capitalize()}",
                    "tags": [service_name],
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"application/json": {"schema": _ref(method.output_type)}},
                        },
                        "default": {
                            "description": "MLflow's error answer",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                                }
                            },
                        },
                    },
                }
                if verb == "GET":
                    operation["parameters"] = _query_parameters(method.input_type, components)
                else:
                    _add_message(method.input_type, components)
                    operation["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(method.input_type)}},
                    }
                paths.setdefault(f"/api/{major}.0{path}", {})[verb.lower()] = operation
    return {
        "info": {
            "description": f"GENERATED by {_GENERATOR} from mlflow=={mlflow.__version__}. "
            "Do not edit. Regenerate with: python -m tools.codegen. The RPCs mlflow-core "
            "serves natively, at MLflow's paths with MLflow's shapes.",
            "title": "mlflow-core: natively served MLflow REST RPCs",
            "version": mlflow.__version__,
        },
        "openapi": "3.0.3",
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(components.items()))},
    }


def outputs() -> dict[Path, str]:
    return {OUT: json.dumps(document(), indent=1) + "\n"}
