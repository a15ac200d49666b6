"""After an end-to-end run, every service's database is readable by a MongoDB user: each document
of each collection has named fields (no binary-encoded document, no JSON in a string) and a
`schema_version`; processed events are forgotten after a retention (a TTL index); and the operator
notes' query for one student's marks in one subject (README) answers in plain MongoDB syntax.

Runs after the other end-to-end files when the whole suite runs (pytest takes them in name order),
so it walks what all of them stored; alone, it makes a run of its own first.

The one exception, field by field: `hocba_publishing.pdfs.pdf`, a sealed PDF file's bytes as they
are served (with its SHA-256 beside it). A file is not an encoded document: nothing in it is a field
a MongoDB user would query, and turning it into something else would not make it more readable.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import bson
import pytest
from hocba_contracts import make_envelope
from hocba_contracts.topics import ASSESSMENT_INGEST, RECORDS_INGEST
from hocba_devstack import client, smoke
from hocba_devstack.stack import SERVICES, Stack
from pymongo import MongoClient

pytestmark = pytest.mark.e2e

FILES = {("hocba_publishing", "pdfs", "pdf")}
"""(database, collection, top-level field) holding a file's bytes: see the module's docstring."""


def opaque(value: Any, path: str) -> list[str]:
    """The paths in a document holding bytes (a BSON binary) or a string that is a JSON object or
    array: an encoded document a MongoDB user cannot query."""
    if isinstance(value, (bytes, bson.Binary)):
        return [f"{path}: binary"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in opaque(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in opaque(v, f"{path}[{i}]")]
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return []
        return [f"{path}: JSON in a string"] if isinstance(parsed, (dict, list)) else []
    return []


def test_the_checks_find_what_they_look_for() -> None:
    assert opaque({"a": {"b": [1, bson.encode({"x": 1})]}}, "doc") == ["doc.a.b[1]: binary"]
    assert opaque({"s": '{"score": 7}', "t": " [1, 2]", "u": "{not json", "v": "[x]"}, "doc") == [
        "doc.s: JSON in a string",
        "doc.t: JSON in a string",
    ]
    assert opaque({"n": "HS-1", "d": "2024-05-01", "q": "7"}, "doc") == []


async def test_every_document_of_every_service_is_readable_and_versioned(stack: Stack) -> None:
    # An end-to-end run of its own (the other files' runs, when they ran before, are walked too).
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
    await client.wait_verified(
        stack.url("lookup"), [person], timeout=180, bootstrap=stack.kafka_bootstrap
    )

    problems: list[str] = []
    walked: dict[str, int] = {}
    with MongoClient[dict[str, Any]](stack.mongo_uri, tz_aware=True) as mongo:
        databases = sorted(d for d in mongo.list_database_names() if d.startswith("hocba_"))
        assert databases == sorted(f"hocba_{s}" for s in SERVICES)
        for name in databases:
            db = mongo[name]
            for collection in sorted(db.list_collection_names()):
                if collection.startswith("system."):
                    continue
                for doc in db[collection].find({}):
                    walked[f"{name}.{collection}"] = walked.get(f"{name}.{collection}", 0) + 1
                    where = f"{name}.{collection} {doc['_id']!r}"
                    if "schema_version" not in doc:
                        problems.append(f"{where}: no schema_version")
                    for field, value in doc.items():
                        if (
                            (name, collection, field) in FILES
                            and isinstance(value, bytes)
                            and value.startswith(b"%PDF")
                        ):
                            continue
                        problems += [f"{where}: {p}" for p in opaque(value, field)]
            # Processed events are forgotten 14 days (the default retention) after they were handled.
            ttl = [
                i
                for i in db.processed_events.index_information().values()
                if "expireAfterSeconds" in i
            ]
            assert [(i["key"], i["expireAfterSeconds"]) for i in ttl] == [
                ([("at", 1)], 14 * 86400)
            ], name
    assert not problems, "\n".join(problems[:40])
    # The run stored what the walk is about: marks, rosters, records, requests, documents, the trail.
    for expected in (
        "hocba_assessment.student_marks",
        "hocba_assessment.class_rosters",
        "hocba_assessment.class_records",
        "hocba_records.students",
        "hocba_signing.requests",
        "hocba_publishing.documents",
        "hocba_publishing.pdfs",
        "hocba_lookup.published",
        "hocba_assessment.processed_events",
        "hocba_records.audit_trail",
        "hocba_assessment.audit_trail",
    ):
        assert walked.get(expected), f"the run stored nothing in {expected}"


async def test_the_operator_notes_query_finds_one_students_marks_in_one_subject(
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
    await client.wait_verified(
        stack.url("lookup"),
        [(student.citizen_id, student.date_of_birth)],
        timeout=180,
        bootstrap=stack.kafka_bootstrap,
    )
    sent = {a.subject_code: a for a in assessments if getattr(a, "subject_code", None)}
    math = sent["TOAN"]

    with MongoClient[dict[str, Any]](stack.mongo_uri, tz_aware=True) as mongo:
        # As in README's operator notes: db.student_marks.find({student_id: ...}, {...: 1, "marks.TOAN": 1})
        found = list(
            mongo.hocba_assessment.student_marks.find(
                {"student_id": student.student_id},
                {"_id": 0, "class_id": 1, "school_year": 1, "marks.TOAN": 1},
            )
        )
        # ... and the plan uses the student_id index, not a scan of every student.
        plan = mongo.hocba_assessment.student_marks.find(
            {"student_id": student.student_id}
        ).explain()
    assert found == [
        {
            "class_id": math.class_id,
            "school_year": math.school_year,
            "marks": {
                "TOAN": {
                    "end_of_year": {
                        "subject_code": "TOAN",
                        "period": "end_of_year",
                        "rating": math.rating,
                        "score": math.score,
                        "comment": math.comment,
                        "submitted_by": math.submitted_by,
                        "events": found[0]["marks"]["TOAN"]["end_of_year"]["events"],
                    }
                }
            },
        }
    ]
    assert len(found[0]["marks"]["TOAN"]["end_of_year"]["events"]) == 1
    assert '"indexName": "student_id_1"' in json.dumps(
        plan["queryPlanner"]["winningPlan"], default=str
    )
