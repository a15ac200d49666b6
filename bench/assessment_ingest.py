"""Assessment ingestion and year closing at city scale (issue 3's benchmark).

    .venv/bin/python bench/assessment_ingest.py [--students 132000] [--replicas 2]
                                                                       (or: make bench-assessment)

A synthetic cohort across grades 1-5 (35 students a class, every subject of the grade, end-of-year
ratings and test scores) is entered as Kafka events, as school systems send them: the roster as
records' StudentEnrolled events, then SubjectAssessmentSubmitted on hocba.assessment.ingest; then
every class is closed. The events' source is registered as the school system of the cohort's
schools: each ingest event is admitted against its class's school (from the class profiles the
roster brought) before it is stored. The assessment service runs as its own processes against
tansu and SecantusDB (on disk), as in the local stack: by default two replicas, one a core, sharing
the topics' partitions as members of the service's consumer groups (`--replicas 1` for one process).
A Python process computes on one core; the second replica also keeps the database busy while the
first computes, which one process's alternating round trips cannot.

Measured: assessment events stored per second (from the first event sent until the service has
committed its offset past the last one, which it does only once a batch is stored), the time to
close every class (from the first close request until a year record of every student is published
on hocba.assessment.events; a record published twice counts once), the peak RSS of each replica
and of all together, and the CPU seconds the service (all replicas) and the database spent in each
phase. The progress is watched on the broker, so the watching costs the database
nothing; the stored marks and locked records are counted once at the end. Baseline in the same
run: raw aiokafka produce and consume rates for as many messages of the same size.
Results: printed, and written to bench/results/assessment_ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from hocba_contracts import make_envelope
from hocba_contracts.payloads import assessment as asm
from hocba_contracts.payloads import records as rec
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StaffMember
from hocba_contracts.topics import ASSESSMENT_EVENTS, ASSESSMENT_INGEST, RECORDS_EVENTS
from hocba_devstack import demo
from hocba_devstack.localstack import free_port, mongo_uri
from hocba_devstack.stack import DEFAULT_PORTS, Stack
from hocba_devstack.testing import eventually
from pymongo import MongoClient

RESULTS = Path(__file__).parent / "results" / "assessment_ingest.json"
CLASS_SIZE = 35
SOURCE = "bench"
"""The school system the cohort's events come from (each ingest event names it as its source)."""


def cohort(students: int) -> tuple[list[bytes], list[bytes], list[bytes], int]:
    """(roster events, assessment events, close events, marks expected), as JSON with their keys."""
    rng = random.Random(132_000)
    roster, marks, closes = [], [], []
    expected = 0
    for k in range((students + CLASS_SIZE - 1) // CLASS_SIZE):
        grade = k % 5 + 1
        school = SchoolProfile(
            school_id=f"079-TH-{k // 8:04d}",
            name=f"Trường Tiểu học số {k // 8}",
            level="primary",
            province_code="079",
            province_name="Thành phố Hồ Chí Minh",
            district="Quận 1",
            principal=StaffMember(staff_id=f"HT-{k // 8:04d}", full_name="Lê Văn Hùng"),
        )
        klass = ClassProfile(
            class_id=f"C-{k:05d}",
            school_id=school.school_id,
            school_year=demo.SCHOOL_YEAR,
            grade=grade,
            name=f"{grade}A",
            homeroom_teacher=StaffMember(staff_id=f"GV-{k:05d}", full_name="Phạm Thu Trang"),
        )
        for n in range(min(CLASS_SIZE, students - k * CLASS_SIZE)):
            sid = f"HS{k:05d}{n:02d}"
            payload = demo.student_payload(rng, sid, school.school_id, grade)
            student = payload.model_dump(exclude={"school_id"})
            enrolled = make_envelope(
                rec.StudentEnrolled(
                    enrollment_id=f"{klass.class_id}:{sid}",
                    school_year=demo.SCHOOL_YEAR,
                    student=student,
                    school=school,
                    class_info=klass,
                ),
                source=SOURCE,
            )
            roster.append((enrolled.subject.encode(), enrolled.model_dump_json().encode()))
            for item in demo.assessments_for(rng, klass.class_id, sid, grade):
                env = make_envelope(item, source=SOURCE)
                marks.append((env.subject.encode(), env.model_dump_json().encode()))
                expected += 1
        close = make_envelope(
            asm.ClassYearCloseRequested(
                class_id=klass.class_id,
                school_year=demo.SCHOOL_YEAR,
                requested_by=klass.homeroom_teacher.staff_id,
            ),
            source=SOURCE,
        )
        closes.append((close.subject.encode(), close.model_dump_json().encode()))
    return roster, marks, closes, expected  # type: ignore[return-value]


async def produce(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]
) -> tuple[float, dict[int, int]]:
    """Send the messages; (seconds, the offset after the last one sent to each partition)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    t = time.perf_counter()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await producer.flush()
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    ends: dict[int, int] = {}
    for meta in sent:
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    return time.perf_counter() - t, ends


async def baseline(bootstrap: str, count: int, size: int) -> dict[str, float]:
    topic = f"bench.scratch.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 6, 1)])
    await admin.close()
    payload = b"x" * size
    seconds, _ = await produce(
        bootstrap, topic, [(str(i % 5000).encode(), payload) for i in range(count)]
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    await consumer.start()
    seen, t = 0, time.perf_counter()
    try:
        while seen < count:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                seen += len(batch)
    finally:
        await consumer.stop()
    return {
        "raw produce msg/s": count / seconds,
        "raw consume msg/s": count / (time.perf_counter() - t),
    }


async def committed_through(
    bootstrap: str, group: str, topic: str, ends: dict[int, int], timeout: float
) -> None:
    """Wait until consumer group `group` has committed each partition of `topic` up to `ends`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    partitions = [TopicPartition(topic, p) for p in ends]
    total = sum(ends.values())
    start, shown = time.perf_counter(), 0.0

    async def all_committed() -> bool:
        nonlocal shown
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
        done = sum(
            min(max(offsets[tp].offset, 0), ends[tp.partition]) if tp in offsets else 0
            for tp in partitions
        )
        if done < total and time.perf_counter() - shown > 5:
            print(
                f"  {topic} committed by {group}: {done}/{total} ({time.perf_counter() - start:.0f}s)",
                flush=True,
            )
            shown = time.perf_counter()
        return done >= total

    try:
        await eventually(all_committed, timeout=timeout)
    finally:
        await admin.close()


