"""A student's year results, from the stored marks, by the rules of the class's level: Thông tư
27/2020 for grades 1-5, Thông tư 22/2021 for grades 6-12."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from hocba_contracts.payloads import assessment as ev

from hocba_assessment.domain import primary, secondary
from hocba_assessment.domain.marks import (
    SUMMER,
    Attendance,
    Conduct,
    Mark,
    SubjectAssessment,
    Trait,
)
from hocba_assessment.domain.primary import Problem


@dataclass(frozen=True)
class Results:
    subjects: tuple[ev.SubjectResult, ...]
    result: ev.YearResult
    promotion: str | None = None
    retake_subjects: tuple[str, ...] = ()


@functools.cache
def subject_order(grade: int) -> dict[str, int]:
    """The order subjects are printed in, for a grade (computed once per grade, not per student)."""
    codes = primary.subjects_for(grade) if grade <= 5 else secondary.subjects_for(grade)
    return {code: i for i, code in enumerate(codes)}


def days_absent(marks: list[Mark]) -> int | None:
    """The days absent reported for the year, if any."""
    return next((m.days for m in marks if isinstance(m, Attendance)), None)


@functools.cache
def _trait(code: str, name: str, level: str) -> ev.TraitResult:
    """A quality or competency at a level: a few dozen distinct ones, made once (they are frozen)."""
    return ev.TraitResult(code=code, name=name, level=level, level_label=primary.QC_LABELS[level])


def compute(grade: int, marks: list[Mark]) -> Results | None:
    """The year results, or None when there is nothing to state yet (no end-of-year assessment).
    Raises secondary.Incomplete when a secondary year lacks assessments its results need."""
    return _primary(grade, marks) if grade <= 5 else _secondary(grade, marks)


def _primary(grade: int, marks: list[Mark]) -> Results | None:
    """TT27/2020 Art. 9, 11, 15: subjects, qualities and competencies at the end of the year."""
    end = [m for m in marks if isinstance(m, SubjectAssessment) and m.period == "end_of_year"]
    if not end:
        return None
    order = subject_order(grade)
    end.sort(key=lambda m: order.get(m.subject_code, 99))
    traits = {
        m.code: m.level
        for m in marks
        if isinstance(m, Trait) and m.period == "end_of_year" and m.level
    }
    qualities = {c: traits[c] for c in primary.QUALITIES if c in traits} or None
    competencies = {c: traits[c] for c in primary.COMPETENCIES if c in traits} or None
    level = primary.year_level(end, qualities, competencies)

    def listed(found: dict[str, str] | None, names: dict[str, str]) -> tuple[ev.TraitResult, ...]:
        return tuple(_trait(c, names[c], v) for c, v in (found or {}).items())

    subjects = tuple(
        ev.SubjectResult(
            subject_code=m.subject_code,
            subject_name=primary.SUBJECT_NAMES.get(m.subject_code, m.subject_code),
            rating=m.rating,
            rating_label=primary.RATING_LABELS.get(m.rating or ""),
            score=m.score,
            comment=m.comment,
        )
        for m in end
    )
    result = ev.YearResult(
        level=level,
        level_label=primary.LEVEL_LABELS[level],
        completed_programme=primary.completes_grade(level),
        rules=primary.RULES,
        qualities=listed(qualities, primary.QUALITIES),
        competencies=listed(competencies, primary.COMPETENCIES),
        completed_primary=primary.completes_primary(grade, level) if grade == 5 else None,
        commendation=primary.commendation(level),
        days_absent=days_absent(marks),
    )
    return Results(subjects, result)


@functools.cache
def _academic_levels(level: str, unadjusted: str, adjusted_for: str | None) -> ev.AcademicResult:
    """An academic result as the record states it: a few dozen distinct ones, made once (frozen)."""
    return ev.AcademicResult(
        level=cast(ev.AcademicLevel, level),
        level_label=secondary.LEVEL_LABELS[level],
        unadjusted_level=cast(ev.AcademicLevel, unadjusted),
        adjusted_for=adjusted_for,
    )


def _academic(result: secondary.AcademicResult) -> ev.AcademicResult:
    """TT22/2021 Art. 9: the level of a term or the year, what Art. 9.2 alone gave, and the one
    subject Art. 9.3 adjusted it for."""
    return _academic_levels(result.level, result.unadjusted, result.adjusted_for)


def _secondary(grade: int, marks: list[Mark]) -> Results | None:
    """TT22/2021 Art. 8-15: averages, the academic results of term I, term II and the year (each
    with its Art. 9.3 adjustment), conduct, title, promotion; and, once the summer retakes or
    conduct training are assessed, the re-assessment (Art. 13.2, 14.2)."""
    assessments: dict[str, dict[str, Decimal | bool]] = {}
    comments: dict[str, str] = {}
    teachers: dict[str, str] = {}
    conduct: dict[int, str] = {}
    summer: dict[str, Decimal | bool] = {}
    summer_conduct: str | None = None
    for m in marks:
        if isinstance(m, Conduct):
            if m.period == SUMMER:
                summer_conduct = m.level
            elif m.level:
                conduct[int(m.period.removeprefix("term_"))] = m.level
        elif isinstance(m, SubjectAssessment):
            value: Decimal | bool = (
                Decimal(str(m.score)) if m.score is not None else m.rating == "D"
            )
            if m.period == SUMMER:
                summer[m.subject_code] = value
            else:
                assessments.setdefault(m.subject_code, {})[m.period] = value
                if m.period == "end_term_2":
                    comments[m.subject_code] = m.comment
                    if m.submitted_by:
                        teachers[m.subject_code] = m.submitted_by
    if not assessments and not conduct:
        return None
    days = days_absent(marks)
    outcome = secondary.evaluate_year(
        secondary.SecondaryYear(grade, assessments, conduct, days or 0)
    )
    academic, promotion, reassessed = outcome.academic, outcome.promotion, False
    year_scores = {o.code: o.year for o in outcome.subjects if isinstance(o.year, Decimal)}
    year_comments = {o.code: o.year for o in outcome.subjects if isinstance(o.year, bool)}
    if promotion.outcome == "kiem_tra_lai" and summer:
        academic, promotion = secondary.after_retake(
            year_scores,
            year_comments,
            {
                c: v
                for c, v in summer.items()
                if isinstance(v, Decimal) and c in promotion.retake_subjects
            },
            {
                c: v
                for c, v in summer.items()
                if isinstance(v, bool) and c in promotion.retake_subjects
            },
        )
        reassessed = True
    elif promotion.outcome == "ren_luyen_he" and summer_conduct:
        promotion, reassessed = secondary.after_conduct_training(summer_conduct), True

    def label(v: Decimal | bool) -> str:
        return f"{v:.1f}" if isinstance(v, Decimal) else ("Đạt" if v else "Chưa đạt")

    def number(v: Decimal | bool) -> float | None:
        return float(v) if isinstance(v, Decimal) else None

    subjects = tuple(
        ev.SubjectResult(
            subject_code=o.code,
            subject_name=o.name,
            comment=comments.get(o.code, ""),
            term1_average=number(o.term1),
            term2_average=number(o.term2),
            year_average=number(o.year),
            passed=o.year if isinstance(o.year, bool) else None,
            result_label=label(o.year),
            teacher_id=teachers.get(o.code),
        )
        for o in outcome.subjects
    )
    result = ev.YearResult(
        level=academic,
        level_label=secondary.LEVEL_LABELS[academic],
        completed_programme=promotion.outcome == "len_lop",
        rules=secondary.RULES,
        commendation=outcome.title if not reassessed else None,
        days_absent=days,
        term1_level=outcome.term1_level,
        term2_level=outcome.term2_level,
        academic_term1=_academic(outcome.academic_results.term1),
        academic_term2=_academic(outcome.academic_results.term2),
        academic_full_year=_academic(outcome.academic_results.year),
        conduct_term1=outcome.conduct_term1,
        conduct_term2=outcome.conduct_term2,
        conduct=outcome.conduct,
        conduct_label=secondary.LEVEL_LABELS[outcome.conduct],
        promotion=promotion.outcome,
        promotion_label=promotion.label,
        retake_subjects=outcome.promotion.retake_subjects,
        reassessed=reassessed,
    )
    return Results(subjects, result, promotion.outcome, outcome.promotion.retake_subjects)


def problems(grade: int, marks: list[Mark]) -> list[Problem]:
    """Why a student's year cannot be computed (empty when it can, or when nothing is stored)."""
    try:
        compute(grade, marks)
    except secondary.Incomplete as exc:
        return exc.problems
    return []
