"""The outbox relay against the real local database and broker."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hocba_contracts import make_envelope
from hocba_contracts.payloads.records import StudentRegistered
from hocba_contracts.topics import RECORDS_EVENTS
from hocba_devstack.testing import LocalInfra, read_topic, unique
from hocba_runtime.kafka import RelayProducer
from hocba_runtime.mongo import Mongo
from hocba_runtime.outbox import Outbox, OutboxRelay
from hocba_runtime.uow import MongoUnitOfWork

pytestmark = pytest.mark.integration


def registered(student_id: str, n: int):  # type: ignore[no-untyped-def]
    return make_envelope(
        StudentRegistered(student_id=student_id, citizen_id=f"0792180{n:05d}", full_name=f"Học sinh {n}",
                          date_of_birth=date(2018, 1, 1), sex="male", place_of_birth="TP.HCM"),
        source="test",
    )


async def fresh_outbox(local_infra: LocalInfra) -> tuple[Mongo, Outbox, MongoUnitOfWork]:
    """An outbox in a database of its own, and a unit of work writing to it."""
    mongo = Mongo(local_infra.mongo_uri, unique("t_outbox"))
    outbox = Outbox(mongo)
    await outbox.ensure_indexes()
    return mongo, outbox, MongoUnitOfWork(mongo, outbox, "test")


async def test_relay_publishes_committed_events_in_key_order_once_leased(local_infra: LocalInfra) -> None:
    mongo, outbox, uow = await fresh_outbox(local_infra)
    keys = [unique("HS") for _ in range(3)]
    sent = {k: [] for k in keys}  # type: ignore[var-annotated]
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

    def all_there(msgs: list) -> bool:  # type: ignore[type-arg]
        return sum(1 for m in msgs if m.key and m.key.decode() in keys) >= 30

    got = await read_topic(local_infra.kafka_bootstrap, RECORDS_EVENTS.name, until=all_there)
    for key in keys:
        ids = [json.loads(m.value)["id"] for m in got if m.key == key.encode()]
        assert ids == sent[key]


async def test_events_recorded_together_are_published_in_order_from_one_entry(local_infra: LocalInfra,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk operation's events share outbox documents (split by size); each is published once, in
    its place among the single entries before and after it."""
    import hocba_runtime.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "BATCH_BYTES", 2000)  # a few events a document
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
    documents = await mongo.db[outbox.collection].count_documents({})
    assert 2 + 1 < documents < 2 + len(bulk)  # split by size, yet far fewer documents than events
    assert await outbox.pending() == 22

    producer = RelayProducer(local_infra.kafka_bootstrap, "test-relay")
    await producer.start()
    try:
        relay = OutboxRelay(outbox, producer, lease_seconds=30)
        assert await relay.drain_once() == 22
        assert await outbox.pending() == 0
    finally:
        await producer.stop()

    got = await read_topic(local_infra.kafka_bootstrap, RECORDS_EVENTS.name,
                           until=lambda msgs: sum(1 for m in msgs if m.key == key.encode()) >= 22)
    ids = [json.loads(m.value)["id"] for m in got if m.key == key.encode()]
    assert ids == [e.id for e in [first, *bulk, last]]


async def test_a_backlog_of_bulk_entries_is_drained_a_bounded_number_of_events_at_a_time(
        local_infra: LocalInfra, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay reads about `batch_size` events at a time, however many bulk entries wait."""
    import hocba_runtime.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "BATCH_BYTES", 2000)  # a few events a document
    mongo, outbox, uow = await fresh_outbox(local_infra)
    key = unique("HS")
    bulk = [registered(key, n) for n in range(30)]
    async with uow() as tx:
        await tx.emit_many(RECORDS_EVENTS.name, bulk)
    per_entry = max(len(bulk) // await mongo.db[outbox.collection].count_documents({}), 1)

    producer = RelayProducer(local_infra.kafka_bootstrap, "test-relay")
    await producer.start()
    try:
        relay = OutboxRelay(outbox, producer, batch_size=5, lease_seconds=30)
        drained = [await relay.drain_once()]
        assert 5 <= drained[0] < 5 + per_entry + 1 and await outbox.pending() == 30 - drained[0]
        while sum(drained) < 30:
            drained.append(await relay.drain_once())
            assert 0 < drained[-1] < 5 + per_entry + 1
        assert await relay.drain_once() == 0
    finally:
        await producer.stop()

    got = await read_topic(local_infra.kafka_bootstrap, RECORDS_EVENTS.name,
                           until=lambda msgs: sum(1 for m in msgs if m.key == key.encode()) >= 30)
    assert [json.loads(m.value)["id"] for m in got if m.key == key.encode()] == [e.id for e in bulk]
