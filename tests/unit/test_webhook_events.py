"""Registry events reach MLflow's webhook delivery when a webhook is subscribed, and an event
nobody subscribes to is not looked up again within MLflow's cache lifetime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mlflow.entities.webhook import Webhook, WebhookEvent, WebhookStatus
from mlflow.store.entities.paged_list import PagedList

from mlflow_core.entrypoints.http import webhooks

CREATED = ("model_version", "created")


class Store:
    def __init__(self) -> None:
        self.hooks: list[Webhook] = []
        self.listings = 0

    def list_webhooks_by_event(
        self, event: WebhookEvent, max_results: int, page_token: str | None
    ) -> PagedList[Webhook]:
        self.listings += 1
        found = [hook for hook in self.hooks if event in hook.events]
        # One webhook a page: a subscriber on a later page must be found too.
        start = int(page_token or 0)
        token = str(start + 1) if start + 1 < len(found) else None
        return PagedList(found[start : start + 1], token)

    def subscribe(self, status: WebhookStatus, event: tuple[str, str] = CREATED) -> None:
        hook_id = str(len(self.hooks))
        self.hooks.append(
            Webhook(hook_id, hook_id, "http://x", [WebhookEvent(*event)], 0, 0, status=status)
        )


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    import mlflow.server.handlers
    import mlflow.webhooks.delivery

    fake = Store()
    delivered: list[tuple[Any, Any, Any]] = []

    def deliver_webhook(*, event: Any, payload: Any, store: Any) -> None:
        delivered.append((event, payload, store))

    monkeypatch.setattr(mlflow.server.handlers, "_get_model_registry_store", lambda: fake)
    monkeypatch.setattr(mlflow.webhooks.delivery, "deliver_webhook", deliver_webhook)
    fake.delivered = delivered  # type: ignore[attr-defined]
    webhooks._load.cache_clear()
    yield fake
    webhooks._load.cache_clear()


def test_subscribed_events_go_to_mlflows_delivery(store: Store) -> None:
    store.subscribe(WebhookStatus.DISABLED)
    store.subscribe(WebhookStatus.ACTIVE)
    webhooks.deliver(*CREATED, {"name": "m", "version": "1"})
    webhooks.deliver(*CREATED, {"name": "m", "version": "2"})
    delivered = store.delivered  # type: ignore[attr-defined]
    assert [(event, payload["version"]) for event, payload, _ in delivered] == [
        (WebhookEvent(*CREATED), "1"),
        (WebhookEvent(*CREATED), "2"),
    ]
    assert all(target is store for _, _, target in delivered)


def test_an_unsubscribed_event_is_not_looked_up_again_within_the_cache_lifetime(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_WEBHOOK_CACHE_TTL", "3600")
    store.subscribe(WebhookStatus.DISABLED)
    store.subscribe(WebhookStatus.DISABLED)
    store.subscribe(WebhookStatus.ACTIVE, ("registered_model", "created"))
    for version in range(3):
        webhooks.deliver(*CREATED, {"name": "m", "version": str(version)})
    assert store.listings == 2  # both pages, once
    assert store.delivered == []  # type: ignore[attr-defined]
    # Other events are looked up on their own.
    webhooks.deliver("registered_model", "created", {"name": "m"})
    assert len(store.delivered) == 1  # type: ignore[attr-defined]


def test_a_new_subscriber_is_seen_once_the_cache_lifetime_is_over(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_WEBHOOK_CACHE_TTL", "0")
    webhooks.deliver(*CREATED, {"name": "m", "version": "1"})
    store.subscribe(WebhookStatus.ACTIVE)
    webhooks.deliver(*CREATED, {"name": "m", "version": "2"})
    delivered = store.delivered  # type: ignore[attr-defined]
    assert [payload["version"] for _, payload, _ in delivered] == ["2"]
