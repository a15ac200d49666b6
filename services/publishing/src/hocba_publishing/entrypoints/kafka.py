"""Publishing's Kafka subscribers: signed records from signing are verified and published; with
eager rendering, its own announcements are read back (a consumer group of their own, so render
workers scale out with the topic's partitions) and each new document's PDF rendered."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from hocba_contracts.events import PublishingEvent, SigningEvent
from hocba_contracts.payloads.publishing import RecordPublished
from hocba_contracts.payloads.signing import RecordSigned
from hocba_contracts.topics import PUBLISHING_EVENTS, SIGNING_EVENTS
from hocba_runtime.kafka import (
    Batch,
    BatchHandling,
    PermanentError,
    batch_subscriber_options,
    dead_letter,
    decode_batch,
)

from hocba_publishing.application.use_cases import PdfRendering, PublishingService
from hocba_publishing.config import PublishingSettings
from hocba_publishing.domain.model import NotPublishable


def register(
    broker: KafkaBroker,
    settings: PublishingSettings,
    service: PublishingService,
    rendering: PdfRendering,
) -> None:
    publisher = BatchPublisher(broker, settings, service)

    @broker.subscriber(
        SIGNING_EVENTS.name,
        title="publishing-publish",
        description="Signed records to verify and publish, a poll's worth at a time.",
        **batch_subscriber_options(settings, "publish"),
    )
    async def on_signed(records: Batch[SigningEvent]) -> None:
        await publisher.publish(records)

    if settings.pdf_render == "eager":

        @broker.subscriber(
            PUBLISHING_EVENTS.name,
            title="publishing-render",
            description="Announced publications whose PDF to render (eager rendering), a batch "
            "at a time over the render pool's processes.",
            **batch_subscriber_options(settings, "render"),
        )
        async def on_published(records: Batch[PublishingEvent]) -> None:
            await render_batch(rendering, records)


async def render_batch(rendering: PdfRendering, records: list[Any]) -> None:
    """Render the PDFs of the publications in a batch. A record that does not read is another
    service's concern (nothing to render); a render that fails fails the batch, which is delivered
    again, and what was rendered meanwhile is kept and not rendered again."""
    published = [
        d.event.data.document_id
        for d in decode_batch(records, PublishingEvent)
        if d.error is None and isinstance(d.event.data, RecordPublished)
    ]
    await rendering.render_all(published)


class BatchPublisher:
    """A batch of signing's events: the signed records published together (one transaction);
    each one that does not read or does not verify is dead-lettered alone with its reason, and the
    rest go on (`BatchHandling`: record by record when the batch fails otherwise; a database that
    cannot be reached fails the batch, which is then delivered again)."""

    def __init__(
        self, broker: KafkaBroker, settings: PublishingSettings, service: PublishingService
    ) -> None:
        self.handling = BatchHandling(broker, settings)
        self.service = service

    async def publish(self, records: list[Any]) -> None:
        signed = await self.handling.readable(records, SigningEvent, (RecordSigned,))
        if not signed:
            return
        done = await self.handling.together(
            signed,
            lambda: self.service.publish_many([(i.event.data, i.event) for i in signed]),
            lambda event: handle(self.service, event),
        )
        if done is None:
            return
        for index, refusal in sorted(done.refused.items()):
            await dead_letter(
                self.handling.broker,
                signed[index].record,
                PermanentError(f"{refusal.reason}: {refusal.message}"),
                self.handling.consumer,
            )


async def handle(service: PublishingService, event: Any) -> None:
    if isinstance(event.data, RecordSigned):
        try:
            await service.publish(event.data, cause=event)
        except NotPublishable as exc:
            raise PermanentError(f"{exc.reason}: {exc.message}") from None
