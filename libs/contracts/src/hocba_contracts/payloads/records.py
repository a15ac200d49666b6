"""Records: schools, classes, students and enrollments.

Ingest payloads (`...Submitted`) are what school systems send on `hocba.records.ingest`, keyed by
school id so one school's submissions stay in order. Events (`...Registered`, `StudentEnrolled`)
are what the records service announces on `hocba.records.events`.
"""

from __future__ import annotations

from typing import ClassVar

from hocba_contracts.envelope import EventPayload
from hocba_contracts.payloads.common import (
    ClassProfile,
    Code,
    SchoolProfile,
    SchoolYear,
    StudentProfile,
)


class SchoolRegistrationSubmitted(SchoolProfile, EventPayload):
    event_type: ClassVar[str] = "hocba.records.school_registration_submitted"

    def subject(self) -> str:
        return self.school_id


class ClassRegistrationSubmitted(ClassProfile, EventPayload):
    event_type: ClassVar[str] = "hocba.records.class_registration_submitted"

    def subject(self) -> str:
        return self.school_id


class StudentRegistrationSubmitted(StudentProfile, EventPayload):
    event_type: ClassVar[str] = "hocba.records.student_registration_submitted"
    school_id: Code

    def subject(self) -> str:
        return self.school_id


class EnrollmentSubmitted(EventPayload):
    event_type: ClassVar[str] = "hocba.records.enrollment_submitted"
    school_id: Code
    student_id: Code
    class_id: Code
    school_year: SchoolYear

    def subject(self) -> str:
        return self.school_id


class SchoolRegistered(SchoolProfile, EventPayload):
    event_type: ClassVar[str] = "hocba.records.school_registered"

    def subject(self) -> str:
        return self.school_id


class ClassRegistered(ClassProfile, EventPayload):
    event_type: ClassVar[str] = "hocba.records.class_registered"

    def subject(self) -> str:
        return self.class_id


class StudentRegistered(StudentProfile, EventPayload):
    event_type: ClassVar[str] = "hocba.records.student_registered"

    def subject(self) -> str:
        return self.student_id


class StudentEnrolled(EventPayload):
    """A student joined a class for a school year; carries the snapshot downstream needs."""

    event_type: ClassVar[str] = "hocba.records.student_enrolled"
    enrollment_id: Code
    school_year: SchoolYear
    student: StudentProfile
    school: SchoolProfile
    class_info: ClassProfile

    def subject(self) -> str:
        return self.student.student_id
