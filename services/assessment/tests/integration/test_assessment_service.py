"""The assessment service against the real local broker and database."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import full_year, klass, mark, school, student  # noqa: E402
from hocba_assessment.bootstrap import Assessment  # noqa: E402
from hocba_assessment.domain.marks import SubjectAssessment  # noqa: E402
from hocba_assessment.domain.model import RosterEntry, StoredMark  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import assessment as ev  # noqa: E402
from hocba_contracts.payloads import records as rec  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_EVENTS, ASSESSMENT_INGEST, RECORDS_EVENTS  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    TEST_SCHOOL_SYSTEM,
    LocalInfra,
    eventually,
    payloads,
    produce,
    read_topic,
)

pytestmark = pytest.mark.integration


async def test_kafka_roster_marks_and_close_emit_each_year_record_once(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    cls = klass(grade=2)
    pupils = [student() for _ in range(3)]
    src = TEST_SCHOOL_SYSTEM
    enrolled = [
        make_envelope(
            rec.StudentEnrolled(
                enrollment_id=f"{cls.class_id}:{s.student_id}",
                school_year=cls.school_year,
                student=s,
                school=school(),
                class_info=cls,
            ),
            source="hocba/records",
        )
        for s in pupils
    ]
    await produce(local_infra.kafka_bootstrap, RECORDS_EVENTS.name, enrolled)

    async def enrolled_all() -> bool | None:
        return (
            len(await assessment.app.state.reader.roster(cls.class_id, cls.school_year)) == 3
            or None
        )

    await eventually(
        enrolled_all, timeout=30
    )  # the class's grade is known: its subjects are checked
    marks = [make_envelope(m, source=src) for s in pupils for m in full_year(cls, s.student_id)]
    bad = make_envelope(
        mark(cls, pupils[0].student_id, "KH", "T"), source=src
    )  # not a grade-2 subject
    close = make_envelope(
        ev.ClassYearCloseRequested(
            class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01"
        ),
        source=src,
    )
    garbled = b'{"id": "garbled-' + cls.class_id.encode() + b'", "data": '  # cut short in transit
    # One poll's worth, consumed as a batch: the garbled record and the bad mark are dead-lettered
    # alone, every good mark around them is stored.
    batch: list[Any] = [*marks[:4], garbled, *marks[4:], bad, close, close]  # envelopes and bytes
    await produce(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.name,
        batch,
        key=cls.class_id.encode(),
    )

    def mine(msgs: list[Any]) -> list[dict[str, Any]]:
        return [p for p in payloads(msgs) if p["data"]["class_info"]["class_id"] == cls.class_id]

    out = await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_EVENTS.name,
        until=lambda m: len(mine(m)) >= 3,
        timeout=60,
    )
    records = mine(out)
    assert sorted(r["data"]["student"]["student_id"] for r in records) == sorted(
        s.student_id for s in pupils
    )
    assert {r["data"]["result"]["level_label"] for r in records} == {"Hoàn thành xuất sắc"}
    assert {r["correlation_id"] for r in records} <= {close.correlation_id} | {
        e.correlation_id for e in enrolled
    }

    dead = await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.dead_letter,
        until=lambda m: any(bad.id.encode() in x.value for x in m),
        timeout=30,
    )
    errors = [dict(x.headers)["hocba-error"].decode() for x in dead if bad.id.encode() in x.value]
    assert "subject_code" in errors[0] and "Huỳnh" not in errors[0]
    dead = await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.dead_letter,
        until=lambda m: any(x.value == garbled for x in m),
        timeout=30,
    )
    assert [dict(x.headers)["hocba-error"].decode()[:8] for x in dead if x.value == garbled] == [
        "not JSON"
    ]

    # A re-sent close, and the re-delivery of all of it, emit nothing more.
    await produce(local_infra.kafka_bootstrap, ASSESSMENT_INGEST.name, [close])
    transport = httpx.ASGITransport(app=assessment.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=local_infra.system_headers()
    ) as http:

        async def listed() -> dict[str, Any] | None:
            r = await http.get(
                f"/classes/{cls.class_id}/records", params={"school_year": cls.school_year}
            )
            return r.json() if len(r.json()["records"]) == 3 else None

        body = await eventually(listed, timeout=20)
        assert body["closed"] is True
    # A late mark for the closed class travels on the same key (partition) after the re-sent close:
    # once it is dead-lettered (class closed), the re-sent close has surely been consumed.
    late = make_envelope(mark(cls, pupils[0].student_id, "TOAN", "H", 6), source=src)
    await produce(local_infra.kafka_bootstrap, ASSESSMENT_INGEST.name, [late])
    await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.dead_letter,
        until=lambda m: any(late.id.encode() in x.value for x in m),
        timeout=30,
    )
    again = await read_topic(
        local_infra.kafka_bootstrap, ASSESSMENT_EVENTS.name, until=lambda m: len(mine(m)) >= 3
    )
    assert len(mine(again)) == 3


@pytest.mark.usefixtures("assessment")  # the running service
async def test_students_enrolled_while_their_class_closes_all_get_their_record(
    local_infra: LocalInfra,
) -> None:
    # The roster and the school system's feed are separate consumers: a close may be handled while
    # the class's enrolments are still being stored. Each student still gets exactly one record.
    cls = klass(grade=1)
    pupils = [student() for _ in range(4)]
    enrolled = [
        make_envelope(
            rec.StudentEnrolled(
                enrollment_id=f"{cls.class_id}:{s.student_id}",
                school_year=cls.school_year,
                student=s,
                school=school(),
                class_info=cls,
            ),
            source="hocba/records",
        )
        for s in pupils
    ]
    marks = [
        make_envelope(m, source=TEST_SCHOOL_SYSTEM)
        for s in pupils
        for m in full_year(cls, s.student_id)
    ]
    close = make_envelope(
        ev.ClassYearCloseRequested(
            class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01"
        ),
        source=TEST_SCHOOL_SYSTEM,
    )
    await asyncio.gather(
        produce(local_infra.kafka_bootstrap, RECORDS_EVENTS.name, enrolled),
        produce(local_infra.kafka_bootstrap, ASSESSMENT_INGEST.name, [*marks, close]),
    )

    def mine(msgs: list[Any]) -> list[dict[str, Any]]:
        return [p for p in payloads(msgs) if p["data"]["class_info"]["class_id"] == cls.class_id]

    out = await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_EVENTS.name,
        until=lambda m: len(mine(m)) >= 4,
        timeout=60,
    )
    assert sorted(r["data"]["student"]["student_id"] for r in mine(out)) == sorted(
        s.student_id for s in pupils
    )


async def test_http_batch_stores_good_items_and_reports_bad_ones(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    cls = klass(grade=1)
    s = student()
    await assessment.service.record_enrollment(RosterEntry(s, school(), cls))
    items = [json.loads(m.model_dump_json()) for m in full_year(cls, s.student_id)]
    items.insert(1, {**items[0], "subject_code": "LSDL"})
    items.append({**items[0], "score": 12})
    transport = httpx.ASGITransport(app=assessment.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=local_infra.system_headers()
    ) as http:
        r = await http.post("/assessments", json={"items": items})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["accepted"] == len(items) - 2
        assert [(x["index"], x["field"]) for x in body["rejected"]] == [
            (1, "subject_code"),
            (len(items) - 1, "score"),
        ]
        r = await http.post("/assessments", json={"items": [{"class_id": cls.class_id}]})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
        r = await http.post(
            f"/classes/{cls.class_id}/close",
            json={"school_year": cls.school_year, "requested_by": "GV-01"},
        )
        assert r.json()["closed"] is True
        r = await http.post("/assessments", json={"items": items[:1]})
        assert r.status_code == 409 and r.json()["error"]["code"] == "class_closed"


async def test_a_correction_in_a_transaction_keeps_the_kafka_event_ids(
    assessment: Assessment,
) -> None:
    # A mark keeps the ids of the Kafka events applied to it. A mark written in a transaction (the
    # summer re-assessment) must keep those ids: the redelivered event is then recognised instead of
    # undoing the change. (Marks stored in earlier forms: test_readable_storage.py.)
    cls = klass(grade=1)
    mark = SubjectAssessment(
        cls.class_id, cls.school_year, "HS-KEEP", "TOAN", "end_of_year", "T", 9.0, "", "GV-01"
    )
    key = mark.key
    store = assessment.service.store
    await store.write({key: StoredMark(mark, ("kafka-event-1",))})
    async with assessment.service.uow() as tx:
        await tx.save_mark(key, mark._replace(rating="H", score=6.0))
    stored = (await store.stored([key]))[key]
    assert stored.events == ("kafka-event-1",)
    assert isinstance(stored.mark, SubjectAssessment)
    assert (stored.mark.rating, stored.mark.score) == ("H", 6.0)
    marks = {
        m.student_id: m
        for m in await assessment.app.state.reader.marks(cls.class_id, cls.school_year)
    }
    assert marks["HS-KEEP"].rating == "H"


async def test_a_class_enrolled_before_profiles_were_kept_gets_its_profile_from_the_roster_once(
    assessment: Assessment,
) -> None:
    from datetime import UTC, datetime

    from hocba_assessment.adapters.mongo_assessment import backfill_class_profiles
    from hocba_assessment.domain.model import ClassProfileUpdate

    old, renewed = klass(grade=3), klass(grade=2)
    store, reader, db = (
        assessment.service.store,
        assessment.app.state.reader,
        assessment.runtime.mongo.db,
    )
    await store.save_rosters(
        [RosterEntry(student(), school(), c) for c in (old, renewed)]
    )  # rosters, no profiles
    assert await reader.class_profiles({old.class_id, renewed.class_id}) == {}
    filled = await db.migrations.find_one({"_id": "class_profiles_from_rosters"})
    assert filled is not None
    assert filled["classes"] == 0  # the start found nothing to fill
    await db.migrations.delete_one({"_id": "class_profiles_from_rosters"})
    assert await backfill_class_profiles(assessment.runtime.mongo) == 2
    assert await reader.class_profiles({old.class_id, renewed.class_id}) == {
        old.class_id: old,
        renewed.class_id: renewed,
    }
    assert await backfill_class_profiles(assessment.runtime.mongo) == 0  # once
    # A records event about the class, however old, replaces the filled-in profile.
    teacher = renewed.model_copy(
        update={"homeroom_teacher": old.homeroom_teacher.model_copy(update={"staff_id": "GV-09"})}
    )
    await store.save_class_profiles([ClassProfileUpdate(teacher, datetime(2000, 1, 1, tzinfo=UTC))])
    assert (await reader.class_profiles({renewed.class_id}))[
        renewed.class_id
    ].homeroom_teacher.staff_id == "GV-09"
    doc = await db.class_profiles.find_one({"_id": renewed.class_id})
    assert doc is not None
    assert (
        doc["schema_version"] == 1
        and doc["profile"]["school_id"] == renewed.school_id
        and "updated_at" in doc
    )
    # An older profile arriving later (records' events travel on several partitions) changes nothing,
    # in bulk or in a transaction; a newer one replaces it.
    await store.save_class_profiles([ClassProfileUpdate(renewed, datetime(1999, 1, 1, tzinfo=UTC))])
    async with assessment.service.uow() as tx:
        await tx.save_class_profile(ClassProfileUpdate(renewed, datetime(1999, 6, 1, tzinfo=UTC)))
    assert (await reader.class_profiles({renewed.class_id}))[
        renewed.class_id
    ].homeroom_teacher.staff_id == "GV-09"
    async with assessment.service.uow() as tx:
        await tx.save_class_profile(ClassProfileUpdate(renewed, datetime(2001, 1, 1, tzinfo=UTC)))
    assert (await reader.class_profiles({renewed.class_id}))[renewed.class_id] == renewed
