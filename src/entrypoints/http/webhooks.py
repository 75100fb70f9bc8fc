"""Registry webhooks, delivered by MLflow's own machinery after our successful writes.

MLflow's handlers call ``mlflow.webhooks.delivery.deliver_webhook`` after each registry write;
we call the same function with the same event and payload, and with MLflow's registry store
(built from the same configuration) for the webhook listing, so subscribers see exactly what
stock MLflow sends: the same lookup cache, HMAC signing, retries and background delivery.
MLflow is imported on the first event (the fallback application has usually imported it by
then), so start-up stays fast.
"""

from __future__ import annotations

import logging
from typing import Any

_logger = logging.getLogger(__name__)


def deliver(entity: str, action: str, payload: dict[str, Any]) -> None:
    """Hand one event to MLflow's delivery; failures are logged, never raised (as MLflow)."""
    try:
        from mlflow.entities.webhook import WebhookEvent
        from mlflow.server.handlers import _get_model_registry_store
        from mlflow.webhooks.delivery import deliver_webhook

        store = _get_model_registry_store()
        deliver_webhook(event=WebhookEvent(entity, action), payload=payload, store=store)  # type: ignore[arg-type]
    except Exception:
        _logger.exception("webhook delivery failed for %s.%s", entity, action)
