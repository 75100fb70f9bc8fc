"""Handlers for ModelRegistryService: registered models, model versions, tags and aliases.

After a successful write each handler fires the webhook event MLflow's handler fires (through
MLflow's delivery, ``webhooks.py``), choosing the prompt variant where MLflow does.
"""

from __future__ import annotations

from typing import Any

from mlflow_core.domain.registry import (
    IS_PROMPT_TAG_KEY,
    PROMPT_TYPE_TAG_KEY,
    RegistryTag,
)
from mlflow_core.entrypoints.http import model_version_sources, webhooks
from mlflow_core.entrypoints.http.handlers import (
    DEFER,
    Answer,
    Handler,
    HandlerSet,
    page_answer,
)
from mlflow_core.entrypoints.http.protocol import messages
from mlflow_core.entrypoints.http.request_rules import (
    Rules,
    array,
    at_most,
    boolean,
    intlike,
    item_type_string,
    required,
    string,
)
from mlflow_core.entrypoints.http.requests import ParsedRequest
from mlflow_core.entrypoints.http.wire import registry as wire
from mlflow_core.services.registry import RegistryService


def _tags(tags: Any) -> list[RegistryTag]:
    return [RegistryTag(tag.key, tag.value) for tag in tags]


def _is_prompt(service: RegistryService, name: str) -> bool:
    """MLflow's ``_is_prompt``: reads the model again after the write."""
    return service.get_registered_model(name).is_prompt()


# -- registered models -----------------------------------------------------------------------


