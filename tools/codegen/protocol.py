"""MLflow's REST API from its protobuf descriptors: message classes, their stubs, the RPC table.

Reads the installed MLflow's ``*_pb2`` descriptors (``databricks.rpc`` options give each RPC's
HTTP method, path and API version) and the one hand-kept list of ported RPCs
(``src/entrypoints/ported.toml``), and writes under ``src/entrypoints/http/protocol/``:

- ``descriptors.py``: the serialized ``.proto`` files, loaded into a private descriptor pool,
  so requests parse with protobuf's own JSON rules without importing ``mlflow`` (1 s).
- ``messages.py`` / ``messages.pyi``: a class per message, and typed stubs for them.
- ``rpcs.py``: every RPC with its service, messages, endpoints and whether it is ported.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, FileDescriptor

from tools.codegen.common import REPO, generated_header

OUT = REPO / "src" / "entrypoints" / "http" / "protocol"
PORTED_LIST = REPO / "src" / "entrypoints" / "ported.toml"
_GENERATOR = "tools/codegen/protocol.py"


def _services() -> list[tuple[ModuleType, str]]:
    from mlflow.protos import mlflow_artifacts_pb2, model_registry_pb2, service_pb2, webhooks_pb2

    return [
        (service_pb2, "MlflowService"),
        (model_registry_pb2, "ModelRegistryService"),
        (mlflow_artifacts_pb2, "MlflowArtifactsService"),
        (webhooks_pb2, "WebhookService"),
    ]


def ported_rpcs() -> dict[str, set[str]]:
    with PORTED_LIST.open("rb") as handle:
        data = tomllib.load(handle)
    return {service: set(names) for service, names in data["ported"].items()}


# -- descriptors ------------------------------------------------------------------------------


def _files_in_dependency_order() -> list[FileDescriptor]:
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            visit(dependency)
        ordered.append(file)

    for module, _ in _services():
        visit(module.DESCRIPTOR)
    return ordered


def render_descriptors() -> str:
    lines = [
        generated_header(_GENERATOR).rstrip("\n"),
        '"""Serialized .proto files of MLflow\'s REST API, dependencies first."""',
        "",
        "FILES: tuple[bytes, ...] = (",
    ]
    for file in _files_in_dependency_order():
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        lines.append(f"    # {file.name}")
        lines.append(f"    {proto.SerializeToString(deterministic=True)!r},")
    lines += [")", ""]
    return "\n".join(lines)


# -- message classes and stubs -----------------------------------------------------------------


def _rpc_messages() -> list[Descriptor]:
    """Request and response messages of every RPC, and every message they reach."""
    found: dict[str, Descriptor] = {}

    def visit(message: Descriptor) -> None:
        if message.full_name in found or message.full_name.startswith("google.protobuf."):
            return
        found[message.full_name] = message
        for field in message.fields:
            if field.message_type is not None:
                visit(field.message_type)
        for nested in message.nested_types:
            if not nested.GetOptions().map_entry:
                visit(nested)

    for module, service_name in _services():
        for method in module.DESCRIPTOR.services_by_name[service_name].methods:
            visit(method.input_type)
            visit(method.output_type)
    return sorted(found.values(), key=lambda m: m.full_name)


def class_name(message: Descriptor | EnumDescriptor) -> str:
    """``mlflow.CreateExperiment.Response`` -> ``mlflow_CreateExperiment_Response``-free name."""
    package = message.file.package
    local = message.full_name[len(package) + 1 :] if package else message.full_name
    prefix = "".join(part.capitalize() for part in package.split(".")[1:])
    return prefix + local.replace(".", "_")


_SCALARS = {
    FieldDescriptor.TYPE_DOUBLE: "float",
    FieldDescriptor.TYPE_FLOAT: "float",
    FieldDescriptor.TYPE_INT64: "int",
    FieldDescriptor.TYPE_UINT64: "int",
    FieldDescriptor.TYPE_INT32: "int",
    FieldDescriptor.TYPE_FIXED64: "int",
    FieldDescriptor.TYPE_FIXED32: "int",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "str",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_UINT32: "int",
    FieldDescriptor.TYPE_SFIXED32: "int",
    FieldDescriptor.TYPE_SFIXED64: "int",
    FieldDescriptor.TYPE_SINT32: "int",
    FieldDescriptor.TYPE_SINT64: "int",
    FieldDescriptor.TYPE_ENUM: "int",
}


