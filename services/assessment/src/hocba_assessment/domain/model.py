"""Assessment's own words: a class's roster and closing, a student's locked year record, the audit
trail, and the errors of its rules. The marks themselves, one type per kind, are in `marks`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StudentProfile
from hocba_runtime.errors import Conflict, DomainError

from hocba_assessment.domain.marks import Mark


def record_id(student_id: str, school_year: str) -> str:
    """One year record per student and school year; corrections become new versions."""
    return f"{student_id}.{school_year}"


@dataclass(frozen=True)
class StoredMark:
    """A mark with the ids of the ingest events applied to it (a redelivered one changes nothing)."""

    mark: Mark
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class RosterEntry:
    student: StudentProfile
    school: SchoolProfile
    class_info: ClassProfile


@dataclass(frozen=True)
class ClassProfileUpdate:
    """A class's profile as one of records' events stated it, and when (`as_of`, the event's time):
    of two updates of a class, the later one stands, whatever order they arrive in."""

    profile: ClassProfile
    as_of: datetime


@dataclass(frozen=True)
class Unlock:
    """A closed class year reopened for corrections (mở khóa): the school administrator who
    approved it, why, and when. The close that follows states it on each new version it emits."""

    approved_by: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Closure:
    class_id: str
    school_year: str
    requested_by: str
    closed_at: datetime
    after_unlock: Unlock | None = None
    """The unlock this close follows (none on a class's first close): why the records' new
    versions exist."""


@dataclass(frozen=True)
class LockedRecord:
    record_id: str
    record_version: int
    student_id: str
    class_id: str
    school_year: str
    level: str
    level_label: str
    fingerprint: str = ""
    """SHA-256 of the record's results: a re-close emits a version only on change."""
    commendation: str | None = None
    """Primary khen thưởng, secondary danh hiệu."""
    promotion: str | None = None
    """Secondary: len_lop | kiem_tra_lai | ren_luyen_he | o_lai_lop."""
    promotion_label: str | None = None
    retake_subjects: tuple[str, ...] = ()
    completed: bool | None = None
    """Completes the grade (primary) or is promoted (secondary)."""


@dataclass(frozen=True)
class AuditEntry:
    """One change to a class's assessments: who, when, what it was, what it became, and why."""

    class_id: str
    school_year: str
    action: str  # correction | summer_reassessment | unlock | close | close_refused | ...
    by: str | None
    at: datetime
    key: str | None = None
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    reason: str = ""


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
