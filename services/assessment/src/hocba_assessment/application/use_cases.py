"""Assessment use cases: take marks in, keep the roster, close a class's year.

Business rules:
- a mark is keyed by class, year, student, subject and period; re-sending it changes nothing,
  sending a new value replaces the old one until the class is closed;
- marks from every entrypoint (HTTP, spreadsheets, Kafka) are stored by one use case,
  `submit_marks`, in one way: a batch's state read in bulk (class grades, closures, stored marks),
  every item checked on its own, then the batch's audit entries and its marks written in bulk, each
  write idempotent by key (see `submit_marks` for why there is no multi-document transaction);
- each item of a batch is checked on its own: a bad item is reported, the good ones are stored;
- a new value for a class whose year is closed is refused (a closed year changes only through an
  unlock, never by a late batch); HTTP and spreadsheets refuse such a batch as a whole (Conflict
  "class_closed"), a feed refuses each such event on its own;
- closing a class locks it and emits one year record per enrolled student who has end-of-year
  marks; a record is emitted once (locked records are never emitted again);
- a secondary class is not closed while any enrolled student lacks an assessment the year's
  results need, whichever entrypoint asks: the refusal names each student and what is missing, is
  kept in the class's audit trail, and nothing is locked. A close that says `even_if_incomplete`
  closes all the same; those students then get no record until an unlock and a new close. Who may
  ask for a close is the entrypoint's authorization (the policy table, the school system's
  admission); the use case records who asked;
- the roster and each class's profile (its school and teachers, which the access checks use) come
  from records' events; the roster may arrive after the close: a student enrolled in a class that
  is already closed gets the record then;
- a changed mark (a correction) is kept in the audit trail with who, when, old and new value and
  the reason; HTTP and spreadsheet input is refused for students not enrolled in the class
  (Kafka input is not: the roster may still be on its way, though the class must be known);
- a closed class reopens only through an unlock approved by a school administrator, logged; closing
  it again emits a new version of each record whose results changed, and only those;
- every version after a record's first says why it exists (`correction`): the unlock's reason, who
  approved it and when, kept with the class year by the unlock and read by the close that follows
  it (whichever entrypoint asks for it), or the summer re-assessment's; version 1 has none.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hocba_contracts import Envelope, follow_up, make_envelope
from hocba_contracts.payloads import assessment as ev
from hocba_contracts.topics import ASSESSMENT_EVENTS
from hocba_runtime.uow import retry_transient
from pydantic import TypeAdapter, ValidationError

from hocba_assessment.application import intake, year_record
from hocba_assessment.application.ports import AssessmentTx, AssessmentUnitOfWork, MarkStore
from hocba_assessment.domain import primary as rules
from hocba_assessment.domain import secondary as secondary_rules
from hocba_assessment.domain.marks import SUMMER, Conduct, Mark, SubjectAssessment
from hocba_assessment.domain.model import (
    AuditEntry,
    ClassClosed,
    ClassNotClosed,
    ClassProfileUpdate,
    Closure,
    IncompleteAssessments,
    InvalidAssessment,
    LockedRecord,
    RosterEntry,
    StoredMark,
    Unlock,
    record_id,
)
from hocba_assessment.domain.secondary import Incomplete

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


@dataclass(frozen=True)
class CloseRequest:
    class_id: str
    school_year: str
    requested_by: str
    cause: Envelope[Any] | None = None
    even_if_incomplete: bool = False
    """Secondary: close although students lack assessments (they get no record until an unlock)."""


@dataclass
class Closing:
    """What became of a group of close requests."""

    records: int = 0
    """Year records emitted."""
    refused: dict[int, IncompleteAssessments] = field(default_factory=dict)
    """By the request's position: the requests refused, each naming every missing assessment."""


@dataclass
class IngestOutcome:
    """What became of one event of a school system's feed."""

    status: str  # accepted | unchanged | rejected
    problems: list[rules.Problem] = field(default_factory=list)
    closed: bool = False  # rejected because the class's year is closed


