"""End to end, as a school system and a parent use Hocba: events in, verified records out."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from collections import defaultdict
from typing import Any

import httpx
import pytest
from hocba_contracts import make_envelope
from hocba_contracts.payloads import assessment as asm
from hocba_contracts.payloads import records as rec
from hocba_contracts.topics import ASSESSMENT_INGEST, PUBLISHING_EVENTS, RECORDS_INGEST
from hocba_devstack import client, demo, smoke
from hocba_devstack.stack import Stack
from hocba_devstack.testing import eventually, read_all, read_topic

pytestmark = pytest.mark.e2e


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


async def test_kafka_events_become_a_published_verified_record_with_a_vietnamese_pdf(
    stack: Stack,
) -> None:
    records, assessments, student = smoke.events(uuid.uuid4().hex[:8])
    await client.publish(
        stack.kafka_bootstrap,
        RECORDS_INGEST.name,
        [make_envelope(p, source=smoke.SOURCE) for p in records],
    )
    await client.publish(
        stack.kafka_bootstrap,
        ASSESSMENT_INGEST.name,
        [make_envelope(p, source=smoke.SOURCE) for p in assessments],
    )

    person = (student.citizen_id, student.date_of_birth)
    found = await client.wait_verified(
        stack.url("lookup"), [person], timeout=120, bootstrap=stack.kafka_bootstrap
    )
    doc = found[person]
    assert doc["verification"]["valid"] is True
    assert {s["role"] for s in doc["verification"]["signatures"]} == {
        "homeroom_teacher",
        "principal",
        "school_seal",
    }

    async with httpx.AsyncClient(timeout=30) as school:
        code = await client.issue_code(
            school,
            stack.url("lookup"),
            student.student_id,
            stack.headers("school_admin", smoke.SMOKE_SCHOOL, f"{smoke.SMOKE_SCHOOL}-QT"),
        )
    async with httpx.AsyncClient(timeout=30) as http:
        listed = await client.parent_records(
            http, stack.url("lookup"), student.citizen_id, student.date_of_birth, code
        )
        summary = listed["years"][0]["versions"][0]
        assert summary["document_id"] == doc["document_id"]
        pdf = await http.get(summary["pdf_url"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        page = await http.get(stack.url("lookup") + f"/verify/{doc['document_id']}")
        assert "Hợp lệ" in page.text and student.full_name in page.text
    text = pdf_text(pdf.content)
    assert student.full_name in text, "the PDF must carry the name with its Vietnamese diacritics"
    import io

    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    context = ValidationContext(
        trust_roots=[load_cert_from_pemder(str(stack.pki.root_file))],  # type: ignore[no-untyped-call]  # pyhanko's loader is untyped
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    seal = await async_validate_pdf_signature(
        PdfFileReader(io.BytesIO(pdf.content)).embedded_signatures[0], context
    )
    assert seal.intact and seal.valid and seal.trusted, "the PDF is sealed (PAdES) by its school"
    assert seal.signing_cert.subject.native["user_id"] == smoke.SMOKE_SCHOOL
    assert doc["document_id"] in text


async def test_one_trace_follows_a_request_from_http_through_kafka_to_the_lookup(
    stack: Stack,
) -> None:
    run = uuid.uuid4().hex[:8]
    records, assessments, student = smoke.events(run)
    school, klass, reg, enrollment = records
    traces: dict[str, str] = {}
    system = stack.system_headers(smoke.SOURCE)
    async with httpx.AsyncClient(timeout=30, headers=system) as http:
        for path, body in (
            ("/schools", school),
            ("/classes", klass),
            ("/students", reg),
            ("/enrollments", enrollment),
        ):
            r = await http.post(
                stack.url("records") + path, json=json.loads(body.model_dump_json())
            )
            assert r.status_code < 300, (path, r.status_code, r.text)
            traces["records"] = r.headers["traceparent"].split("-")[1]
        items = [
            json.loads(a.model_dump_json())
            for a in assessments
            if isinstance(a, asm.SubjectAssessmentSubmitted)
        ]

        async def roster_known() -> bool:
            # Marks by HTTP are refused for students assessment does not know to be in the class yet.
            r = await http.get(
                stack.url("assessment") + f"/classes/{klass.class_id}/gradebook-template",
                params={"school_year": klass.school_year},
            )
            return r.status_code == 200

        await eventually(roster_known, timeout=30)
        r = await http.post(stack.url("assessment") + "/assessments", json={"items": items})
        assert r.status_code == 200 and r.json()["accepted"] == len(items), r.text
        r = await http.post(
            stack.url("assessment") + f"/classes/{klass.class_id}/close",
            json={
                "school_year": klass.school_year,
                "requested_by": klass.homeroom_teacher.staff_id,
            },
        )
        assert r.status_code == 200, r.text
        traces["assessment"] = r.headers["traceparent"].split("-")[1]

    await client.wait_verified(
        stack.url("lookup"),
        [(student.citizen_id, student.date_of_birth)],
        timeout=120,
        bootstrap=stack.kafka_bootstrap,
    )

    # The close request's trace carries on through signing and publishing to the lookup.
    downstream = {"signing", "publishing", "lookup"}

    def full_trace() -> set[str] | None:
        spans = [
            json.loads(line) for line in stack.spans_file.read_text().splitlines() if line.strip()
        ]
        for origin, trace_id in traces.items():
            services = {s["service"] for s in spans if s["trace_id"] == trace_id}
            if {origin, "assessment"} | downstream <= services:
                return services
        return None

    seen = await eventually(full_trace, timeout=20)
    assert downstream <= seen


async def test_malformed_ingest_event_is_dead_lettered_and_later_events_still_flow(
    stack: Stack,
) -> None:
    run = uuid.uuid4().hex[:8]
    records, _, student = smoke.events(run)
    bad = json.loads(make_envelope(records[2], source=smoke.SOURCE).model_dump_json())
    bad["data"]["citizen_id"] = "12345"  # not 12 digits
    bad["id"] = f"bad-{run}"
    producer_payloads = [b"{this is not json " + run.encode(), json.dumps(bad).encode()]
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        for value in producer_payloads:
            await producer.send_and_wait(
                RECORDS_INGEST.name, value, key=records[0].school_id.encode()
            )
    finally:
        await producer.stop()
    await client.publish(
        stack.kafka_bootstrap,
        RECORDS_INGEST.name,
        [make_envelope(p, source=smoke.SOURCE) for p in records],
    )

    def mine(msgs: list[Any]) -> list[Any]:
        return [m for m in msgs if run.encode() in m.value]

    dead = await read_topic(
        stack.kafka_bootstrap,
        RECORDS_INGEST.dead_letter,
        until=lambda m: len(mine(m)) >= 2,
        timeout=60,
    )
    for message in mine(dead):
        headers = dict(message.headers)
        assert headers.get("hocba-error"), "a dead letter says what was wrong"
    errors = " ".join(dict(m.headers)["hocba-error"].decode() for m in mine(dead))
    assert "citizen_id" in errors
    assert "12345" not in errors, "personal data never goes into error headers"

    async with httpx.AsyncClient(timeout=10, headers=stack.system_headers(smoke.SOURCE)) as http:

        async def registered() -> bool:
            return (
                await http.get(stack.url("records") + f"/students/{student.student_id}")
            ).status_code == 200

        await eventually(registered, timeout=60)


async def test_sigkill_of_a_consumer_mid_stream_loses_nothing_and_publishes_nothing_twice(
    stack: Stack,
) -> None:
    run = uuid.uuid4().hex[:8]
    records, assessments, _ = smoke.events(run)
    school, klass = records[0], records[1]
    students = []
    rng_events: list[Any] = [school, klass]
    asm_events: list[Any] = []
    import random

    rng = random.Random(run)
    count = 40
    for n in range(count):
        sid = f"HS-K{run}-{n:03d}"
        s = demo.student_payload(rng, sid, school.school_id, klass.grade, klass.school_year)
        students.append(s)
        rng_events += [
            s,
            rec.EnrollmentSubmitted(
                student_id=sid,
                class_id=klass.class_id,
                school_id=school.school_id,
                school_year=klass.school_year,
            ),
        ]
        asm_events += demo.assessments_for(rng, klass.class_id, sid, klass.grade, klass.school_year)
    asm_events.append(
        asm.ClassYearCloseRequested(
            class_id=klass.class_id,
            school_year=klass.school_year,
            requested_by=klass.homeroom_teacher.staff_id,
        )
    )
    await client.publish(
        stack.kafka_bootstrap,
        RECORDS_INGEST.name,
        [make_envelope(p, source=smoke.SOURCE) for p in rng_events],
    )
    await client.publish(
        stack.kafka_bootstrap,
        ASSESSMENT_INGEST.name,
        [make_envelope(p, source=smoke.SOURCE) for p in asm_events],
    )

    ids = {s.student_id for s in students}

    def published(msgs: list[Any]) -> list[dict[str, Any]]:
        out = []
        for m in msgs:
            body = json.loads(m.value)
            if body["data"]["student_id"] in ids:
                out.append(body)
        return out

    # Kill the publishing service (a consumer of signing's events) once some, not all, are out.
    await read_topic(
        stack.kafka_bootstrap,
        PUBLISHING_EVENTS.name,
        until=lambda m: len(published(m)) >= 3,
        timeout=120,
    )
    stack.kill("publishing", signal.SIGKILL)
    at_kill = published(await read_all(stack.kafka_bootstrap, PUBLISHING_EVENTS.name))
    assert len({b["data"]["record_id"] for b in at_kill}) < count, (
        "the kill must land in the middle of the stream"
    )
    stack.start_service("publishing")
    stack.wait_ready(("publishing",))

    people = [(s.citizen_id, s.date_of_birth) for s in students]
    found = await client.wait_verified(
        stack.url("lookup"), people, timeout=240, bootstrap=stack.kafka_bootstrap
    )
    assert len(found) == count, "nothing lost"

    await read_topic(
        stack.kafka_bootstrap,
        PUBLISHING_EVENTS.name,
        until=lambda m: len({b["data"]["record_id"] for b in published(m)}) >= count,
    )
    # Everything on the topic by now, not only up to the message that completed the count: a
    # second publication may come after the first of every record.
    events = published(await read_all(stack.kafka_bootstrap, PUBLISHING_EVENTS.name))
    # What a second publication would repeat is the announcement of a record version: another
    # RecordPublished event (a new event id) for the same (record_id, record_version). The
    # document id cannot show it: it is derived from the record id and version, so a record
    # published twice has the same document id both times.
    publications: dict[tuple[str, int], set[str]] = defaultdict(set)
    for body in events:
        publications[(body["data"]["record_id"], body["data"]["record_version"])].add(body["id"])
    twice = {version: ids for version, ids in publications.items() if len(ids) != 1}
    assert not twice, f"each record version is published once, never twice: {twice}"
    assert len(publications) == count, "one version of each record, one publication each"
    # A message the relay re-sent after the kill carries the same event id: consumers drop it.
    assert len({b["id"] for b in events}) == count
    principal = stack.headers("principal", school.school_id, school.principal.staff_id)
    async with httpx.AsyncClient(timeout=10, headers=principal) as http:
        for record_id, _ in list(publications)[:5]:
            versions = (
                await http.get(stack.url("publishing") + f"/records/{record_id}/documents")
            ).json()
            assert len(versions["documents"] if isinstance(versions, dict) else versions) == 1


async def test_a_teacher_bulk_signs_a_class_once_and_each_record_verifies_on_its_own(
    stack: Stack,
) -> None:
    import base64
    import random

    from hocba_trust.canonical import canonical_bytes
    from hocba_trust.cms import TrustList, sign_detached, verify_document_signature

    run = uuid.uuid4().hex[:8]
    records, _, _ = smoke.events(run)
    school, klass = records[0], records[1]
    teacher_id = f"EXT-GV-{run}"
    klass = klass.model_copy(
        update={
            "homeroom_teacher": klass.homeroom_teacher.model_copy(update={"staff_id": teacher_id})
        }
    )
    rng = random.Random(run)
    students, events = [], [school, klass]
    marks: list[Any] = []
    for n in range(5):
        sid = f"HS-B{run}-{n}"
        s = demo.student_payload(rng, sid, school.school_id, klass.grade, klass.school_year)
        students.append(s)
        events += [
            s,
            rec.EnrollmentSubmitted(
                student_id=sid,
                class_id=klass.class_id,
                school_id=school.school_id,
                school_year=klass.school_year,
            ),
        ]
        marks += demo.assessments_for(rng, klass.class_id, sid, klass.grade, klass.school_year)
    marks.append(
        asm.ClassYearCloseRequested(
            class_id=klass.class_id, school_year=klass.school_year, requested_by=teacher_id
        )
    )
    await client.publish(
        stack.kafka_bootstrap,
        RECORDS_INGEST.name,
        [make_envelope(p, source=smoke.SOURCE) for p in events],
    )
    await client.publish(
        stack.kafka_bootstrap,
        ASSESSMENT_INGEST.name,
        [make_envelope(p, source=smoke.SOURCE) for p in marks],
    )

    teacher = stack.headers("teacher", school.school_id, teacher_id)
    async with httpx.AsyncClient(timeout=30, headers=teacher) as http:

        async def waiting() -> bool:
            return (
                len(
                    (await http.get(stack.url("signing") + f"/signers/{teacher_id}/pending")).json()
                )
                == 5
            )

        await eventually(waiting, timeout=120)
        batch = (
            await http.post(
                stack.url("signing") + f"/signers/{teacher_id}/batches",
                json={"role": "homeroom_teacher"},
            )
        ).json()
        assert batch["documents"] == 5
        # The teacher's own app signs the root statement once, with her certificate.
        identity = stack.pki.issue(teacher_id, klass.homeroom_teacher.full_name, save=False)
        cms = sign_detached(base64.b64decode(batch["content_b64"]), identity)
        signed = (
            await http.post(
                stack.url("signing") + f"/batches/{batch['batch_id']}/signature",
                json={"cms": base64.b64encode(cms).decode()},
            )
        ).json()
        assert signed == {"batch_id": batch["batch_id"], "signed": 5, "completed": 5}

        found = await client.wait_verified(
            stack.url("lookup"),
            [(s.citizen_id, s.date_of_birth) for s in students],
            timeout=120,
            bootstrap=stack.kafka_bootstrap,
        )
        one = next(iter(found.values()))
        published = (
            await http.get(
                stack.url("publishing") + f"/documents/{one['document_id']}",
                headers=stack.headers("principal", school.school_id, school.principal.staff_id),
            )
        ).json()
    teacher_sig = next(s for s in published["signatures"] if s["role"] == "homeroom_teacher")
    assert teacher_sig["batch"]["statement"]["tree_size"] == 5
    trust = TrustList.from_pem_files([str(stack.pki.root_file)])
    verified = verify_document_signature(
        canonical_bytes(published["document"]), teacher_sig["cms"], teacher_sig["batch"], trust
    )
    assert teacher_id in verified.signer_subject
