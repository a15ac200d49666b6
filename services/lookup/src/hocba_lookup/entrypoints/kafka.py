"""Lookup's Kafka subscriber: published records into the read model, and their revocations, a poll's
worth at a time."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker
from hocba_contracts.events import PublishingEvent
from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked
from hocba_contracts.topics import PUBLISHING_EVENTS
from hocba_runtime.kafka import (
    Batch,
    Delivered,
    batch_subscriber_options,
    dead_letter,
    decode_batch,
    retrying,
    unavailable,
)
from hocba_runtime.settings import ServiceSettings
from hocba_runtime.tracing import context_from
from opentelemetry import context as otel_context

from hocba_lookup.application.use_cases import LookupService

log = logging.getLogger("hocba.lookup.kafka")
R = TypeVar("R")


def register(broker: KafkaBroker, settings: ServiceSettings, service: LookupService) -> None:
    projector = BatchProjector(broker, settings, service)

    @broker.subscriber(
        PUBLISHING_EVENTS.name,
        title="lookup-projection",
        description="Published records for the parent portal and verification, and their "
        "revocations, a poll's worth at a time.",
        **batch_subscriber_options(settings, "projection"),
    )
    async def on_publishing_events(records: Batch[PublishingEvent]) -> None:
        await projector.project(records)


class BatchProjector:
    """A batch of publishing's events projected together (one transaction, `project_many`); each
    one that does not read is dead-lettered alone, and the rest go on. A batch that fails
    otherwise is projected event by event, so that one bad event cannot hold up its batch (it is
    dead-lettered alone); a database that cannot be reached fails the batch, which is then
    delivered again."""

    def __init__(
        self, broker: KafkaBroker, settings: ServiceSettings, service: LookupService
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.service = service
        self.consumer = f"hocba-{settings.service_name}"

    async def _retried(self, call: Callable[[], Awaitable[R]]) -> R:
        return await retrying(self.settings.retry_attempts, self.settings.retry_backoff_seconds)(
            call
        )()

    async def project(self, records: list[Any]) -> None:
        events: list[Delivered] = []
        for item in decode_batch(records, PublishingEvent):
            if item.error is not None:
                await dead_letter(self.broker, item.record, item.error, self.consumer)
            elif isinstance(item.event.data, RecordPublished | RecordRevoked):
                events.append(item)
        if not events:
            return
        try:
            await self._retried(
                lambda: self.service.project_many([(i.event.data, i.event) for i in events])
            )
        except Exception as exc:
            if unavailable(exc):
                raise
            log.exception("projecting a batch failed; projecting it event by event")
            for item in events:
                await self._one(item)

    async def _one(self, item: Delivered) -> None:
        token = otel_context.attach(context_from(item.headers()))
        try:
            await self._retried(lambda: handle(self.service, item.event))
        except Exception as exc:
            if unavailable(exc):
                raise
            await dead_letter(self.broker, item.record, exc, self.consumer)
        finally:
            otel_context.detach(token)


async def handle(service: LookupService, event: Any) -> None:
    """Project one publishing event (a batch's, event by event)."""
    if isinstance(event.data, RecordPublished):
        await service.project(event.data, cause=event)
    elif isinstance(event.data, RecordRevoked):
        await service.revoke(event.data, cause=event)