def _value_type(field: FieldDescriptor, known: set[str]) -> str:
    if field.message_type is not None:
        if field.message_type.full_name in known:
            return class_name(field.message_type)
        return "_message.Message"
    return _SCALARS[field.type]


def _field_annotation(field: FieldDescriptor, known: set[str]) -> str:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        key = _value_type(message_type.fields_by_name["key"], known)
        value = _value_type(message_type.fields_by_name["value"], known)
        return f"MutableMapping[{key}, {value}]"
    inner = _value_type(field, known)
    if field.is_repeated:
        return f"MutableSequence[{inner}]"
    return inner


def render_messages() -> str:
    messages = _rpc_messages()
    lines = [
        generated_header(_GENERATOR).rstrip("\n"),
        '"""Message classes of MLflow\'s REST API, built from a private descriptor pool."""',
        "",
        "from google.protobuf import descriptor_pool, message_factory",
        "",
        "from mlflow_core.entrypoints.http.protocol.descriptors import FILES",
        "",
        "# A private pool: the in-process shim may import MLflow's own *_pb2 modules beside us.",
        "POOL = descriptor_pool.DescriptorPool()",
        "for _file in FILES:",
        "    POOL.AddSerializedFile(_file)",
        "",
        "",
        "def _message(full_name: str) -> type:",
        "    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))",
        "",
        "",
    ]
    for message in messages:
        lines.append(f"{class_name(message)} = _message({message.full_name!r})")
    lines.append("")
    return "\n".join(lines)


def render_stubs() -> str:
    messages = _rpc_messages()
    known = {m.full_name for m in messages}
    lines = [
        generated_header(_GENERATOR).rstrip("\n"),
        "from collections.abc import MutableMapping, MutableSequence",
        "",
        "from google.protobuf import descriptor_pool",
        "from google.protobuf import message as _message",
        "",
        "POOL: descriptor_pool.DescriptorPool",
        "",
    ]
    for message in messages:
        lines.append(f"class {class_name(message)}(_message.Message):")
        fields = list(message.fields)
        if not fields:
            lines.append("    ...")
        for field in fields:
            lines.append(f"    {_safe(field.name)}: {_field_annotation(field, known)}")
        lines.append("")
    return "\n".join(lines)


def _safe(name: str) -> str:
    import keyword

    return f"{name}_" if keyword.iskeyword(name) else name


# -- the RPC table ----------------------------------------------------------------------------


def _endpoints(method: Any) -> list[tuple[str, str, int]]:
    from mlflow.protos import databricks_pb2

    rpc = method.GetOptions().Extensions[databricks_pb2.rpc]
    return [(e.method, e.path, e.since.major) for e in rpc.endpoints]


def render_rpcs() -> str:
    ported = ported_rpcs()
    lines = [
        generated_header(_GENERATOR).rstrip("\n"),
        '"""Every RPC of MLflow\'s REST services, its endpoints, whether mlflow-core serves it."""',
        "",
        "from mlflow_core.entrypoints.http.protocol.rpc_table import Endpoint, Rpc",
        "",
        "RPCS: tuple[Rpc, ...] = (",
    ]
    for module, service_name in _services():
        service = module.DESCRIPTOR.services_by_name[service_name]
        for method in service.methods:
            endpoints = ", ".join(
                f"Endpoint({verb!r}, {path!r}, {major})" for verb, path, major in _endpoints(method)
            )
            lines.append(
                f"    Rpc({service_name!r}, {method.name!r}, {class_name(method.input_type)!r}, "
                f"{class_name(method.output_type)!r}, ({endpoints},), "
                f"ported={method.name in ported.get(service_name, set())}),"
            )
    lines += [")", ""]
    return "\n".join(lines)


def outputs() -> dict[Path, str]:
    return {
        OUT / "descriptors.py": render_descriptors(),
        OUT / "messages.py": render_messages(),
        OUT / "messages.pyi": render_stubs(),
        OUT / "rpcs.py": render_rpcs(),
    }
