"""Registry webhooks, delivered by MLflow's own machinery after our successful writes.

MLflow's handlers call ``mlflow.webhooks.delivery.deliver_webhook`` after each registry write;
we call the same function with the same event and payload, and with MLflow's registry store
(built from the same configuration) for the webhook listing, so subscribers see exactly what
stock MLflow sends: the same lookup cache, HMAC signing and background delivery. MLflow's
server package is imported on the first event (the fallback application has usually imported
it by then), so start-up stays fast.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from mlflow_core.entrypoints.http.fallback import MLFLOW_SERVER_IMPORT_LOCK

_logger = logging.getLogger(__name__)


@functools.cache
def _load() -> Callable[[str, str, dict[str, Any]], None]:
    with MLFLOW_SERVER_IMPORT_LOCK:
        from mlflow.entities.webhook import WebhookEvent
        from mlflow.server.handlers import _get_model_registry_store
        from mlflow.webhooks.delivery import deliver_webhook

    def deliver_with_mlflow(entity: str, action: str, payload: dict[str, Any]) -> None:
        deliver_webhook(
            event=WebhookEvent(entity, action),
            payload=payload,  # type: ignore[arg-type]
            store=_get_model_registry_store(),
        )

    return deliver_with_mlflow


def deliver(entity: str, action: str, payload: dict[str, Any]) -> None:
    """Hand one event to MLflow's delivery; failures are logged, never raised (as MLflow)."""
    try:
        _load()(entity, action, payload)
    except Exception:
        _logger.exception("webhook delivery failed for %s.%s", entity, action)
