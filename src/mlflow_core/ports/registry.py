"""The model registry store port. Its methods arrive as ModelRegistryService RPCs are ported."""

from __future__ import annotations

from abc import ABC


class ModelRegistryStore(ABC):  # noqa: B024 (its abstract methods arrive with issue 5)
    """Registered models, versions, tags and aliases (ModelRegistryService).

    Nothing is ported yet: every registry RPC is served by MLflow's own application.
    """

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
