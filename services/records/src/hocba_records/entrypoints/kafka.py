"""Records' Kafka subscriber: school systems' submissions on `hocba.records.ingest`. An event whose
source is not registered for its school is dead-lettered with the reason, before anything is stored."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from hocba_contracts.events import RecordsIngestEvent as IngestEvent
from hocba_contracts.payloads import records as ev
from hocba_contracts.payloads.common import StudentProfile
from hocba_contracts.topics import RECORDS_INGEST
from hocba_runtime.auth import SchoolSystems
from hocba_runtime.kafka import admit, retrying, subscriber_options
from hocba_runtime.settings import ServiceSettings

from hocba_records.application.use_cases import RecordsService


def register(
    broker: KafkaBroker, settings: ServiceSettings, service: RecordsService, systems: SchoolSystems
) -> None:
    @broker.subscriber(
        RECORDS_INGEST.name,
        title="records-ingest",
        description=RECORDS_INGEST.description,
        **subscriber_options(settings, "ingest"),
    )
    @retrying(settings.retry_attempts, settings.retry_backoff_seconds)
    async def on_records_ingest(event: IngestEvent) -> None:
        await handle_ingest(service, systems, event)


async def handle_ingest(service: RecordsService, systems: SchoolSystems, event: Any) -> None:
    data = event.data
    admit(systems, event.source, data.school_id)
    if isinstance(data, ev.SchoolRegistrationSubmitted):
        await service.register_school(_profile(data, "SchoolProfile"), cause=event)
    elif isinstance(data, ev.ClassRegistrationSubmitted):
        await service.register_class(_profile(data, "ClassProfile"), cause=event)
    elif isinstance(data, ev.StudentRegistrationSubmitted):
        await service.register_student(
            StudentProfile.model_validate(data.model_dump(exclude={"school_id"})),
            data.school_id,
            cause=event,
        )
    elif isinstance(data, ev.EnrollmentSubmitted):
        await service.enroll_student(
            data.student_id, data.class_id, data.school_id, data.school_year, cause=event
        )


def _profile(data: Any, name: str) -> Any:
    from hocba_contracts.payloads import common

    model = getattr(common, name)
    return model.model_validate(data.model_dump())
