"""Handlers for the experiment RPCs of MlflowService."""

from __future__ import annotations

from mlflow_core.domain.experiments import ExperimentTag, ViewType
from mlflow_core.entrypoints.http.handlers import (
    DEFER,
    Answer,
    Handler,
    HandlerSet,
    page_answer,
)
from mlflow_core.entrypoints.http.protocol import messages
from mlflow_core.entrypoints.http.request_rules import Rules, array, intlike, required, string
from mlflow_core.entrypoints.http.requests import ParsedRequest
from mlflow_core.entrypoints.http.wire import experiments as wire
from mlflow_core.errors import MlflowCoreError
from mlflow_core.services.tracking import TrackingService


def create_experiment(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.CreateExperiment = request.message
    if message.artifact_location:
        # MLflow's handler applies the server's artifact-storage policy (allowed schemes and
        # hosts, configured destinations) to a client-chosen location; MLflow answers those.
        return DEFER
    tags = [ExperimentTag(tag.key, tag.value) for tag in message.tags]
    return {"experiment_id": service.create_experiment(message.name, None, tags)}


def get_experiment(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.GetExperiment = request.message
    return {"experiment": wire.experiment(service.get_experiment(message.experiment_id))}


def get_experiment_by_name(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.GetExperimentByName = request.message
    experiment = service.get_experiment_by_name(message.experiment_name)
    if experiment is None:
        raise MlflowCoreError.does_not_exist(
            f"Could not find experiment with name '{message.experiment_name}'"
        )
    return {"experiment": wire.experiment(experiment)}


def search_experiments(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.SearchExperiments = request.message
    page = service.search_experiments(
        view_type=ViewType(message.view_type),
        max_results=message.max_results,
        filter_string=message.filter,
        order_by=list(message.order_by),
        page_token=message.page_token or None,
    )
    return page_answer("experiments", page, wire.experiment)


def delete_experiment(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.DeleteExperiment = request.message
    service.delete_experiment(message.experiment_id)
    return {}


def restore_experiment(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.RestoreExperiment = request.message
    service.restore_experiment(message.experiment_id)
    return {}


def update_experiment(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.UpdateExperiment = request.message
    if message.new_name:
        service.rename_experiment(message.experiment_id, message.new_name)
    return {}


def set_experiment_tag(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.SetExperimentTag = request.message
    service.set_experiment_tag(message.experiment_id, ExperimentTag(message.key, message.value))
    return {}


def delete_experiment_tag(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.DeleteExperimentTag = request.message
    service.delete_experiment_tag(message.experiment_id, message.key)
    return {}


# MLflow's schema= for each handler, in its order.
RULES: dict[str, Rules] = {
    "CreateExperiment": {
        "name": (required, string),
        "artifact_location": (string,),
        "tags": (array,),
    },
    "GetExperiment": {"experiment_id": (required, string)},
    "GetExperimentByName": {"experiment_name": (required, string)},
    "DeleteExperiment": {"experiment_id": (required, string)},
    "RestoreExperiment": {"experiment_id": (required, string)},
    "UpdateExperiment": {
        "experiment_id": (required, string),
        "new_name": (string, required),
    },
    "SetExperimentTag": {
        "experiment_id": (required, string),
        "key": (required, string),
        "value": (string,),
    },
    "DeleteExperimentTag": {
        "experiment_id": (required, string),
        "key": (required, string),
    },
    "SearchDatasets": {},
    "SearchExperiments": {
        "view_type": (intlike,),
        "max_results": (intlike,),
        "order_by": (array,),
        "filter": (string,),
        "page_token": (string,),
    },
}


def search_datasets(service: TrackingService, request: ParsedRequest) -> Answer:
    message: messages.SearchDatasets = request.message
    summaries = service.search_datasets(list(message.experiment_ids))
    answer: dict[str, object] = {}
    if summaries:
        answer["dataset_summaries"] = [wire.dataset_summary(s) for s in summaries]
    return answer


HANDLERS: dict[str, Handler[TrackingService]] = {
    "createExperiment": create_experiment,
    "getExperiment": get_experiment,
    "getExperimentByName": get_experiment_by_name,
    "searchExperiments": search_experiments,
    "deleteExperiment": delete_experiment,
    "restoreExperiment": restore_experiment,
    "updateExperiment": update_experiment,
    "setExperimentTag": set_experiment_tag,
    "deleteExperimentTag": delete_experiment_tag,
    "searchDatasets": search_datasets,
}

EXPERIMENTS = HandlerSet(HANDLERS, RULES)
