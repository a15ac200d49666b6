"""Assessment ingestion and year closing at city scale (issue 3's benchmark).

    .venv/bin/python bench/assessment_ingest.py [--students 132000]      (or: make bench-assessment)

A synthetic cohort across grades 1-5 (35 students a class, every subject of the grade, end-of-year
ratings and test scores) is entered as Kafka events, as school systems send them: the roster as
records' StudentEnrolled events, then SubjectAssessmentSubmitted on hocba.assessment.ingest; then
every class is closed. The assessment service runs as its own process against tansu and SecantusDB
(on disk), as in the local stack.

Measured: assessment events stored per second (until every mark is in the database; marks are
kept one document per student), the time to
close every class (until every year record is locked and emitted), the service's peak RSS. Baseline
in the same run: raw aiokafka produce and consume rates for as many messages of the same size.
Results: printed, and written to bench/results/assessment_ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from hocba_contracts import make_envelope
from hocba_contracts.payloads import assessment as asm
from hocba_contracts.payloads import records as rec
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StaffMember
from hocba_contracts.topics import ASSESSMENT_INGEST, RECORDS_EVENTS
from hocba_devstack import demo
from hocba_devstack.stack import DEFAULT_PORTS, Stack
from hocba_runtime.localstack import free_port
from pymongo import MongoClient

RESULTS = Path(__file__).parent / "results" / "assessment_ingest.json"
CLASS_SIZE = 35


def cohort(students: int) -> tuple[list[bytes], list[bytes], list[bytes], int]:
    """(roster events, assessment events, close events, marks expected), as JSON with their keys."""
    rng = random.Random(132_000)
    roster, marks, closes = [], [], []
    expected = 0
    for k in range((students + CLASS_SIZE - 1) // CLASS_SIZE):
        grade = k % 5 + 1
        school = SchoolProfile(school_id=f"079-TH-{k // 8:04d}", name=f"Trường Tiểu học số {k // 8}", level="primary",
                               province_code="079", province_name="Thành phố Hồ Chí Minh", district="Quận 1",
                               principal=StaffMember(staff_id=f"HT-{k // 8:04d}", full_name="Lê Văn Hùng"))
        klass = ClassProfile(class_id=f"C-{k:05d}", school_id=school.school_id, school_year=demo.SCHOOL_YEAR, grade=grade,
                             name=f"{grade}A", homeroom_teacher=StaffMember(staff_id=f"GV-{k:05d}", full_name="Phạm Thu Trang"))
        for n in range(min(CLASS_SIZE, students - k * CLASS_SIZE)):
            sid = f"HS{k:05d}{n:02d}"
            payload = demo.student_payload(rng, sid, school.school_id, grade)
            student = payload.model_dump(exclude={"school_id"})
            enrolled = make_envelope(rec.StudentEnrolled(enrollment_id=f"{klass.class_id}:{sid}", school_year=demo.SCHOOL_YEAR,
                                                         student=student, school=school, class_info=klass), source="bench")
            roster.append((enrolled.subject.encode(), enrolled.model_dump_json().encode()))
            for item in demo.assessments_for(rng, klass.class_id, sid, grade):
                env = make_envelope(item, source="bench")
                marks.append((env.subject.encode(), env.model_dump_json().encode()))
                expected += 1
        close = make_envelope(asm.ClassYearCloseRequested(class_id=klass.class_id, school_year=demo.SCHOOL_YEAR,
                                                          requested_by=klass.homeroom_teacher.staff_id), source="bench")
        closes.append((close.subject.encode(), close.model_dump_json().encode()))
    return roster, marks, closes, expected  # type: ignore[return-value]


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    t = time.perf_counter()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await producer.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - t


async def baseline(bootstrap: str, count: int, size: int) -> dict[str, float]:
    topic = f"bench.scratch.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 6, 1)])
    await admin.close()
    payload = b"x" * size
    seconds = await produce(bootstrap, topic, [(str(i % 5000).encode(), payload) for i in range(count)])
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                                enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    seen, t = 0, time.perf_counter()
    try:
        while seen < count:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                seen += len(batch)
    finally:
        await consumer.stop()
    return {"raw produce msg/s": count / seconds, "raw consume msg/s": count / (time.perf_counter() - t)}


def wait_for(measure: Callable[[], int], expected: int, timeout: float, label: str, every: float = 2.0) -> None:
    """Poll `measure()` until it reaches `expected`, printing progress; fail after `timeout`."""
    start = time.perf_counter()
    last = -1
    while (done := measure()) < expected:
        if done != last:
            print(f"  {label}: {done}/{expected} ({time.perf_counter() - start:.0f}s)", flush=True)
            last = done
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"{label}: {done}/{expected} after {timeout:.0f}s")
        time.sleep(every)


def marks_stored(collection: Any) -> int:
    """Marks in the one-document-per-student store."""
    pipeline = [{"$group": {"_id": None, "n": {"$sum": {"$size": {"$objectToArray": "$marks"}}}}}]
    return int(next(iter(collection.aggregate(pipeline)), {"n": 0})["n"])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=132_000)
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hocba-bench-assessment-"))
    stack = Stack(work, {name: free_port() for name in DEFAULT_PORTS})
    report: dict[str, Any] = {"students": args.students, "database": "SecantusDB on disk"}
    try:
        t = time.perf_counter()
        roster, marks, closes, expected = cohort(args.students)
        report["assessment events"] = len(marks)
        print(f"{args.students} students, {len(closes)} classes, {len(marks)} assessment events "
              f"(generated in {time.perf_counter() - t:.0f}s)", flush=True)
        stack.start_infra()
        report["baseline"] = asyncio.run(baseline(stack.kafka_bootstrap, len(marks), sum(len(v) for _, v in marks) // len(marks)))
        stack.start_service("assessment")
        stack.wait_ready(("assessment",))
        db = MongoClient(stack.mongo_uri)["hocba_assessment"]

        asyncio.run(produce(stack.kafka_bootstrap, RECORDS_EVENTS.name, roster))
        wait_for(db.roster.estimated_document_count, len(roster), args.timeout, "roster")
        start = time.perf_counter()
        asyncio.run(produce(stack.kafka_bootstrap, ASSESSMENT_INGEST.name, marks))
        wait_for(db.student_marks.estimated_document_count, args.students, args.timeout, "students with marks")
        # then the last students' remaining marks (counting them all is a full read: only at the end)
        wait_for(lambda: marks_stored(db.student_marks), expected, args.timeout, "marks stored", every=0.2)
        report["assessment events ingested /s"] = expected / (time.perf_counter() - start)
        start = time.perf_counter()
        asyncio.run(produce(stack.kafka_bootstrap, ASSESSMENT_INGEST.name, closes))
        wait_for(db.year_records.estimated_document_count, args.students, args.timeout, "year records locked")
        report["close every class, seconds"] = time.perf_counter() - start
        pid = stack.pid("assessment")
        report["service peak RSS MB"] = peak_rss_mb(pid) if pid else float("nan")
    finally:
        stack.stop()
    for key, value in report.pop("baseline", {}).items():
        print(f"  baseline: {key:<40} {value:>12,.0f}")
        report[f"baseline: {key}"] = value
    for key, value in report.items():
        if not key.startswith("baseline"):
            print(f"  {key:<50} {value:>12,.1f}" if isinstance(value, float) else f"  {key:<50} {value!s:>12}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
