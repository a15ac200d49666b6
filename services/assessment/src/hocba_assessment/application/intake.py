"""What school systems send, checked against the class's grade and turned into stored marks, each
of its own kind (`domain.marks`), keyed alike so that re-sending, correcting, auditing and refusing
after the close work the same for all of them:
- a primary subject assessment: a `SubjectAssessment` at its period (mid_term_1 ... end_of_year);
- a secondary assessment: a `SubjectAssessment` at `regular_<term>_<n>`, `mid_term_<term>` or
  `end_term_<term>`;
- conduct for a term: a `Conduct` at `term_<n>`;
- qualities and competencies: a `Trait` for each one sent, at the event's period, each with the
  event's comment (the teacher's comment on them);
- attendance: an `Attendance` for the `year`, the days absent so far.
"""

from __future__ import annotations

from hocba_contracts.payloads import assessment as ev

from hocba_assessment.domain import primary, secondary
from hocba_assessment.domain.marks import YEAR, Attendance, Conduct, Mark, SubjectAssessment, Trait
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
    owner = (item.class_id, item.school_year, item.student_id)
    if isinstance(item, ev.SubjectAssessmentSubmitted):
        return [
            SubjectAssessment(
                *owner,
                item.subject_code,
                item.period,
                item.rating,
                item.score,
                item.comment,
                item.submitted_by,
            )
        ]
    if isinstance(item, ev.SecondaryAssessmentSubmitted):
        return [
            SubjectAssessment(
                *owner,
                item.subject_code,
                secondary.period_key(item.term, item.kind, item.index),
                item.rating,
                item.score,
                item.comment,
                item.submitted_by,
            )
        ]
    if isinstance(item, ev.ConductAssessed):
        return [Conduct(*owner, f"term_{item.term}", item.level, item.comment, item.submitted_by)]
    if isinstance(item, ev.QualitiesAssessed):
        return [
            Trait(*owner, code, item.period, level, item.comment, item.submitted_by)
            for code, level in {**item.qualities, **item.competencies}.items()
        ]
    return [Attendance(*owner, YEAR, item.days_absent, item.submitted_by)]
