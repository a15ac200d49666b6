"""The records service against the real local broker and database."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fixtures import klass, school, student  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import records as ev  # noqa: E402
from hocba_contracts.topics import RECORDS_EVENTS, RECORDS_INGEST  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    TEST_SCHOOL_SYSTEM,
    LocalInfra,
    eventually,
    payloads,
    produce,
    read_topic,
)
from hocba_records.bootstrap import Records, build  # noqa: E402
from hocba_records.config import RecordsSettings  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture
async def records(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> AsyncIterator[Records]:
    settings = RecordsSettings(**local_infra.settings(mongo_database=unique_db("records")))
    svc = build(settings)
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()


async def test_ingest_events_become_records_events_and_bad_ones_are_dead_lettered(
    records: Records, local_infra: LocalInfra
) -> None:
    sch = school()
    cls = klass(sch.school_id)
    st = student()
    src = TEST_SCHOOL_SYSTEM
    good = [
        make_envelope(ev.SchoolRegistrationSubmitted(**sch.model_dump()), source=src),
        make_envelope(ev.ClassRegistrationSubmitted(**cls.model_dump()), source=src),
        make_envelope(
            ev.StudentRegistrationSubmitted(**st.model_dump(), school_id=sch.school_id), source=src
        ),
    ]
    enroll = make_envelope(
        ev.EnrollmentSubmitted(
            school_id=sch.school_id,
            student_id=st.student_id,
            class_id=cls.class_id,
            school_year="2024-2025",
        ),
        source=src,
    )
    malformed = good[2].model_dump(mode="json")
    malformed["data"]["citizen_id"] = "12345"
    import json

    await produce(local_infra.kafka_bootstrap, RECORDS_INGEST.name, good)
    await produce(
        local_infra.kafka_bootstrap,
        RECORDS_INGEST.name,
        [json.dumps(malformed).encode(), b"{not json"],
        key=sch.school_id.encode(),
    )
    await produce(local_infra.kafka_bootstrap, RECORDS_INGEST.name, [enroll, enroll])  # redelivered

    def enrolled(msgs: list[Any]) -> bool:
        return any(
            p["type"] == "hocba.records.student_enrolled" and p["subject"] == st.student_id
            for p in payloads(msgs)
        )

    out = payloads(
        await read_topic(local_infra.kafka_bootstrap, RECORDS_EVENTS.name, until=enrolled)
    )
    mine = [p for p in out if p["correlation_id"] in {e.id for e in [*good, enroll]}]
    assert sorted(p["type"] for p in mine) == sorted(
        [
            "hocba.records.school_registered",
            "hocba.records.class_registered",
            "hocba.records.student_registered",
            "hocba.records.student_enrolled",
        ]
    )
    dead = await read_topic(
        local_infra.kafka_bootstrap,
        RECORDS_INGEST.dead_letter,
        until=lambda m: sum(1 for r in m if r.key == sch.school_id.encode()) >= 2,
    )
    errors = [
        dict(r.headers)["hocba-error"].decode() for r in dead if r.key == sch.school_id.encode()
    ]
    assert any("citizen_id" in e and "12 digits" in e for e in errors)
    assert any(e.startswith("not JSON") for e in errors)
    assert all(st.citizen_id not in e for e in errors)
    assert await records.runtime.mongo.db.enrollments.count_documents({}) == 1


async def test_http_rejects_bad_input_with_what_to_fix_and_keeps_stored_data(
    records: Records, local_infra: LocalInfra
) -> None:
    sch = school()
    transport = httpx.ASGITransport(app=records.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://records", headers=local_infra.system_headers()
    ) as client:
        assert (await client.post("/schools", json=sch.model_dump(mode="json"))).json()[
            "changed"
        ] is True
        bad = klass(sch.school_id).model_dump(mode="json") | {"grade": 9}
        resp = await client.post("/classes", json=bad)
        assert resp.status_code == 422
        assert resp.json()["error"]["code"] == "grade_not_in_school"
        resp = await client.post("/students", json={"student_id": "X1", "school_id": sch.school_id})
        assert resp.status_code == 422
        fields = {d["field"] for d in resp.json()["error"]["details"]}
        assert {"citizen_id", "full_name", "date_of_birth"} <= fields
        assert await records.runtime.mongo.db.schools.count_documents({"_id": sch.school_id}) == 1
        ready = await eventually(lambda: client.get("/health/ready"))
        assert ready.json()["checks"]["database"] == "ok"
