"""Assessment: school systems' assessments in, closed-year records out.

Ingest payloads travel on `hocba.assessment.ingest` keyed by class id, so a class's assessments
and its closing request stay in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

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


Term = Literal[1, 2]
SecondaryKind = Literal["regular", "mid_term", "end_term"]
SecondaryRating = Literal["D", "CD"]
ConductLevel = Literal["tot", "kha", "dat", "chua_dat"]
TraitLevel = Literal["T", "D", "C"]


class SecondaryAssessmentSubmitted(EventPayload):
    """One assessment of one student in one subject, in lower or upper secondary school
    (Thông tư 22/2021).

    `kind`: `regular` (đánh giá thường xuyên, ĐĐGtx, numbered by `index` from 1 within the term),
    `mid_term` (giữa kỳ, ĐĐGgk) or `end_term` (cuối kỳ, ĐĐGck), in `term` 1 or 2.
    Scored subjects send `score` (0-10, at most one decimal); comment subjects (Giáo dục thể chất,
    Nghệ thuật, Âm nhạc, Mĩ thuật, Nội dung giáo dục của địa phương, Hoạt động trải nghiệm, hướng
    nghiệp) send `rating`: D = Đạt, CD = Chưa đạt.
    """

    event_type: ClassVar[str] = "hocba.assessment.secondary_assessment_submitted"
    class_id: Code
    school_year: SchoolYear
    student_id: Code
    subject_code: Code
    term: Term
    kind: SecondaryKind
    index: Annotated[
        int, Field(ge=1, le=9, description="Which regular assessment of the term (1, 2, ...)")
    ] = 1
    score: float | None = None
    rating: SecondaryRating | None = None
    comment: Annotated[str, Field(max_length=2000)] = ""
    submitted_by: Code | None = Field(default=None, description="The subject teacher who assessed")

    def subject(self) -> str:
        return self.class_id


class ConductAssessed(EventPayload):
    """A secondary student's conduct (kết quả rèn luyện) for a term, given by the homeroom teacher
    (Thông tư 22/2021 Art. 8): tot = Tốt, kha = Khá, dat = Đạt, chua_dat = Chưa đạt."""

    event_type: ClassVar[str] = "hocba.assessment.conduct_assessed"
    class_id: Code
    school_year: SchoolYear
    student_id: Code
    term: Term
    level: ConductLevel
    comment: Annotated[str, Field(max_length=2000)] = ""
    submitted_by: Code | None = None

    def subject(self) -> str:
        return self.class_id


class QualitiesAssessed(EventPayload):
    """A primary student's qualities (phẩm chất) and competencies (năng lực) at one period
    (Thông tư 27/2020 Art. 6): T = Tốt, D = Đạt, C = Cần cố gắng. Codes of the 5 qualities:
    yeu_nuoc, nhan_ai, cham_chi, trung_thuc, trach_nhiem; of the 10 competencies: tu_chu_tu_hoc,
    giao_tiep_hop_tac, giai_quyet_van_de, ngon_ngu, tinh_toan, khoa_hoc, cong_nghe, tin_hoc,
    tham_mi, the_chat. Only the ones sent are changed."""

    event_type: ClassVar[str] = "hocba.assessment.qualities_assessed"
    class_id: Code
    school_year: SchoolYear
    student_id: Code
    period: Period
    qualities: dict[Code, TraitLevel] = Field(default_factory=dict)
    competencies: dict[Code, TraitLevel] = Field(default_factory=dict)
    comment: Annotated[str, Field(max_length=2000)] = ""
    submitted_by: Code | None = None

    def subject(self) -> str:
        return self.class_id


class AttendanceReported(EventPayload):
    """Days a student was absent in the school year so far (both levels); the newest report stands.
    Secondary students absent more than 45 days are not promoted (Thông tư 22/2021 Art. 12)."""

    event_type: ClassVar[str] = "hocba.assessment.attendance_reported"
    class_id: Code
    school_year: SchoolYear
    student_id: Code
    days_absent: Annotated[int, Field(ge=0, le=366)]
    submitted_by: Code | None = None

    def subject(self) -> str:
        return self.class_id


class ClassYearCloseRequested(EventPayload):
    """Close a class's school year. A secondary class whose students lack assessments is not closed
    (the event is dead-lettered naming each missing one) unless `even_if_incomplete`."""

    event_type: ClassVar[str] = "hocba.assessment.class_year_close_requested"
    class_id: Code
    school_year: SchoolYear
    requested_by: Code
    even_if_incomplete: bool = Field(
        default=False,
        description="Secondary: close although some students lack "
        "assessments (they get no record until an unlock)",
    )

    def subject(self) -> str:
        return self.class_id


class SubjectResult(Frozen):
    subject_code: Code
    subject_name: str
    rating: Rating | None = None
    rating_label: str | None = None
    score: float | None = None
    comment: str = ""
    term1_average: float | None = Field(
        default=None, description="Secondary scored subject: ĐTBmhkI"
    )
    term2_average: float | None = Field(
        default=None, description="Secondary scored subject: ĐTBmhkII"
    )
    year_average: float | None = Field(default=None, description="Secondary scored subject: ĐTBmcn")
    passed: bool | None = Field(
        default=None, description="Secondary comment subject: Đạt for the year"
    )
    result_label: str | None = Field(default=None, description="As printed, e.g. 8.1 or Đạt")
    teacher_id: Code | None = Field(
        default=None,
        description="Secondary: the subject teacher, who signs for the subject's results",
    )


class TraitResult(Frozen):
    """A primary quality or competency at the end of the year: T, D or C."""

    code: Code
    name: str
    level: str
    level_label: str


AcademicLevel = Literal["tot", "kha", "dat", "chua_dat"]


class AcademicResult(Frozen):
    """A secondary academic result (kết quả học tập) of a term or of the year, Thông tư 22/2021
    Art. 9: tot = Tốt, kha = Khá, dat = Đạt, chua_dat = Chưa đạt. When Art. 9.3 raised it (the
    result fell two or more levels below Tốt or Khá only because of one subject), `adjusted_for`
    names that subject and `unadjusted_level` is what Art. 9.2 alone gave."""

    level: AcademicLevel
    level_label: str = Field(description="As printed, e.g. Khá")
    unadjusted_level: AcademicLevel = Field(
        description="Art. 9.2 without the adjustment of 9.3; equals level unless adjusted"
    )
    adjusted_for: Code | None = Field(
        default=None, description="Art. 9.3: the one subject the result was adjusted for, if it was"
    )


class YearResult(Frozen):
    level: str = Field(
        description="Machine code, e.g. hoan_thanh_tot (primary) or kha (secondary academic result)"
    )
    level_label: str = Field(description="As printed, e.g. Hoàn thành tốt")
    completed_programme: bool = Field(
        description="Primary: completes the grade; secondary: promoted (lên lớp)"
    )
    rules: str = Field(description="Which rule set computed it, e.g. TT27/2020 or TT22/2021")
    qualities: tuple[TraitResult, ...] = ()
    competencies: tuple[TraitResult, ...] = ()
    completed_primary: bool | None = Field(
        default=None, description="Grade 5: completes primary school"
    )
    commendation: str | None = Field(
        default=None, description="Khen thưởng (primary) or danh hiệu (secondary)"
    )
    days_absent: int | None = None
    term1_level: str | None = Field(
        default=None, description="Secondary: academic result of term I (academic_term1.level)"
    )
    term2_level: str | None = Field(
        default=None, description="Secondary: academic result of term II (academic_term2.level)"
    )
    academic_term1: AcademicResult | None = Field(
        default=None,
        description="Secondary: academic result of term I, with its Art. 9.3 adjustment",
    )
    academic_term2: AcademicResult | None = Field(
        default=None,
        description="Secondary: academic result of term II, with its Art. 9.3 adjustment",
    )
    academic_full_year: AcademicResult | None = Field(
        default=None,
        description="Secondary: academic result of the whole year (cả năm) at the close, with its own "
        "Art. 9.3 adjustment; `level` is the same, or the re-assessment's result when `reassessed`",
    )
    conduct_term1: str | None = None
    conduct_term2: str | None = None
    conduct: str | None = Field(
        default=None, description="Secondary: conduct for the year (tot, kha, dat, chua_dat)"
    )
    conduct_label: str | None = None
    promotion: str | None = Field(
        default=None, description="Secondary: len_lop, kiem_tra_lai, ren_luyen_he, o_lai_lop"
    )
    promotion_label: str | None = None
    retake_subjects: tuple[Code, ...] = ()
    reassessed: bool = Field(
        default=False, description="Secondary: the result after the summer retake or training"
    )


CORRECTION_REASON_MAX_LENGTH = 500
"""A correction's reason is shown where the superseded version is: a sentence or two."""