def create_registered_model(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.CreateRegisteredModel = request.message
    model = service.create_registered_model(message.name, _tags(message.tags), message.description)
    tags = {tag.key: tag.value for tag in message.tags}
    if tags.get(IS_PROMPT_TAG_KEY, "false").lower() == "true":
        hidden = {IS_PROMPT_TAG_KEY, PROMPT_TYPE_TAG_KEY}
        payload = {
            "name": message.name,
            "tags": {k: v for k, v in tags.items() if k not in hidden},
            "description": message.description,
        }
        webhooks.deliver("prompt", "created", payload)
    else:
        payload = {"name": message.name, "tags": tags, "description": message.description}
        webhooks.deliver("registered_model", "created", payload)
    return {"registered_model": wire.registered_model(model)}


def get_registered_model(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.GetRegisteredModel = request.message
    return {"registered_model": wire.registered_model(service.get_registered_model(message.name))}


def update_registered_model(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.UpdateRegisteredModel = request.message
    model = service.update_registered_model(message.name, message.description)
    return {"registered_model": wire.registered_model(model)}


def rename_registered_model(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.RenameRegisteredModel = request.message
    model = service.rename_registered_model(message.name, message.new_name)
    return {"registered_model": wire.registered_model(model)}


def delete_registered_model(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.DeleteRegisteredModel = request.message
    service.delete_registered_model(message.name)
    return {}


def search_registered_models(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.SearchRegisteredModels = request.message
    page = service.search_registered_models(
        filter_string=message.filter,
        max_results=message.max_results,
        order_by=list(message.order_by),
        page_token=message.page_token or None,
    )
    return page_answer("registered_models", page, wire.registered_model)


def get_latest_versions(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.GetLatestVersions = request.message
    versions = service.get_latest_versions(message.name, list(message.stages))
    return {"model_versions": [wire.model_version(v) for v in versions]} if versions else {}


def set_registered_model_tag(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.SetRegisteredModelTag = request.message
    service.set_registered_model_tag(message.name, RegistryTag(message.key, message.value))
    if _is_prompt(service, message.name):
        payload = {"name": message.name, "key": message.key, "value": message.value}
        webhooks.deliver("prompt_tag", "set", payload)
    return {}


def delete_registered_model_tag(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.DeleteRegisteredModelTag = request.message
    service.delete_registered_model_tag(message.name, message.key)
    if _is_prompt(service, message.name):
        webhooks.deliver("prompt_tag", "deleted", {"name": message.name, "key": message.key})
    return {}


# -- model versions --------------------------------------------------------------------------


def create_model_version(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.CreateModelVersion = request.message
    tags = {tag.key: tag.value for tag in message.tags}
    if not model_version_sources.plainly_accepted(message.source, message.model_id, tags):
        if model_version_sources.served_by_mlflow(message.source, message.model_id, tags):
            return DEFER
        model_version_sources.check_source(message.source, message.run_id)
    version = service.create_model_version(
        message.name,
        message.source,
        run_id=message.run_id,
        tags=_tags(message.tags),
        run_link=message.run_link,
        description=message.description,
    )
    payload = {
        "name": message.name,
        "version": str(version.version),
        "source": message.source,
        "run_id": message.run_id or None,
        "tags": tags,
        "description": message.description or None,
    }
    webhooks.deliver("model_version", "created", payload)
    return {"model_version": wire.model_version(version)}


def get_model_version(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.GetModelVersion = request.message
    version = service.get_model_version(message.name, message.version)
    return {"model_version": wire.model_version(version)}


def update_model_version(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.UpdateModelVersion = request.message
    # Without a description MLflow clears it.
    description = message.description if message.HasField("description") else None
    version = service.update_model_version(message.name, message.version, description)
    return {"model_version": wire.model_version(version)}


def transition_model_version_stage(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.TransitionModelVersionStage = request.message
    version = service.transition_model_version_stage(
        message.name, message.version, message.stage, message.archive_existing_versions
    )
    return {"model_version": wire.model_version(version)}


def delete_model_version(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.DeleteModelVersion = request.message
    service.delete_model_version(message.name, message.version)
    return {}


def get_model_version_download_uri(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.GetModelVersionDownloadUri = request.message
    return {"artifact_uri": service.get_model_version_download_uri(message.name, message.version)}


def search_model_versions(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.SearchModelVersions = request.message
    page = service.search_model_versions(
        filter_string=message.filter,
        max_results=message.max_results,
        order_by=list(message.order_by),
        page_token=message.page_token or None,
    )
    return page_answer("model_versions", page, wire.model_version)


def set_model_version_tag(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.SetModelVersionTag = request.message
    service.set_model_version_tag(
        message.name, message.version, RegistryTag(message.key, message.value)
    )
    entity = "prompt_version_tag" if _is_prompt(service, message.name) else "model_version_tag"
    payload = {
        "name": message.name,
        "version": message.version,
        "key": message.key,
        "value": message.value,
    }
    webhooks.deliver(entity, "set", payload)
    return {}


def delete_model_version_tag(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.DeleteModelVersionTag = request.message
    service.delete_model_version_tag(message.name, message.version, message.key)
    entity = "prompt_version_tag" if _is_prompt(service, message.name) else "model_version_tag"
    payload = {"name": message.name, "version": message.version, "key": message.key}
    webhooks.deliver(entity, "deleted", payload)
    return {}


# -- aliases ---------------------------------------------------------------------------------


def set_registered_model_alias(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.SetRegisteredModelAlias = request.message
    service.set_registered_model_alias(message.name, message.alias, message.version)
    entity = "prompt_alias" if _is_prompt(service, message.name) else "model_version_alias"
    payload = {"name": message.name, "alias": message.alias, "version": message.version}
    webhooks.deliver(entity, "created", payload)
    return {}


def delete_registered_model_alias(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.DeleteRegisteredModelAlias = request.message
    service.delete_registered_model_alias(message.name, message.alias)
    entity = "prompt_alias" if _is_prompt(service, message.name) else "model_version_alias"
    webhooks.deliver(entity, "deleted", {"name": message.name, "alias": message.alias})
    return {}


def get_model_version_by_alias(service: RegistryService, request: ParsedRequest) -> Answer:
    message: messages.GetModelVersionByAlias = request.message
    version = service.get_model_version_by_alias(message.name, message.alias)
    return {"model_version": wire.model_version(version)}


_NAME = (string, required)
_SEARCH_ORDER = (array, item_type_string)

# MLflow's schema= for each handler, in its order.
RULES: dict[str, Rules] = {
    "CreateRegisteredModel": {"name": _NAME, "tags": (array,), "description": (string,)},
    "GetRegisteredModel": {"name": _NAME},
    "UpdateRegisteredModel": {"name": _NAME, "description": (string,)},
    "RenameRegisteredModel": {"name": _NAME, "new_name": _NAME},
    "DeleteRegisteredModel": {"name": _NAME},
    "SearchRegisteredModels": {
        "filter": (string,),
        "max_results": (intlike, at_most(1000)),
        "order_by": _SEARCH_ORDER,
        "page_token": (string,),
    },
    "GetLatestVersions": {"name": _NAME, "stages": (array, item_type_string)},
    "SetRegisteredModelTag": {"name": _NAME, "key": _NAME, "value": (string,)},
    "DeleteRegisteredModelTag": {"name": _NAME, "key": _NAME},
    "CreateModelVersion": {
        "name": _NAME,
        "source": _NAME,
        "run_id": (string,),
        "tags": (array,),
        "run_link": (string,),
        "description": (string,),
        "model_id": (string,),
    },
    "GetModelVersion": {"name": _NAME, "version": _NAME},
    "UpdateModelVersion": {"name": _NAME, "version": _NAME, "description": (string,)},
    "TransitionModelVersionStage": {
        "name": _NAME,
        "version": _NAME,
        "stage": _NAME,
        "archive_existing_versions": (boolean,),
    },
    "DeleteModelVersion": {"name": _NAME, "version": _NAME},
    "GetModelVersionDownloadUri": {},
    "SearchModelVersions": {
        "filter": (string,),
        "max_results": (intlike, at_most(200_000)),
        "order_by": _SEARCH_ORDER,
        "page_token": (string,),
    },
    "SetModelVersionTag": {"name": _NAME, "version": _NAME, "key": _NAME, "value": (string,)},
    "DeleteModelVersionTag": {"name": _NAME, "version": _NAME, "key": _NAME},
    "SetRegisteredModelAlias": {"name": _NAME, "alias": _NAME, "version": _NAME},
    "DeleteRegisteredModelAlias": {"name": _NAME, "alias": _NAME},
    "GetModelVersionByAlias": {"name": _NAME, "alias": _NAME},
}

HANDLERS: dict[str, Handler[RegistryService]] = {
    "createRegisteredModel": create_registered_model,
    "getRegisteredModel": get_registered_model,
    "updateRegisteredModel": update_registered_model,
    "renameRegisteredModel": rename_registered_model,
    "deleteRegisteredModel": delete_registered_model,
    "searchRegisteredModels": search_registered_models,
    "getLatestVersions": get_latest_versions,
    "setRegisteredModelTag": set_registered_model_tag,
    "deleteRegisteredModelTag": delete_registered_model_tag,
    "createModelVersion": create_model_version,
    "getModelVersion": get_model_version,
    "updateModelVersion": update_model_version,
    "transitionModelVersionStage": transition_model_version_stage,
    "deleteModelVersion": delete_model_version,
    "getModelVersionDownloadUri": get_model_version_download_uri,
    "searchModelVersions": search_model_versions,
    "setModelVersionTag": set_model_version_tag,
    "deleteModelVersionTag": delete_model_version_tag,
    "setRegisteredModelAlias": set_registered_model_alias,
    "deleteRegisteredModelAlias": delete_registered_model_alias,
    "getModelVersionByAlias": get_model_version_by_alias,
}

REGISTRY = HandlerSet(HANDLERS, RULES)
