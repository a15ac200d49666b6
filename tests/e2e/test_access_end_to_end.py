"""Access control on the running stack, as an outsider, a member of another school and a school
system writing for a school it does not serve would try it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hocba_contracts import make_envelope
from hocba_contracts.payloads import records as rec
from hocba_contracts.topics import RECORDS_INGEST
from hocba_devstack import client, demo, smoke
from hocba_devstack.stack import Stack
from hocba_devstack.testing import read_topic

pytestmark = pytest.mark.e2e

PROTECTED = {
    "records": [
        ("GET", "/students/HS079011001"),
        ("POST", "/students"),
        ("GET", "/classes/X/students"),
    ],
    "assessment": [
        ("POST", "/assessments"),
        ("POST", "/classes/X/unlock"),
        ("GET", "/classes/X/lists"),
    ],
    "signing": [("GET", "/signers/GV1/pending"), ("POST", "/batches/B1/signature")],
    "publishing": [("GET", "/documents/HB-2024-0000-0000-0000"), ("GET", "/records/R1/documents")],
}


async def test_every_service_answers_an_anonymous_caller_401_and_a_token_for_another_school_403(
    stack: Stack,
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for service, calls in PROTECTED.items():
            for method, path in calls:
                r = await http.request(method, stack.url(service) + path, json={})
                assert r.status_code == 401, (service, method, path, r.status_code)
                assert (
                    "server" not in r.headers
                    and "frame-ancestors 'none'" in r.headers["content-security-policy"]
                )
        # The lookup stays public: its page and the verification API need no token.
        assert (await http.get(stack.url("lookup") + "/")).status_code == 200

        records, _, student = smoke.events(uuid.uuid4().hex[:8])
        await client.publish(
            stack.kafka_bootstrap,
            RECORDS_INGEST.name,
            [make_envelope(p, source=smoke.SOURCE) for p in records],
        )
        school, klass = records[0], records[1]
        own = stack.headers("principal", school.school_id, school.principal.staff_id)

        async def registered() -> bool:
            r = await http.get(
                stack.url("records") + f"/students/{student.student_id}", headers=own
            )
            return r.status_code == 200

        from hocba_devstack.testing import eventually

        await eventually(registered, timeout=60)
        foreign_teacher = stack.headers("teacher", "079-TH-NBK", "079-TH-NBK-GV1A")
        r = await http.get(
            stack.url("records") + f"/students/{student.student_id}", headers=foreign_teacher
        )
        assert (
            r.status_code == 403
            and student.citizen_id not in r.text
            and student.full_name not in r.text
        )
        r = await http.get(
            stack.url("records") + f"/classes/{klass.class_id}/students", headers=foreign_teacher
        )
        assert r.status_code == 403


async def test_a_school_systems_event_for_another_school_is_dead_lettered_with_the_reason_and_not_stored(
    stack: Stack,
) -> None:
    import random

    run = uuid.uuid4().hex[:8]
    intruder = demo.student_payload(random.Random(run), f"HS-X-{run}", smoke.SMOKE_SCHOOL, 5)
    # The demo school system is registered for the three demo schools, not for the smoke check's school.
    event = make_envelope(intruder, source=demo.SOURCE)
    await client.publish(stack.kafka_bootstrap, RECORDS_INGEST.name, [event])

    def mine(messages: list[Any]) -> list[Any]:
        return [
            m
            for m in messages
            if m.value.startswith(b"{") and json.loads(m.value).get("id") == event.id
        ]

    dead = mine(
        await read_topic(
            stack.kafka_bootstrap,
            RECORDS_INGEST.dead_letter,
            until=lambda m: bool(mine(m)),
            timeout=60,
        )
    )
    reason = dict(dead[0].headers)["hocba-error"].decode()
    assert (
        f"school system '{demo.SOURCE}' is not registered for school '{smoke.SMOKE_SCHOOL}'"
        in reason
    )
    assert intruder.citizen_id not in reason and intruder.full_name not in reason
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.get(
            stack.url("records") + f"/students/{intruder.student_id}",
            headers=stack.headers("school_admin", smoke.SMOKE_SCHOOL, f"{smoke.SMOKE_SCHOOL}-QT"),
        )
    assert r.status_code == 404, "the intruder's student was not stored"
    assert isinstance(intruder, rec.StudentRegistrationSubmitted)