CorrectionKind = Literal["unlock", "summer_reassessment"]


class RecordCorrection(Frozen):
    """Why a version of a year record supersedes the one before (DOMAIN §3: corrections only by an
    unlock approved by the school administrator, logged; TT22/2021 Art. 13-14 for the summer
    re-assessment)."""

    kind: CorrectionKind = Field(
        description="unlock: the class was reopened by its school administrator and closed again; "
        "summer_reassessment: the result of a summer retake or conduct training"
    )
    reason: Annotated[
        str,
        Field(
            min_length=1,
            max_length=CORRECTION_REASON_MAX_LENGTH,
            pattern=r"\S",
            description="Why, as the school gave it (the unlock's or the re-assessment's reason), "
            "trimmed; never a personal ID number or a date of birth",
        ),
    ]
    approved_by: Code = Field(
        description="Staff id: the school administrator who approved the unlock, or the teacher "
        "who re-assessed"
    )
    at: datetime = Field(description="When the class was unlocked, or the student re-assessed")


class YearRecordClosed(EventPayload):
    """A student's year record, computed and locked when the class closed its year. A version after
    the first says in `correction` why it supersedes the one before; the first has none."""

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
    correction: RecordCorrection | None = Field(
        default=None,
        description="Version 2 and later: why this version supersedes the previous one; "
        "none on version 1",
    )

    @model_validator(mode="after")
    def _first_version_corrects_nothing(self) -> YearRecordClosed:
        if self.correction is not None and self.record_version == 1:
            raise ValueError("version 1 of a record supersedes nothing: it has no correction")
        return self

    def subject(self) -> str:
        return self.student.student_id