async def count_published(
    bootstrap: str, topic: str, expected: int, timeout: float, ready: asyncio.Event
) -> int:
    """Read `topic` from its current end until messages with `expected` distinct keys (records)
    have arrived; returns how many arrived more than once."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    await consumer.start()
    try:
        await consumer.seek_to_end()
        for tp in consumer.assignment():
            await consumer.position(tp)  # fix the positions before anything is published
        ready.set()
        keys: set[bytes | None] = set()
        received, start, last = 0, time.perf_counter(), 0.0
        while len(keys) < expected:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                received += len(batch)
                keys.update(m.key for m in batch)
            if time.perf_counter() - last > 5:
                print(
                    f"  {topic}: {len(keys)}/{expected} ({time.perf_counter() - start:.0f}s)",
                    flush=True,
                )
                last = time.perf_counter()
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{topic}: {len(keys)}/{expected} after {timeout:.0f}s")
        return received - len(keys)
    finally:
        await consumer.stop()


async def close_all(
    bootstrap: str, closes: list[tuple[bytes, bytes]], students: int, timeout: float
) -> tuple[float, int]:
    """Send every class's close request; seconds until every record is published, and how many
    records were published more than once."""
    ready = asyncio.Event()
    watcher = asyncio.create_task(
        count_published(bootstrap, ASSESSMENT_EVENTS.name, students, timeout, ready)
    )
    await ready.wait()
    start = time.perf_counter()
    await produce(bootstrap, ASSESSMENT_INGEST.name, closes)
    repeated = await watcher
    return time.perf_counter() - start, repeated


def assignments(log: Path) -> dict[str, set[int]]:
    """Each consumer group's partitions in a service's latest assignment, from its log (tansu does
    not answer DescribeGroups, so the broker cannot be asked)."""
    found: dict[str, set[int]] = {}
    for line in log.read_text(errors="replace").splitlines() if log.exists() else ():
        if "assigned to partitions" in line:
            entry = json.loads(line)
            found[entry["group_id"]] = {
                int(p) for p in re.findall(r"partition=(\d+)", entry["msg"])
            }
    return found


def wait_shared(
    stack: Stack, replicas: tuple[str, ...], groups: dict[str, int], timeout: float
) -> None:
    """Wait until, in each group, the replicas hold disjoint shares of the partitions that together
    cover them all: the rebalance that the last replica's joining caused is over."""
    deadline = time.monotonic() + timeout
    while True:
        held = [assignments(stack.log_file(r)) for r in replicas]
        shares = {g: [h.get(g, set()) for h in held] for g in groups}
        if all(
            all(share) and sum(map(len, share)) == len(set().union(*share)) == groups[g]
            for g, share in shares.items()
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the replicas did not share the partitions after {timeout:.0f}s: {shares}"
            )
        time.sleep(0.5)


def cpu_seconds(*pids: int | None) -> float:
    """User and system CPU time of processes so far, together."""
    if None in pids:
        return float("nan")
    fields = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() for pid in pids]
    return sum(int(f[11]) + int(f[12]) for f in fields) / os.sysconf("SC_CLK_TCK")


