"""Assessment's own words: a mark, a class's closing and a student's year record."""

from __future__ import annotations

from hocba_runtime.errors import Conflict, DomainError


def record_id(student_id: str, school_year: str) -> str:
    """One year record per student and school year; corrections become new versions."""
    return f"{student_id}.{school_year}"


def mark_key(
    class_id: str, school_year: str, student_id: str, subject_code: str, period: str
) -> str:
    return f"{class_id}|{school_year}|{student_id}|{subject_code}|{period}"


class ClassClosed(Conflict):
    code = "class_closed"


class InvalidAssessment(DomainError):
    status = 422
    code = "invalid_assessment"


class ClassNotClosed(Conflict):
    code = "class_not_closed"


class IncompleteAssessments(DomainError):
    """A secondary class's close refused: students lack assessments their year results need.
    `details` names each one: `student_id`, `field` (the subject, or conduct) and `problem` (what
    is missing); ids only, never a name."""

    status = 422
    code = "incomplete_assessments"
