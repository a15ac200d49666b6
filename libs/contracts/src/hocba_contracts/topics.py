"""The topic registry: every Kafka topic, who owns it, what travels on it and how it is keyed.

Only the owner publishes to a topic, except ingest topics, which school systems publish to and
the owner consumes. A consumer that gives up on a message sends it to `<topic>.dlt` with the error
in the headers (`hocba-error`, `hocba-error-type`, `hocba-consumer`, `hocba-original-*`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hocba_contracts.envelope import EventPayload
from hocba_contracts.payloads import assessment, publishing, records, signing

DEAD_LETTER_SUFFIX = ".dlt"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    owner: str
    key: str
    description: str
    events: tuple[type[EventPayload], ...]
    partitions: int = 6
    ingest: bool = False
    retention_ms: int | None = None
    """How long the broker keeps the topic's messages: None is the broker's default (7 days on
    Kafka), -1 forever (a consumer's state rebuilt by replaying the topic needs every event)."""

    @property
    def dead_letter(self) -> str:
        return dead_letter_topic(self.name)

    def configs(self) -> dict[str, str]:
        """The topic's configuration as it is created: deleted, never compacted, when its
        retention lapses (a compacted topic would keep only a key's last event: a student's)."""
        if self.retention_ms is None:
            return {}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


def dead_letter_topic(name: str) -> str:
    return f"{name}{DEAD_LETTER_SUFFIX}"


RECORDS_INGEST = TopicSpec(
    name="hocba.records.ingest",
    owner="records",
    key="school_id",
    ingest=True,
    description="School systems register schools, classes and students and enroll students.",
    events=(
        records.SchoolRegistrationSubmitted,
        records.ClassRegistrationSubmitted,
        records.StudentRegistrationSubmitted,
        records.EnrollmentSubmitted,
    ),
)
RECORDS_EVENTS = TopicSpec(
    name="hocba.records.events",
    owner="records",
    key="student_id (school_id, class_id for school and class events)",
    description="Schools, classes, students and enrollments as the records service holds them.",
    events=(
        records.SchoolRegistered,
        records.ClassRegistered,
        records.StudentRegistered,
        records.StudentEnrolled,
    ),
)
ASSESSMENT_INGEST = TopicSpec(
    name="hocba.assessment.ingest",
    owner="assessment",
    key="class_id",
    ingest=True,
    description="School systems send subject assessments (primary and secondary), conduct, qualities and "
    "competencies, attendance, and ask to close a class's year.",
    events=(
        assessment.SubjectAssessmentSubmitted,
        assessment.SecondaryAssessmentSubmitted,
        assessment.ConductAssessed,
        assessment.QualitiesAssessed,
        assessment.AttendanceReported,
        assessment.ClassYearCloseRequested,
    ),
)
ASSESSMENT_EVENTS = TopicSpec(
    name="hocba.assessment.events",
    owner="assessment",
    key="student_id",
    description="Closed-year records, computed and locked.",
    events=(assessment.YearRecordClosed,),
)
SIGNING_EVENTS = TopicSpec(
    name="hocba.signing.events",
    owner="signing",
    key="student_id",
    description="Records signed by every required signer; refusals to sign; reminders of deadlines.",
    events=(signing.RecordSigned, signing.SigningRejected, signing.SignatureReminderDue),
)
PUBLISHING_EVENTS = TopicSpec(
    name="hocba.publishing.events",
    owner="publishing",
    key="student_id",
    description="Published, immutable records with their document ids, and the revocation of a "
    "published document (it then no longer verifies as valid).",
    events=(publishing.RecordPublished, publishing.RecordRevoked),
    retention_ms=-1,  # kept forever: the lookup rebuilds its read model by replaying it
)

TOPICS: tuple[TopicSpec, ...] = (
    RECORDS_INGEST,
    RECORDS_EVENTS,
    ASSESSMENT_INGEST,
    ASSESSMENT_EVENTS,
    SIGNING_EVENTS,
    PUBLISHING_EVENTS,
)


def topic(name: str) -> TopicSpec:
    for spec in TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}")


def all_topic_names(*, with_dead_letters: bool = True) -> list[str]:
    names = [t.name for t in TOPICS]
    if with_dead_letters:
        names += [t.dead_letter for t in TOPICS]
    return names


def all_event_types() -> dict[str, type[EventPayload]]:
    """Every event type of the registry, by name, with its payload."""
    return {event.event_type: event for spec in TOPICS for event in spec.events}
