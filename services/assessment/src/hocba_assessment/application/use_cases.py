"""Assessment use cases: take marks in, keep the roster, close a class's year.

Business rules:
- a mark is keyed by class, year, student, subject and period; re-sending it changes nothing,
  sending a new value replaces the old one until the class is closed;
- each item of a batch is checked on its own: a bad item is reported, the good ones are stored;
- marks for a class whose year is closed are refused as a whole (Conflict "class_closed"):
  a closed year changes only through an unlock, never by a late batch;
- closing a class locks it and emits one year record per enrolled student who has end-of-year
  marks; a record is emitted once (locked records are never emitted again);
- the roster comes from records' events and may arrive after the close: a student enrolled in a
  class that is already closed gets the record then;
- a changed mark (a correction) is kept in the audit trail with who, when, old and new value and
  the reason; HTTP and spreadsheet input is refused for students not enrolled in the class
  (Kafka input is not: the roster may still be on its way);
- a closed class reopens only through an unlock approved by a school administrator, logged; closing
  it again emits a new version of each record whose results changed, and only those.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hocba_contracts import Envelope, follow_up, make_envelope
from hocba_contracts.payloads import assessment as ev
from hocba_contracts.topics import ASSESSMENT_EVENTS

from hocba_assessment.application.ports import (
    AssessmentTx,
    AuditEntry,
    AssessmentUnitOfWork,
    Closure,
    LockedRecord,
    Mark,
    RosterEntry,
)
from hocba_assessment.domain import primary as rules
from hocba_assessment.domain.model import ClassClosed, ClassNotClosed, InvalidAssessment, mark_key, record_id

SOURCE = "hocba/assessment"


@dataclass
class Rejection:
    index: int
    student_id: str
    subject_code: str
    field: str
    problem: str


@dataclass
class BatchResult:
    accepted: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)


class AssessmentService:
    def __init__(self, uow: AssessmentUnitOfWork) -> None:
        self.uow = uow

    def _announce(self, data: Any, cause: Envelope[Any] | None) -> Envelope[Any]:
        if cause is None:
            return make_envelope(data, source=SOURCE)
        return follow_up(cause, data, source=SOURCE)

    async def submit(self, items: list[ev.SubjectAssessmentSubmitted], cause: Envelope[Any] | None = None, *,
                     check_enrollment: bool = False, reason: str = "") -> BatchResult:
        """Store the valid items of a batch; report each invalid one by student, subject and field.

        Raises ClassClosed (nothing stored) when an item targets a class whose year is closed."""
        result = BatchResult()
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                result.unchanged = len(items)
                return result
            await self._refuse_closed(tx, {(item.class_id, item.school_year) for item in items})
            rosters: dict[tuple[str, str], set[str]] = {}
            for index, item in enumerate(items):
                problems = await self._check(tx, item)
                if check_enrollment:
                    roster = rosters.get((item.class_id, item.school_year))
                    if roster is None:
                        roster = rosters[(item.class_id, item.school_year)] = await tx.roster_ids(item.class_id, item.school_year)
                    if item.student_id not in roster:
                        problems.append(rules.Problem("student_id", f"student {item.student_id} is not enrolled in class "
                                                      f"{item.class_id} for {item.school_year}; check the student id"))
                if problems:
                    result.rejected.extend(
                        Rejection(index, item.student_id, item.subject_code, p.field, p.problem) for p in problems
                    )
                    continue
                key = mark_key(item.class_id, item.school_year, item.student_id, item.subject_code, item.period)
                mark = Mark(item.class_id, item.school_year, item.student_id, item.subject_code, item.period,
                            item.rating, item.score, item.comment, item.submitted_by)
                old = await tx.get_mark(key)
                if old == mark:
                    result.unchanged += 1
                    continue
                await tx.save_mark(key, mark)
                if old is not None and (old.rating, old.score, old.comment) != (mark.rating, mark.score, mark.comment):
                    await tx.audit(AuditEntry(item.class_id, item.school_year, "correction", item.submitted_by,
                                              datetime.now(UTC), key, _values(old), _values(mark), reason))
                result.accepted += 1
        return result

    async def _refuse_closed(self, tx: AssessmentTx, classes: set[tuple[str, str]]) -> None:
        closed = sorted([f"{c} ({y})" for c, y in classes if await tx.closure(c, y) is not None])
        if closed:
            raise ClassClosed(f"class {', '.join(closed)} has closed its school year; no marks are taken after "
                              "the close (corrections go through an unlock by the school administrator)")

    async def _check(self, tx: AssessmentTx, item: ev.SubjectAssessmentSubmitted) -> list[rules.Problem]:
        grade = await tx.class_grade(item.class_id)
        return rules.check_mark(grade, item.subject_code, item.period, item.rating, item.score)

    async def record_class(self, class_id: str, grade: int, cause: Envelope[Any] | None = None) -> None:
        """Remember a class's grade, so that marks are checked against the grade's subjects."""
        async with self.uow(cause.id if cause else None) as tx:
            if not tx.duplicate:
                await tx.save_class_grade(class_id, grade)

    async def record_enrollment(self, entry: RosterEntry, cause: Envelope[Any] | None = None) -> int:
        """Keep the class roster; if the class is already closed, emit this student's record."""
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return 0
            await tx.save_roster(entry)
            await tx.save_class_grade(entry.class_info.class_id, entry.class_info.grade)
            closure = await tx.closure(entry.class_info.class_id, entry.class_info.school_year)
            if closure is None:
                return 0
            return int(await self._close_student(tx, entry, closure, cause))

    async def close_class(self, class_id: str, school_year: str, requested_by: str,
                          cause: Envelope[Any] | None = None) -> int:
        """Lock the class's year and emit the year records of its students (idempotent)."""
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return 0
            closure = await tx.closure(class_id, school_year)
            if closure is None:
                closure = Closure(class_id, school_year, requested_by, datetime.now(UTC))
                await tx.save_closure(closure)
                await tx.audit(AuditEntry(class_id, school_year, "close", requested_by, closure.closed_at))
            emitted = 0
            by_student: dict[str, list[Mark]] = {}
            for m in await tx.class_marks(class_id, school_year):  # one read for the whole class
                by_student.setdefault(m.student_id, []).append(m)
            for entry in await tx.roster(class_id, school_year):
                emitted += int(await self._close_student(tx, entry, closure, cause,
                                                         by_student.get(entry.student.student_id, [])))
            return emitted

    async def _close_student(self, tx: AssessmentTx, entry: RosterEntry, closure: Closure,
                             cause: Envelope[Any] | None, student_marks: list[Mark] | None = None) -> bool:
        rid = record_id(entry.student.student_id, closure.school_year)
        if student_marks is None:
            student_marks = await tx.marks(closure.class_id, closure.school_year, entry.student.student_id)
        marks = [m for m in student_marks if m.period == "end_of_year"]
        if not marks:
            return False
        grade = entry.class_info.grade
        order = {code: i for i, code in enumerate(rules.subjects_for(grade))}
        marks.sort(key=lambda m: order.get(m.subject_code, 99))
        level = rules.year_level(rules.SubjectMark(m.subject_code, m.rating, m.score) for m in marks)
        subjects = tuple(
            ev.SubjectResult(subject_code=m.subject_code, subject_name=rules.SUBJECT_NAMES.get(m.subject_code, m.subject_code),
                             rating=m.rating, rating_label=rules.RATING_LABELS.get(m.rating or ""),
                             score=m.score, comment=m.comment)
            for m in marks
        )
        result = ev.YearResult(level=level, level_label=rules.LEVEL_LABELS[level],
                               completed_programme=rules.completes_grade(level), rules=rules.RULES)
        fingerprint = hashlib.sha256(json.dumps(
            [[s.model_dump(mode="json") for s in subjects], result.model_dump(mode="json")], sort_keys=True,
        ).encode()).hexdigest()
        locked = await tx.locked(rid)
        if locked is not None and locked.fingerprint in (fingerprint, ""):
            return False  # already emitted with these results
        version = locked.record_version + 1 if locked else 1
        record = ev.YearRecordClosed(
            record_id=rid, record_version=version, school_year=closure.school_year,
            student=entry.student, school=entry.school, class_info=entry.class_info,
            subjects=subjects, result=result, closed_at=closure.closed_at,
        )
        lock = LockedRecord(rid, version, entry.student.student_id, closure.class_id, closure.school_year,
                            level, rules.LEVEL_LABELS[level], fingerprint)
        await (tx.relock(lock) if locked else tx.lock(lock))
        await tx.emit(ASSESSMENT_EVENTS.name, self._announce(record, cause))
        return True

    async def unlock(self, class_id: str, school_year: str, approved_by: str, reason: str) -> None:
        """Reopen a closed class for corrections: approved by a school administrator, with a reason,
        logged. Closing it again emits a new version of each record whose results changed."""
        if not reason.strip():
            raise InvalidAssessment("give the reason for reopening the class (it is kept in the audit trail)",
                                    code="reason_required")
        async with self.uow() as tx:
            if await tx.closure(class_id, school_year) is None:
                raise ClassNotClosed(f"class {class_id} has not closed its {school_year} year; nothing to unlock")
            await tx.delete_closure(class_id, school_year)
            await tx.audit(AuditEntry(class_id, school_year, "unlock", approved_by, datetime.now(UTC), reason=reason))


def _values(mark: Mark) -> dict[str, Any]:
    return {"rating": mark.rating, "score": mark.score, "comment": mark.comment}


async def record_signing_rejection(service: AssessmentService, class_id: str, school_year: str, record_id: str,
                                   role: str, signer_id: str, reason: str, cause: Envelope[Any] | None = None) -> None:
    """A signer refused a record: it comes back to the school, in the class's audit trail, for a
    correction through the logged unlock (which then produces a new version to sign)."""
    async with service.uow(cause.id if cause else None) as tx:
        if tx.duplicate:
            return
        await tx.audit(AuditEntry(class_id, school_year, "signing_rejected", signer_id, datetime.now(UTC),
                                  key=record_id, reason=f"{role}: {reason}"))
