"""What school systems send, checked against the class's grade and turned into stored marks.

Every kind of assessment is kept the same way, one mark per student, subject and period, so that
re-sending, correcting, auditing and refusing after the close work alike for all of them:
- a primary subject assessment: its subject and period (mid_term_1 ... end_of_year);
- a secondary assessment: its subject and `regular_<term>_<n>`, `mid_term_<term>`, `end_term_<term>`;
- conduct for a term: subject `_conduct`, period `term_<n>`, the level as rating;
- a quality or competency: subject `_trait:<code>`, its period, the level as rating; the
  teacher's comment on them in `_traits`;
- attendance: subject `_absent`, period `year`, the days as score.
"""

from __future__ import annotations

from hocba_contracts.payloads import assessment as ev

from hocba_assessment.application.ports import Mark
from hocba_assessment.domain import primary, secondary
from hocba_assessment.domain.primary import Problem

Item = (
    ev.SubjectAssessmentSubmitted
    | ev.SecondaryAssessmentSubmitted
    | ev.ConductAssessed
    | ev.QualitiesAssessed
    | ev.AttendanceReported
)
ITEM_TYPES = (
    ev.SubjectAssessmentSubmitted,
    ev.SecondaryAssessmentSubmitted,
    ev.ConductAssessed,
    ev.QualitiesAssessed,
    ev.AttendanceReported,
)
CONDUCT = "_conduct"
ABSENT = "_absent"
TRAIT = "_trait:"
TRAITS_COMMENT = "_traits"


def is_primary(grade: int | None) -> bool | None:
    return None if grade is None else grade <= 5


def what(item: Item) -> str:
    """The subject an item is about, as a teacher reads it in a rejection."""
    if isinstance(item, ev.SubjectAssessmentSubmitted | ev.SecondaryAssessmentSubmitted):
        return item.subject_code
    if isinstance(item, ev.ConductAssessed):
        return "conduct"
    if isinstance(item, ev.QualitiesAssessed):
        return "qualities"
    return "attendance"


def check(grade: int | None, item: Item) -> list[Problem]:
    """What is wrong with an item for a class of this grade (None: grade not known yet)."""
    level = is_primary(grade)
    if isinstance(item, ev.SubjectAssessmentSubmitted):
        if level is False:
            return [
                Problem(
                    "class_id",
                    f"the class is in grade {grade}, a secondary grade: send "
                    "secondary_assessment_submitted events (Thông tư 22/2021) for it",
                )
            ]
        return primary.check_mark(grade, item.subject_code, item.period, item.rating, item.score)
    if isinstance(item, ev.SecondaryAssessmentSubmitted):
        return secondary.check_assessment(
            grade, item.subject_code, item.kind, item.index, item.score, item.rating
        )
    if isinstance(item, ev.ConductAssessed):
        if level is True:
            return [
                Problem(
                    "class_id",
                    f"the class is in grade {grade}: primary school assesses qualities and "
                    "competencies (qualities_assessed), not conduct",
                )
            ]
        return []
    if isinstance(item, ev.QualitiesAssessed):
        if level is False:
            return [
                Problem(
                    "class_id",
                    f"the class is in grade {grade}: secondary school assesses conduct "
                    "(conduct_assessed), not qualities and competencies",
                )
            ]
        problems = [
            Problem(
                "qualities",
                f"{code} is not a quality; expected one of {', '.join(primary.QUALITIES)}",
            )
            for code in item.qualities
            if code not in primary.QUALITIES
        ]
        problems += [
            Problem(
                "competencies",
                f"{code} is not a competency; expected one of {', '.join(primary.COMPETENCIES)}",
            )
            for code in item.competencies
            if code not in primary.COMPETENCIES
        ]
        if not item.qualities and not item.competencies:
            problems.append(
                Problem("qualities", "give at least one quality or competency (T, D or C)")
            )
        return problems
    return []


def to_marks(item: Item) -> list[Mark]:
    """The marks an item sets (it must have passed `check`)."""

    def mark(
        subject: str,
        period: str,
        rating: str | None = None,
        score: float | None = None,
        comment: str = "",
    ) -> Mark:
        return Mark(
            item.class_id,
            item.school_year,
            item.student_id,
            subject,
            period,
            rating,
            score,
            comment,
            item.submitted_by,
        )

    if isinstance(item, ev.SubjectAssessmentSubmitted):
        return [mark(item.subject_code, item.period, item.rating, item.score, item.comment)]
    if isinstance(item, ev.SecondaryAssessmentSubmitted):
        return [
            mark(
                item.subject_code,
                secondary.period_key(item.term, item.kind, item.index),
                item.rating,
                item.score,
                item.comment,
            )
        ]
    if isinstance(item, ev.ConductAssessed):
        return [mark(CONDUCT, f"term_{item.term}", item.level, None, item.comment)]
    if isinstance(item, ev.QualitiesAssessed):
        marks = [
            mark(TRAIT + code, item.period, level)
            for code, level in {**item.qualities, **item.competencies}.items()
        ]
        if item.comment:
            marks.append(mark(TRAITS_COMMENT, item.period, None, None, item.comment))
        return marks
    return [mark(ABSENT, "year", None, float(item.days_absent))]
