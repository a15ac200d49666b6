"""Every entrypoint writes marks and closes classes through the same use cases, against the real
local broker and database: a close requested on Kafka is refused exactly as over HTTP, and a
replica never serves a class's grade that another one has changed."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import klass, mark, school, secondary_year, student  # noqa: E402
from hocba_assessment.bootstrap import Assessment, build  # noqa: E402
from hocba_assessment.config import AssessmentSettings  # noqa: E402
from hocba_assessment.domain.model import ClassProfileUpdate, RosterEntry  # noqa: E402
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


def client(assessment: Assessment, local_infra: LocalInfra) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=assessment.app),
        base_url="http://t",
        headers=local_infra.system_headers(),
    )


async def test_a_close_on_kafka_of_a_class_missing_assessments_is_refused_as_over_http_naming_each_one(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    cls = klass(grade=6)
    done, late, lazy, idle = (student() for _ in range(4))
    pupils = [done, late, lazy, idle]
    await produce(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        [
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
        ],
    )
    reader = assessment.app.state.reader

    async def enrolled_all() -> bool | None:
        return len(await reader.roster(cls.class_id, cls.school_year)) == len(pupils) or None

    await eventually(enrolled_all, timeout=30)
    src = TEST_SCHOOL_SYSTEM
    # `late` lacks one end-of-term score, `lazy` the second term's conduct, `idle` has nothing at all.
    feed = [
        *secondary_year(cls, done.student_id, 8.0),
        *secondary_year(cls, late.student_id, 7.0, skip={("KHTN", "end_term_2")}),
        *[
            i
            for i in secondary_year(cls, lazy.student_id, 7.5)
            if not (isinstance(i, ev.ConductAssessed) and i.term == 2)
        ],
    ]
    close = make_envelope(
        ev.ClassYearCloseRequested(
            class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01"
        ),
        source=src,
    )
    await produce(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.name,
        [make_envelope(i, source=src) for i in feed] + [close],
        key=cls.class_id.encode(),
    )

    def refusals(msgs: list[Any]) -> list[dict[str, bytes]]:
        return [dict(m.headers) for m in msgs if close.id.encode() in m.value]

    dead = refusals(
        await read_topic(
            local_infra.kafka_bootstrap,
            ASSESSMENT_INGEST.dead_letter,
            until=lambda m: bool(refusals(m)),
            timeout=60,
        )
    )
    assert dead[0]["hocba-error-type"] == b"CloseRefused"
    reason = dead[0]["hocba-error"].decode()
    details = json.loads(dead[0]["hocba-error-details"])
    named = {(d["student_id"], d["field"]) for d in details}
    assert named == {
        (late.student_id, "KHTN"),
        (lazy.student_id, "conduct"),
        (idle.student_id, "student_id"),
    }
    problems = {(d["student_id"], d["field"]): d["problem"] for d in details}
    assert (
        "end_term_2" in problems[(late.student_id, "KHTN")]
        and "term 2" in problems[(lazy.student_id, "conduct")]
    )
    assert problems[(idle.student_id, "student_id")] == "no assessments at all"
    for sid in (late.student_id, lazy.student_id, idle.student_id):
        assert sid in reason
    assert "end_term_2" in reason and done.student_id not in reason
    headers = json.dumps({k: v.decode() for k, v in dead[0].items()}, ensure_ascii=False)
    assert all(p.full_name not in headers and p.citizen_id not in headers for p in pupils)

    # Nothing is locked, no record is made, and the class's trail says why.
    assert await reader.closure(cls.class_id, cls.school_year) is None
    assert await reader.records(cls.class_id, cls.school_year) == []
    [entry] = [
        e
        for e in await reader.audit_trail(cls.class_id, cls.school_year)
        if e.action.startswith("close")
    ]
    assert (entry.action, entry.by) == ("close_refused", "GV-01")
    assert all(f"{sid} {field}: {problems[(sid, field)]}" in entry.reason for sid, field in named)
    assert all(p.full_name not in entry.reason for p in pupils)

    # Over HTTP, the same refusal, item for item.
    async with client(assessment, local_infra) as http:
        r = await http.post(
            f"/classes/{cls.class_id}/close",
            json={"school_year": cls.school_year, "requested_by": "GV-01"},
        )
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "incomplete_assessments"
        assert error["details"] == details
        assert await reader.closure(cls.class_id, cls.school_year) is None

    # The missing assessments arrive; the refused close redelivered changes nothing, a new close closes.
    missing = [
        ev.SecondaryAssessmentSubmitted(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=late.student_id,
            subject_code="KHTN",
            term=2,
            kind="end_term",
            score=7.0,
        ),
        ev.ConductAssessed(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=lazy.student_id,
            term=2,
            level="kha",
        ),
        *secondary_year(cls, idle.student_id, 6.5),
    ]
    again = make_envelope(
        ev.ClassYearCloseRequested(
            class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01"
        ),
        source=src,
    )
    await produce(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.name,
        [close, *(make_envelope(i, source=src) for i in missing), again],
        key=cls.class_id.encode(),
    )

    def mine(msgs: list[Any]) -> set[str]:
        return {
            p["data"]["student"]["student_id"]
            for p in payloads(msgs)
            if p["data"]["class_info"]["class_id"] == cls.class_id
        }

    out = await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_EVENTS.name,
        until=lambda m: len(mine(m)) == len(pupils),
        timeout=60,
    )
    assert mine(out) == {p.student_id for p in pupils}
    trail = [
        e.action
        for e in await reader.audit_trail(cls.class_id, cls.school_year)
        if e.action.startswith("close")
    ]
    assert trail == ["close_refused", "close_refused", "close"]  # Kafka's, HTTP's, then the close
    dead = await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.dead_letter,
        until=lambda m: bool(refusals(m)),
        timeout=10,
    )
    assert len(refusals(dead)) == 1  # the redelivered refusal was not dead-lettered twice


async def test_a_grade_changed_through_another_instance_is_seen_at_once(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    # Two instances of the service on one database, as two replicas run: the second stores the
    # class's new grade (records corrected the class), the first checks its next marks against it.
    settings = assessment.runtime.settings
    assert isinstance(settings, AssessmentSettings)
    other = build(settings)
    try:
        service, store = assessment.service, assessment.service.store
        registered = klass(grade=1)
        pupil = student()
        then = datetime.now(UTC) - timedelta(minutes=5)
        await service.record_roster(
            [ClassProfileUpdate(registered, then)],
            [(RosterEntry(pupil, school(), registered), None)],
        )
        assert [
            o.status
            for o in await service.ingest(
                [("g1", mark(registered, pupil.student_id, "TOAN", "T", 9))]
            )
        ] == ["accepted"]
        science = mark(registered, pupil.student_id, "KH", "T", 8)  # Khoa học: grades 4 and 5 only
        [refused] = await service.ingest([("kh-1", science)])
        assert refused.status == "rejected" and "grade 1" in refused.problems[0].problem

        corrected = registered.model_copy(update={"grade": 4, "name": "4A"})
        await other.service.record_roster([ClassProfileUpdate(corrected, datetime.now(UTC))], [])
        assert (await store.class_grades({registered.class_id})) == {registered.class_id: 4}

        [taken] = await service.ingest([("kh-2", science)])
        assert taken.status == "accepted", taken.problems
        async with client(assessment, local_infra) as http:
            r = await http.post(
                "/assessments",
                json={
                    "items": [
                        mark(registered, pupil.student_id, "LSDL", "H", 7).model_dump(mode="json")
                    ]
                },
            )
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
            # and back: a grade-1 subject with a score is refused as grade 4 would refuse it
            await other.service.record_roster(
                [ClassProfileUpdate(registered, datetime.now(UTC))], []
            )
            r = await http.post(
                "/assessments",
                json={
                    "items": [
                        mark(registered, pupil.student_id, "KH", "H", 6).model_dump(mode="json")
                    ]
                },
            )
            assert (
                r.json()["accepted"] == 0 and r.json()["rejected"][0]["field"] == "subject_code"
            ), r.text
    finally:
        other.runtime.mongo.close()
