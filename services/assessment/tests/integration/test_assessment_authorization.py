"""Who may call the assessment API, endpoint by endpoint, as the policy table says (the matrix is
generated from the app's route table: an endpoint without a policy or an example fails it), what
each role sees, and the ingest topic's check of the school system behind each event."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import full_year, klass, mark, school, student  # noqa: E402
from hocba_assessment.bootstrap import Assessment, build  # noqa: E402
from hocba_assessment.config import AssessmentSettings  # noqa: E402
from hocba_assessment.domain.model import RosterEntry  # noqa: E402
from hocba_assessment.entrypoints.policies import POLICIES  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import assessment as ev  # noqa: E402
from hocba_contracts.payloads import records as rec  # noqa: E402
from hocba_contracts.payloads.common import ClassProfile, StudentProfile  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_INGEST, RECORDS_EVENTS  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    OTHER_SCHOOL_SYSTEM,
    TEST_SCHOOL_SYSTEMS,
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

log = logging.getLogger(__name__)

pytestmark = pytest.mark.integration

WAIT = 5.0
"""How long these tests' ingest waits for an unknown class (the default is 30 s)."""


@pytest.fixture
async def assessment(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> AsyncIterator[Assessment]:
    settings = AssessmentSettings(
        **local_infra.settings(
            service_name=unique("assessment"),
            mongo_database=unique_db("assessment"),
            unknown_class_wait_seconds=WAIT,
            school_systems={**TEST_SCHOOL_SYSTEMS, "sys-a": ["MX-A-*"], "sys-b": ["MX-B-*"]},
        )
    )
    svc = build(settings)
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()


async def enrolled_class(
    svc: Assessment,
    school_id: str,
    grade: int = 1,
    students: int = 2,
    subject_teachers: dict[str, str] | None = None,
) -> tuple[ClassProfile, list[StudentProfile]]:
    """A class of `school_id` with its students, as records' events make it known."""
    cls = klass(
        grade=grade,
        school_id=school_id,
        homeroom=f"{school_id}-GV1",
        subject_teachers=subject_teachers,
    )
    pupils = sorted((student() for _ in range(students)), key=lambda s: s.student_id)
    await svc.service.record_roster(
        [], [(RosterEntry(p, school(school_id), cls), None) for p in pupils]
    )
    return cls, pupils


async def closed_class(
    svc: Assessment, school_id: str
) -> tuple[ClassProfile, list[StudentProfile]]:
    """A primary class of `school_id` whose year is closed, with a locked record per student."""
    cls, pupils = await enrolled_class(svc, school_id)
    await svc.service.submit(
        [m for p in pupils for m in full_year(cls, p.student_id)], check_enrollment=True
    )
    assert await svc.service.close_class(
        cls.class_id, cls.school_year, cls.homeroom_teacher.staff_id
    ) == len(pupils)
    return cls, pupils


def client(svc: Assessment) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.app), base_url="http://a")


