"""Registry webhooks, delivered by MLflow's own machinery after our successful writes.

MLflow's handlers call ``mlflow.webhooks.delivery.deliver_webhook`` after each registry write;
we call the same function with the same event and payload, and with MLflow's registry store
(built from the same configuration) for the webhook listing, so subscribers see exactly what
stock MLflow sends: the same lookup cache, HMAC signing and background delivery. MLflow's
server package is imported on the first event (the fallback application has usually imported
it by then), so start-up stays fast.

Most servers have no webhooks. MLflow looks its cached listing up on every event, which cost
about a twentieth of a native create-model-version's CPU; here an event with no active
subscriber in a listing read from the store is not handed to MLflow again for
``MLFLOW_WEBHOOK_CACHE_TTL`` seconds. That is the staleness MLflow's own cache allows: a new
webhook receives events at the latest that many seconds after its creation, as with stock MLflow.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from mlflow_core.entrypoints.http.fallback import MLFLOW_SERVER_IMPORT_LOCK

_logger = logging.getLogger(__name__)


@functools.cache
def _load() -> Callable[[str, str, dict[str, Any]], None]:
    with MLFLOW_SERVER_IMPORT_LOCK:
        from mlflow.entities.webhook import WebhookEvent
        from mlflow.environment_variables import MLFLOW_WEBHOOK_CACHE_TTL
        from mlflow.server.handlers import _get_model_registry_store
        from mlflow.store.model_registry.file_store import FileStore
        from mlflow.webhooks.delivery import deliver_webhook

    # (entity, action) -> monotonic time until which the event has no subscriber to wait for
    unsubscribed: dict[tuple[str, str], float] = {}

    def any_active(store: Any, event: Any) -> bool:
        token = None
        while True:
            page = store.list_webhooks_by_event(event, max_results=100, page_token=token)
            if any(webhook.status.is_active() for webhook in page):
                return True
            token = page.token
            if not token:
                return False

    def deliver_with_mlflow(entity: str, action: str, payload: dict[str, Any]) -> None:
        key = (entity, action)
        if unsubscribed.get(key, 0.0) > time.monotonic():
            return
        event = WebhookEvent(entity, action)
        store = _get_model_registry_store()
        if isinstance(store, FileStore):
            return  # MLflow's delivery skips a file store too: it has no webhooks
        if not any_active(store, event):
            ttl = MLFLOW_WEBHOOK_CACHE_TTL.get()  # type: ignore[no-untyped-call]
            unsubscribed[key] = time.monotonic() + ttl
            return
        deliver_webhook(event=event, payload=payload, store=store)  # type: ignore[arg-type]

    return deliver_with_mlflow


def deliver(entity: str, action: str, payload: dict[str, Any]) -> None:
    """Hand one event to MLflow's delivery; failures are logged, never raised (as MLflow)."""
    try:
        _load()(entity, action, payload)
    except Exception:
        _logger.exception("webhook delivery failed for %s.%s", entity, action)
