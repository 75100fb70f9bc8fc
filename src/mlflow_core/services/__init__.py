"""Services: one method per RPC, over the store ports."""

from mlflow_core.services.tracking import TrackingService

__all__ = ["TrackingService"]
