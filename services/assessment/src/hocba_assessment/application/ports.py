"""What the assessment use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from hocba_contracts import Envelope
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StudentProfile


class Mark(NamedTuple):
    """One subject assessment as stored (the newest value for its key). A named tuple: a close
    reads some ten of these a student, and a tuple is made several times faster than a frozen
    dataclass."""

    class_id: str
    school_year: str
    student_id: str
    subject_code: str
    period: str
    rating: str | None
    score: float | None
    comment: str
    submitted_by: str | None


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
class Closure:
    class_id: str
    school_year: str
    requested_by: str
    closed_at: datetime


@dataclass(frozen=True)
class LockedRecord:
    record_id: str
    record_version: int
    student_id: str
    class_id: str
    school_year: str
    level: str
    level_label: str
    fingerprint: str = (
        ""  # SHA-256 of the record's results: a re-close emits a version only on change
    )
    commendation: str | None = None  # primary khen thưởng, secondary danh hiệu
    promotion: str | None = None  # secondary: len_lop | kiem_tra_lai | ren_luyen_he | o_lai_lop
    promotion_label: str | None = None
    retake_subjects: tuple[str, ...] = ()
    completed: bool | None = None  # completes the grade (primary) or is promoted (secondary)


@dataclass(frozen=True)
class AuditEntry:
    """One change to a class's assessments: who, when, what it was, what it became, and why."""

    class_id: str
    school_year: str
    action: str  # correction | unlock | close
    by: str | None
    at: datetime
    key: str | None = None
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    reason: str = ""


class AssessmentTx(Protocol):
    duplicate: bool
    processed: set[str]  # with `many`: the batch's events handled before

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None: ...
    async def class_grade(self, class_id: str) -> int | None: ...
    async def save_class_grade(self, class_id: str, grade: int) -> None: ...
    async def save_roster(self, entry: RosterEntry) -> None: ...
    async def save_class_profile(self, update: ClassProfileUpdate) -> None: ...
    async def roster_ids(self, class_id: str, school_year: str) -> set[str]: ...
    async def get_mark(self, key: str) -> Mark | None: ...
    async def save_mark(self, key: str, mark: Mark) -> None: ...
    async def marks(self, class_id: str, school_year: str, student_id: str) -> list[Mark]: ...
    async def closure(self, class_id: str, school_year: str) -> Closure | None: ...
    async def delete_closure(self, class_id: str, school_year: str) -> None: ...
    async def audit(self, entry: AuditEntry) -> None: ...
    async def closures_of(
        self, classes: set[tuple[str, str]]
    ) -> dict[tuple[str, str], Closure]: ...
    async def save_closures(self, closures: list[Closure]) -> None: ...
    async def audit_many(self, entries: list[AuditEntry]) -> None: ...
    async def marks_of(self, classes: set[tuple[str, str]]) -> list[Mark]: ...
    async def rosters_of(self, classes: set[tuple[str, str]]) -> list[RosterEntry]: ...
    async def locked_of(self, classes: set[tuple[str, str]]) -> dict[str, LockedRecord]: ...
    async def lock_many(self, new: list[LockedRecord], changed: list[LockedRecord]) -> None: ...
    async def emit_many(self, topic: str, envelopes: list[Envelope[Any]]) -> None: ...


class MarkStore(Protocol):
    """The one way marks are written, from every entrypoint (`AssessmentService.submit_marks`): bulk
    reads and writes, many items in a few round trips, every write idempotent by key (no
    transaction). Nothing read through it is kept between calls."""

    async def class_grades(self, class_ids: set[str]) -> dict[str, int]: ...
    async def closed_classes(self, classes: set[tuple[str, str]]) -> set[tuple[str, str]]: ...
    async def stored(self, keys: Iterable[str]) -> dict[str, StoredMark]: ...
    async def write(self, marks: dict[str, StoredMark]) -> None: ...
    async def audit(self, entries: dict[str, AuditEntry]) -> None: ...
    async def save_rosters(self, entries: list[RosterEntry]) -> None: ...
    async def save_class_grades(self, grades: dict[str, int]) -> None: ...
    async def save_class_profiles(self, updates: list[ClassProfileUpdate]) -> None: ...
    async def class_profiles(self, class_ids: set[str]) -> dict[str, ClassProfile]: ...


class AssessmentUnitOfWork(Protocol):
    def __call__(
        self, processing: str | None = None
    ) -> AbstractAsyncContextManager[AssessmentTx]: ...
    def many(self, processing: list[str]) -> AbstractAsyncContextManager[AssessmentTx]: ...


class AssessmentReader(Protocol):
    async def records(self, class_id: str, school_year: str) -> list[LockedRecord]: ...
    async def closure(self, class_id: str, school_year: str) -> Closure | None: ...
    async def audit_trail(self, class_id: str, school_year: str) -> list[AuditEntry]: ...
    async def marks(self, class_id: str, school_year: str) -> list[Mark]: ...
    async def roster(self, class_id: str, school_year: str) -> list[RosterEntry]: ...
    async def class_profiles(self, class_ids: set[str]) -> dict[str, ClassProfile]: ...
