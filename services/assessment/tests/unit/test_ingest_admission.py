"""The ingest consumer's admission of a school system's events, on FastStream's in-memory broker
with an in-memory store: the class's school decides, a batch waits a little for classes records
has not made known yet, and the common case reads nothing more."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import FakeMarkStore, FakeStore, klass, mark, student, subject_assessment  # noqa: E402
from hocba_assessment.application.use_cases import AssessmentService  # noqa: E402
from hocba_assessment.config import AssessmentSettings  # noqa: E402
from hocba_assessment.domain.model import ClassProfileUpdate  # noqa: E402
from hocba_assessment.entrypoints.kafka import BatchHandler  # noqa: E402
from hocba_contracts import dead_letter_topic, make_envelope  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_INGEST  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    OTHER_SCHOOL_SYSTEM,
    TEST_SCHOOL_SYSTEM,
    TEST_SCHOOL_SYSTEMS,
    eventually,
)
from hocba_runtime.auth import SchoolSystems  # noqa: E402
from hocba_runtime.kafka import make_broker  # noqa: E402

pytestmark = pytest.mark.unit


@dataclass
class Record:
    """A consumed record as aiokafka hands it over."""

    value: bytes
    offset: int
    key: bytes = b"class"
    topic: str = ASSESSMENT_INGEST.name
    partition: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def records(envelopes: list[Any]) -> list[Record]:
    return [Record(e.model_dump_json().encode(), offset=i) for i, e in enumerate(envelopes)]


def setup(
    wait: float,
) -> tuple[KafkaBroker, BatchHandler, AssessmentService, FakeStore, FakeMarkStore, list[Any]]:
    settings = AssessmentSettings(
        environment="development", retry_backoff_seconds=0.0, unknown_class_wait_seconds=wait
    )
    store = FakeStore()
    marks = FakeMarkStore(store)
    service = AssessmentService(store, marks)
    broker = make_broker(settings)
    dead: list[Any] = []

    @broker.subscriber(dead_letter_topic(ASSESSMENT_INGEST.name))
    async def on_dead(body: Any) -> None:
        dead.append(body)

    return (
        broker,
        BatchHandler(broker, settings, service, SchoolSystems(TEST_SCHOOL_SYSTEMS)),
        service,
        store,
        marks,
        dead,
    )


async def test_a_batch_waits_for_a_class_records_makes_known_meanwhile_and_then_reads_nothing_more() -> (
    None
):
    broker, handler, service, store, marks, dead = setup(wait=30)
    cls, pupil = klass(grade=1), student()
    batch = records(
        [
            make_envelope(mark(cls, pupil.student_id, code), source=TEST_SCHOOL_SYSTEM)
            for code in ("TV", "TOAN")
        ]
    )
    async with TestKafkaBroker(broker):
        waiting = asyncio.create_task(handler.ingest(batch))
        await eventually(
            lambda: len(marks.profile_reads) >= 2, timeout=10
        )  # it looked, and looks again
        assert not store.marks
        await service.record_roster([ClassProfileUpdate(cls, datetime.now(UTC))], [])
        await asyncio.wait_for(waiting, timeout=10)
        assert len(store.marks) == 2 and not dead
        # The class's school is known now: the next batch of it reads no profile at all.
        reads = len(marks.profile_reads)
        await handler.ingest(
            records([make_envelope(mark(cls, pupil.student_id, "DD"), source=TEST_SCHOOL_SYSTEM)])
        )
        assert len(marks.profile_reads) == reads and len(store.marks) == 3


async def test_events_of_a_class_still_unknown_after_the_wait_are_dead_lettered_and_the_rest_stored() -> (
    None
):
    broker, handler, service, store, marks, dead = setup(wait=0.3)
    known, unknown, pupil = klass(grade=1), klass(grade=1), student()
    await service.record_roster([ClassProfileUpdate(known, datetime.now(UTC))], [])
    foreign = make_envelope(mark(known, pupil.student_id, "TV"), source=OTHER_SCHOOL_SYSTEM)
    lost = make_envelope(mark(unknown, pupil.student_id, "TV"), source=TEST_SCHOOL_SYSTEM)
    good = make_envelope(mark(known, pupil.student_id, "TOAN"), source=TEST_SCHOOL_SYSTEM)
    async with TestKafkaBroker(broker):
        await handler.ingest(records([foreign, lost, good]))
        assert sorted(d["id"] for d in dead) == sorted([foreign.id, lost.id])
        assert [subject_assessment(m).subject_code for m in store.marks.values()] == ["TOAN"]
        assert (
            len(marks.profile_reads) > 2
        )  # it waited for the unknown class, reading its profile again
        assert all(
            reads == {unknown.class_id} for reads in marks.profile_reads[1:]
        )  # and only its profile
        # Once records registers it, the event sent again is taken.
        await service.record_roster([ClassProfileUpdate(unknown, datetime.now(UTC))], [])
        await handler.ingest(records([lost]))
        assert len(store.marks) == 2 and len(dead) == 2


async def test_a_close_of_a_class_missing_assessments_is_dead_lettered_naming_them_and_locks_nothing() -> (
    None
):
    import json

    from assessment_fixtures import school, secondary_year
    from faststream.kafka.annotations import KafkaMessage
    from hocba_assessment.domain.model import RosterEntry
    from hocba_contracts.payloads import assessment as ev

    broker, handler, service, store, _, _ = setup(wait=0)
    refused: list[dict[str, str]] = []

    @broker.subscriber(dead_letter_topic(ASSESSMENT_INGEST.name), group_id="headers")
    async def on_refused(_body: Any, message: KafkaMessage) -> None:
        refused.append(dict(message.headers))

    cls, done, late = klass(grade=7), student(), student()
    await service.record_roster(
        [ClassProfileUpdate(cls, datetime.now(UTC))],
        [(RosterEntry(p, school(), cls), None) for p in (done, late)],
    )
    feed = [
        *secondary_year(cls, done.student_id),
        *secondary_year(cls, late.student_id, skip={("TOAN", "mid_term_1")}),
    ]

    def close(**kw: Any) -> Any:
        return make_envelope(
            ev.ClassYearCloseRequested(
                class_id=cls.class_id, school_year=cls.school_year, requested_by="GV-01", **kw
            ),
            source=TEST_SCHOOL_SYSTEM,
        )

    first = close()
    async with TestKafkaBroker(broker):
        await handler.ingest(
            records([*(make_envelope(i, source=TEST_SCHOOL_SYSTEM) for i in feed), first])
        )
        await eventually(lambda: refused, timeout=10)
        assert refused[0]["hocba-error-type"] == "CloseRefused"
        assert [
            (d["student_id"], d["field"]) for d in json.loads(refused[0]["hocba-error-details"])
        ] == [(late.student_id, "TOAN")]
        assert (
            late.student_id in refused[0]["hocba-error"]
            and "mid_term_1" in refused[0]["hocba-error"]
        )
        assert not store.closures and not store.emitted
        assert [e.action for e in store.audit] == ["close_refused"]
        # Redelivered: nothing more. Closed on purpose although incomplete: one record, for `done`.
        await handler.ingest(records([first, close(even_if_incomplete=True)]))
        assert [e.action for e in store.audit] == ["close_refused", "close"]
        assert [e.data.student.student_id for _, e in store.emitted] == [done.student_id]
        assert len(refused) == 1
