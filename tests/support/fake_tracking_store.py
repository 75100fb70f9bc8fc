"""An in-memory TrackingStore: the port's contract without a database, for service tests."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mlflow_core.domain.experiments import Experiment, ExperimentTag, LifecycleStage
from mlflow_core.errors import ErrorCode, MlflowCoreError
from mlflow_core.ports.tracking import ExperimentSearch, TrackingStore
from mlflow_core.search.experiments import FilterClause
from tests.support.fake_run_store import FakeRunStore


def _like(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def _compare(lhs: object, comparator: str, rhs: object) -> bool:
    if comparator == "=":
        return lhs == rhs
    if comparator == "!=":
        return lhs != rhs
    if comparator in ("LIKE", "ILIKE"):
        return bool(_like(str(rhs), comparator == "LIKE").match(str(lhs)))
    if comparator == "IN":
        return lhs in rhs  # type: ignore[operator]
    if comparator == "NOT IN":
        return lhs not in rhs  # type: ignore[operator]
    ordering: dict[str, Callable[[int, int], bool]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return ordering[comparator](lhs, rhs)  # type: ignore[arg-type]


@dataclass
class _Row:
    experiment: Experiment
    tags: dict[str, str] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)

    def entity(self) -> Experiment:
        return replace(self.experiment, tags=dict(self.tags))


class FakeTrackingStore(FakeRunStore, TrackingStore):
    def __init__(self) -> None:
        self.rows: dict[int, _Row] = {}
        self.runs = {}
        self._ids = itertools.count(1)

    def _experiment_for_run(self, workspace: str, experiment_id: int) -> tuple[str, str] | None:
        row = self._row(workspace, experiment_id)
        if row is None:
            return None
        return row.experiment.lifecycle_stage.value, row.experiment.artifact_location or ""

    def _row(self, workspace: str, experiment_id: int) -> _Row | None:
        row = self.rows.get(experiment_id)
        return row if row is not None and row.experiment.workspace == workspace else None

    def _name_taken(self, workspace: str, name: str) -> bool:
        return any(
            r.experiment.name == name and r.experiment.workspace == workspace
            for r in self.rows.values()
        )

    def create_experiment(
        self,
        workspace: str,
        name: str,
        artifact_location: str | None,
        tags: Sequence[ExperimentTag],
        now_ms: int,
        default_artifact_location: Callable[[str], str],
    ) -> str:
        keys = [t.key for t in tags]
        if self._name_taken(workspace, name) or len(set(keys)) != len(keys):
            raise MlflowCoreError.already_exists(f"Experiment(name={name}) already exists.")
        experiment_id = next(self._ids)
        location = artifact_location or default_artifact_location(str(experiment_id))
        self.rows[experiment_id] = _Row(
            Experiment(
                str(experiment_id),
                name,
                location,
                LifecycleStage.ACTIVE,
                now_ms,
                now_ms,
                workspace,
            ),
            {t.key: t.value for t in tags},
        )
        return str(experiment_id)

    def get_experiment(self, workspace: str, experiment_id: int) -> Experiment | None:
        row = self._row(workspace, experiment_id)
        return None if row is None else row.entity()

    def get_experiment_by_name(self, workspace: str, name: str) -> Experiment | None:
        for row in self.rows.values():
            if row.experiment.name == name and row.experiment.workspace == workspace:
                return row.entity()
        return None

    def _matches(self, row: _Row, clause: FilterClause) -> bool:
        if clause.kind == "tag":
            if clause.comparator == "IS NULL":
                return clause.key not in row.tags
            if clause.comparator == "IS NOT NULL":
                return clause.key in row.tags
            return clause.key in row.tags and _compare(
                row.tags[clause.key], clause.comparator, clause.value
            )
        lhs = getattr(row.experiment, clause.key)
        if clause.key == "experiment_id":
            lhs = int(lhs)
        return lhs is not None and _compare(lhs, clause.comparator, clause.value)

    def search_experiments(self, workspace: str, search: ExperimentSearch) -> list[Experiment]:
        stages = set(search.view_type.stages())
        found = [
            row
            for row in self.rows.values()
            if row.experiment.workspace == workspace
            and row.experiment.lifecycle_stage in stages
            and all(self._matches(row, clause) for clause in search.clauses)
        ]
        for key in reversed(search.order_by):

            def value(row: _Row, name: str = key.key) -> Any:
                attribute = getattr(row.experiment, name)
                return int(attribute) if name == "experiment_id" else attribute

            found.sort(key=value, reverse=not key.ascending)
        page = found[search.offset : search.offset + search.limit]
        return [row.entity() for row in page]

    def _set_stage(self, row: _Row, stage: LifecycleStage, now_ms: int) -> None:
        row.experiment = replace(row.experiment, lifecycle_stage=stage, last_update_time=now_ms)

    def delete_experiment(self, workspace: str, experiment_id: int, now_ms: int) -> None:
        row = self._row(workspace, experiment_id)
        if row is None or row.experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowCoreError.does_not_exist(f"No Experiment with id={experiment_id} exists")
        self._set_stage(row, LifecycleStage.DELETED, now_ms)

    def restore_experiment(self, workspace: str, experiment_id: int, now_ms: int) -> None:
        row = self._row(workspace, experiment_id)
        if row is None or row.experiment.lifecycle_stage != LifecycleStage.DELETED:
            raise MlflowCoreError.does_not_exist(f"No Experiment with id={experiment_id} exists")
        self._set_stage(row, LifecycleStage.ACTIVE, now_ms)

    def rename_experiment(
        self, workspace: str, experiment_id: int, new_name: str, now_ms: int
    ) -> None:
        row = self._require(workspace, experiment_id)
        if row.experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowCoreError.invalid_state("Cannot rename a non-active experiment.")
        if self._name_taken(workspace, new_name):
            raise MlflowCoreError("UNIQUE constraint failed", ErrorCode.BAD_REQUEST)
        row.experiment = replace(row.experiment, name=new_name, last_update_time=now_ms)

    def _require(self, workspace: str, experiment_id: int) -> _Row:
        row = self._row(workspace, experiment_id)
        if row is None:
            raise MlflowCoreError.does_not_exist(f"No Experiment with id={experiment_id} exists")
        return row

    def _require_active(self, workspace: str, experiment_id: int) -> _Row:
        row = self._require(workspace, experiment_id)
        if row.experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise MlflowCoreError.invalid_parameter_value(
                f"The experiment {experiment_id} must be in the 'active' state. "
                f"Current state is {row.experiment.lifecycle_stage.value}."
            )
        return row

    def set_experiment_tag(self, workspace: str, experiment_id: int, tag: ExperimentTag) -> None:
        self._require_active(workspace, experiment_id).tags[tag.key] = tag.value

    def delete_experiment_tag(self, workspace: str, experiment_id: int, key: str) -> None:
        row = self._require_active(workspace, experiment_id)
        if key not in row.tags:
            raise MlflowCoreError.does_not_exist(
                f"No tag with name: {key} in experiment with id {experiment_id}"
            )
        del row.tags[key]

    def ensure_default_experiment(
        self, workspace: str, artifact_location: str, now_ms: int
    ) -> None:
        if 0 not in self.rows:
            self.rows[0] = _Row(
                Experiment(
                    "0",
                    "Default",
                    artifact_location,
                    LifecycleStage.ACTIVE,
                    now_ms,
                    now_ms,
                    workspace,
                )
            )
