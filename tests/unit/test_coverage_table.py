"""The generated RPC table covers every RPC MLflow serves and marks what we port."""

from __future__ import annotations

from mlflow.protos import model_registry_pb2, service_pb2

from mlflow_core.entrypoints.cli.endpoints import coverage_table
from mlflow_core.entrypoints.http import areas
from mlflow_core.entrypoints.http.handlers import HandlerSet
from mlflow_core.entrypoints.http.handlers.registry import REGISTRY
from mlflow_core.entrypoints.http.protocol.rpcs import RPCS

EXPERIMENT_RPCS = {
    "createExperiment",
    "getExperiment",
    "getExperimentByName",
    "searchExperiments",
    "deleteExperiment",
    "restoreExperiment",
    "updateExperiment",
    "setExperimentTag",
    "deleteExperimentTag",
}
RUN_RPCS = {
    "createRun",
    "getRun",
    "updateRun",
    "deleteRun",
    "restoreRun",
    "logMetric",
    "logParam",
    "setTag",
    "deleteTag",
    "logBatch",
}


def _handler_sets() -> list[HandlerSet[object]]:
    return [
        handler_set
        for value in vars(areas).values()
        if isinstance(value, list)
        for handler_set in value
        if isinstance(handler_set, HandlerSet)
    ]


def test_table_lists_every_rpc_of_both_services() -> None:
    for module, service in (
        (service_pb2, "MlflowService"),
        (model_registry_pb2, "ModelRegistryService"),
    ):
        expected = {m.name for m in module.DESCRIPTOR.services_by_name[service].methods}
        assert {r.name for r in RPCS if r.service == service} == expected


def test_ported_rpcs_have_exactly_one_handler_each() -> None:
    ported = {r.name for r in RPCS if r.ported}
    assert ported >= EXPERIMENT_RPCS | RUN_RPCS
    handled = [name for handler_set in _handler_sets() for name in handler_set.handlers]
    assert sorted(handled) == sorted(ported)


def test_every_registry_rpc_is_ported_and_has_a_handler() -> None:
    service = model_registry_pb2.DESCRIPTOR.services_by_name["ModelRegistryService"]
    every = {m.name for m in service.methods}
    assert {r.name for r in RPCS if r.ported and r.service == "ModelRegistryService"} == every
    assert set(REGISTRY.handlers) == every


def test_endpoints_command_prints_totals() -> None:
    lines = coverage_table()
    assert any(
        "/api/2.0/mlflow/experiments/search" in line and line.rstrip().endswith("yes")
        for line in lines
    )
    mlflow_service = sum(1 for r in RPCS if r.ported and r.service == "MlflowService")
    total = sum(1 for r in RPCS if r.ported)
    assert f"MlflowService: {mlflow_service} of" in "\n".join(lines)
    assert lines[-1].startswith(f"total: {total} of ")
    assert "ModelRegistryService: 21 of 21" in "\n".join(lines)
