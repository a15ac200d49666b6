"""Sample data and an in-memory unit of work for the assessment tests (fictional people)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Set
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date
from typing import Any

from hocba_assessment.domain.marks import Mark, SubjectAssessment
from hocba_assessment.domain.model import (
    AuditEntry,
    ClassProfileUpdate,
    Closure,
    LockedRecord,
    RosterEntry,
    StoredMark,
    Unlock,
)
from hocba_contracts import Envelope
from hocba_contracts.payloads.assessment import SubjectAssessmentSubmitted
from hocba_contracts.payloads.common import (
    ClassProfile,
    SchoolProfile,
    StaffMember,
    StudentProfile,
    SubjectTeacher,
)


def school(school_id: str = "079-TH-TEST") -> SchoolProfile:
    return SchoolProfile(
        school_id=school_id,
        name="Trường Tiểu học Võ Thị Sáu",
        level="primary",
        province_code="079",
        province_name="Thành phố Hồ Chí Minh",
        district="Quận 3",
        principal=StaffMember(staff_id=f"{school_id}-HT", full_name="Đặng Thị Mỹ Hạnh"),
    )


def klass(
    class_id: str | None = None,
    grade: int = 1,
    year: str = "2024-2025",
    *,
    school_id: str = "079-TH-TEST",
    homeroom: str = "GV-01",
    subject_teachers: dict[str, str] | None = None,
) -> ClassProfile:
    """A class; `subject_teachers` maps a subject code to the staff id of its teacher."""
    return ClassProfile(
        class_id=class_id or f"C-{uuid.uuid4().hex[:6]}",
        school_id=school_id,
        school_year=year,
        grade=grade,
        name=f"{grade}A",
        homeroom_teacher=StaffMember(staff_id=homeroom, full_name="Lê Thị Thu Trang"),
        subject_teachers=tuple(
            SubjectTeacher(subject_code=code, staff_id=staff, full_name="Trần Văn Minh")
            for code, staff in (subject_teachers or {}).items()
        ),
    )


def student(student_id: str | None = None) -> StudentProfile:
    n = uuid.uuid4().int
    return StudentProfile(
        student_id=student_id or f"HS{n % 10**8:08d}",
        citizen_id=f"079318{n % 10**6:06d}",
        full_name="Huỳnh Ngọc Bảo Trâm",
        date_of_birth=date(2018, 5, 2),
        sex="female",
        place_of_birth="Thành phố Hồ Chí Minh",
    )


def subject_assessment(m: Mark) -> SubjectAssessment:
    """A stored mark that a test reads a score or a rating of: a subject assessment."""
    assert isinstance(m, SubjectAssessment), m
    return m


def mark(
    cls: ClassProfile,
    student_id: str,
    subject: str,
    rating: str | None = "T",
    score: float | None = None,
    period: str = "end_of_year",
) -> SubjectAssessmentSubmitted:
    return SubjectAssessmentSubmitted(
        class_id=cls.class_id,
        school_year=cls.school_year,
        student_id=student_id,
        subject_code=subject,
        period=period,
        rating=rating,
        score=score,
    )


def full_year(
    cls: ClassProfile, student_id: str, rating: str = "T", score: float = 9
) -> list[SubjectAssessmentSubmitted]:
    from hocba_assessment.domain.primary import has_periodic_test, subjects_for

    return [
        mark(cls, student_id, code, rating, score if has_periodic_test(cls.grade, code) else None)
        for code in subjects_for(cls.grade)
    ]


def secondary_year(
    cls: ClassProfile,
    student_id: str,
    score: float = 8.5,
    *,
    rating: str = "D",
    conduct: tuple[str, str] = ("tot", "tot"),
    overrides: dict[str, float] | None = None,
    skip: Set[tuple[str, str]] = frozenset(),
    electives: tuple[str, ...] = ("VL", "HH", "SH", "TIN"),
) -> list[Any]:
    """Every assessment a secondary student needs for the year (TT22/2021): each scored subject of
    the grade at `score` (or `overrides[subject]`), each comment subject rated `rating`, and the
    conduct of both terms. `skip` leaves out (subject, period key) pairs."""
    from hocba_assessment.domain.secondary import (
        compulsory,
        is_comment_subject,
        period_key,
        regular_needed,
    )
    from hocba_contracts.payloads.assessment import ConductAssessed, SecondaryAssessmentSubmitted

    items: list[Any] = []
    for code in [*compulsory(cls.grade), *(electives if cls.grade >= 10 else ())]:
        value = (overrides or {}).get(code, score)
        for term in (1, 2):
            slots = [("regular", i) for i in range(1, regular_needed(cls.grade, code) + 1)]
            for kind, index in [*slots, ("mid_term", 1), ("end_term", 1)]:
                if (code, period_key(term, kind, index)) in skip:
                    continue
                comment = is_comment_subject(code)
                items.append(
                    SecondaryAssessmentSubmitted(
                        class_id=cls.class_id,
                        school_year=cls.school_year,
                        student_id=student_id,
                        subject_code=code,
                        term=term,
                        kind=kind,
                        index=index,
                        score=None if comment else value,
                        rating=rating if comment else None,
                        submitted_by=f"GV-{code}",
                    )
                )
    items += [
        ConductAssessed(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=student_id,
            term=t,
            level=level,
            submitted_by="GV-01",
        )
        for t, level in zip((1, 2), conduct, strict=True)
    ]
    return items


class FakeTx:
    def __init__(
        self, store: FakeStore, duplicate: bool, processed: set[str] | None = None
    ) -> None:
        self.s = store
        self.duplicate = duplicate
        self.processed = processed or set()

    async def closures_of(self, classes: set[tuple[str, str]]) -> dict[tuple[str, str], Closure]:
        return {k: v for k, v in self.s.closures.items() if k in classes}

    async def save_closures(self, closures: list[Closure]) -> None:
        for c in closures:
            assert (c.class_id, c.school_year) not in self.s.closures
            await self.save_closure(c)

    async def audit_many(self, entries: list[AuditEntry]) -> None:
        self.s.audit.extend(entries)

    async def marks_of(self, classes: set[tuple[str, str]]) -> list[Mark]:
        return [m for m in self.s.marks.values() if (m.class_id, m.school_year) in classes]

    async def rosters_of(self, classes: set[tuple[str, str]]) -> list[RosterEntry]:
        return [e for (c, y, _), e in sorted(self.s.roster.items()) if (c, y) in classes]

    async def locked_of(self, classes: set[tuple[str, str]]) -> dict[str, LockedRecord]:
        return {k: r for k, r in self.s.locked.items() if (r.class_id, r.school_year) in classes}

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None:
        self.s.pending.append((topic, envelope))

    async def class_grade(self, class_id: str) -> int | None:
        return self.s.grades.get(class_id)

    async def save_class_grade(self, class_id: str, grade: int) -> None:
        self.s.grades[class_id] = grade

    async def save_class_profile(self, update: ClassProfileUpdate) -> None:
        self.s.save_profile(update)

    async def save_roster(self, entry: RosterEntry) -> None:
        self.s.roster[
            (entry.class_info.class_id, entry.class_info.school_year, entry.student.student_id)
        ] = entry

    async def roster_ids(self, class_id: str, school_year: str) -> set[str]:
        return {s for (c, y, s) in self.s.roster if (c, y) == (class_id, school_year)}

    async def get_mark(self, key: str) -> Mark | None:
        return self.s.marks.get(key)

    async def save_mark(self, key: str, mark: Mark) -> None:
        self.s.marks[key] = mark

    async def marks(self, class_id: str, school_year: str, student_id: str) -> list[Mark]:
        return [
            m
            for m in self.s.marks.values()
            if (m.class_id, m.school_year, m.student_id) == (class_id, school_year, student_id)
        ]

    async def closure(self, class_id: str, school_year: str) -> Closure | None:
        return self.s.closures.get((class_id, school_year))

    async def save_closure(self, closure: Closure) -> None:
        self.s.closures[(closure.class_id, closure.school_year)] = closure

    async def delete_closure(self, class_id: str, school_year: str) -> None:
        self.s.closures.pop((class_id, school_year), None)

    async def save_unlock(self, class_id: str, school_year: str, unlock: Unlock) -> None:
        self.s.unlocks[(class_id, school_year)] = unlock

    async def unlocks_of(self, classes: set[tuple[str, str]]) -> dict[tuple[str, str], Unlock]:
        return {k: u for k, u in self.s.unlocks.items() if k in classes}

    async def audit(self, entry: AuditEntry) -> None:
        self.s.audit.append(entry)

    async def lock_many(self, new: list[LockedRecord], changed: list[LockedRecord]) -> None:
        for r in new:
            assert r.record_id not in self.s.locked
            self.s.locked[r.record_id] = r
        for r in changed:
            assert r.record_id in self.s.locked
            self.s.locked[r.record_id] = r

    async def emit_many(self, topic: str, envelopes: list[Envelope[Any]]) -> None:
        self.s.pending.extend((topic, e) for e in envelopes)


class FakeMarkStore:
    """The bulk, transaction-less mark store over the same in-memory state."""

    def __init__(self, store: FakeStore) -> None:
        self.s = store
        self.events: dict[str, tuple[str, ...]] = {}
        self.audits: dict[str, AuditEntry] = {}
        self.profile_reads: list[set[str]] = []
        """The classes each read of profiles asked for."""

    async def class_grades(self, class_ids: set[str]) -> dict[str, int]:
        return {c: g for c, g in self.s.grades.items() if c in class_ids}

    async def closed_classes(self, classes: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {c for c in classes if c in self.s.closures}

    async def stored(self, keys: Iterable[str]) -> dict[str, StoredMark]:
        return {
            k: StoredMark(self.s.marks[k], self.events.get(k, ()))
            for k in keys
            if k in self.s.marks
        }

    async def write(self, marks: dict[str, StoredMark]) -> None:
        for k, m in marks.items():
            self.s.marks[k], self.events[k] = m.mark, m.events

    async def audit(self, entries: dict[str, AuditEntry]) -> None:
        for i, e in entries.items():
            if i not in self.audits:
                self.audits[i] = e
                self.s.audit.append(e)

    async def save_rosters(self, entries: list[RosterEntry]) -> None:
        for e in entries:
            self.s.roster[
                (e.class_info.class_id, e.class_info.school_year, e.student.student_id)
            ] = e

    async def save_class_grades(self, grades: dict[str, int]) -> None:
        self.s.grades.update(grades)

    async def save_class_profiles(self, updates: list[ClassProfileUpdate]) -> None:
        for update in updates:
            self.s.save_profile(update)

    async def class_profiles(self, class_ids: set[str]) -> dict[str, ClassProfile]:
        self.profile_reads.append(set(class_ids))
        return {c: u.profile for c, u in self.s.profiles.items() if c in class_ids}


class FakeReader:
    """The reads of the HTTP API and the reports, over the in-memory store the use cases wrote."""

    def __init__(self, store: FakeStore) -> None:
        self.s = store

    async def records(self, class_id: str, school_year: str) -> list[LockedRecord]:
        return sorted(
            (
                r
                for r in self.s.locked.values()
                if (r.class_id, r.school_year) == (class_id, school_year)
            ),
            key=lambda r: r.record_id,
        )

    async def closure(self, class_id: str, school_year: str) -> Closure | None:
        return self.s.closures.get((class_id, school_year))

    async def marks(self, class_id: str, school_year: str) -> list[Mark]:
        return [
            m
            for m in self.s.marks.values()
            if (m.class_id, m.school_year) == (class_id, school_year)
        ]

    async def roster(self, class_id: str, school_year: str) -> list[RosterEntry]:
        return [
            e for (c, y, _), e in sorted(self.s.roster.items()) if (c, y) == (class_id, school_year)
        ]

    async def audit_trail(self, class_id: str, school_year: str) -> list[AuditEntry]:
        return sorted(
            (a for a in self.s.audit if (a.class_id, a.school_year) == (class_id, school_year)),
            key=lambda a: a.at,
        )

    async def class_profiles(self, class_ids: set[str]) -> dict[str, ClassProfile]:
        return {c: u.profile for c, u in self.s.profiles.items() if c in class_ids}


class FakeStore:
    """In-memory unit of work with the same all-or-nothing behaviour as the Mongo one."""

    def __init__(self) -> None:
        self.grades: dict[str, int] = {}
        self.profiles: dict[str, ClassProfileUpdate] = {}
        self.roster: dict[tuple[str, str, str], RosterEntry] = {}
        self.marks: dict[str, Mark] = {}
        self.closures: dict[tuple[str, str], Closure] = {}
        self.unlocks: dict[tuple[str, str], Unlock] = {}
        self.locked: dict[str, LockedRecord] = {}
        self.audit: list[AuditEntry] = []
        self.processed: set[str] = set()
        self.emitted: list[tuple[str, Envelope[Any]]] = []
        self.pending: list[tuple[str, Envelope[Any]]] = []

    def save_profile(self, update: ClassProfileUpdate) -> None:
        """A class's profile, unless the one kept is newer."""
        kept = self.profiles.get(update.profile.class_id)
        if kept is None or kept.as_of < update.as_of:
            self.profiles[update.profile.class_id] = update

    @asynccontextmanager
    async def many(self, processing: list[str]) -> AsyncIterator[FakeTx]:
        import copy

        snapshot = {k: copy.copy(v) for k, v in vars(self).items()}
        self.pending = []
        try:
            yield FakeTx(self, False, {p for p in processing if p in self.processed})
        except BaseException:
            vars(self).update(snapshot)
            raise
        self.processed.update(processing)
        self.emitted.extend(self.pending)
        self.pending = []

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[FakeTx]:
        import copy

        snapshot = copy.copy(vars(self))
        snapshot = {k: copy.copy(v) for k, v in snapshot.items()}
        duplicate = processing is not None and processing in self.processed
        self.pending = []
        try:
            yield FakeTx(self, duplicate)
        except BaseException:
            vars(self).update(snapshot)
            raise
        if processing is not None:
            self.processed.add(processing)
        self.emitted.extend(self.pending)
        self.pending = []


__all__ = [
    "FakeMarkStore",
    "FakeReader",
    "FakeStore",
    "school",
    "klass",
    "student",
    "mark",
    "full_year",
    "replace",
]
