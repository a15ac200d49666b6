"""The kinds of assessment a student's year is stated from, one type each.

A school system sends four kinds of assessment, and each is kept as its own kind of mark:
- `SubjectAssessment`: a subject at a period, rated, scored and commented (primary TT27/2020
  Art. 6-7: mid_term_1 ... end_of_year; secondary TT22/2021 Art. 7: `regular_<term>_<n>`,
  `mid_term_<term>`, `end_term_<term>`, and `summer` for a summer retake);
- `Conduct`: a secondary student's conduct (rèn luyện) for `term_1`, `term_2`, or `summer` after
  summer training (TT22/2021 Art. 8, 14);
- `Trait`: a primary student's quality (phẩm chất) or competency (năng lực) at a period, its level
  T / D / C and the teacher's comment (TT27/2020 Art. 6);
- `Attendance`: the days a student was absent, for the `year` so far (TT22/2021 Art. 12).

Every kind is keyed alike (`key`: class, year, student, kind, code, period), so that re-sending,
correcting, auditing and refusing after the close work the same for all of them. Each is a named
tuple: a close reads some ten of these a student, and a tuple is made several times faster than a
frozen dataclass.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

Kind = Literal["subject", "conduct", "trait", "attendance"]
KINDS: tuple[Kind, ...] = ("subject", "conduct", "trait", "attendance")

SUMMER = "summer"
"""The period of a summer retake (per subject) and of conduct re-assessed after summer training."""
YEAR = "year"
"""The period of attendance: the days absent in the school year so far."""


def mark_key(
    class_id: str, school_year: str, student_id: str, kind: Kind, code: str, period: str
) -> str:
    """A mark's identity: the newest value for a key stands. `code` is the subject or the trait
    (empty for conduct and attendance). Codes and periods never hold '|'."""
    return f"{class_id}|{school_year}|{student_id}|{kind}|{code}|{period}"


def split_key(key: str) -> tuple[str, str, str, Kind, str, str]:
    """A key's parts: class, year, student, kind, code, period."""
    class_id, school_year, student_id, kind, code, period = key.split("|")
    if kind not in KINDS:
        raise ValueError(f"not a mark key: {key!r}")
    return class_id, school_year, student_id, kind, code, period


class SubjectAssessment(NamedTuple):
    """One subject at one period: a rating (T/H/C, D/CD), a score, or both, and a comment."""

    class_id: str
    school_year: str
    student_id: str
    subject_code: str
    period: str
    rating: str | None
    score: float | None
    comment: str = ""
    submitted_by: str | None = None

    @property
    def kind(self) -> Literal["subject"]:
        return "subject"

    @property
    def key(self) -> str:
        return mark_key(
            self.class_id,
            self.school_year,
            self.student_id,
            "subject",
            self.subject_code,
            self.period,
        )

    def values(self) -> dict[str, Any]:
        """What a correction changes (as the audit trail states it)."""
        return {"rating": self.rating, "score": self.score, "comment": self.comment}


class Conduct(NamedTuple):
    """A secondary student's conduct for a term (or after summer training): tot, kha, dat or
    chua_dat, given by the homeroom teacher."""

    class_id: str
    school_year: str
    student_id: str
    period: str
    level: str
    comment: str = ""
    submitted_by: str | None = None

    @property
    def kind(self) -> Literal["conduct"]:
        return "conduct"

    @property
    def key(self) -> str:
        return mark_key(
            self.class_id, self.school_year, self.student_id, "conduct", "", self.period
        )

    def values(self) -> dict[str, Any]:
        return {"level": self.level, "comment": self.comment}


class Trait(NamedTuple):
    """A primary student's quality or competency at a period: T (Tốt), D (Đạt) or C (Cần cố gắng),
    with the teacher's comment."""

    class_id: str
    school_year: str
    student_id: str
    code: str
    period: str
    level: str
    comment: str = ""
    submitted_by: str | None = None

    @property
    def kind(self) -> Literal["trait"]:
        return "trait"

    @property
    def key(self) -> str:
        return mark_key(
            self.class_id, self.school_year, self.student_id, "trait", self.code, self.period
        )

    def values(self) -> dict[str, Any]:
        return {"level": self.level, "comment": self.comment}


class Attendance(NamedTuple):
    """The days a student was absent in the period (the `year` so far); the newest report stands."""

    class_id: str
    school_year: str
    student_id: str
    period: str
    days: int
    submitted_by: str | None = None

    @property
    def kind(self) -> Literal["attendance"]:
        return "attendance"

    @property
    def key(self) -> str:
        return mark_key(
            self.class_id, self.school_year, self.student_id, "attendance", "", self.period
        )

    def values(self) -> dict[str, Any]:
        return {"days": self.days}


Mark = SubjectAssessment | Conduct | Trait | Attendance
"""Any kind of mark; tell them apart with `isinstance` (or `kind`, to name one)."""
