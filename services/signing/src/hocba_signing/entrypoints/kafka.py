"""Signing's Kafka subscriber: closed-year records from assessment become signing requests."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from hocba_contracts.events import AssessmentEvent
from hocba_contracts.payloads.assessment import YearRecordClosed
from hocba_contracts.topics import ASSESSMENT_EVENTS
from hocba_runtime.kafka import retrying, subscriber_options
from hocba_runtime.settings import ServiceSettings

from hocba_signing.application.use_cases import SigningService


def register(broker: KafkaBroker, settings: ServiceSettings, service: SigningService) -> None:
    @broker.subscriber(
        ASSESSMENT_EVENTS.name,
        title="signing-requests",
        description="Closed-year records to be signed.",
        **subscriber_options(settings, "requests"),
    )
    @retrying(settings.retry_attempts, settings.retry_backoff_seconds)
    async def on_assessment_event(event: AssessmentEvent) -> None:
        await handle(service, event)


async def handle(service: SigningService, event: Any) -> None:
    if isinstance(event.data, YearRecordClosed):
        await service.open_request(event.data, cause=event)
