"""The generated RPC table covers every RPC MLflow serves and marks what we port."""

from __future__ import annotations

from mlflow.protos import model_registry_pb2, service_pb2

from mlflow_core.entrypoints.cli.endpoints import coverage_table
from mlflow_core.entrypoints.http.handlers.experiments import EXPERIMENTS
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


def test_table_lists_every_rpc_of_both_services() -> None:
    for module, service in (
        (service_pb2, "MlflowService"),
        (model_registry_pb2, "ModelRegistryService"),
    ):
        expected = {m.name for m in module.DESCRIPTOR.services_by_name[service].methods}
        assert {r.name for r in RPCS if r.service == service} == expected


def test_ported_rpcs_are_the_experiment_rpcs_and_have_handlers() -> None:
    ported = {r.name for r in RPCS if r.ported and r.service == "MlflowService"}
    assert ported == EXPERIMENT_RPCS
    assert set(EXPERIMENTS.handlers) == ported


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
    assert "MlflowService: 9 of" in "\n".join(lines)
    assert "ModelRegistryService: 21 of 21" in "\n".join(lines)
