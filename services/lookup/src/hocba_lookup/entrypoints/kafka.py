"""Lookup's Kafka subscriber: published records into the read model, and their revocations."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from hocba_contracts.events import PublishingEvent
from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked
from hocba_contracts.topics import PUBLISHING_EVENTS
from hocba_runtime.kafka import retrying, subscriber_options
from hocba_runtime.settings import ServiceSettings

from hocba_lookup.application.use_cases import LookupService


def register(broker: KafkaBroker, settings: ServiceSettings, service: LookupService) -> None:
    @broker.subscriber(
        PUBLISHING_EVENTS.name,
        title="lookup-projection",
        description="Published records for the parent portal and verification, and their "
        "revocations.",
        **subscriber_options(settings, "projection"),
    )
    @retrying(settings.retry_attempts, settings.retry_backoff_seconds)
    async def on_publishing_event(event: PublishingEvent) -> None:
        await handle(service, event)


async def handle(service: LookupService, event: Any, *, inbox: bool = True) -> str | None:
    """Project one publishing event; what it was ("published", "revoked"), None for another kind.
    `inbox=False` (a rebuild's replay): without the inbox's check and mark, so that events the live
    projection handled before are applied again; the use cases' writes are idempotent."""
    cause = event if inbox else None
    if isinstance(event.data, RecordPublished):
        await service.project(event.data, cause=cause)
        return "published"
    if isinstance(event.data, RecordRevoked):
        await service.revoke(event.data, cause=cause)
        return "revoked"
    return None
