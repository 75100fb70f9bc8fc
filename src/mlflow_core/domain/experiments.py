"""Experiments as MLflow's clients see them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


class LifecycleStage(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(IntEnum):
    """MLflow's ``ViewType``; the numbers are the protobuf enum's, used on the wire."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    def stages(self) -> tuple[LifecycleStage, ...]:
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        return (LifecycleStage.ACTIVE, LifecycleStage.DELETED)


@dataclass(frozen=True, slots=True)
class ExperimentTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str | None
    lifecycle_stage: LifecycleStage
    creation_time: int | None
    last_update_time: int | None
    workspace: str
    # Insertion order is the order the store returned the tags in, as MLflow keeps it.
    tags: Mapping[str, str] = field(default_factory=dict)
