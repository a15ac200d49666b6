"""The outbox relay against the real local database and broker."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import bson
import pytest
from hocba_contracts import Envelope, make_envelope
from hocba_contracts.payloads.records import StudentRegistered
from hocba_contracts.topics import RECORDS_EVENTS
from hocba_devstack.testing import LocalInfra, eventually, read_topic, unique
from hocba_runtime.inbox import ensure_inbox_indexes
from hocba_runtime.kafka import RelayProducer
from hocba_runtime.mongo import Mongo
from hocba_runtime.outbox import Outbox, OutboxRelay
from hocba_runtime.uow import MongoUnitOfWork

pytestmark = pytest.mark.integration


def registered(student_id: str, n: int) -> Envelope[Any]:
    return make_envelope(
        StudentRegistered(
            student_id=student_id,
            citizen_id=f"0792180{n:05d}",
            full_name=f"Học sinh {n}",
            date_of_birth=date(2018, 1, 1),
            sex="male",
            place_of_birth="TP.HCM",
        ),
        source="test",
    )


async def fresh_outbox(local_infra: LocalInfra) -> tuple[Mongo, Outbox, MongoUnitOfWork]:
    """An outbox in a database of its own, and a unit of work writing to it."""
    mongo = Mongo(local_infra.mongo_uri, unique("t_outbox"))
    outbox = Outbox(mongo)
    await outbox.ensure_indexes()
    return mongo, outbox, MongoUnitOfWork(mongo, outbox, "test")


async def test_relay_publishes_committed_events_in_key_order_once_leased(
    local_infra: LocalInfra,
) -> None:
    mongo, outbox, uow = await fresh_outbox(local_infra)
    keys = [unique("HS") for _ in range(3)]
    sent: dict[str, list[str]] = {k: [] for k in keys}
    for i in range(30):
        env = registered(keys[i % 3], i)
        async with uow() as tx:
            await tx.emit(RECORDS_EVENTS.name, env)
        sent[env.subject].append(env.id)
    with pytest.raises(RuntimeError):
        async with uow() as tx:
            await tx.emit(RECORDS_EVENTS.name, registered(keys[0], 99))
            raise RuntimeError("rolled back")
    assert await outbox.pending() == 30

    producer = RelayProducer(local_infra.kafka_bootstrap, "test-relay")
    await producer.start()
    try:
        relay = OutboxRelay(outbox, producer, lease_seconds=30)
        rival = OutboxRelay(outbox, producer, lease_seconds=30)
        assert await relay.lease.hold() is True
        assert await rival.lease.hold() is False
        assert await relay.drain_once() == 30
        assert await outbox.pending() == 0
    finally:
        await producer.stop()

    def all_there(msgs: list[Any]) -> bool:
        return sum(1 for m in msgs if m.key and m.key.decode() in keys) >= 30

    got = await read_topic(local_infra.kafka_bootstrap, RECORDS_EVENTS.name, until=all_there)
    for key in keys:
        ids = [json.loads(m.value)["id"] for m in got if m.key == key.encode()]
        assert ids == sent[key]


async def test_events_recorded_together_are_one_readable_document_each_published_in_order(
    local_infra: LocalInfra,
) -> None:
    """A bulk operation's events are one document each (written in one insert), as readable as a
    single event's; each is published once, as it was recorded, in its place among the single
    entries before and after it."""
    mongo, outbox, uow = await fresh_outbox(local_infra)
    key = unique("HS")
    first, last = registered(key, 0), registered(key, 99)
    bulk = [registered(key, n) for n in range(1, 21)]
    async with uow() as tx:
        await tx.emit(RECORDS_EVENTS.name, first)
    async with uow() as tx:
        await tx.emit_many(RECORDS_EVENTS.name, bulk)
    async with uow() as tx:
        await tx.emit(RECORDS_EVENTS.name, last)
    assert await outbox.pending() == 22
    stored = await mongo.db[outbox.collection].find({}).to_list(None)
    assert len(stored) == 22
    for doc in stored:
        assert (
            doc["schema_version"] == 1 and doc["topic"] == RECORDS_EVENTS.name and doc["key"] == key
        )
        assert doc["envelope"]["id"] == doc["_id"] and doc["envelope"]["subject"] == key
        assert doc["envelope"]["data"]["full_name"].startswith(
            "Học sinh"
        )  # a sub-document, not JSON or BSON
        assert not any(isinstance(v, bytes) for v in doc.values())
    # An operator finds a stuck event by its type or its data, without Python.
    assert (
        await mongo.db[outbox.collection].count_documents(
            {"envelope.type": first.type, "envelope.data.full_name": "Học sinh 7"}
        )
        == 1
    )

    producer = RelayProducer(local_infra.kafka_bootstrap, "test-relay")
    await producer.start()
    try:
        relay = OutboxRelay(outbox, producer, lease_seconds=30)
        assert await relay.drain_once() == 22
        assert await outbox.pending() == 0
    finally:
        await producer.stop()

    got = await read_topic(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        until=lambda msgs: sum(1 for m in msgs if m.key == key.encode()) >= 22,
    )
    mine = [json.loads(m.value) for m in got if m.key == key.encode()]
    assert [m["id"] for m in mine] == [e.id for e in [first, *bulk, last]]
    assert mine == [json.loads(e.model_dump_json()) for e in [first, *bulk, last]]


async def test_a_backlog_is_drained_batch_size_events_at_a_time(local_infra: LocalInfra) -> None:
    """A relay reads `batch_size` events at a time, however many wait."""
    mongo, outbox, uow = await fresh_outbox(local_infra)
    key = unique("HS")
    bulk = [registered(key, n) for n in range(30)]
    async with uow() as tx:
        await tx.emit_many(RECORDS_EVENTS.name, bulk)

    producer = RelayProducer(local_infra.kafka_bootstrap, "test-relay")
    await producer.start()
    try:
        relay = OutboxRelay(outbox, producer, batch_size=7, lease_seconds=30)
        drained = [await relay.drain_once() for _ in range(5)]
        assert drained == [7, 7, 7, 7, 2] and await outbox.pending() == 0
        assert await relay.drain_once() == 0
    finally:
        await producer.stop()

    got = await read_topic(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        until=lambda msgs: sum(1 for m in msgs if m.key == key.encode()) >= 30,
    )
    assert [json.loads(m.value)["id"] for m in got if m.key == key.encode()] == [e.id for e in bulk]


async def test_a_pass_drains_the_whole_backlog_from_one_query_in_order(
    local_infra: LocalInfra,
) -> None:
    """The relay's pass publishes every waiting event, `batch_size` at a time, in the order they
    were recorded, with one transaction's events and single ones interleaved."""
    mongo, outbox, uow = await fresh_outbox(local_infra)
    keys = [unique("HS") for _ in range(2)]
    recorded: list[Envelope[Any]] = []
    for round_ in range(3):
        bulk = [registered(keys[n % 2], round_ * 10 + n) for n in range(9)]
        async with uow() as tx:
            await tx.emit_many(RECORDS_EVENTS.name, bulk)
        single = registered(keys[0], 90 + round_)
        async with uow() as tx:
            await tx.emit(RECORDS_EVENTS.name, single)
        recorded += [*bulk, single]

    producer = RelayProducer(local_infra.kafka_bootstrap, "test-relay")
    await producer.start()
    try:
        relay = OutboxRelay(outbox, producer, batch_size=7, lease_seconds=30)
        assert await relay.drain_pass() == 30 and await outbox.pending() == 0
        assert await relay.drain_pass() == 0
    finally:
        await producer.stop()

    got = await read_topic(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        until=lambda msgs: sum(1 for m in msgs if m.key and m.key.decode() in keys) >= 30,
    )
    for key in keys:
        ids = [json.loads(m.value)["id"] for m in got if m.key == key.encode()]
        assert ids == [e.id for e in recorded if e.subject == key]


