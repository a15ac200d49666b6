"""Assessment's Kafka subscribers on FastStream's in-memory broker, with an in-memory store:
the decoding, upcasting and dispatch a school system's events go through."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import (  # noqa: E402
    FakeMarkStore,
    FakeStore,
    full_year,
    klass,
    school,
    student,
    subject_assessment,
)
from hocba_assessment.application.use_cases import AssessmentService  # noqa: E402
from hocba_assessment.config import AssessmentSettings  # noqa: E402
from hocba_assessment.entrypoints import kafka  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import assessment as ev  # noqa: E402
from hocba_contracts.payloads import records as rec  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_INGEST, RECORDS_EVENTS  # noqa: E402
from hocba_devstack.testing import TEST_SCHOOL_SYSTEM, TEST_SCHOOL_SYSTEMS  # noqa: E402
from hocba_runtime.auth import SchoolSystems  # noqa: E402
from hocba_runtime.kafka import make_broker  # noqa: E402

pytestmark = pytest.mark.unit


async def test_events_in_memory_reach_the_use_cases_and_old_versions_are_upcast() -> None:
    settings = AssessmentSettings(environment="development", retry_backoff_seconds=0.0)
    store = FakeStore()
    service = AssessmentService(store, FakeMarkStore(store))
    broker = make_broker(settings)
    kafka.register(broker, settings, service, SchoolSystems(TEST_SCHOOL_SYSTEMS))
    cls = klass(grade=1)
    pupil = student()
    enrolled = make_envelope(
        rec.StudentEnrolled(
            enrollment_id="e1",
            school_year=cls.school_year,
            student=pupil,
            school=school(),
            class_info=cls,
        ),
        source="hocba/records",
    )
    marks = [make_envelope(m, source=TEST_SCHOOL_SYSTEM) for m in full_year(cls, pupil.student_id)]
    # A school system still on version 1 of the event (field `subject`, not `subject_code`).
    v1 = marks[0].model_dump(mode="json")
    v1["version"] = 1
    v1["data"]["subject"] = v1["data"].pop("subject_code")
    v1["id"] = "old-version-event"
    close = make_envelope(
        ev.ClassYearCloseRequested(
            class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01"
        ),
        source=TEST_SCHOOL_SYSTEM,
    )
    async with TestKafkaBroker(broker) as br:
        await br.publish(
            enrolled.model_dump(mode="json"), RECORDS_EVENTS.name, key=enrolled.subject.encode()
        )
        await br.publish(v1, ASSESSMENT_INGEST.name, key=cls.class_id.encode())
        for env in [*marks[1:], close]:
            await br.publish(
                env.model_dump(mode="json"), ASSESSMENT_INGEST.name, key=cls.class_id.encode()
            )
    assert len(store.marks) == len(marks)
    assert any(
        subject_assessment(m).subject_code == marks[0].data.subject_code
        for m in store.marks.values()
    )
    assert [type(e.data).__name__ for _, e in store.emitted] == ["YearRecordClosed"]
    assert store.emitted[0][1].causation_id == close.id