def entries_in(collection: Any, field: str, depth: int = 1) -> int:
    """How many entries the documents' `field` maps hold together: the records of the per-class
    store (depth 1: by student), the marks of the per-student one (depth 2: by subject, then period)."""
    size: Any = {"$size": {"$objectToArray": "$$this.v"}}
    count = (
        {"$size": {"$objectToArray": {"$ifNull": [f"${field}", {}]}}}
        if depth == 1
        else {
            "$sum": {
                "$map": {"input": {"$objectToArray": {"$ifNull": [f"${field}", {}]}}, "in": size}
            }
        }
    )
    pipeline = [{"$group": {"_id": None, "n": {"$sum": count}}}]
    return int(next(iter(collection.aggregate(pipeline)), {"n": 0})["n"])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=132_000)
    parser.add_argument(
        "--replicas",
        type=int,
        default=2,
        help="assessment service processes (default 2: one a core)",
    )
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    parser.add_argument(
        "--no-retryable-writes",
        action="store_true",
        help="the service connects with retryWrites=false: SecantusDB keeps the reply of every "
        "retryable write (a write outside a transaction) for 30 minutes and scans them all at each "
        "such write, a cost of the stand-in that grows with the run (bench/pipeline_cohort.py)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hocba-bench-assessment-"))
    ports = {name: free_port() for name in DEFAULT_PORTS}
    env: dict[str, dict[str, str]] = {}
    if args.no_retryable_writes:
        env["assessment"] = {"MONGO_URI": mongo_uri(ports["database"]) + "&retryWrites=false"}
    # The benchmark's events come from one school system, registered for the cohort's schools.
    stack = Stack(work, ports, school_systems={SOURCE: ["079-TH-*"]}, extra_env=env)
    report: dict[str, Any] = {
        "students": args.students,
        "database": "SecantusDB on disk",
        "service replicas": args.replicas,
        "retryable writes": not args.no_retryable_writes,
    }
    try:
        t = time.perf_counter()
        roster, marks, closes, expected = cohort(args.students)
        report["assessment events"] = len(marks)
        print(
            f"{args.students} students, {len(closes)} classes, {len(marks)} assessment events "
            f"(generated in {time.perf_counter() - t:.0f}s)",
            flush=True,
        )
        stack.start_infra()
        report["baseline"] = asyncio.run(
            baseline(stack.kafka_bootstrap, len(marks), sum(len(v) for _, v in marks) // len(marks))
        )
        stack.start_service("assessment")
        replicas = (
            "assessment",
            *(stack.start_replica("assessment", i) for i in range(2, args.replicas + 1)),
        )
        stack.wait_ready(replicas)
        if len(replicas) > 1:  # the members join the groups one by one: wait for the last rebalance
            wait_shared(
                stack,
                replicas,
                {
                    "hocba-assessment-roster": RECORDS_EVENTS.partitions,
                    "hocba-assessment-ingest": ASSESSMENT_INGEST.partitions,
                },
                timeout=120,
            )
        db = MongoClient(stack.mongo_uri)["hocba_assessment"]

        _, ends = asyncio.run(produce(stack.kafka_bootstrap, RECORDS_EVENTS.name, roster))
        asyncio.run(
            committed_through(
                stack.kafka_bootstrap,
                "hocba-assessment-roster",
                RECORDS_EVENTS.name,
                ends,
                args.timeout,
            )
        )
        services, database = [stack.pid(r) for r in replicas], stack.pid("database")

        cpu = cpu_seconds(*services), cpu_seconds(database)
        start = time.perf_counter()
        _, ends = asyncio.run(produce(stack.kafka_bootstrap, ASSESSMENT_INGEST.name, marks))
        asyncio.run(
            committed_through(
                stack.kafka_bootstrap,
                "hocba-assessment-ingest",
                ASSESSMENT_INGEST.name,
                ends,
                args.timeout,
            )
        )
        seconds = time.perf_counter() - start
        report["assessment events ingested /s"] = expected / seconds
        report["ingest: seconds"] = seconds
        report["ingest: service CPU seconds"] = cpu_seconds(*services) - cpu[0]
        report["ingest: database CPU seconds"] = cpu_seconds(database) - cpu[1]
        stored = entries_in(db.student_marks, "marks", depth=2)
        if stored != expected:
            raise RuntimeError(f"{stored} marks stored, {expected} sent")

        cpu = cpu_seconds(*services), cpu_seconds(database)
        report["close every class, seconds"], repeated = asyncio.run(
            close_all(stack.kafka_bootstrap, closes, args.students, args.timeout)
        )
        report["close: records published more than once"] = repeated
        report["close: service CPU seconds"] = cpu_seconds(*services) - cpu[0]
        report["close: database CPU seconds"] = cpu_seconds(database) - cpu[1]
        locked = entries_in(db.class_records, "records")
        if locked != args.students:
            raise RuntimeError(f"{locked} year records locked for {args.students} students")
        rss = [peak_rss_mb(pid) if pid else float("nan") for pid in services]
        report["service peak RSS MB (largest replica)"] = max(rss)
        report["service peak RSS MB (all replicas)"] = sum(rss)
    finally:
        stack.stop()
    for key, value in report.pop("baseline", {}).items():
        print(f"  baseline: {key:<40} {value:>12,.0f}")
        report[f"baseline: {key}"] = value
    for key, value in report.items():
        if not key.startswith("baseline"):
            print(
                f"  {key:<50} {value:>12,.1f}"
                if isinstance(value, float)
                else f"  {key:<50} {value!s:>12}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
