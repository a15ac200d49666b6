"""Lookup's Kafka subscriber: published records into the read model, and their revocations, a poll's
worth at a time."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from hocba_contracts.events import PublishingEvent
from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked
from hocba_contracts.topics import PUBLISHING_EVENTS
from hocba_runtime.kafka import Batch, BatchHandling, batch_subscriber_options
from hocba_runtime.settings import ServiceSettings

from hocba_lookup.application.use_cases import LookupService


def register(broker: KafkaBroker, settings: ServiceSettings, service: LookupService) -> None:
    handling = BatchHandling(broker, settings)

    @broker.subscriber(
        PUBLISHING_EVENTS.name,
        title="lookup-projection",
        description="Published records for the parent portal and verification, and their "
        "revocations, a poll's worth at a time.",
        **batch_subscriber_options(settings, "projection"),
    )
    async def on_publishing_events(records: Batch[PublishingEvent]) -> None:
        await project_batch(handling, service, records)


async def project_batch(
    handling: BatchHandling, service: LookupService, records: list[Any]
) -> None:
    """A batch of publishing's events projected together (one transaction, `project_many`); what
    does not read is dead-lettered alone, and a batch that fails otherwise is projected event by
    event (`BatchHandling`), so that one bad event cannot hold up its batch."""
    events = await handling.readable(records, PublishingEvent, (RecordPublished, RecordRevoked))
    if events:
        await handling.together(
            events,
            lambda: service.project_many([(i.event.data, i.event) for i in events]),
            lambda event: handle(service, event),
        )


async def handle(service: LookupService, event: Any) -> None:
    """Project one publishing event (a batch's, event by event)."""
    if isinstance(event.data, RecordPublished):
        await service.project(event.data, cause=event)
    elif isinstance(event.data, RecordRevoked):
        await service.revoke(event.data, cause=event)
