"""Who may call the records API, endpoint by endpoint, as the policy table says (the matrix is
generated from the app's route table: an endpoint without a policy or an example fails it), and the
ingest topic's check of the school system behind each event."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from fixtures import klass, school, student  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import records as ev  # noqa: E402
from hocba_contracts.topics import RECORDS_INGEST  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    OTHER_SCHOOL_SYSTEM,
    TEST_SCHOOL_SYSTEM,
    Call,
    Identity,
    LocalInfra,
    authorization_matrix,
    eventually,
    failed_cells,
    produce,
    read_topic,
    unique,
)
from hocba_records.bootstrap import Records, build  # noqa: E402
from hocba_records.config import RecordsSettings  # noqa: E402
from hocba_records.entrypoints.policies import POLICIES  # noqa: E402

log = logging.getLogger(__name__)

pytestmark = pytest.mark.integration


@pytest.fixture
async def records(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> AsyncIterator[Records]:
    svc = build(
        RecordsSettings(
            **local_infra.settings(
                mongo_database=unique_db("records"),
                school_systems={
                    "sys-a": ["MX-A-*"],
                    "sys-b": ["MX-B-*"],
                    TEST_SCHOOL_SYSTEM: ["MX-*"],
                },
            )
        )
    )
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()


async def test_every_endpoint_answers_each_role_of_the_own_school_another_school_and_nobody_as_its_policy_says(
    records: Records, local_infra: LocalInfra
) -> None:
    a, b = school(unique("MX-A")), school(unique("MX-B"))
    cls, pupil = klass(a.school_id), student()
    service = records.service
    for s in (a, b):
        await service.register_school(s)
    await service.register_class(cls)
    await service.register_student(pupil, a.school_id)
    await service.enroll_student(pupil.student_id, cls.class_id, a.school_id, cls.school_year)
    enrollment = {
        "school_id": a.school_id,
        "student_id": pupil.student_id,
        "class_id": cls.class_id,
        "school_year": cls.school_year,
    }
    calls = {
        "GET /health/live": Call("/health/live"),
        "GET /health/ready": Call("/health/ready"),
        "GET /openapi.json": Call("/openapi.json"),
        "GET /docs": Call("/docs"),
        "GET /docs/oauth2-redirect": Call("/docs/oauth2-redirect"),
        "GET /audit/trail": Call("/audit/trail", params={"school_id": a.school_id}),
        "POST /schools": Call("/schools", json=a.model_dump(mode="json")),
        "POST /classes": Call("/classes", json=cls.model_dump(mode="json")),
        "POST /students": Call(
            "/students", json=pupil.model_dump(mode="json") | {"school_id": a.school_id}
        ),
        "POST /enrollments": Call("/enrollments", json=enrollment),
        "GET /students/{student_id}": Call(f"/students/{pupil.student_id}"),
        "GET /classes/{class_id}/students": Call(f"/classes/{cls.class_id}/students"),
    }
    city = {
        "operator": Identity("operator"),
        "auditor": Identity("auditor"),
        "service": Identity("service", client_id="hocba-lookup"),
    }
    own = {
        "school_system": Identity("school_system", client_id="sys-a"),
        "teacher": Identity("teacher", a.school_id, cls.homeroom_teacher.staff_id),
        "principal": Identity("principal", a.school_id, a.principal.staff_id),
        "school_admin": Identity("school_admin", a.school_id, f"{a.school_id}-QT"),
        **city,
    }
    other = {
        "school_system": Identity("school_system", client_id="sys-b"),
        "teacher": Identity("teacher", b.school_id, f"{b.school_id}-GV1"),
        "principal": Identity("principal", b.school_id, b.principal.staff_id),
        "school_admin": Identity("school_admin", b.school_id, f"{b.school_id}-QT"),
    }
    cells = await authorization_matrix(records.app, POLICIES, calls, own, other, local_infra.issuer)
    assert not failed_cells(cells), failed_cells(cells)
    log.info(f"records authorization matrix: {len(cells)} calls over {len(calls)} endpoints")


async def test_a_teacher_of_another_class_gets_403_and_a_teacher_sees_no_personal_id_number(
    records: Records, local_infra: LocalInfra
) -> None:
    import httpx

    a = school(unique("MX-A"))
    cls, pupil = klass(a.school_id), student()
    await records.service.register_school(a)
    await records.service.register_class(cls)
    await records.service.register_student(pupil, a.school_id)
    await records.service.enroll_student(
        pupil.student_id, cls.class_id, a.school_id, cls.school_year
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=records.app), base_url="http://r"
    ) as http:
        mine = await http.get(
            f"/students/{pupil.student_id}",
            headers=local_infra.headers("teacher", a.school_id, cls.homeroom_teacher.staff_id),
        )
        assert mine.status_code == 200 and mine.json()["full_name"] == pupil.full_name
        assert "citizen_id" not in mine.json() and pupil.citizen_id not in mine.text
        other_class = await http.get(
            f"/students/{pupil.student_id}",
            headers=local_infra.headers("teacher", a.school_id, f"{a.school_id}-GV9"),
        )
        assert other_class.status_code == 403
        principal = await http.get(
            f"/students/{pupil.student_id}",
            headers=local_infra.headers("principal", a.school_id, a.principal.staff_id),
        )
        assert principal.json()["citizen_id"] == pupil.citizen_id


async def test_an_ingest_event_for_a_school_its_source_is_not_registered_for_is_dead_lettered_and_not_stored(
    records: Records, local_infra: LocalInfra
) -> None:
    victim = school(unique("MX-A"))
    await records.service.register_school(victim)
    intruder = student()
    foreign = make_envelope(
        ev.StudentRegistrationSubmitted(**intruder.model_dump(), school_id=victim.school_id),
        source="sys-b",
    )
    unknown = make_envelope(
        ev.SchoolRegistrationSubmitted(**school(unique("MX-A")).model_dump()),
        source="not-registered",
    )
    await produce(local_infra.kafka_bootstrap, RECORDS_INGEST.name, [foreign, unknown])

    def both(messages: list[Any]) -> bool:
        return {foreign.id, unknown.id} <= {
            json.loads(m.value)["id"] for m in messages if m.value.startswith(b"{")
        }

    dead = await read_topic(
        local_infra.kafka_bootstrap, RECORDS_INGEST.dead_letter, until=both, timeout=60
    )
    reasons = {
        json.loads(m.value)["id"]: dict(m.headers)["hocba-error"].decode()
        for m in dead
        if m.value.startswith(b"{") and json.loads(m.value)["id"] in {foreign.id, unknown.id}
    }
    assert (
        "not registered for school" in reasons[foreign.id]
        and victim.school_id in reasons[foreign.id]
    )
    assert "not a registered school system" in reasons[unknown.id]
    assert all(
        intruder.citizen_id not in r and intruder.full_name not in r for r in reasons.values()
    )
    assert (
        await records.runtime.mongo.db.students.count_documents({"_id": intruder.student_id}) == 0
    )

    # The registered school system's own event still goes through.
    mine = make_envelope(
        ev.StudentRegistrationSubmitted(**student().model_dump(), school_id=victim.school_id),
        source=TEST_SCHOOL_SYSTEM,
    )
    await produce(local_infra.kafka_bootstrap, RECORDS_INGEST.name, [mine])
    await eventually(
        lambda: records.runtime.mongo.db.students.count_documents({"_id": mine.data.student_id}),
        timeout=30,
    )
    assert OTHER_SCHOOL_SYSTEM not in records.runtime.settings.school_systems