async def test_a_pass_stops_when_its_lease_is_lost(local_infra: LocalInfra) -> None:
    """A pass longer than a third of its lease renews it between batches; once another replica has
    taken it (the lease expired while a batch was being sent), the pass stops and leaves the rest,
    published by the new holder, not by both."""
    mongo, outbox, uow = await fresh_outbox(local_infra)
    key = unique("HS")
    async with uow() as tx:
        await tx.emit_many(RECORDS_EVENTS.name, [registered(key, n) for n in range(20)])

    producer = RelayProducer(local_infra.kafka_bootstrap, "test-relay")
    await producer.start()
    relay = OutboxRelay(outbox, producer, batch_size=7, lease_seconds=0.3)
    rival = OutboxRelay(outbox, producer, batch_size=7, lease_seconds=30)
    sent = 0

    async def slow_first_send(
        topic: str, key: bytes, value: bytes, headers: Mapping[str, str]
    ) -> Awaitable[Any]:
        nonlocal sent
        sent += 1
        if sent == 1:  # the holder stalls until its lease has run out and the rival has taken it
            assert await eventually(rival.lease.hold, timeout=10, interval=0.05) is True
        return await producer(topic, key, value, headers)

    relay.publish = slow_first_send
    try:
        assert await relay.lease.hold() is True
        assert await relay.drain_pass() == 7
        assert await outbox.pending() == 13
        assert await rival.drain_pass() == 13 and sent == 7
    finally:
        await producer.stop()


