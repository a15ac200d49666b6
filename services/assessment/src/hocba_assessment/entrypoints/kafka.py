"""Assessment's Kafka subscribers: the roster from records' events, marks and closings from
school systems on `hocba.assessment.ingest`."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from hocba_contracts.catalog import topic_envelope
from hocba_contracts.payloads import assessment as ev
from hocba_contracts.payloads import records as rec
from hocba_contracts.payloads.signing import SigningRejected
from hocba_contracts.topics import ASSESSMENT_INGEST, RECORDS_EVENTS, SIGNING_EVENTS
from hocba_runtime.kafka import PermanentError, retrying, subscriber_options
from hocba_runtime.settings import ServiceSettings

from hocba_assessment.application.ports import RosterEntry
from hocba_assessment.application.use_cases import AssessmentService, record_signing_rejection
from hocba_assessment.domain.model import ClassClosed

IngestEvent = topic_envelope(ASSESSMENT_INGEST.name)
SigningEvent = topic_envelope(SIGNING_EVENTS.name)
RecordsEvent = topic_envelope(RECORDS_EVENTS.name)


def register(broker: KafkaBroker, settings: ServiceSettings, service: AssessmentService) -> None:
    @broker.subscriber(RECORDS_EVENTS.name, title="assessment-roster",
                       description="The class rosters, from records' enrollments.",
                       **subscriber_options(settings, "roster"))
    @retrying(settings.retry_attempts, settings.retry_backoff_seconds)
    async def on_records_event(event: RecordsEvent) -> None:  # type: ignore[valid-type]
        await handle_records_event(service, event)

    @broker.subscriber(SIGNING_EVENTS.name, title="assessment-signing-feedback",
                       description="Refusals to sign: records sent back to the school for correction.",
                       **subscriber_options(settings, "signing-feedback"))
    @retrying(settings.retry_attempts, settings.retry_backoff_seconds)
    async def on_signing_event(event: SigningEvent) -> None:  # type: ignore[valid-type]
        data = event.data
        if isinstance(data, SigningRejected):
            await record_signing_rejection(service, data.class_id, data.school_year, data.record_id, data.role,
                                           data.signer_id, data.reason, cause=event)

    @broker.subscriber(ASSESSMENT_INGEST.name, title="assessment-ingest",
                       description=ASSESSMENT_INGEST.description, **subscriber_options(settings, "ingest"))
    @retrying(settings.retry_attempts, settings.retry_backoff_seconds)
    async def on_ingest(event: IngestEvent) -> None:  # type: ignore[valid-type]
        await handle_ingest(service, event)


async def handle_records_event(service: AssessmentService, event: Any) -> None:
    data = event.data
    if isinstance(data, rec.StudentEnrolled):
        await service.record_enrollment(RosterEntry(data.student, data.school, data.class_info), cause=event)
    elif isinstance(data, rec.ClassRegistered):
        await service.record_class(data.class_id, data.grade, cause=event)


async def handle_ingest(service: AssessmentService, event: Any) -> None:
    data = event.data
    if isinstance(data, ev.SubjectAssessmentSubmitted):
        try:
            result = await service.submit([data], cause=event)
        except ClassClosed as exc:
            raise PermanentError(str(exc)) from exc
        if result.rejected:
            problems = "; ".join(f"{r.field}: {r.problem}" for r in result.rejected)
            raise PermanentError(f"assessment for student {data.student_id}, subject {data.subject_code} "
                                 f"rejected: {problems}")
    elif isinstance(data, ev.ClassYearCloseRequested):
        await service.close_class(data.class_id, data.school_year, data.requested_by, cause=event)
