"""The typed envelope of every event type, the envelope union of each topic, and the functions
that wrap a payload in its envelope.

Each event type has a class here, `Envelope[<payload>]` with `type` fixed to the payload's event
type (the discriminator of a topic's union), so that a subscriber's parameter is a real type:
`async def on_signed(event: SigningEvent)`. A test checks that every payload of the topic
registry has its class and that each topic's union here is the registry's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field

from hocba_contracts.envelope import Envelope, EventPayload, new_event_id
from hocba_contracts.payloads import assessment, publishing, records, signing

# -- hocba.records.ingest ---------------------------------------------------------------------------


class SchoolRegistrationSubmittedEvent(Envelope[records.SchoolRegistrationSubmitted]):
    type: Literal["hocba.records.school_registration_submitted"] = Field(description="Event type")


class ClassRegistrationSubmittedEvent(Envelope[records.ClassRegistrationSubmitted]):
    type: Literal["hocba.records.class_registration_submitted"] = Field(description="Event type")


class StudentRegistrationSubmittedEvent(Envelope[records.StudentRegistrationSubmitted]):
    type: Literal["hocba.records.student_registration_submitted"] = Field(description="Event type")


class EnrollmentSubmittedEvent(Envelope[records.EnrollmentSubmitted]):
    type: Literal["hocba.records.enrollment_submitted"] = Field(description="Event type")


RecordsIngestEvent: TypeAlias = Annotated[
    SchoolRegistrationSubmittedEvent
    | ClassRegistrationSubmittedEvent
    | StudentRegistrationSubmittedEvent
    | EnrollmentSubmittedEvent,
    Field(discriminator="type"),
]
"""What a consumer of `hocba.records.ingest` receives."""


# -- hocba.records.events ---------------------------------------------------------------------------


class SchoolRegisteredEvent(Envelope[records.SchoolRegistered]):
    type: Literal["hocba.records.school_registered"] = Field(description="Event type")


class ClassRegisteredEvent(Envelope[records.ClassRegistered]):
    type: Literal["hocba.records.class_registered"] = Field(description="Event type")


class StudentRegisteredEvent(Envelope[records.StudentRegistered]):
    type: Literal["hocba.records.student_registered"] = Field(description="Event type")


class StudentEnrolledEvent(Envelope[records.StudentEnrolled]):
    type: Literal["hocba.records.student_enrolled"] = Field(description="Event type")


RecordsEvent: TypeAlias = Annotated[
    SchoolRegisteredEvent | ClassRegisteredEvent | StudentRegisteredEvent | StudentEnrolledEvent,
    Field(discriminator="type"),
]
"""What a consumer of `hocba.records.events` receives."""


# -- hocba.assessment.ingest ------------------------------------------------------------------------


class SubjectAssessmentSubmittedEvent(Envelope[assessment.SubjectAssessmentSubmitted]):
    type: Literal["hocba.assessment.subject_assessment_submitted"] = Field(description="Event type")


class SecondaryAssessmentSubmittedEvent(Envelope[assessment.SecondaryAssessmentSubmitted]):
    type: Literal["hocba.assessment.secondary_assessment_submitted"] = Field(
        description="Event type"
    )


class ConductAssessedEvent(Envelope[assessment.ConductAssessed]):
    type: Literal["hocba.assessment.conduct_assessed"] = Field(description="Event type")


class QualitiesAssessedEvent(Envelope[assessment.QualitiesAssessed]):
    type: Literal["hocba.assessment.qualities_assessed"] = Field(description="Event type")


class AttendanceReportedEvent(Envelope[assessment.AttendanceReported]):
    type: Literal["hocba.assessment.attendance_reported"] = Field(description="Event type")


class ClassYearCloseRequestedEvent(Envelope[assessment.ClassYearCloseRequested]):
    type: Literal["hocba.assessment.class_year_close_requested"] = Field(description="Event type")


AssessmentIngestEvent: TypeAlias = Annotated[
    SubjectAssessmentSubmittedEvent
    | SecondaryAssessmentSubmittedEvent
    | ConductAssessedEvent
    | QualitiesAssessedEvent
    | AttendanceReportedEvent
    | ClassYearCloseRequestedEvent,
    Field(discriminator="type"),
]
"""What a consumer of `hocba.assessment.ingest` receives."""


# -- hocba.assessment.events ------------------------------------------------------------------------


class YearRecordClosedEvent(Envelope[assessment.YearRecordClosed]):
    type: Literal["hocba.assessment.year_record_closed"] = Field(description="Event type")


AssessmentEvent: TypeAlias = YearRecordClosedEvent
"""What a consumer of `hocba.assessment.events` receives."""


# -- hocba.signing.events ---------------------------------------------------------------------------


class RecordSignedEvent(Envelope[signing.RecordSigned]):
    type: Literal["hocba.signing.record_signed"] = Field(description="Event type")


class SigningRejectedEvent(Envelope[signing.SigningRejected]):
    type: Literal["hocba.signing.signing_rejected"] = Field(description="Event type")


class SignatureReminderDueEvent(Envelope[signing.SignatureReminderDue]):
    type: Literal["hocba.signing.signature_reminder_due"] = Field(description="Event type")


SigningEvent: TypeAlias = Annotated[
    RecordSignedEvent | SigningRejectedEvent | SignatureReminderDueEvent,
    Field(discriminator="type"),
]
"""What a consumer of `hocba.signing.events` receives."""


# -- hocba.publishing.events ------------------------------------------------------------------------


class RecordPublishedEvent(Envelope[publishing.RecordPublished]):
    type: Literal["hocba.publishing.record_published"] = Field(description="Event type")


class RecordRevokedEvent(Envelope[publishing.RecordRevoked]):
    type: Literal["hocba.publishing.record_revoked"] = Field(description="Event type")


PublishingEvent: TypeAlias = Annotated[
    RecordPublishedEvent | RecordRevokedEvent, Field(discriminator="type")
]
"""What a consumer of `hocba.publishing.events` receives."""


TYPED_ENVELOPES: tuple[type[Envelope[Any]], ...] = (
    SchoolRegistrationSubmittedEvent,
    ClassRegistrationSubmittedEvent,
    StudentRegistrationSubmittedEvent,
    EnrollmentSubmittedEvent,
    SchoolRegisteredEvent,
    ClassRegisteredEvent,
    StudentRegisteredEvent,
    StudentEnrolledEvent,
    SubjectAssessmentSubmittedEvent,
    SecondaryAssessmentSubmittedEvent,
    ConductAssessedEvent,
    QualitiesAssessedEvent,
    AttendanceReportedEvent,
    ClassYearCloseRequestedEvent,
    YearRecordClosedEvent,
    RecordSignedEvent,
    SigningRejectedEvent,
    SignatureReminderDueEvent,
    RecordPublishedEvent,
    RecordRevokedEvent,
)


def _payload(model: type[Envelope[Any]]) -> type[EventPayload]:
    payload = model.model_fields["data"].annotation
    assert isinstance(payload, type) and issubclass(payload, EventPayload)
    return payload


_BY_PAYLOAD: dict[type[EventPayload], type[Envelope[Any]]] = {}
for _model in TYPED_ENVELOPES:
    _model.__doc__ = _payload(_model).__doc__  # an event's description is its payload's
    _BY_PAYLOAD[_payload(_model)] = _model


def envelope_model(payload: type[EventPayload]) -> type[Envelope[Any]]:
    """`Envelope[payload]` with `type` fixed to the payload's event type (a discriminator)."""
    try:
        return _BY_PAYLOAD[payload]
    except KeyError:
        raise KeyError(
            f"{payload.__name__} has no typed envelope in hocba_contracts.events"
        ) from None


def make_envelope(
    data: EventPayload,
    *,
    source: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Envelope[Any]:
    """Wrap a payload; `subject` comes from the payload itself."""
    eid = event_id or new_event_id()
    model = envelope_model(type(data))
    return model(
        id=eid,
        type=data.event_type,
        version=data.version,
        source=source,
        time=time or datetime.now(UTC),
        subject=data.subject(),
        correlation_id=correlation_id or eid,
        causation_id=causation_id,
        data=data,
    )


def follow_up(
    cause: Envelope[Any], data: EventPayload, *, source: str, event_id: str | None = None
) -> Envelope[Any]:
    """An event caused by another: same correlation id, causation id = the cause's id."""
    return make_envelope(
        data,
        source=source,
        correlation_id=cause.correlation_id,
        causation_id=cause.id,
        event_id=event_id,
    )
