"""Registered models and their versions as MLflow's model registry clients see them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

# Model version stages (mlflow/entities/model_registry/model_version_stages.py).
STAGE_NONE: Final = "None"
STAGE_STAGING: Final = "Staging"
STAGE_PRODUCTION: Final = "Production"
STAGE_ARCHIVED: Final = "Archived"
# A deleted version keeps its row (and number) under this stage; nothing shows it.
STAGE_DELETED_INTERNAL: Final = "Deleted_Internal"
ALL_STAGES: Final = (STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED)
ACTIVE_STAGES: Final = (STAGE_STAGING, STAGE_PRODUCTION)
STATUS_READY: Final = "READY"

# A registered model tagged with this key set to "true" is a prompt (mlflow/prompt/constants.py).
IS_PROMPT_TAG_KEY: Final = "mlflow.prompt.is_prompt"
PROMPT_TEXT_TAG_KEY: Final = "mlflow.prompt.text"
PROMPT_TYPE_TAG_KEY: Final = "_mlflow_prompt_type"


@dataclass(frozen=True, slots=True)
class RegistryTag:
    key: str
    value: str | None


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: int
    creation_time: int | None
    last_updated_time: int | None
    description: str | None
    user_id: str | None
    current_stage: str | None
    source: str | None
    run_id: str | None
    run_link: str | None
    status: str | None
    status_message: str | None
    # Insertion order is the store's, as MLflow keeps it.
    tags: Mapping[str, str | None] = field(default_factory=dict)
    aliases: Sequence[str] = ()
    storage_location: str | None = None


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    creation_time: int | None
    last_updated_time: int | None
    description: str | None
    tags: Mapping[str, str | None] = field(default_factory=dict)
    # alias -> version number
    aliases: Mapping[str, int] = field(default_factory=dict)
    # The newest version in each stage (none for Deleted_Internal), shown without aliases.
    latest_versions: Sequence[ModelVersion] = ()

    def is_prompt(self) -> bool:
        return str(self.tags.get(IS_PROMPT_TAG_KEY) or "false").lower() == "true"


@dataclass(frozen=True, slots=True)
class NewModelVersion:
    """What ``create_model_version`` writes; the store picks the number."""

    source: str
    storage_location: str
    run_id: str | None
    run_link: str | None
    description: str | None
    tags: Sequence[RegistryTag] = ()
