"""Assessment: school systems' assessments in, closed-year records out.

Ingest payloads travel on `hocba.assessment.ingest` keyed by class id, so a class's assessments
and its closing request stay in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from hocba_contracts.envelope import EventPayload
from hocba_contracts.payloads.common import (
    ClassProfile,
    Code,
    Frozen,
    SchoolProfile,
    SchoolYear,
    StudentProfile,
)

Period = Literal["mid_term_1", "end_term_1", "mid_term_2", "end_of_year"]
Rating = Literal["T", "H", "C"]


class SubjectAssessmentSubmitted(EventPayload):
    """One subject's assessment of one student at one period (Thông tư 27/2020 for primary).

    `rating`: T = Hoàn thành tốt, H = Hoàn thành, C = Chưa hoàn thành.
    `score`: periodic test score on the 10-point scale, where the subject has a test.
    """

    event_type: ClassVar[str] = "hocba.assessment.subject_assessment_submitted"
    version: ClassVar[int] = 2
    class_id: Code
    school_year: SchoolYear
    student_id: Code
    subject_code: Code
    period: Period
    rating: Rating | None = None
    score: float | None = None
    comment: Annotated[str, Field(max_length=2000)] = ""
    submitted_by: Code | None = None

    def subject(self) -> str:
        return self.class_id


class ClassYearCloseRequested(EventPayload):
    event_type: ClassVar[str] = "hocba.assessment.class_year_close_requested"
    class_id: Code
    school_year: SchoolYear
    requested_by: Code

    def subject(self) -> str:
        return self.class_id


class SubjectResult(Frozen):
    subject_code: Code
    subject_name: str
    rating: Rating | None = None
    rating_label: str | None = None
    score: float | None = None
    comment: str = ""


class YearResult(Frozen):
    level: str = Field(description="Machine code, e.g. hoan_thanh_tot")
    level_label: str = Field(description="As printed, e.g. Hoàn thành tốt")
    completed_programme: bool
    rules: str = Field(description="Which rule set computed it, e.g. TT27/2020 simplified")


class YearRecordClosed(EventPayload):
    """A student's year record, computed and locked when the class closed its year."""

    event_type: ClassVar[str] = "hocba.assessment.year_record_closed"
    record_id: Code
    record_version: Annotated[int, Field(ge=1)]
    school_year: SchoolYear
    student: StudentProfile
    school: SchoolProfile
    class_info: ClassProfile
    subjects: tuple[SubjectResult, ...]
    result: YearResult
    closed_at: datetime

    def subject(self) -> str:
        return self.student.student_id
