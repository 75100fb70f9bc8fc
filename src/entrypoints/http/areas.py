"""The ported areas of the API, by the service their handlers call.

Adding an area: write ``handlers/<area>.py`` with a ``HandlerSet`` and list it here.
"""

from __future__ import annotations

from mlflow_core.entrypoints.http.handlers import HandlerSet
from mlflow_core.entrypoints.http.handlers.experiments import EXPERIMENTS
from mlflow_core.entrypoints.http.handlers.registry import REGISTRY as REGISTRY_HANDLERS
from mlflow_core.entrypoints.http.handlers.runs import RUNS
from mlflow_core.services.registry import RegistryService
from mlflow_core.services.tracking import TrackingService

TRACKING: list[HandlerSet[TrackingService]] = [EXPERIMENTS, RUNS]
REGISTRY: list[HandlerSet[RegistryService]] = [REGISTRY_HANDLERS]
