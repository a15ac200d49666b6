"""Two replicas of the assessment service, as a city runs it on a machine's two cores: members of
the same consumer groups, one database and one outbox."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka.subscriber.usecase import LogicSubscriber

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from assessment_fixtures import full_year, klass, school, student  # noqa: E402
from hocba_assessment.bootstrap import Assessment, build  # noqa: E402
from hocba_assessment.config import AssessmentSettings  # noqa: E402
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads import assessment as ev  # noqa: E402
from hocba_contracts.payloads import records as rec  # noqa: E402
from hocba_contracts.payloads.common import ClassProfile  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_EVENTS, ASSESSMENT_INGEST, RECORDS_EVENTS  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    TEST_SCHOOL_SYSTEM,
    LocalInfra,
    eventually,
    payloads,
    produce,
    read_topic,
    unique,
)

pytestmark = pytest.mark.integration


def ingest_partitions(replica: Assessment) -> set[int]:
    """The partitions of the ingest topic this replica's consumer holds now."""
    consumers: list[AIOKafkaConsumer] = []
    for sub in replica.runtime.broker.subscribers:
        assert isinstance(sub, LogicSubscriber)
        if sub.consumer is not None:
            consumers.append(sub.consumer)
    return {
        tp.partition
        for c in consumers
        if ASSESSMENT_INGEST.name in c.subscription()
        for tp in c.assignment()
    }


async def test_two_replicas_share_the_partitions_and_close_every_class_once(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> None:
    settings = AssessmentSettings(
        **local_infra.settings(
            service_name=unique("assessment"), mongo_database=unique_db("assessment")
        )
    )
    replicas = [build(settings), build(settings)]
    for replica in replicas:
        await replica.runtime.start()
    try:

        async def shared() -> list[set[int]] | None:
            held = [ingest_partitions(r) for r in replicas]
            return (
                held
                if all(held) and len(held[0] | held[1]) == ASSESSMENT_INGEST.partitions
                else None
            )

        held = await eventually(shared, timeout=60)  # the second member's join rebalances the group
        partitions = list(range(ASSESSMENT_INGEST.partitions))
        # Classes whose keys land on both replicas' partitions: each replica closes some of them.
        classes: list[ClassProfile] = []
        owners: set[int] = set()
        while len(classes) < 4 or owners != {0, 1}:
            cls = klass(grade=1)
            p = DefaultPartitioner()(cls.class_id.encode(), partitions, partitions)
            owners.add(0 if p in held[0] else 1)
            classes.append(cls)
        pupils = {cls.class_id: [student() for _ in range(3)] for cls in classes}
        enrolled = [
            make_envelope(
                rec.StudentEnrolled(
                    enrollment_id=f"{c.class_id}:{s.student_id}",
                    school_year=c.school_year,
                    student=s,
                    school=school(),
                    class_info=c,
                ),
                source="hocba/records",
            )
            for c in classes
            for s in pupils[c.class_id]
        ]
        await produce(local_infra.kafka_bootstrap, RECORDS_EVENTS.name, enrolled)

        async def enrolled_all() -> bool | None:
            sizes = [
                len(await replicas[0].app.state.reader.roster(c.class_id, c.school_year))
                for c in classes
            ]
            return sizes == [3] * len(classes) or None

        await eventually(enrolled_all, timeout=30)
        src = TEST_SCHOOL_SYSTEM
        for c in classes:
            marks = [
                make_envelope(m, source=src)
                for s in pupils[c.class_id]
                for m in full_year(c, s.student_id)
            ]
            close = make_envelope(
                ev.ClassYearCloseRequested(
                    class_id=c.class_id, school_year=c.school_year, requested_by="GV-01"
                ),
                source=src,
            )
            await produce(
                local_infra.kafka_bootstrap,
                ASSESSMENT_INGEST.name,
                [*marks, close],
                key=c.class_id.encode(),
            )

        wanted = {s.student_id for group in pupils.values() for s in group}

        def mine(msgs: list[Any]) -> list[dict[str, Any]]:
            return [p for p in payloads(msgs) if p["data"]["student"]["student_id"] in wanted]

        out = await read_topic(
            local_infra.kafka_bootstrap,
            ASSESSMENT_EVENTS.name,
            until=lambda m: {p["data"]["student"]["student_id"] for p in mine(m)} == wanted,
            timeout=60,
        )
        assert {p["data"]["record_version"] for p in mine(out)} == {1}
        for c in classes:  # each class locked once, by whichever replica holds its partition
            locked = await replicas[1].app.state.reader.records(c.class_id, c.school_year)
            assert sorted(r.student_id for r in locked) == sorted(
                s.student_id for s in pupils[c.class_id]
            )
            assert {r.record_version for r in locked} == {1}
    finally:
        for replica in replicas:
            await replica.runtime.stop()