_RESULTS = TypeAdapter(tuple[tuple[ev.SubjectResult, ...], ev.YearResult])
"""A record's results as JSON, fingerprinted to tell whether a re-close changed them."""

EVENTS_KEPT = 20
"""How many applied event ids a mark remembers (a mark is corrected a handful of times at most)."""


class AssessmentService:
    def __init__(self, uow: AssessmentUnitOfWork, store: MarkStore) -> None:
        self.uow = uow
        self.store = store
        self._schools: dict[str, str] = {}
        """A class's school, once known: it never changes (see `class_schools`). Nothing else is
        kept between calls: a class's grade, its closure and its marks are read for each batch, so
        a change another replica made is always seen."""

    async def submit_marks(
        self,
        batch: list[tuple[str | None, intake.Item]],
        *,
        check_enrollment: bool = False,
        reason: str = "",
        refuse_closed_batch: bool = False,
    ) -> list[IngestOutcome]:
        """Store a batch of marks, from any entrypoint: the one way marks are written.

        `batch` is (event id, item) in the order sent: a school system's event id, so that a
        redelivered event changes nothing (even after a later correction of the same mark), or None
        for an HTTP or spreadsheet item, which has none. Each item is checked on its own, against its
        class's grade (and, with `check_enrollment`, the class's roster); the outcome of each is
        returned in the same order. A value equal to the stored one (and by the same assessor)
        changes nothing, even after the close. A new value for a class whose year is closed is
        refused: item by item, or, with `refuse_closed_batch`, the whole batch (ClassClosed, nothing
        stored). A changed value is a correction, kept in the class's audit trail with `reason`.

        A few round trips whatever the batch's size: the classes' closures and grades, the stored
        marks of the batch's students, then one bulk write of audit entries and one of marks (and a
        roster read a class with `check_enrollment`). There is no multi-document transaction, by
        design: every write is idempotent by key (a mark by its key, an audit entry by an id derived
        from the event or the request), and the audit entries are written first, so a batch cut
        short is applied again by its replay (Kafka) or re-sent (HTTP) with nothing lost. A
        transaction would add nothing a feed of 5,000 events a second could afford."""
        store = self.store
        classes = {(item.class_id, item.school_year) for _, item in batch}
        closed = await store.closed_classes(classes)
        if refuse_closed_batch and closed:
            raise ClassClosed(_closed_text(sorted(f"{c} ({y})" for c, y in closed)))
        grades = await store.class_grades({c for c, _ in classes})
        rosters = await self._roster_ids(classes) if check_enrollment else {}
        request = uuid.uuid4().hex  # names the audit entries of items that come without an event id
        outcomes: list[IngestOutcome | None] = [None] * len(batch)
        valid: list[tuple[int, str | None, list[tuple[str, Mark]]]] = []
        for index, (event_id, item) in enumerate(batch):
            problems = intake.check(grades.get(item.class_id), item)
            if check_enrollment and item.student_id not in rosters.get(
                (item.class_id, item.school_year), set()
            ):
                problems.append(
                    rules.Problem(
                        "student_id",
                        f"student {item.student_id} is not enrolled in class "
                        f"{item.class_id} for {item.school_year}; check the student id",
                    )
                )
            if problems:
                outcomes[index] = IngestOutcome("rejected", problems)
                continue
            valid.append((index, event_id, [(m.key, m) for m in intake.to_marks(item)]))
        state = await store.stored(
            {key for _, _, marks in valid for key, _ in marks}
        )  # a batch: a few dozen students
        dirty: set[str] = set()
        audits: dict[str, AuditEntry] = {}
        for index, event_id, marks in valid:
            changes = [(key, mark, state.get(key)) for key, mark in marks]
            changes = [
                (k, m, c)
                for k, m, c in changes
                if c is None or (event_id not in c.events and c.mark != m)
            ]
            if not changes:
                outcomes[index] = IngestOutcome("unchanged")
                continue
            first = changes[0][1]
            if (first.class_id, first.school_year) in closed:
                outcomes[index] = IngestOutcome(
                    "rejected",
                    [
                        rules.Problem(
                            "class_id", _closed_text([f"{first.class_id} ({first.school_year})"])
                        )
                    ],
                    closed=True,
                )
                continue
            for key, mark, current in changes:
                events_kept = (current.events if current else ()) + (
                    (event_id,) if event_id else ()
                )
                state[key] = StoredMark(mark, events_kept[-EVENTS_KEPT:])
                dirty.add(key)
                if current is not None and current.mark.values() != mark.values():
                    audit_id = (
                        f"correction:{event_id}" + ("" if len(marks) == 1 else f":{key}")
                        if event_id
                        else f"correction:{request}:{index}:{key}"
                    )
                    audits[audit_id] = AuditEntry(
                        mark.class_id,
                        mark.school_year,
                        "correction",
                        mark.submitted_by,
                        datetime.now(UTC),
                        key,
                        current.mark.values(),
                        mark.values(),
                        reason,
                    )
            outcomes[index] = IngestOutcome("accepted")
        await store.audit(
            audits
        )  # first: after a crash in between, the replay audits nothing twice and misses nothing
        await store.write({k: state[k] for k in dirty})
        return [o for o in outcomes if o is not None]

    async def _roster_ids(self, classes: set[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
        """The students enrolled in each class (an HTTP batch names one class, or a few)."""
        async with self.uow() as tx:
            return {(c, y): await tx.roster_ids(c, y) for c, y in sorted(classes)}

    async def ingest(self, events: list[tuple[str, intake.Item]]) -> list[IngestOutcome]:
        """A school system's feed (Kafka), in bulk: `submit_marks` with each event's id, a closed
        class's events refused one by one."""
        return await self.submit_marks(list(events))

    async def record_roster(
        self,
        classes: list[ClassProfileUpdate],
        enrolments: list[tuple[RosterEntry, Envelope[Any] | None]],
    ) -> int:
        """Keep the class profiles, class grades and rosters from records' events, in bulk: one write
        a class for its profile (the newest of the batch; a stored newer one stands), one a class for
        its roster. A student enrolled in a class already closed gets the year record at once.
        Returns the records emitted."""
        now = datetime.now(UTC)
        newest: dict[str, ClassProfileUpdate] = {}
        for update in [
            *classes,
            *(
                ClassProfileUpdate(e.class_info, cause.time if cause else now)
                for e, cause in enrolments
            ),
        ]:
            known = newest.get(update.profile.class_id)
            if known is None or update.as_of >= known.as_of:
                newest[update.profile.class_id] = update
        await self.store.save_class_profiles(list(newest.values()))
        grades = {c: u.profile.grade for c, u in newest.items()}
        await self.store.save_class_grades(grades)
        self._schools.update({c: u.profile.school_id for c, u in newest.items()})
        await self.store.save_rosters([entry for entry, _ in enrolments])
        closed = await self.store.closed_classes(
            {(e.class_info.class_id, e.class_info.school_year) for e, _ in enrolments}
        )
        emitted = 0
        for entry, cause in enrolments:
            if (entry.class_info.class_id, entry.class_info.school_year) in closed:
                emitted += await self.record_enrollment(entry, cause=cause)
        return emitted

    async def class_schools(self, class_ids: set[str]) -> dict[str, str]:
        """The school of each of these classes that assessment knows (from records' events), by class
        id. A class's school never changes (records refuses to move a class to another school), so a
        school once read is kept for the life of the process; a class not known yet is read again on
        every call, so a class that another replica has just stored is found."""
        missing = class_ids - self._schools.keys()
        if missing:
            found = await self.store.class_profiles(missing)
            self._schools.update({c: p.school_id for c, p in found.items()})
        return {c: self._schools[c] for c in class_ids if c in self._schools}

    def _announce(self, data: Any, cause: Envelope[Any] | None) -> Envelope[Any]:
        if cause is None:
            return make_envelope(data, source=SOURCE)
        return follow_up(cause, data, source=SOURCE)

    async def submit(
        self,
        items: list[intake.Item],
        cause: Envelope[Any] | None = None,
        *,
        check_enrollment: bool = False,
        reason: str = "",
    ) -> BatchResult:
        """A gradebook (HTTP, spreadsheets): `submit_marks` for its items. Stores the valid items;
        reports each invalid one by student, subject and field. `cause`, when the batch comes from
        an event, makes a redelivered one change nothing (its items are that event's).

        Raises ClassClosed (nothing stored) when an item targets a class whose year is closed."""
        batch: list[tuple[str | None, intake.Item]] = [
            (f"{cause.id}:{i}" if cause else None, item) for i, item in enumerate(items)
        ]
        outcomes = await self.submit_marks(
            batch, check_enrollment=check_enrollment, reason=reason, refuse_closed_batch=True
        )
        result = BatchResult()
        for index, (item, outcome) in enumerate(zip(items, outcomes, strict=True)):
            if outcome.status == "accepted":
                result.accepted += 1
            elif outcome.status == "unchanged":
                result.unchanged += 1
            else:
                result.rejected.extend(
                    Rejection(index, item.student_id, intake.what(item), p.field, p.problem)
                    for p in outcome.problems
                )
        return result

    @retry_transient()
    async def record_class(
        self, class_id: str, grade: int, cause: Envelope[Any] | None = None
    ) -> None:
        """Remember a class's grade, so that marks are checked against the grade's subjects."""
        async with self.uow(cause.id if cause else None) as tx:
            if not tx.duplicate:
                await tx.save_class_grade(class_id, grade)

    @retry_transient()
    async def record_enrollment(
        self, entry: RosterEntry, cause: Envelope[Any] | None = None
    ) -> int:
        """Keep the class roster; if the class is already closed, emit this student's record."""
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return 0
            await tx.save_class_profile(
                ClassProfileUpdate(entry.class_info, cause.time if cause else datetime.now(UTC))
            )
            await tx.save_roster(entry)
            await tx.save_class_grade(entry.class_info.class_id, entry.class_info.grade)
            closure = await tx.closure(entry.class_info.class_id, entry.class_info.school_year)
            if closure is None:
                return 0
            return int(await self._close_student(tx, entry, closure, cause))

    async def close_class(
        self,
        class_id: str,
        school_year: str,
        requested_by: str,
        cause: Envelope[Any] | None = None,
        *,
        even_if_incomplete: bool = False,
    ) -> int:
        """Lock the class's year and emit the year records of its students (idempotent); returns the
        records emitted. Raises IncompleteAssessments, nothing locked, when a secondary class's
        students lack assessments (unless `even_if_incomplete`)."""
        closing = await self.close_classes(
            [CloseRequest(class_id, school_year, requested_by, cause, even_if_incomplete)]
        )
        if closing.refused:
            raise closing.refused[0]
        return closing.records

    @retry_transient()
    async def close_classes(self, requests: list[CloseRequest]) -> Closing:
        """Close several classes together (a city closes its year in the same week): a few bulk
        reads and writes for all of them. Each request takes effect once (a redelivered one, closed
        or refused, changes nothing); returns the records emitted and the requests refused.

        A secondary class some of whose students lack assessments is not closed (unless the request
        says `even_if_incomplete`): the refusal names every student and what they lack, and goes
        into the class's audit trail with the request's inbox mark.

        Two steps: the closures commit first, then the records are computed. An enrolment arriving
        meanwhile either is read by the second step or, saving its roster entry first, finds the
        class closed and gets its record then; never neither."""
        closing = Closing()
        async with self.uow.many([f"{r.cause.id}:closure" for r in requests if r.cause]) as tx:
            todo = [
                (i, r)
                for i, r in enumerate(requests)
                if not (r.cause and f"{r.cause.id}:closure" in tx.processed)
            ]
            closed = await tx.closures_of({(r.class_id, r.school_year) for _, r in todo})
            missing = await self._missing(
                tx,
                {
                    (r.class_id, r.school_year)
                    for _, r in todo
                    if not r.even_if_incomplete and (r.class_id, r.school_year) not in closed
                },
            )
            fresh: dict[tuple[str, str], CloseRequest] = {}
            refusals: list[AuditEntry] = []
            now = datetime.now(UTC)
            for i, r in todo:
                key = (r.class_id, r.school_year)
                if key in closed or key in fresh:
                    continue
                if not r.even_if_incomplete and missing.get(key):
                    closing.refused[i] = refusal = _incomplete(r, missing[key])
                    refusals.append(
                        AuditEntry(
                            r.class_id,
                            r.school_year,
                            "close_refused",
                            r.requested_by,
                            now,
                            reason=close_refusal_text(refusal),
                        )
                    )
                    continue
                fresh[key] = r
            # A class closed before was reopened by an unlock: the closure keeps it for its records.
            unlocks = await tx.unlocks_of(set(fresh)) if fresh else {}
            closures = [
                Closure(r.class_id, r.school_year, r.requested_by, now, unlocks.get(key))
                for key, r in fresh.items()
            ]
            await tx.save_closures(closures)
            await tx.audit_many(
                [
                    *refusals,
                    *(
                        AuditEntry(c.class_id, c.school_year, "close", c.requested_by, c.closed_at)
                        for c in closures
                    ),
                ]
            )
        closing.records = await self._emit_records(
            [r for i, r in enumerate(requests) if i not in closing.refused]
        )
        return closing

    async def _emit_records(self, requests: list[CloseRequest]) -> int:
        """The second step of `close_classes`: the year records of the closed classes' students."""
        async with self.uow.many([r.cause.id for r in requests if r.cause]) as tx:
            causes: dict[tuple[str, str], Envelope[Any] | None] = {}
            for r in requests:
                if not (r.cause and r.cause.id in tx.processed):
                    causes.setdefault((r.class_id, r.school_year), r.cause)
            closures = await tx.closures_of(
                set(causes)
            )  # a class unlocked in between emits nothing
            if not closures:
                return 0
            by_student: dict[tuple[str, str, str], list[Mark]] = {}
            for m in await tx.marks_of(set(closures)):
                by_student.setdefault((m.class_id, m.school_year, m.student_id), []).append(m)
            locked = await tx.locked_of(set(closures))
            corrections = {key: _after_unlock(c) for key, c in closures.items()}
            new: list[LockedRecord] = []
            changed: list[LockedRecord] = []
            announcements: list[Envelope[Any]] = []
            for entry in await tx.rosters_of(set(closures)):
                c = entry.class_info
                rid = record_id(entry.student.student_id, c.school_year)
                made = self._year_record(
                    entry,
                    closures[(c.class_id, c.school_year)],
                    by_student.get((c.class_id, c.school_year, entry.student.student_id), []),
                    locked.get(rid),
                    corrections[(c.class_id, c.school_year)],
                )
                if made is None:
                    continue
                record, lock = made
                (changed if rid in locked else new).append(lock)
                announcements.append(self._announce(record, causes[(c.class_id, c.school_year)]))
            await tx.lock_many(new, changed)
            await tx.emit_many(ASSESSMENT_EVENTS.name, announcements)
            return len(announcements)

    async def _missing(
        self, tx: AssessmentTx, classes: set[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, list[rules.Problem]]]:
        """The students of these classes whose year cannot be computed yet, with what each lacks:
        secondary classes only (a primary year is stated from whatever end-of-year assessments there
        are). The class's grade decides which classes are read at all, so a city's primary closes
        read nothing more."""
        grades = await self.store.class_grades({c for c, _ in classes})
        secondary = {(c, y) for c, y in classes if grades.get(c, 0) > 5}
        if not secondary:
            return {}
        marks: dict[tuple[str, str, str], list[Mark]] = {}
        for m in await tx.marks_of(secondary):
            marks.setdefault((m.class_id, m.school_year, m.student_id), []).append(m)
        out: dict[tuple[str, str], dict[str, list[rules.Problem]]] = {}
        for entry in await tx.rosters_of(secondary):
            c, sid = entry.class_info, entry.student.student_id
            if c.grade <= 5:
                continue
            found = marks.get((c.class_id, c.school_year, sid), [])
            problems = (
                year_record.problems(c.grade, found)
                if found
                else [rules.Problem("student_id", "no assessments at all")]
            )
            if problems:
                out.setdefault((c.class_id, c.school_year), {})[sid] = problems
        return out

    async def _close_student(
        self,
        tx: AssessmentTx,
        entry: RosterEntry,
        closure: Closure,
        cause: Envelope[Any] | None,
        correction: ev.RecordCorrection | None = None,
    ) -> bool:
        """Emit the student's record if it is new or its results changed; a new version carries
        `correction`, by default the unlock the closure follows."""
        rid = record_id(entry.student.student_id, closure.school_year)
        student_marks = await tx.marks(
            closure.class_id, closure.school_year, entry.student.student_id
        )
        locked = (await tx.locked_of({(closure.class_id, closure.school_year)})).get(rid)
        made = self._year_record(
            entry, closure, student_marks, locked, correction or _after_unlock(closure)
        )
        if made is None:
            return False
        record, lock = made
        await (tx.lock_many([], [lock]) if locked else tx.lock_many([lock], []))
        await tx.emit(ASSESSMENT_EVENTS.name, self._announce(record, cause))
        return True

    @staticmethod
    def _year_record(
        entry: RosterEntry,
        closure: Closure,
        student_marks: list[Mark],
        locked: LockedRecord | None,
        correction: ev.RecordCorrection | None,
    ) -> tuple[ev.YearRecordClosed, LockedRecord] | None:
        """The student's year record and its lock, or None when there is nothing (new) to emit: no
        end-of-year assessment yet, a secondary year still missing assessments (the class lists
        name them), or results equal to the ones already emitted. A version after the first
        carries `correction` (why it supersedes the one before); the first carries none."""
        try:
            made = year_record.compute(entry.class_info.grade, student_marks)
        except Incomplete:
            return None
        if made is None:
            return None
        subjects, result = made.subjects, made.result
        fingerprint = hashlib.sha256(_RESULTS.dump_json((subjects, result))).hexdigest()
        if locked is not None and locked.fingerprint in (fingerprint, ""):
            return None  # already emitted with these results
        rid = record_id(entry.student.student_id, closure.school_year)
        version = locked.record_version + 1 if locked else 1
        record = ev.YearRecordClosed(
            record_id=rid,
            record_version=version,
            school_year=closure.school_year,
            student=entry.student,
            school=entry.school,
            class_info=entry.class_info,
            subjects=subjects,
            result=result,
            closed_at=closure.closed_at,
            correction=correction if version > 1 else None,
        )
        lock = LockedRecord(
            rid,
            version,
            entry.student.student_id,
            closure.class_id,
            closure.school_year,
            result.level,
            result.level_label,
            fingerprint,
            result.commendation,
            result.promotion,
            result.promotion_label,
            tuple(made.retake_subjects),
            result.completed_programme,
        )
        return record, lock

    async def incomplete(self, class_id: str, school_year: str) -> dict[str, list[rules.Problem]]:
        """Students of a secondary class whose year cannot be computed yet, with what is missing (what
        a close of the class would be refused for)."""
        async with self.uow() as tx:
            return (await self._missing(tx, {(class_id, school_year)})).get(
                (class_id, school_year), {}
            )

    @retry_transient()
    async def reassess(
        self,
        class_id: str,
        school_year: str,
        student_id: str,
        assessed_by: str,
        retakes: dict[str, float | str],
        conduct: str | None,
        reason: str = "",
    ) -> int:
        """Summer re-assessment of a secondary student (TT22/2021 Art. 13-14), after the close: the
        retake results of the subjects the student was sent to retake (a score, or D / CD for a
        comment subject), or the conduct re-assessed after summer training. Emits the record's next
        version with the new promotion, and with the re-assessment as its correction: `reason`
        (trimmed, at most 500 characters), or when none is given what was re-assessed (e.g. "Đánh
        giá lại sau kiểm tra lại trong hè"); returns the records emitted (0 when nothing changed)."""
        async with self.uow() as tx:
            closure = await tx.closure(class_id, school_year)
            if closure is None:
                raise ClassNotClosed(
                    f"class {class_id} has not closed its {school_year} year; summer re-assessment "
                    "comes after the close"
                )
            entry = next(
                (
                    e
                    for e in await tx.rosters_of({(class_id, school_year)})
                    if e.student.student_id == student_id
                ),
                None,
            )
            if entry is None:
                raise InvalidAssessment(
                    f"student {student_id} is not enrolled in class {class_id} for {school_year}",
                    code="not_enrolled",
                )
            grade = entry.class_info.grade
            marks = await tx.marks(class_id, school_year, student_id)
            try:
                base = (
                    year_record.compute(grade, [m for m in marks if m.period != SUMMER])
                    if grade > 5
                    else None
                )
            except Incomplete:
                base = None
            if base is None or base.promotion not in ("kiem_tra_lai", "ren_luyen_he"):
                raise InvalidAssessment(
                    f"student {student_id} was not sent to a summer retake or summer conduct "
                    "training; nothing to re-assess",
                    code="no_summer_reassessment",
                )
            new = _summer_marks(
                class_id, school_year, student_id, assessed_by, base, retakes, conduct
            )
            now = datetime.now(UTC)
            correction = _correction(
                "summer_reassessment",
                reason.strip()
                or f"Đánh giá lại sau {secondary_rules.PROMOTION_LABELS[base.promotion].lower()}",
                assessed_by,
                now,
            )
            for mark in new:
                key = mark.key
                old = await tx.get_mark(key)
                if old is not None and old.values() == mark.values():
                    continue
                await tx.save_mark(key, mark)
                await tx.audit(
                    AuditEntry(
                        class_id,
                        school_year,
                        "summer_reassessment",
                        assessed_by,
                        now,
                        key,
                        old.values() if old else None,
                        mark.values(),
                        correction.reason,
                    )
                )
            return int(await self._close_student(tx, entry, closure, None, correction))

    @retry_transient()
    async def unlock(self, class_id: str, school_year: str, approved_by: str, reason: str) -> None:
        """Reopen a closed class for corrections: approved by a school administrator, with a reason
        (trimmed, at most 500 characters), logged. The unlock is kept with the class year, in the
        same transaction, so the close that follows (on whichever replica, over HTTP or Kafka) puts
        it on each new version it emits: the records whose results changed, and only those."""
        if not reason.strip():
            raise InvalidAssessment(
                "give the reason for reopening the class (it is kept in the audit trail)",
                code="reason_required",
            )
        unlock = _correction("unlock", reason, approved_by, datetime.now(UTC))
        async with self.uow() as tx:
            if await tx.closure(class_id, school_year) is None:
                raise ClassNotClosed(
                    f"class {class_id} has not closed its {school_year} year; nothing to unlock"
                )
            await tx.delete_closure(class_id, school_year)
            await tx.save_unlock(
                class_id, school_year, Unlock(unlock.approved_by, unlock.reason, unlock.at)
            )
            await tx.audit(
                AuditEntry(
                    class_id, school_year, "unlock", approved_by, unlock.at, reason=unlock.reason
                )
            )


def _correction(kind: ev.CorrectionKind, reason: str, by: str, at: datetime) -> ev.RecordCorrection:
    """The correction a record's next version will carry, checked by the contract's rules now,
    while the person who asks can still change it (not at the close, which must not fail on it)."""
    reason = reason.strip()
    if len(reason) > ev.CORRECTION_REASON_MAX_LENGTH:
        raise InvalidAssessment(
            f"the reason has {len(reason)} characters; give at most "
            f"{ev.CORRECTION_REASON_MAX_LENGTH} (the record's new version states it)",
            code="reason_too_long",
        )
    try:
        return ev.RecordCorrection(kind=kind, reason=reason, approved_by=by, at=at)
    except ValidationError:
        raise InvalidAssessment(
            f"{by!r} is not a staff id (letters, digits and . _ : -, at most 64); the record's new "
            "version names who approved the correction",
            code="invalid_staff_id",
        ) from None


def _after_unlock(closure: Closure) -> ev.RecordCorrection | None:
    """What a version emitted by this close corrects: the unlock the close follows, if any."""
    unlock = closure.after_unlock
    if unlock is None:
        return None
    return ev.RecordCorrection(
        kind="unlock", reason=unlock.reason, approved_by=unlock.approved_by, at=unlock.at
    )


def _incomplete(
    request: CloseRequest, missing: dict[str, list[rules.Problem]]
) -> IncompleteAssessments:
    """Why a close is refused, naming each student (by id) and each assessment they lack."""
    return IncompleteAssessments(
        f"class {request.class_id} ({request.school_year}) is not closed: {len(missing)} students lack assessments "
        "their year results need. Send what each detail names, or close with even_if_incomplete=true (those "
        "students then get no record until an unlock)",
        details=[
            {"student_id": sid, "field": p.field, "problem": p.problem}
            for sid, problems in sorted(missing.items())
            for p in problems
        ],
    )


def close_refusal_text(refusal: IncompleteAssessments) -> str:
    """A refusal with every missing assessment, as the audit trail and a dead letter state it."""
    return (
        refusal.message
        + ". Missing: "
        + "; ".join(f"{d['student_id']} {d['field']}: {d['problem']}" for d in refusal.details)
    )


def _closed_text(classes: list[str]) -> str:
    return (
        f"class {', '.join(classes)} has closed its school year; no marks are taken after the close "
        "(corrections go through an unlock by the school administrator)"
    )


def _summer_marks(
    class_id: str,
    school_year: str,
    student_id: str,
    by: str,
    base: year_record.Results,
    retakes: dict[str, float | str],
    conduct: str | None,
) -> list[Mark]:
    """Check a summer re-assessment against what the student was sent to do; the marks it sets."""

    def mark(subject: str, rating: str | None, score: float | None) -> Mark:
        return SubjectAssessment(
            class_id, school_year, student_id, subject, SUMMER, rating, score, "", by
        )

    if base.promotion == "ren_luyen_he":
        if retakes or conduct not in secondary_rules.LEVELS:
            raise InvalidAssessment(
                "the student trained conduct in the summer: give conduct (tot, kha, dat or "
                "chua_dat) and no retakes",
                code="invalid_reassessment",
            )
        return [Conduct(class_id, school_year, student_id, SUMMER, conduct, "", by)]
    wanted = set(base.retake_subjects)
    if conduct is not None or set(retakes) != wanted:
        raise InvalidAssessment(
            f"the student retakes {', '.join(sorted(wanted))} in the summer: give a result for "
            "each of them, and no conduct",
            code="invalid_reassessment",
        )
    marks = []
    for code, value in sorted(retakes.items()):
        if secondary_rules.is_comment_subject(code):
            if value not in ("D", "CD"):
                raise InvalidAssessment(
                    f"{code} is assessed by comment: give D (Đạt) or CD (Chưa đạt)",
                    code="invalid_reassessment",
                )
            marks.append(mark(code, str(value), None))
        else:
            wrong = (
                secondary_rules.check_score(value)
                if isinstance(value, int | float)
                else "give a score"
            )
            if wrong:
                raise InvalidAssessment(f"{code}: {wrong}", code="invalid_reassessment")
            marks.append(mark(code, None, float(value)))
    return marks


@retry_transient()
async def record_signing_rejection(
    service: AssessmentService,
    class_id: str,
    school_year: str,
    record_id: str,
    role: str,
    signer_id: str,
    reason: str,
    cause: Envelope[Any] | None = None,
) -> None:
    """A signer refused a record: it comes back to the school, in the class's audit trail, for a
    correction through the logged unlock (which then produces a new version to sign)."""
    async with service.uow(cause.id if cause else None) as tx:
        if tx.duplicate:
            return
        await tx.audit(
            AuditEntry(
                class_id,
                school_year,
                "signing_rejected",
                signer_id,
                datetime.now(UTC),
                key=record_id,
                reason=f"{role}: {reason}",
            )
        )
