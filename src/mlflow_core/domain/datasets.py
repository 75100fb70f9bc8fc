"""Dataset summaries: which datasets an experiment's runs used, and in which context."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """MLflow's ``_DatasetSummary``; ``context`` is the input's ``mlflow.data.context`` tag."""

    experiment_id: str
    name: str
    digest: str
    context: str | None
