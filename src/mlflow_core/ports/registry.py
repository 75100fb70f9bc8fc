"""The model registry store port: registered models, versions, tags and aliases.

Every method is one unit of work: it completes or changes nothing. Methods raise
``MlflowCoreError`` with MLflow's codes and messages for what MLflow's registry store reports
(a missing model or version, a taken name); names and versions arrive already validated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from mlflow_core.domain.registry import (
    ModelVersion,
    NewModelVersion,
    RegisteredModel,
    RegistryTag,
)
from mlflow_core.search.registry import RegistryFilter, RegistryOrderKey


@dataclass(frozen=True, slots=True)
class RegistrySearch:
    """A parsed registry search: what to match, in which order, which slice."""

    filter: RegistryFilter
    order_by: Sequence[RegistryOrderKey]
    offset: int
    limit: int


class ModelRegistryStore(ABC):
    # -- registered models -------------------------------------------------------------------

    @abstractmethod
    def create_registered_model(
        self,
        workspace: str,
        name: str,
        tags: Sequence[RegistryTag],
        description: str | None,
        now_ms: int,
    ) -> RegisteredModel | None:
        """Insert a model (tags deduplicated by key, the last value wins) and return it.

        None when the name is taken (the service words the error: model or prompt).
        """

    @abstractmethod
    def get_registered_model(self, workspace: str, name: str) -> RegisteredModel | None:
        """The model with its tags, aliases and latest version per stage."""

    @abstractmethod
    def update_registered_model(
        self, workspace: str, name: str, description: str | None, now_ms: int
    ) -> RegisteredModel: ...

    @abstractmethod
    def rename_registered_model(
        self, workspace: str, name: str, new_name: str, now_ms: int
    ) -> RegisteredModel:
        """Rename the model and all its versions (RESOURCE_ALREADY_EXISTS if taken)."""

    @abstractmethod
    def delete_registered_model(self, workspace: str, name: str) -> None:
        """Delete the model with its versions, tags (of both) and aliases."""

    @abstractmethod
    def search_registered_models(
        self, workspace: str, search: RegistrySearch
    ) -> list[RegisteredModel]: ...

    @abstractmethod
    def set_registered_model_tag(self, workspace: str, name: str, tag: RegistryTag) -> None: ...

    @abstractmethod
    def delete_registered_model_tag(self, workspace: str, name: str, key: str) -> None:
        """Delete the tag if present (a missing tag is not an error; a missing model is)."""

    @abstractmethod
    def get_latest_versions(self, workspace: str, name: str) -> list[ModelVersion]:
        """The newest version in each stage, with aliases, stages in order of first use."""

    # -- model versions ----------------------------------------------------------------------

    @abstractmethod
    def create_model_version(
        self, workspace: str, name: str, version: NewModelVersion, now_ms: int
    ) -> ModelVersion:
        """Insert the next version of the model: one more than the highest ever used.

        Concurrent calls for one model are serialized on the model's row, so each gets a
        distinct number and none is skipped.
        """

    @abstractmethod
    def get_model_version(self, workspace: str, name: str, version: int) -> ModelVersion | None:
        """A version (not a deleted one) with its tags and aliases."""

    @abstractmethod
    def update_model_version(
        self, workspace: str, name: str, version: int, description: str | None, now_ms: int
    ) -> ModelVersion: ...

    @abstractmethod
    def transition_model_version_stage(
        self,
        workspace: str,
        name: str,
        version: int,
        stage: str,
        archive_existing_versions: bool,
        now_ms: int,
    ) -> ModelVersion:
        """Move a version to ``stage`` (canonical); optionally archive the others in it."""

    @abstractmethod
    def delete_model_version(self, workspace: str, name: str, version: int, now_ms: int) -> None:
        """Mark the version deleted (its number stays used), redact it, drop its aliases."""

    @abstractmethod
    def search_model_versions(
        self, workspace: str, search: RegistrySearch
    ) -> list[ModelVersion]: ...

    @abstractmethod
    def set_model_version_tag(
        self, workspace: str, name: str, version: int, tag: RegistryTag
    ) -> None: ...

    @abstractmethod
    def delete_model_version_tag(
        self, workspace: str, name: str, version: int, key: str
    ) -> None: ...

    # -- aliases -----------------------------------------------------------------------------

    @abstractmethod
    def set_registered_model_alias(
        self, workspace: str, name: str, alias: str, version: int
    ) -> None: ...

    @abstractmethod
    def delete_registered_model_alias(self, workspace: str, name: str, alias: str) -> None: ...

    @abstractmethod
    def get_model_version_by_alias(self, workspace: str, name: str, alias: str) -> ModelVersion:
        """The version an alias points to (INVALID_PARAMETER_VALUE if the alias is unknown)."""

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
