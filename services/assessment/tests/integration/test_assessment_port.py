"""The contract of assessment's storage ports (`AssessmentUnitOfWork` and its transactions,
`MarkStore`, `AssessmentReader`), one suite that both the in-memory fake of the unit tests and the
MongoDB adapter (on the local SecantusDB) must pass, so that the fake cannot drift from the adapter
the service runs on.

Times are whole milliseconds: MongoDB keeps a date to the millisecond."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import FakeMarkStore, FakeReader, FakeStore, klass, school, student  # noqa: E402
from hocba_assessment.adapters.mongo_assessment import (  # noqa: E402
    MongoAssessmentReader,
    MongoAssessmentUnitOfWork,
    MongoMarkStore,
    ensure_indexes,
)
from hocba_assessment.application.ports import (  # noqa: E402
    AssessmentReader,
    AssessmentUnitOfWork,
    MarkStore,
)
from hocba_assessment.domain.marks import (  # noqa: E402
    Attendance,
    Conduct,
    Mark,
    SubjectAssessment,
    Trait,
    mark_key,
)
from hocba_assessment.domain.model import (  # noqa: E402
    AuditEntry,
    ClassProfileUpdate,
    Closure,
    LockedRecord,
    RosterEntry,
    StoredMark,
    Unlock,
)
from hocba_runtime.inbox import ensure_inbox_indexes  # noqa: E402
from hocba_runtime.mongo import Mongo  # noqa: E402
from hocba_runtime.outbox import Outbox  # noqa: E402
from hocba_runtime.uow import MongoUnitOfWork  # noqa: E402

pytestmark = pytest.mark.integration

NOW = datetime(2025, 5, 20, 8, 30, 0, 123000, tzinfo=UTC)


@dataclass
class Port:
    uow: AssessmentUnitOfWork
    store: MarkStore
    reader: AssessmentReader


@pytest.fixture(params=["fake", "mongo"])
def database(request: pytest.FixtureRequest) -> str | None:
    """The MongoDB to run against (None: the in-memory fake); the local stack starts only for it."""
    return None if request.param == "fake" else request.getfixturevalue("local_infra").mongo_uri


@pytest.fixture
async def port(database: str | None, unique_db: Any) -> AsyncIterator[Port]:
    if database is None:
        fake = FakeStore()
        yield Port(fake, FakeMarkStore(fake), FakeReader(fake))
        return
    mongo = Mongo(database, unique_db("port"))
    outbox = Outbox(mongo)
    await outbox.ensure_indexes()
    await ensure_inbox_indexes(mongo, timedelta(days=1))
    await ensure_indexes(mongo)
    try:
        yield Port(
            MongoAssessmentUnitOfWork(mongo, MongoUnitOfWork(mongo, outbox, "assessment")),
            MongoMarkStore(mongo),
            MongoAssessmentReader(mongo),
        )
    finally:
        await mongo.client.drop_database(mongo.db.name)
        mongo.close()


def every_kind(cls: Any, student_id: str) -> list[Mark]:
    """One mark of each kind (and a subject code that needs escaping in MongoDB)."""
    c, y = cls.class_id, cls.school_year
    return [
        SubjectAssessment(c, y, student_id, "TOAN", "end_term_1", None, 7.5, "Khá", "GV-TOAN"),
        SubjectAssessment(c, y, student_id, "NGU.VAN", "end_term_1", None, 6.0, "", None),
        SubjectAssessment(c, y, student_id, "GDTC", "end_term_2", "D", None, "", "GV-GDTC"),
        Conduct(c, y, student_id, "term_1", "tot", "Gương mẫu", "GV-01"),
        Trait(c, y, student_id, "cham_chi", "end_of_year", "T", "Chăm ngoan", "GV-01"),
        Trait(c, y, student_id, "tu_chu_tu_hoc", "end_of_year", "D", "", "GV-01"),
        Attendance(c, y, student_id, "year", 4, "GV-01"),
    ]


def by_key(marks: list[Mark]) -> dict[str, Mark]:
    out = {m.key: m for m in marks}
    assert len(out) == len(marks)
    return out


async def test_marks_of_every_kind_are_stored_by_key_and_read_by_student_and_class(
    port: Port,
) -> None:
    cls, pupil, other = klass(grade=7), student(), student()
    mine, theirs = every_kind(cls, pupil.student_id), every_kind(cls, other.student_id)
    await port.store.write({m.key: StoredMark(m, (f"ev-{i}",)) for i, m in enumerate(mine)})
    await port.store.write({m.key: StoredMark(m) for m in theirs})

    stored = await port.store.stored([m.key for m in mine] + ["C|2024-2025|HS|conduct||term_2"])
    assert stored == {m.key: StoredMark(m, (f"ev-{i}",)) for i, m in enumerate(mine)}
    async with port.uow() as tx:
        assert by_key(await tx.marks(cls.class_id, cls.school_year, pupil.student_id)) == by_key(
            mine
        )
        assert by_key(await tx.marks_of({(cls.class_id, cls.school_year)})) == by_key(mine + theirs)
        assert await tx.marks_of({("NO-CLASS", cls.school_year)}) == []
    assert by_key(await port.reader.marks(cls.class_id, cls.school_year)) == by_key(mine + theirs)

    # A new value replaces the stored one of its key alone; the student's other marks stay.
    conduct = mine[3]
    assert isinstance(conduct, Conduct)
    changed = conduct._replace(level="kha")
    await port.store.write({changed.key: StoredMark(changed, ("ev-3", "ev-9"))})
    assert (await port.store.stored([changed.key]))[changed.key] == StoredMark(
        changed, ("ev-3", "ev-9")
    )
    async with port.uow() as tx:
        after = by_key(await tx.marks(cls.class_id, cls.school_year, pupil.student_id))
    assert after == {**by_key(mine), changed.key: changed}


async def test_kinds_with_the_same_code_and_period_are_different_marks(port: Port) -> None:
    cls, pupil = klass(grade=3), student()
    c, y, s = cls.class_id, cls.school_year, pupil.student_id
    subject = SubjectAssessment(c, y, s, "TN", "end_of_year", "T", None, "", None)
    trait = Trait(c, y, s, "TN", "end_of_year", "T", "", None)
    assert subject.key != trait.key == mark_key(c, y, s, "trait", "TN", "end_of_year")
    await port.store.write({m.key: StoredMark(m) for m in (subject, trait)})
    stored = await port.store.stored([subject.key, trait.key])
    assert (type(stored[subject.key].mark), type(stored[trait.key].mark)) == (
        SubjectAssessment,
        Trait,
    )


async def test_a_mark_saved_in_a_transaction_keeps_the_events_applied_to_it(port: Port) -> None:
    cls, pupil = klass(grade=8), student()
    c, y, s = cls.class_id, cls.school_year, pupil.student_id
    retake = SubjectAssessment(c, y, s, "TOAN", "summer", None, 4.0, "", "GV-01")
    conduct = Conduct(c, y, s, "summer", "chua_dat", "", "GV-01")
    await port.store.write({retake.key: StoredMark(retake, ("ev-1",))})
    async with port.uow() as tx:
        assert await tx.get_mark(retake.key) == retake
        assert await tx.get_mark(conduct.key) is None
        await tx.save_mark(retake.key, retake._replace(score=6.0))
        await tx.save_mark(conduct.key, conduct)  # never read: saved all the same
    stored = await port.store.stored([retake.key, conduct.key])
    assert stored == {
        retake.key: StoredMark(retake._replace(score=6.0), ("ev-1",)),
        conduct.key: StoredMark(conduct),
    }


async def test_a_transaction_that_fails_changes_nothing(port: Port) -> None:
    cls, pupil = klass(grade=1), student()
    mark = SubjectAssessment(
        cls.class_id, cls.school_year, pupil.student_id, "TV", "end_of_year", "T", 9, "", None
    )
    with pytest.raises(RuntimeError):
        async with port.uow("ev-failed") as tx:
            await tx.save_class_grade(cls.class_id, 1)
            await tx.save_mark(mark.key, mark)
            raise RuntimeError("cut short")
    async with port.uow("ev-failed") as tx:
        assert not tx.duplicate  # the failed one was not marked processed
        assert await tx.class_grade(cls.class_id) is None
        assert await tx.get_mark(mark.key) is None


async def test_a_redelivered_event_is_recognised_alone_and_in_a_batch(port: Port) -> None:
    cls = klass(grade=2)
    async with port.uow("ev-1") as tx:
        assert not tx.duplicate
        await tx.save_class_grade(cls.class_id, 2)
    async with port.uow("ev-1") as tx:
        assert tx.duplicate
    async with port.uow() as tx:  # no event: never a duplicate
        assert not tx.duplicate and await tx.class_grade(cls.class_id) == 2
    async with port.uow.many(["ev-a", "ev-b"]) as tx:
        assert tx.processed == set()
    async with port.uow.many(["ev-a", "ev-c", "ev-1"]) as tx:
        assert tx.processed == {"ev-a", "ev-1"}
    async with port.uow("ev-c") as tx:
        assert tx.duplicate


async def test_rosters_grades_and_class_profiles(port: Port) -> None:
    cls, later_cls = klass(grade=4), None
    first, second, third = (student(f"HS-{n}-{cls.class_id}") for n in (2, 1, 3))
    await port.store.save_rosters([RosterEntry(p, school(), cls) for p in (first, second)])
    async with port.uow() as tx:
        await tx.save_roster(RosterEntry(third, school(), cls))
        assert await tx.roster_ids(cls.class_id, cls.school_year) == {
            first.student_id,
            second.student_id,
            third.student_id,
        }
        assert await tx.roster_ids(cls.class_id, "2030-2031") == set()
        in_order = [second, first, third]  # by student id
        assert [e.student for e in await tx.rosters_of({(cls.class_id, cls.school_year)})] == (
            in_order
        )
    assert await port.reader.roster(cls.class_id, cls.school_year) == [
        RosterEntry(p, school(), cls) for p in in_order
    ]

    await port.store.save_class_grades({cls.class_id: 4, "OTHER": 9})
    assert await port.store.class_grades({cls.class_id, "NONE"}) == {cls.class_id: 4}
    async with port.uow() as tx:
        await tx.save_class_grade("OTHER", 10)
        assert await tx.class_grade("OTHER") == 10 and await tx.class_grade("NONE") is None

    # Of two profiles of a class, the later stands, whichever is stored last.
    later_cls = cls.model_copy(update={"name": "4B"})
    await port.store.save_class_profiles([ClassProfileUpdate(later_cls, NOW)])
    await port.store.save_class_profiles([ClassProfileUpdate(cls, NOW - timedelta(days=1))])
    assert await port.store.class_profiles({cls.class_id, "NONE"}) == {cls.class_id: later_cls}
    async with port.uow() as tx:
        await tx.save_class_profile(ClassProfileUpdate(cls, NOW - timedelta(hours=1)))
    assert await port.reader.class_profiles({cls.class_id}) == {cls.class_id: later_cls}
    newest = cls.model_copy(update={"name": "4C"})
    async with port.uow() as tx:
        await tx.save_class_profile(ClassProfileUpdate(newest, NOW + timedelta(hours=1)))
    assert await port.store.class_profiles({cls.class_id}) == {cls.class_id: newest}


async def test_closures_are_saved_read_and_deleted(port: Port) -> None:
    a, b = klass(grade=5), klass(grade=6)
    closure = Closure(a.class_id, a.school_year, "GV-01", NOW)
    async with port.uow() as tx:
        await tx.save_closures([closure])
    key_a, key_b = (a.class_id, a.school_year), (b.class_id, b.school_year)
    assert await port.store.closed_classes({key_a, key_b}) == {key_a}
    assert await port.reader.closure(*key_a) == closure
    async with port.uow() as tx:
        assert await tx.closures_of({key_a, key_b}) == {key_a: closure}
        assert await tx.closure(*key_b) is None
        await tx.delete_closure(*key_a)
    assert await port.store.closed_classes({key_a}) == set()
    assert await port.reader.closure(*key_a) is None


async def test_a_class_years_latest_unlock_is_kept_and_the_closure_after_it_names_it(
    port: Port,
) -> None:
    a, b = klass(grade=3), klass(grade=8)
    key_a, key_b = (a.class_id, a.school_year), (b.class_id, b.school_year)
    first = Unlock("079-TH-TEST-QT", "Sai điểm Toán cuối năm", NOW)
    latest = Unlock("079-TH-TEST-QT2", "Nhập nhầm nhận xét", NOW + timedelta(days=1))
    async with port.uow() as tx:
        assert await tx.unlocks_of({key_a, key_b}) == {}
        await tx.save_unlock(*key_a, first)
    async with port.uow() as tx:
        await tx.save_unlock(*key_a, latest)  # replaces the one before
        await tx.save_unlock(*key_b, first)
    async with port.uow() as tx:
        assert await tx.unlocks_of({key_a, key_b, ("NO-CLASS", a.school_year)}) == {
            key_a: latest,
            key_b: first,
        }
        assert await tx.unlocks_of(set()) == {}
    reopened = Closure(a.class_id, a.school_year, "GV-01", NOW + timedelta(days=2), latest)
    async with port.uow() as tx:
        await tx.save_closures([reopened])
    assert await port.reader.closure(*key_a) == reopened
    async with port.uow() as tx:
        assert await tx.closures_of({key_a}) == {key_a: reopened}
        assert await tx.closure(*key_a) == reopened
    failed = Unlock("079-TH-TEST-QT", "never kept", NOW)
    with pytest.raises(RuntimeError):
        async with port.uow() as tx:
            await tx.save_unlock(*key_b, failed)
            raise RuntimeError("the transaction fails")
    async with port.uow() as tx:
        assert (await tx.unlocks_of({key_b}))[key_b] == first  # all or nothing


def locked(cls: Any, student_id: str, version: int = 1, **changes: Any) -> LockedRecord:
    fields: dict[str, Any] = {
        "record_id": f"{student_id}.{cls.school_year}",
        "record_version": version,
        "student_id": student_id,
        "class_id": cls.class_id,
        "school_year": cls.school_year,
        "level": "kha",
        "level_label": "Khá",
        "fingerprint": "ab" * 32,
        "promotion": "kiem_tra_lai",
        "promotion_label": "Kiểm tra lại",
        "retake_subjects": ("TOAN", "NGU.VAN"),
        "completed": False,
    }
    return LockedRecord(**{**fields, **changes})


async def test_locked_records_are_locked_new_then_replaced_by_new_versions(port: Port) -> None:
    cls = klass(grade=9)
    key = (cls.class_id, cls.school_year)
    late, early = locked(cls, "HS-2"), locked(cls, "HS-1")
    async with port.uow() as tx:
        assert await tx.locked_of({key}) == {}
        await tx.lock_many([late, early], [])
    async with port.uow() as tx:
        assert await tx.locked_of({key}) == {early.record_id: early, late.record_id: late}
        second = locked(cls, "HS-2", 2, level="dat", retake_subjects=(), completed=True)
        third = locked(cls, "HS-3")
        await tx.lock_many([third], [second])
    assert await port.reader.records(*key) == [early, second, third]  # by record id
    async with port.uow() as tx:
        assert await tx.locked_of({("NO-CLASS", cls.school_year)}) == {}


async def test_audit_entries_are_kept_in_order_and_an_entry_with_an_id_once(port: Port) -> None:
    cls = klass(grade=7)
    c, y = cls.class_id, cls.school_year
    key = mark_key(c, y, "HS-1", "conduct", "", "term_1")
    correction = AuditEntry(
        c,
        y,
        "correction",
        "GV-01",
        NOW,
        key,
        {"level": "kha", "comment": ""},
        {"level": "tot", "comment": ""},
        "nhầm",
    )
    unlock = AuditEntry(c, y, "unlock", "HT-01", NOW + timedelta(seconds=2), reason="sửa điểm")
    close = AuditEntry(c, y, "close", "GV-01", NOW - timedelta(seconds=1))
    refused = AuditEntry(c, y, "close_refused", "GV-01", NOW - timedelta(seconds=2), reason="x")
    await port.store.audit({"correction:ev-1": correction})
    await port.store.audit({"correction:ev-1": correction})  # a replay: not kept twice
    async with port.uow() as tx:
        await tx.audit(unlock)
        await tx.audit_many([refused, close])
    assert await port.reader.audit_trail(c, y) == [refused, close, correction, unlock]
    assert await port.reader.audit_trail(c, "2030-2031") == []