async def test_every_endpoint_answers_each_role_of_the_own_school_another_school_and_nobody_as_its_policy_says(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    a, b = unique("MX-A"), unique("MX-B")
    cls, pupils = await closed_class(assessment, a)
    await enrolled_class(assessment, b)
    year = {"school_year": cls.school_year}
    one = pupils[0].student_id
    csv = "Mã học sinh,Họ và tên,Tiếng Việt – mức (T/H/C) (TV:rating)\n" + f"{one},,T\n"
    calls = {
        "GET /health/live": Call("/health/live"),
        "GET /health/ready": Call("/health/ready"),
        "GET /openapi.json": Call("/openapi.json"),
        "GET /docs": Call("/docs"),
        "GET /docs/oauth2-redirect": Call("/docs/oauth2-redirect"),
        "GET /audit/trail": Call("/audit/trail", params={"school_id": a}),
        "POST /assessments": Call(
            "/assessments", json={"items": [mark(cls, one, "TOAN", "H", 7).model_dump(mode="json")]}
        ),
        "POST /classes/{class_id}/close": Call(f"/classes/{cls.class_id}/close", json=year),
        "POST /classes/{class_id}/students/{student_id}/summer-reassessment": Call(
            f"/classes/{cls.class_id}/students/{one}/summer-reassessment",
            json={**year, "retakes": {"TOAN": 6}},
        ),
        "GET /classes/{class_id}/records": Call(f"/classes/{cls.class_id}/records", params=year),
        "POST /classes/{class_id}/unlock": Call(
            f"/classes/{cls.class_id}/unlock", json={**year, "reason": "Phúc khảo"}
        ),
        "GET /classes/{class_id}/audit": Call(f"/classes/{cls.class_id}/audit", params=year),
        "GET /classes/{class_id}/gradebook-template": Call(
            f"/classes/{cls.class_id}/gradebook-template", params={**year, "format": "csv"}
        ),
        "POST /classes/{class_id}/gradebook": Call(
            f"/classes/{cls.class_id}/gradebook",
            params=year,
            files={"file": ("so-diem.csv", csv.encode(), "text/csv")},
        ),
        "GET /classes/{class_id}/lists": Call(
            f"/classes/{cls.class_id}/lists", params={**year, "format": "json"}
        ),
        "GET /classes/{class_id}/students/{student_id}/report-card": Call(
            f"/classes/{cls.class_id}/students/{one}/report-card", params=year
        ),
    }
    city = {
        "operator": Identity("operator"),
        "auditor": Identity("auditor"),
        "service": Identity("service", client_id="hocba-lookup"),
    }
    own = {
        "school_system": Identity("school_system", client_id="sys-a"),
        "teacher": Identity("teacher", a, cls.homeroom_teacher.staff_id),
        "principal": Identity("principal", a, f"{a}-HT"),
        "school_admin": Identity("school_admin", a, f"{a}-QT"),
        **city,
    }
    other = {
        "school_system": Identity("school_system", client_id="sys-b"),
        "teacher": Identity("teacher", b, f"{b}-GV1"),
        "principal": Identity("principal", b, f"{b}-HT"),
        "school_admin": Identity("school_admin", b, f"{b}-QT"),
    }
    cells = await authorization_matrix(
        assessment.app, POLICIES, calls, own, other, local_infra.issuer
    )
    assert not failed_cells(cells), failed_cells(cells)
    # Nothing another school's caller sent was stored (the class was reopened by its own school's
    # administrator in the matrix, and the own school's callers' marks went in).
    marks = await assessment.app.state.reader.marks(cls.class_id, cls.school_year)
    assert not {m.submitted_by for m in marks} & {"sys-b", f"{b}-GV1", f"{b}-HT", f"{b}-QT"}
    log.info(f"assessment authorization matrix: {len(cells)} calls over {len(calls)} endpoints")


async def test_a_subject_teacher_assesses_only_their_subject_and_only_as_themself(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    a, b = unique("MX-A"), unique("MX-B")
    cls, [pupil] = await enrolled_class(
        assessment, a, grade=6, students=1, subject_teachers={"TOAN": "GV-TOAN"}
    )
    sid = pupil.student_id

    def secondary(subject: str, index: int = 1, **extra: Any) -> dict[str, Any]:
        return ev.SecondaryAssessmentSubmitted(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=sid,
            subject_code=subject,
            term=1,
            kind="regular",
            index=index,
            score=8.0,
            **extra,
        ).model_dump(mode="json")

    conduct = ev.ConductAssessed(
        class_id=cls.class_id, school_year=cls.school_year, student_id=sid, term=1, level="tot"
    ).model_dump(mode="json")
    maths = local_infra.headers("teacher", a, "GV-TOAN")
    async with client(assessment) as http:
        mine = await http.post(
            "/assessments", json={"secondary": [secondary("TOAN")]}, headers=maths
        )
        assert mine.status_code == 200 and mine.json()["accepted"] == 1, mine.text
        for body in (
            {"secondary": [secondary("NV")]},
            {"conduct": [conduct]},
            {"secondary": [secondary("TOAN", 2), secondary("NV")]},
        ):
            refused = await http.post("/assessments", json=body, headers=maths)
            assert (
                refused.status_code == 403
                and refused.json()["error"]["message"] == "you do not teach this class"
            )
        someone_else = await http.post(
            "/assessments",
            json={"secondary": [secondary("TOAN", 3, submitted_by="GV-01")]},
            headers=maths,
        )
        assert (
            someone_else.status_code == 403
            and "you act as GV-TOAN" in someone_else.json()["error"]["message"]
        )
        # The homeroom teacher assesses conduct; only they close the class, the subject teacher reads it.
        homeroom = local_infra.headers("teacher", a, cls.homeroom_teacher.staff_id)
        assert (
            await http.post("/assessments", json={"conduct": [conduct]}, headers=homeroom)
        ).json()["accepted"] == 1
        close = {"school_year": cls.school_year, "even_if_incomplete": True}
        assert (
            await http.post(f"/classes/{cls.class_id}/close", json=close, headers=maths)
        ).status_code == 403
        records = await http.get(
            f"/classes/{cls.class_id}/records",
            params={"school_year": cls.school_year},
            headers=maths,
        )
        assert records.status_code == 200 and records.json()["closed"] is False
        # The same staff id in another school, and nobody at all.
        stranger = await http.post(
            "/assessments",
            json={"secondary": [secondary("TOAN", 4)]},
            headers=local_infra.headers("teacher", b, "GV-TOAN"),
        )
        assert (
            stranger.status_code == 403 and "another school" in stranger.json()["error"]["message"]
        )
        anonymous = await http.post("/assessments", json={"secondary": [secondary("TOAN", 4)]})
        assert anonymous.status_code == 401
        other_system = await http.post(
            "/assessments",
            json={"secondary": [secondary("TOAN", 4)]},
            headers=local_infra.system_headers("sys-b"),
        )
        assert other_system.status_code == 403
        unknown = await http.get(
            "/classes/NO-SUCH-CLASS/records",
            params={"school_year": cls.school_year},
            headers=local_infra.headers("principal", a, f"{a}-HT"),
        )
        assert (
            unknown.status_code == 404
            and "check the class id" in unknown.json()["error"]["message"]
        )
    marks = await assessment.app.state.reader.marks(cls.class_id, cls.school_year)
    assert sorted((m.kind, m.period, m.submitted_by) for m in marks) == [
        ("conduct", "term_1", cls.homeroom_teacher.staff_id),
        ("subject", "regular_1_1", "GV-TOAN"),
    ]


async def test_the_operator_sees_record_ids_without_results_and_pages_carry_the_style_nonce(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    a = unique("MX-A")
    cls, pupils = await closed_class(assessment, a)
    params = {"school_year": cls.school_year}
    async with client(assessment) as http:
        seen = await http.get(
            f"/classes/{cls.class_id}/records",
            params=params,
            headers=local_infra.headers("operator"),
        )
        assert seen.status_code == 200
        records = seen.json()["records"]
        assert [r["student_id"] for r in records] == [p.student_id for p in pupils]
        assert all(set(r) == {"record_id", "record_version", "student_id"} for r in records)
        principal = local_infra.headers("principal", a, f"{a}-HT")
        full = (
            await http.get(f"/classes/{cls.class_id}/records", params=params, headers=principal)
        ).json()["records"]
        assert {r["level_label"] for r in full} == {"Hoàn thành xuất sắc"}
        assert [r["record_id"] for r in full] == [r["record_id"] for r in records]
        page = await http.get(f"/classes/{cls.class_id}/lists", params=params, headers=principal)
        nonce = re.search(r"style-src 'nonce-([^']+)'", page.headers["content-security-policy"])
        assert nonce is not None and f'<style nonce="{nonce.group(1)}">' in page.text
        card = await http.get(
            f"/classes/{cls.class_id}/students/{pupils[0].student_id}/report-card",
            params=params,
            headers=principal,
        )
        nonce = re.search(r"style-src 'nonce-([^']+)'", card.headers["content-security-policy"])
        assert nonce is not None and f'<style nonce="{nonce.group(1)}">' in card.text
    schema = assessment.app.openapi()["components"]["schemas"]["RecordOut"]
    assert "level" not in schema["required"] and "level_label" not in schema["required"]


async def test_a_school_systems_event_for_another_school_or_an_unknown_class_is_dead_lettered_and_not_stored(
    assessment: Assessment, local_infra: LocalInfra
) -> None:
    # Records makes the class known by its events (as it does for every later test's service, which
    # reads these topics from the start).
    a = unique("MX-A")
    cls = klass(grade=1, school_id=a, homeroom=f"{a}-GV1")
    victim, pupil = student(), student()
    await produce(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        [
            make_envelope(
                rec.StudentEnrolled(
                    enrollment_id=f"{cls.class_id}:{s.student_id}",
                    school_year=cls.school_year,
                    student=s,
                    school=school(a),
                    class_info=cls,
                ),
                source="hocba/records",
            )
            for s in (victim, pupil)
        ],
    )

    async def enrolled() -> Any:
        return (
            len(await assessment.app.state.reader.roster(cls.class_id, cls.school_year)) == 2
            or None
        )

    await eventually(enrolled, timeout=30)
    foreign = [
        make_envelope(mark(cls, victim.student_id, "TOAN", "C", 2), source=source)
        for source in (OTHER_SCHOOL_SYSTEM, "sys-b", "never-registered")
    ]
    close = make_envelope(
        ev.ClassYearCloseRequested(
            class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-X"
        ),
        source="sys-b",
    )
    nowhere = klass(grade=1, school_id=a)  # records never registered it
    unknown = make_envelope(mark(nowhere, pupil.student_id, "TOAN", "T", 9), source="sys-a")
    mine = make_envelope(mark(cls, pupil.student_id, "TOAN", "T", 9), source="sys-a")
    refused = [*foreign, close, unknown]
    await produce(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.name,
        [*foreign, close, unknown, mine],
        key=cls.class_id.encode(),
    )

    def ids(messages: list[Any]) -> set[str]:
        return {json.loads(m.value)["id"] for m in messages if m.value.startswith(b"{")}

    dead = await read_topic(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.dead_letter,
        until=lambda m: {e.id for e in refused} <= ids(m),
        timeout=60,
    )
    reasons = {
        json.loads(m.value)["id"]: dict(m.headers)["hocba-error"].decode()
        for m in dead
        if m.value.startswith(b"{") and json.loads(m.value)["id"] in {e.id for e in refused}
    }
    for event in (*foreign[:2], close):
        assert "not registered for school" in reasons[event.id] and a in reasons[event.id]
    assert "not a registered school system" in reasons[foreign[2].id]
    assert f"class {nowhere.class_id} is not known" in reasons[unknown.id]
    assert (
        "register the class with records" in reasons[unknown.id]
        and "send the event again" in reasons[unknown.id]
    )
    assert all(victim.full_name not in r and victim.citizen_id not in r for r in reasons.values())

    # The registered system's event in the same batch is stored; none of the refused ones is.
    async def stored() -> Any:
        return await assessment.app.state.reader.marks(cls.class_id, cls.school_year) or None

    marks = await eventually(stored, timeout=30)
    assert [(m.student_id, m.rating) for m in marks] == [(pupil.student_id, "T")]
    assert await assessment.app.state.reader.marks(nowhere.class_id, nowhere.school_year) == []
    assert await assessment.app.state.reader.closure(cls.class_id, cls.school_year) is None
    assert mine.id not in ids(
        await read_topic(
            local_infra.kafka_bootstrap,
            ASSESSMENT_INGEST.dead_letter,
            until=lambda m: unknown.id in ids(m),
        )
    )

    # As the reason says: once records has registered the class, the same event sent again is taken.
    registered = rec.ClassRegistered(**nowhere.model_dump())
    await produce(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        [make_envelope(registered, source="hocba/records")],
    )
    await produce(
        local_infra.kafka_bootstrap,
        ASSESSMENT_INGEST.name,
        [unknown],
        key=nowhere.class_id.encode(),
    )

    async def taken() -> Any:
        return (
            await assessment.app.state.reader.marks(nowhere.class_id, nowhere.school_year) or None
        )

    assert [m.student_id for m in await eventually(taken, timeout=30)] == [pupil.student_id]