async def test_entries_of_the_binary_schema_are_rewritten_one_event_a_document_and_published_in_order(
    local_infra: LocalInfra,
) -> None:
    """Entries stored before readable ones (an event's JSON in a binary `value`, a bulk operation's
    events as BSON in a binary `batch`) become one document per event at start, keeping their order."""
    mongo, outbox, uow = await fresh_outbox(local_infra)
    key = unique("HS")
    single, bulk, later = (
        registered(key, 0),
        [registered(key, n) for n in range(1, 6)],
        registered(key, 9),
    )
    then = datetime.now(UTC) - timedelta(minutes=5)
    coll = mongo.db[outbox.collection]
    await coll.insert_many(
        [
            {
                "_id": single.id,
                "topic": RECORDS_EVENTS.name,
                "key": key,
                "value": single.model_dump_json().encode(),
                "headers": {},
                "created_at": then,
            },
            {
                "_id": f"batch:{bulk[0].id}:000000",
                "topic": RECORDS_EVENTS.name,
                "count": len(bulk),
                "headers": {},
                "created_at": then + timedelta(seconds=1),
                "batch": bson.encode(
                    {
                        "messages": [
                            {"_id": e.id, "key": key, "value": e.model_dump_json().encode()}
                            for e in bulk
                        ]
                    }
                ),
            },
        ]
    )
    await coll.create_index([("created_at", 1), ("_id", 1)])  # the earlier schema's order
    async with uow() as tx:  # recorded after the upgrade, before the next start
        await tx.emit(RECORDS_EVENTS.name, later)

    await outbox.ensure_indexes()  # the next start
    assert await outbox.migrate() == 0  # nothing left to rewrite
    assert "created_at_1__id_1" not in await coll.index_information()
    docs = await coll.find({}).sort(outbox.order).to_list(None)
    assert [d["_id"] for d in docs] == [e.id for e in [single, *bulk, later]]
    assert all(
        d["schema_version"] == 1 and not any(isinstance(v, bytes) for v in d.values()) for d in docs
    )
    assert docs[1]["envelope"] == json.loads(bulk[0].model_dump_json())

    producer = RelayProducer(local_infra.kafka_bootstrap, "test-relay")
    await producer.start()
    try:
        assert await OutboxRelay(outbox, producer, lease_seconds=30).drain_once() == 7
    finally:
        await producer.stop()
    got = await read_topic(
        local_infra.kafka_bootstrap,
        RECORDS_EVENTS.name,
        until=lambda msgs: sum(1 for m in msgs if m.key == key.encode()) >= 7,
    )
    assert [json.loads(m.value) for m in got if m.key == key.encode()] == [
        json.loads(e.model_dump_json()) for e in [single, *bulk, later]
    ]


async def test_processed_events_are_tagged_and_forgotten_after_the_retention_set(
    local_infra: LocalInfra,
) -> None:
    mongo, _, uow = await fresh_outbox(local_infra)
    await ensure_inbox_indexes(mongo, timedelta(days=14))
    async with uow.many(["ev-1", "ev-2"]):
        pass
    async with uow("ev-3"):
        pass
    docs = await mongo.db.processed_events.find({}).sort("_id").to_list(None)
    assert [(d["_id"], d["consumer"], d["event_id"], d["schema_version"]) for d in docs] == [
        ("test:ev-1", "test", "ev-1", 1),
        ("test:ev-2", "test", "ev-2", 1),
        ("test:ev-3", "test", "ev-3", 1),
    ]
    assert all(isinstance(d["at"], datetime) for d in docs)

    def ttl(info: Mapping[str, Any]) -> list[tuple[Any, Any]]:
        return [
            (i["key"], i.get("expireAfterSeconds"))
            for i in info.values()
            if "expireAfterSeconds" in i
        ]

    assert ttl(await mongo.db.processed_events.index_information()) == [([("at", 1)], 14 * 86400)]
    await ensure_inbox_indexes(mongo, timedelta(days=14))  # a restart changes nothing
    await ensure_inbox_indexes(
        mongo, timedelta(days=30)
    )  # a longer retention is applied to the index
    assert ttl(await mongo.db.processed_events.index_information()) == [([("at", 1)], 30 * 86400)]
    async with uow("ev-3") as tx:
        assert tx.duplicate  # still remembered
