"""Handlers for the run RPCs of MlflowService: runs, and logging metrics, params and tags."""

from __future__ import annotations

from typing import Any

from mlflow_core.domain.experiments import ViewType
from mlflow_core.domain.runs import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    RunStatus,
    RunTag,
)
from mlflow_core.entrypoints.http.handlers import Answer, Handler, HandlerSet, page_answer
from mlflow_core.entrypoints.http.protocol import messages
from mlflow_core.entrypoints.http.request_rules import (
    RuleFailed,
    Rules,
    array,
    at_most,
    floatlike,
    intlike,
    item_type_string,
    required,
    string,
)
from mlflow_core.entrypoints.http.requests import ParsedRequest
from mlflow_core.entrypoints.http.wire import runs as wire
from mlflow_core.errors import MlflowCoreError
from mlflow_core.services.tracking import TrackingService
from mlflow_core.validation import limits
from mlflow_core.validation.messages import missing_value


def _metric(m: Any) -> Metric:
    return Metric(
        m.key,
        m.value,
        m.timestamp,
        m.step,
        model_id=m.model_id or None,
        dataset_name=m.dataset_name or None,
        dataset_digest=m.dataset_digest or None,
    )


def create_run(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.CreateRun = request.message
    run = service.create_run(
        message.experiment_id,
        user_id=message.user_id,
        start_time=message.start_time,
        tags=[RunTag(t.key, t.value) for t in message.tags],
        run_name=message.run_name,
    )
    return {"run": wire.run(run, with_outputs=False)}


def get_run(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.GetRun = request.message
    return {"run": wire.run(service.get_run(message.run_id or message.run_uuid))}


def update_run(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.UpdateRun = request.message
    info = service.update_run(
        message.run_id or message.run_uuid,
        status=RunStatus(message.status) if message.HasField("status") else None,
        end_time=message.end_time if message.HasField("end_time") else None,
        run_name=message.run_name if message.HasField("run_name") else None,
    )
    return {"run_info": wire.run_info(info)}


def delete_run(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.DeleteRun = request.message
    service.delete_run(message.run_id)
    return {}


def restore_run(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.RestoreRun = request.message
    service.restore_run(message.run_id)
    return {}


def log_metric(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.LogMetric = request.message
    service.log_metric(message.run_id or message.run_uuid, _metric(message))
    return {}


def log_param(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.LogParam = request.message
    service.log_param(message.run_id or message.run_uuid, Param(message.key, message.value))
    return {}


def set_tag(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.SetTag = request.message
    service.set_tag(message.run_id or message.run_uuid, RunTag(message.key, message.value))
    return {}


def delete_tag(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.DeleteTag = request.message
    service.delete_tag(message.run_id, message.key)
    return {}


def log_batch(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.LogBatch = request.message
    _check_batch_size(request.raw)
    service.log_batch(
        message.run_id,
        metrics=[_metric(m) for m in message.metrics],
        params=[Param(p.key, p.value) for p in message.params],
        tags=[RunTag(t.key, t.value) for t in message.tags],
    )
    return {}


def log_inputs(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.LogInputs = request.message
    datasets = [
        DatasetInput(
            Dataset(
                name=d.dataset.name,
                digest=d.dataset.digest,
                source_type=d.dataset.source_type,
                source=d.dataset.source,
                schema=d.dataset.schema if d.dataset.HasField("schema") else None,
                profile=d.dataset.profile if d.dataset.HasField("profile") else None,
            ),
            [InputTag(t.key, t.value) for t in d.tags],
        )
        for d in message.datasets
    ]
    service.log_inputs(message.run_id, datasets, [m.model_id for m in message.models])
    return {}


def log_outputs(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.LogOutputs = request.message
    outputs = [LoggedModelOutput(m.model_id, m.step) for m in message.models]
    service.log_outputs(message.run_id, outputs)
    return {}


def search_runs(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.SearchRuns = request.message
    view_type = ViewType(message.run_view_type) if message.HasField("run_view_type") else None
    page = service.search_runs(
        list(message.experiment_ids),
        filter_string=message.filter,
        run_view_type=view_type or ViewType.ACTIVE_ONLY,
        max_results=message.max_results,
        order_by=list(message.order_by),
        page_token=message.page_token or None,
    )
    return page_answer("runs", page, wire.run)


def _fields_present(collection: str, *fields: str) -> Any:
    """MLflow's ``_assert_<collection>_fields_present``: each item names its required fields."""

    def check(value: Any) -> None:
        for index, item in enumerate(value or ()):
            if not isinstance(item, dict):
                # MLflow fails on ``item.get`` with a 500; it is a malformed item.
                raise RuleFailed()
            for name in fields:
                found = item.get(name)
                if found is None or found == "":
                    raise RuleFailed(missing_value(f"{collection}[{index}].{name}"))

    return check


def _check_batch_size(raw: dict[str, Any]) -> None:
    # MLflow's _validate_batch_log_api_req: len() of the decoded request object (its keys),
    # checked before the rules there and after them here (only the order differs).
    if len(raw) > limits.MAX_BATCH_LOG_REQUEST_SIZE:
        raise MlflowCoreError.invalid_parameter_value(
            f"Batched logging API requests must be at most {limits.MAX_BATCH_LOG_REQUEST_SIZE} "
            f"bytes, got a request of size {len(raw)}."
        )


# MLflow's schema= for each handler, in its order.
RULES: dict[str, Rules] = {
    "CreateRun": {
        "experiment_id": (string,),
        "start_time": (intlike,),
        "run_name": (string,),
    },
    "UpdateRun": {
        "run_id": (required, string),
        "end_time": (intlike,),
        "status": (string,),
        "run_name": (string,),
    },
    "DeleteRun": {"run_id": (required, string)},
    "RestoreRun": {"run_id": (required, string)},
    "GetRun": {"run_id": (required, string)},
    "LogMetric": {
        "run_id": (required, string),
        "key": (required, string),
        "value": (required, floatlike),
        "timestamp": (intlike, required),
        "step": (intlike,),
        "model_id": (string,),
        "dataset_name": (string,),
        "dataset_digest": (string,),
    },
    "LogParam": {
        "run_id": (required, string),
        "key": (required, string),
        "value": (string,),
    },
    "SetTag": {
        "run_id": (required, string),
        "key": (required, string),
        "value": (string,),
    },
    "DeleteTag": {
        "run_id": (required, string),
        "key": (required, string),
    },
    "LogInputs": {
        "run_id": (required, string),
        "datasets": (array,),
        "models": (array,),
    },
    "LogOutputs": {
        "run_id": (required, string),
        "models": (required, array),
    },
    "SearchRuns": {
        "experiment_ids": (array,),
        "filter": (string,),
        "max_results": (intlike, at_most(limits.SEARCH_MAX_RESULTS_THRESHOLD)),
        "order_by": (array, item_type_string),
    },
    "LogBatch": {
        "run_id": (string, required),
        "metrics": (array, _fields_present("metrics", "key", "value", "timestamp")),
        "params": (array, _fields_present("params", "key")),
        "tags": (array, _fields_present("tags", "key")),
    },
}

HANDLERS: dict[str, Handler[TrackingService]] = {
    "createRun": create_run,
    "getRun": get_run,
    "updateRun": update_run,
    "deleteRun": delete_run,
    "restoreRun": restore_run,
    "logMetric": log_metric,
    "logParam": log_param,
    "setTag": set_tag,
    "deleteTag": delete_tag,
    "logBatch": log_batch,
    "logInputs": log_inputs,
    "logOutputs": log_outputs,
    "searchRuns": search_runs,
}

RUNS = HandlerSet(HANDLERS, RULES)
