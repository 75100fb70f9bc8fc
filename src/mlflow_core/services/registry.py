"""RegistryService: ModelRegistryService's RPCs as plain method calls.

Each method checks its input in the order MLflow's registry store does, calls the store port
once (one unit of work), and returns domain values. The HTTP server and library users call
these methods.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

from mlflow_core.domain.paging import Page
from mlflow_core.domain.registry import (
    ACTIVE_STAGES,
    ALL_STAGES,
    IS_PROMPT_TAG_KEY,
    ModelVersion,
    NewModelVersion,
    RegisteredModel,
    RegistryTag,
)
from mlflow_core.domain.workspaces import DEFAULT_WORKSPACE
from mlflow_core.errors import MlflowCoreError
from mlflow_core.ports.clock import Clock, SystemClock
from mlflow_core.ports.registry import ModelRegistryStore, RegistrySearch
from mlflow_core.search.page_tokens import decode_offset_token, encode_offset_token
from mlflow_core.search.registry import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from mlflow_core.validation import limits
from mlflow_core.validation.names import validate_tag_name
from mlflow_core.validation.registry import (
    LATEST_ALIAS,
    canonical_stage,
    internal,
    model_not_found,
    name_taken,
    parse_model_version,
    validate_alias_name,
    validate_alias_not_reserved,
    validate_model_name,
    validate_model_renaming,
    validate_model_version_tag,
    validate_registered_model_tag,
    version_not_found,
)


def _page_token(found: int, limit: int, offset: int, max_results: int) -> str | None:
    """``_compute_next_token``: a full page (max_results + 1 rows asked) has a successor."""
    return encode_offset_token(offset + max_results) if found == limit else None


class RegistryService:
    def __init__(self, store: ModelRegistryStore, *, clock: Clock | None = None) -> None:
        self._store = store
        self._clock: Clock = clock or SystemClock()

    @property
    def store(self) -> ModelRegistryStore:
        return self._store

    # -- registered models -------------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegistryTag] = (),
        description: str | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> RegisteredModel:
        validate_model_name(name)
        for tag in tags:
            validate_registered_model_tag(tag.key, tag.value)
        created = self._store.create_registered_model(
            workspace, name, tags, description, self._clock.now_ms()
        )
        if created is None:
            existing = self._store.get_registered_model(workspace, name)
            existing_is_prompt = existing is not None and IS_PROMPT_TAG_KEY in existing.tags
            new_is_prompt = any(tag.key == IS_PROMPT_TAG_KEY for tag in tags)
            raise name_taken(name, existing_is_prompt, new_is_prompt)
        return created

    def get_registered_model(
        self, name: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> RegisteredModel:
        validate_model_name(name)
        model = self._store.get_registered_model(workspace, name)
        if model is None:
            raise model_not_found(name)
        return model

    def update_registered_model(
        self, name: str, description: str | None, *, workspace: str = DEFAULT_WORKSPACE
    ) -> RegisteredModel:
        validate_model_name(name)
        return self._store.update_registered_model(
            workspace, name, description, self._clock.now_ms()
        )

    def rename_registered_model(
        self, name: str, new_name: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> RegisteredModel:
        validate_model_renaming(new_name)
        validate_model_name(name)
        return self._store.rename_registered_model(workspace, name, new_name, self._clock.now_ms())

    def delete_registered_model(self, name: str, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        validate_model_name(name)
        self._store.delete_registered_model(workspace, name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = limits.SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page[RegisteredModel]:
        if max_results > limits.SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD:
            raise MlflowCoreError.invalid_parameter_value(
                "Invalid value for request parameter max_results. It must be at most "
                f"{limits.SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD}, but got value "
                f"{max_results}"
            )
        parsed = parse_registered_model_filter(filter_string)
        order_keys = parse_registered_model_order_by(order_by)
        offset = decode_offset_token(page_token)
        limit = max_results + 1  # one more row tells whether another page follows
        found = self._store.search_registered_models(
            workspace, RegistrySearch(parsed, order_keys, offset, limit)
        )
        token = _page_token(len(found), limit, offset, max_results)
        return Page(found[: max(max_results, 0)], token)

    def set_registered_model_tag(
        self, name: str, tag: RegistryTag, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        validate_model_name(name)
        validate_registered_model_tag(tag.key, tag.value)
        self._store.set_registered_model_tag(workspace, name, tag)

    def delete_registered_model_tag(
        self, name: str, key: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        validate_model_name(name)
        validate_tag_name(key)
        self._store.delete_registered_model_tag(workspace, name, key)

    def get_latest_versions(
        self,
        name: str,
        stages: Sequence[str] | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> list[ModelVersion]:
        validate_model_name(name)
        latest = self._store.get_latest_versions(workspace, name)
        wanted = {canonical_stage(stage) for stage in (stages or ALL_STAGES)}
        return [version for version in latest if version.current_stage in wanted]

    # -- model versions ----------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[RegistryTag] = (),
        run_link: str | None = None,
        description: str | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> ModelVersion:
        validate_model_name(name)
        for tag in tags:
            validate_model_version_tag(tag.key, tag.value)
        storage_location = source
        if urllib.parse.urlparse(source).scheme == "models":
            storage_location = self._registered_source_location(source, workspace)
        new = NewModelVersion(source, storage_location, run_id, run_link, description, tags)
        return self._store.create_model_version(workspace, name, new, self._clock.now_ms())

    def _registered_source_location(self, source: str, workspace: str) -> str:
        """``models:/<name>/<version>``: the storage location of that version, as MLflow."""
        path = source[len("models:") :].lstrip("/")
        name, _, version = path.rpartition("/")
        try:
            if not name or not version.isdigit():
                raise MlflowCoreError.invalid_parameter_value(
                    f"Not a proper models:/ URI: {source}. "
                )
            return self.get_model_version_download_uri(name, version, workspace=workspace)
        except MlflowCoreError as exc:
            raise internal(
                f"Unable to fetch model from model URI source artifact location '{source}'."
                f"Error: {exc.message}"
            ) from exc

    def get_model_version(
        self, name: str, version: str | int, *, workspace: str = DEFAULT_WORKSPACE
    ) -> ModelVersion:
        validate_model_name(name)
        number = parse_model_version(version)
        found = self._store.get_model_version(workspace, name, number)
        if found is None:
            raise version_not_found(name, number)
        return found

    def get_model_version_download_uri(
        self, name: str, version: str | int, *, workspace: str = DEFAULT_WORKSPACE
    ) -> str:
        found = self.get_model_version(name, version, workspace=workspace)
        return found.storage_location or found.source or ""

    def update_model_version(
        self,
        name: str,
        version: str | int,
        description: str | None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> ModelVersion:
        validate_model_name(name)
        number = parse_model_version(version)
        return self._store.update_model_version(
            workspace, name, number, description, self._clock.now_ms()
        )

    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: str,
        archive_existing_versions: bool = False,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> ModelVersion:
        target = canonical_stage(stage)
        if archive_existing_versions and target not in ACTIVE_STAGES:
            raise internal(
                "Model version transition cannot archive existing model versions because "
                f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}"
            )
        validate_model_name(name)
        number = parse_model_version(version)
        return self._store.transition_model_version_stage(
            workspace, name, number, target, archive_existing_versions, self._clock.now_ms()
        )

    def delete_model_version(
        self, name: str, version: str | int, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        number = parse_model_version(version)
        validate_model_name(name)
        self._store.delete_model_version(workspace, name, number, self._clock.now_ms())

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = limits.SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page[ModelVersion]:
        if max_results < 1:
            raise MlflowCoreError.invalid_parameter_value(
                "Invalid value for max_results. It must be a positive integer,"
                f" but got {max_results}"
            )
        if max_results > limits.SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD:
            raise MlflowCoreError.invalid_parameter_value(
                "Invalid value for request parameter max_results. It must be at most "
                f"{limits.SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD}, but got value "
                f"{max_results}"
            )
        parsed = parse_model_version_filter(filter_string)
        order_keys = parse_model_version_order_by(order_by)
        offset = decode_offset_token(page_token)
        limit = max_results + 1
        found = self._store.search_model_versions(
            workspace, RegistrySearch(parsed, order_keys, offset, limit)
        )
        token = _page_token(len(found), limit, offset, max_results)
        return Page(found[:max_results], token)

    def set_model_version_tag(
        self,
        name: str,
        version: str | int,
        tag: RegistryTag,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> None:
        validate_model_name(name)
        number = parse_model_version(version)
        validate_model_version_tag(tag.key, tag.value)
        self._store.set_model_version_tag(workspace, name, number, tag)

    def delete_model_version_tag(
        self, name: str, version: str | int, key: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        validate_model_name(name)
        number = parse_model_version(version)
        validate_tag_name(key)
        self._store.delete_model_version_tag(workspace, name, number, key)

    # -- aliases -----------------------------------------------------------------------------

    def set_registered_model_alias(
        self, name: str, alias: str, version: str | int, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        validate_model_name(name)
        validate_alias_name(alias)
        validate_alias_not_reserved(alias)
        number = parse_model_version(version)
        self._store.set_registered_model_alias(workspace, name, alias, number)

    def delete_registered_model_alias(
        self, name: str, alias: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        validate_model_name(name)
        validate_alias_name(alias)
        self._store.delete_registered_model_alias(workspace, name, alias)

    def get_model_version_by_alias(
        self, name: str, alias: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> ModelVersion:
        validate_model_name(name)
        validate_alias_name(alias)
        if alias.lower() == LATEST_ALIAS:
            latest = self.get_latest_versions(name, workspace=workspace)
            if not latest:
                raise MlflowCoreError.does_not_exist(f"Latest version not found for model {name}.")
            return max(latest, key=lambda version: version.version)
        return self._store.get_model_version_by_alias(workspace, name, alias)
