"""Signing's Kafka subscriber: closed-year records from assessment become signing requests, a
poll's worth at a time (one transaction; server-side signers sign each school's documents of the
batch with one signature over their Merkle root)."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from hocba_contracts.events import AssessmentEvent
from hocba_contracts.payloads.assessment import YearRecordClosed
from hocba_contracts.topics import ASSESSMENT_EVENTS
from hocba_runtime.kafka import Batch, BatchHandling, batch_subscriber_options
from hocba_runtime.settings import ServiceSettings

from hocba_signing.application.use_cases import SigningService


def register(broker: KafkaBroker, settings: ServiceSettings, service: SigningService) -> None:
    handling = BatchHandling(broker, settings)

    @broker.subscriber(
        ASSESSMENT_EVENTS.name,
        title="signing-requests",
        description="Closed-year records to be signed, a poll's worth at a time.",
        **batch_subscriber_options(settings, "requests"),
    )
    async def on_assessment_events(records: Batch[AssessmentEvent]) -> None:
        await open_batch(handling, service, records)


async def open_batch(handling: BatchHandling, service: SigningService, records: list[Any]) -> None:
    """The batch's closed-year records opened (and signed server-side) together; what does not
    read is dead-lettered, other assessment events are not signing's."""
    closed = await handling.readable(records, AssessmentEvent, (YearRecordClosed,))
    if closed:
        await handling.together(
            closed,
            lambda: service.open_requests([(i.event.data, i.event) for i in closed]),
            lambda event: handle(service, event),
        )


async def handle(service: SigningService, event: Any) -> None:
    if isinstance(event.data, YearRecordClosed):
        await service.open_request(event.data, cause=event)
