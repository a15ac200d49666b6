"""Publishing's Kafka subscriber: signed records from signing are verified and published."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from hocba_contracts.events import SigningEvent
from hocba_contracts.payloads.signing import RecordSigned
from hocba_contracts.topics import SIGNING_EVENTS
from hocba_runtime.kafka import PermanentError, retrying, subscriber_options
from hocba_runtime.settings import ServiceSettings

from hocba_publishing.application.use_cases import PublishingService
from hocba_publishing.domain.model import NotPublishable


def register(broker: KafkaBroker, settings: ServiceSettings, service: PublishingService) -> None:
    @broker.subscriber(
        SIGNING_EVENTS.name,
        title="publishing-publish",
        description="Signed records to verify and publish.",
        **subscriber_options(settings, "publish"),
    )
    @retrying(settings.retry_attempts, settings.retry_backoff_seconds)
    async def on_signed(event: SigningEvent) -> None:
        await handle(service, event)


async def handle(service: PublishingService, event: Any) -> None:
    if isinstance(event.data, RecordSigned):
        try:
            await service.publish(event.data, cause=event)
        except NotPublishable as exc:
            raise PermanentError(f"{exc.reason}: {exc.message}") from None
