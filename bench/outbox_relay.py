"""What the outbox costs the database per event: today's relay against a change-stream reader.

    .venv/bin/python bench/outbox_relay.py [--events 20000] [--per-transaction 35]

Why: at 132,000 students the year close spent about two thirds of the database's CPU on the outbox
(measured per command in the 2026-12-03 session: deletes 47 s, inserts 24 s, the relay's sorted
reads 14 s, out of 130 s). This measures that cost apart from the rest of the close, so that a
change of relay can be judged on its own.

Both sides commit the same events the way a close does (one transaction a class, `per-transaction`
year records of about 3 KB each, through `Outbox`'s own entry form), while a relay publishes them to
the local broker; both are timed from the first commit until every event is published.
- `relay`: `OutboxRelay.drain_pass`, as the services run it: one sorted cursor over the backlog,
  each published batch then deleted.
- `change stream`: the same entries read from a change stream on the outbox (inserts only) and
  published with the same producer, the resume token saved after each batch; nothing deleted (the
  entries would be removed later, off the close's path; that deletion is not measured here).
Measured: the database's CPU seconds and the wall time for each, on their own database server.
Results: printed, and written to bench/results/outbox_relay.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hocba_contracts.topics import ASSESSMENT_EVENTS
from hocba_devstack.localstack import free_port
from hocba_devstack.stack import DEFAULT_PORTS, Stack
from hocba_runtime.kafka import RelayProducer
from hocba_runtime.mongo import Mongo
from hocba_runtime.outbox import Outbox, OutboxRelay, _entry, message_value

TOPIC = ASSESSMENT_EVENTS.name


def envelope(n: int) -> dict[str, Any]:
    """A primary year record's envelope, of the size and depth a close emits (about 3 KB)."""
    teacher = {"staff_id": "GV-079-0001", "full_name": "Nguyễn Thị Thu Hà"}
    return {
        "id": str(uuid.uuid4()),
        "type": "hocba.assessment.year_record_closed",
        "version": 2,
        "source": "hocba-assessment",
        "time": datetime.now(UTC).isoformat(),
        "subject": f"HS-B-{n:06d}",
        "correlation_id": str(uuid.uuid4()),
        "causation_id": str(uuid.uuid4()),
        "data": {
            "record_id": f"HB-2025-{n:06d}",
            "record_version": 1,
            "school_year": "2025-2026",
            "student": {
                "student_id": f"HS-B-{n:06d}",
                "full_name": "Trần Thị Bích Ngọc",
                "date_of_birth": "2019-03-04",
                "sex": "female",
                "ethnicity": "Kinh",
                "place_of_birth": "TP. Hồ Chí Minh",
            },
            "school": {"school_id": "079-TH-001", "name": "Trường Tiểu học Lê Văn Tám"},
            "class_info": {
                "class_id": "079-TH-001-1A",
                "school_id": "079-TH-001",
                "school_year": "2025-2026",
                "grade": 1,
                "name": "1A",
                "homeroom_teacher": teacher,
                "subject_teachers": [{"subject_code": f"S{k}", **teacher} for k in range(8)],
            },
            "subjects": [
                {
                    "subject_code": f"S{k}",
                    "rating": "T",
                    "score": 9.0 if k < 2 else None,
                    "comment": "Hoàn thành tốt nội dung môn học, tích cực phát biểu.",
                }
                for k in range(11)
            ],
            "result": {
                "level": "HTT",
                "level_label": "Hoàn thành tốt",
                "commendation": "Học sinh có thành tích xuất sắc",
                "promotion": "promoted",
                "promotion_label": "Được lên lớp",
            },
            "closed_at": datetime.now(UTC).isoformat(),
        },
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def commit_all(mongo: Mongo, outbox: Outbox, events: int, per_tx: int) -> None:
    """The close's writes to the outbox: a transaction a class, its records in one insert."""
    coll = mongo.db[outbox.collection]
    for first in range(0, events, per_tx):
        now = datetime.now(UTC).replace(microsecond=0)
        docs = [
            _entry(TOPIC, e, e["subject"], {}, now)
            for e in (envelope(n) for n in range(first, min(events, first + per_tx)))
        ]
        async with mongo.transaction() as session:
            await coll.insert_many(docs, session=session)
        outbox.notify()


async def by_relay(outbox: Outbox, producer: RelayProducer, events: int) -> None:
    relay = OutboxRelay(outbox, producer)
    assert await relay.lease.hold()
    published = 0
    while published < events:
        done = await relay.drain_pass()
        published += done
        if not done:
            await outbox.wait(0.2)


async def by_change_stream(
    mongo: Mongo, outbox: Outbox, producer: RelayProducer, events: int, opened: asyncio.Event
) -> None:
    coll = mongo.db[outbox.collection]
    published = 0
    async with coll.watch(
        [{"$match": {"operationType": "insert"}}], max_await_time_ms=200, batch_size=500
    ) as stream:
        opened.set()
        while published < events:
            batch: list[dict[str, Any]] = []
            while len(batch) < 500 and (change := await stream.try_next()) is not None:
                batch.append(change["fullDocument"])
            if not batch:
                continue
            acks = [
                await producer(e["topic"], e["key"].encode(), message_value(e), {}) for e in batch
            ]
            await asyncio.gather(*acks)
            await mongo.db.outbox_position.update_one(
                {"_id": "relay"}, {"$set": {"resume_token": stream.resume_token}}, upsert=True
            )
            published += len(batch)


async def measure(stack: Stack, side: str, events: int, per_tx: int) -> dict[str, float]:
    mongo = Mongo(stack.mongo_uri, f"bench_outbox_{uuid.uuid4().hex[:6]}")
    outbox = Outbox(mongo)
    await outbox.ensure_indexes()
    producer = RelayProducer(stack.kafka_bootstrap, f"bench-{side}")
    await producer.start()
    database = stack.pid("database")
    assert database is not None
    try:
        if side == "change stream":
            opened = asyncio.Event()
            reader = asyncio.create_task(by_change_stream(mongo, outbox, producer, events, opened))
            await opened.wait()
        else:
            reader = asyncio.create_task(by_relay(outbox, producer, events))
        cpu, start = cpu_seconds(database), time.perf_counter()
        await commit_all(mongo, outbox, events, per_tx)
        await reader
        return {
            "seconds": time.perf_counter() - start,
            "database CPU seconds": cpu_seconds(database) - cpu,
        }
    finally:
        await producer.stop()
        await mongo.client.drop_database(mongo.db.name)
        mongo.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--per-transaction", type=int, default=35)
    args = parser.parse_args()
    stack = Stack(
        Path(tempfile.mkdtemp(prefix="hocba-bench-outbox-")),
        {name: free_port() for name in DEFAULT_PORTS},
    )
    report: dict[str, Any] = {"events": args.events, "database": "SecantusDB on disk"}
    try:
        stack.start_infra()
        for side in ("relay", "change stream"):
            report[side] = asyncio.run(measure(stack, side, args.events, args.per_transaction))
            report[side]["database CPU ms an event"] = (
                report[side]["database CPU seconds"] * 1000 / args.events
            )
            print(f"  {side:<14} " + "  ".join(f"{k} {v:,.2f}" for k, v in report[side].items()))
    finally:
        stack.stop()
    out = Path(__file__).parent / "results" / "outbox_relay.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
