"""The records unit of work's contract (RecordsUnitOfWork, RecordsTx), one suite for both of its
implementations: the fake the unit tests use (fixtures.FakeUow) and MongoRecordsUnitOfWork on the
local database. A behaviour the fake gets wrong fails here, so the unit tests cannot pass against
a records store that does not exist."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fixtures import FakeUow, klass, school, student  # noqa: E402
from hocba_contracts import Envelope, make_envelope  # noqa: E402
from hocba_contracts.payloads.common import Parent, StaffMember, SubjectTeacher  # noqa: E402
from hocba_contracts.payloads.records import SchoolRegistered  # noqa: E402
from hocba_contracts.topics import RECORDS_EVENTS  # noqa: E402
from hocba_devstack.testing import LocalInfra, outbox_event_ids, scratch_database  # noqa: E402
from hocba_records.adapters.mongo_records import (  # noqa: E402
    MongoRecordsUnitOfWork,
    ensure_indexes,
)
from hocba_records.application.ports import RecordsUnitOfWork  # noqa: E402
from hocba_records.domain.model import Enrollment, enrollment_id  # noqa: E402
from hocba_runtime.mongo import is_duplicate_key  # noqa: E402
from hocba_runtime.uow import MongoUnitOfWork  # noqa: E402

pytestmark = pytest.mark.integration


@dataclass
class Records:
    """One implementation of the port, and what it committed to announce (event ids, in order)."""

    uow: RecordsUnitOfWork
    committed_events: Callable[[], Awaitable[list[str]]]


@pytest.fixture
async def records(contract_backend: LocalInfra | None) -> AsyncIterator[Records]:
    if contract_backend is None:
        fake = FakeUow()

        async def committed() -> list[str]:
            return [e.id for e in fake.events]

        yield Records(fake, committed)
        return
    async with scratch_database(contract_backend, "records_contract") as (mongo, outbox):
        await ensure_indexes(mongo)
        uow = MongoRecordsUnitOfWork(mongo, MongoUnitOfWork(mongo, outbox, "records"))
        yield Records(uow, lambda: outbox_event_ids(outbox))


def announcement(school_id: str) -> Envelope[SchoolRegistered]:
    return make_envelope(SchoolRegistered(**school(school_id).model_dump()), source="test")


class Rollback(Exception):
    pass


async def test_what_is_saved_reads_back_equal(records: Records) -> None:
    sch = school()
    cls = klass(sch.school_id).model_copy(
        update={
            "subject_teachers": (
                SubjectTeacher(subject_code="TA", staff_id="GV-TA", full_name="Lê Thị Mai"),
            )
        }
    )
    st = student().model_copy(
        update={"parents": (Parent(relation="mother", full_name="Hồ Thị Lan", phone=None),)}
    )
    enrollment = Enrollment(
        enrollment_id(st.student_id, cls.school_year),
        st.student_id,
        cls.class_id,
        sch.school_id,
        cls.school_year,
    )
    async with records.uow() as tx:
        await tx.save_school(sch)
        await tx.save_class(cls)
        await tx.save_student(st, sch.school_id)
        await tx.save_enrollment(enrollment)
        assert await tx.get_student(st.student_id) == st, "a transaction reads its own writes"
    async with records.uow() as tx:
        assert await tx.get_school(sch.school_id) == sch
        assert await tx.get_class(cls.class_id) == cls
        assert await tx.get_student(st.student_id) == st
        assert await tx.get_enrollment(enrollment.enrollment_id) == enrollment
        assert await tx.student_id_for_citizen(st.citizen_id) == st.student_id
        assert await tx.school_of_student(st.student_id) == sch.school_id


async def test_what_was_never_saved_is_none(records: Records) -> None:
    async with records.uow() as tx:
        assert await tx.get_school("SCH-NONE") is None
        assert await tx.get_class("SCH-NONE-1A") is None
        assert await tx.get_student("HS-NONE") is None
        assert await tx.get_enrollment("HS-NONE:2024-2025") is None
        assert await tx.student_id_for_citizen("079000000000") is None
        assert await tx.school_of_student("HS-NONE") is None


async def test_saving_an_id_again_replaces_what_it_held(records: Records) -> None:
    sch, other = school(), school()
    st = student()
    async with records.uow() as tx:
        await tx.save_school(sch)
        await tx.save_student(st, sch.school_id)
    renamed = sch.model_copy(
        update={"principal": StaffMember(staff_id="HT-NEW", full_name="Đặng Văn Minh")}
    )
    corrected = student(st.student_id)
    async with records.uow() as tx:
        await tx.save_school(renamed)
        await tx.save_student(corrected, other.school_id)
    async with records.uow() as tx:
        assert await tx.get_school(sch.school_id) == renamed
        assert await tx.get_student(st.student_id) == corrected
        assert await tx.school_of_student(st.student_id) == other.school_id
        assert await tx.student_id_for_citizen(st.citizen_id) is None
        assert await tx.student_id_for_citizen(corrected.citizen_id) == st.student_id


async def test_a_personal_id_number_is_stored_for_one_student_only(records: Records) -> None:
    first = student()
    async with records.uow() as tx:
        await tx.save_student(first, "SCH-A")
    second = student(citizen_id=first.citizen_id)
    with pytest.raises(Exception) as raised:
        async with records.uow() as tx:
            await tx.save_student(second, "SCH-A")
    assert is_duplicate_key(raised.value), raised.value
    async with records.uow() as tx:
        assert await tx.get_student(second.student_id) is None
        assert await tx.student_id_for_citizen(first.citizen_id) == first.student_id


async def test_a_transaction_that_fails_leaves_nothing_behind(records: Records) -> None:
    sch = school()
    st = student()
    with pytest.raises(Rollback):
        async with records.uow("event-rolled-back") as tx:
            assert tx.duplicate is False
            await tx.save_school(sch)
            await tx.save_class(klass(sch.school_id))
            await tx.save_student(st, sch.school_id)
            await tx.emit(RECORDS_EVENTS.name, announcement(sch.school_id))
            raise Rollback
    async with records.uow("event-rolled-back") as tx:
        assert tx.duplicate is False, "the event was not processed: its redelivery is handled"
        assert await tx.get_school(sch.school_id) is None
        assert await tx.get_class(f"{sch.school_id}-1A") is None
        assert await tx.get_student(st.student_id) is None
        assert await tx.student_id_for_citizen(st.citizen_id) is None
    assert await records.committed_events() == []


async def test_an_event_id_is_processed_once(records: Records) -> None:
    async with records.uow("event-1") as tx:
        assert tx.duplicate is False
    async with records.uow("event-1") as tx:
        assert tx.duplicate is True
    async with records.uow("event-2") as tx:
        assert tx.duplicate is False
    async with records.uow() as tx:
        assert tx.duplicate is False, "a change without an incoming event is never a duplicate"


async def test_committed_events_are_announced_in_the_order_they_were_emitted(
    records: Records,
) -> None:
    first = [announcement(f"SCH-{n}") for n in range(3)]
    later = announcement("SCH-3")
    async with records.uow() as tx:
        for env in first:
            await tx.emit(RECORDS_EVENTS.name, env)
    async with records.uow() as tx:
        await tx.emit(RECORDS_EVENTS.name, later)
    assert await records.committed_events() == [e.id for e in [*first, later]]


async def test_an_event_is_emitted_once(records: Records) -> None:
    env = announcement("SCH-X")
    with pytest.raises(Exception) as raised:
        async with records.uow() as tx:
            await tx.emit(RECORDS_EVENTS.name, env)
            await tx.emit(RECORDS_EVENTS.name, env)
    assert is_duplicate_key(raised.value), raised.value
    assert await records.committed_events() == []
