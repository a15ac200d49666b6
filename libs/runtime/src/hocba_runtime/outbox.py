"""Transactional outbox: state and the events announcing it commit in one MongoDB transaction.

A relay publishes committed entries to Kafka, oldest first, keeping each key's order, and then
deletes them. A crash between publishing and deleting publishes an entry again with the same
event id; consumers drop it (at-least-once delivery, idempotent consumers). Several replicas may
run: a lease in `outbox_lease` lets one relay at a time publish.

One document per event, readable by an operator, a change stream or an outbox router::

    {_id: <event id>, schema_version: 1, topic: "hocba.assessment.events", key: <Kafka key>,
     headers: {traceparent: ...}, envelope: {id, type, version, source, time, subject,
     correlation_id, causation_id, data: {...}}, created_at: <date>, seq: <int>}

`envelope` is the event as published (its JSON is the Kafka message's value). Entries are published
in (`created_at`, `seq`) order, an index: `seq` grows within a process, so the events one
transaction recorded (a class's closed year is some 35 records, `put_many`) keep their order.
A bulk operation writes its events with one `insert_many`; the relay reads the backlog with one
query, in order, and deletes each batch it published with one bulk write.

Entries of the earlier schema (untagged: an event's JSON, or a bulk operation's events as BSON, in a
binary field) are rewritten as one document per event by `ensure_indexes`, in their order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import bson
from hocba_contracts import Envelope
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pymongo import ASCENDING, DeleteMany
from pymongo.errors import PyMongoError

from hocba_runtime.lease import Lease, LeasedJob
from hocba_runtime.mongo import Mongo, Session, in_chunks, is_duplicate_key
from hocba_runtime.tracing import context_from, current_carrier, tracer

log = logging.getLogger("hocba.outbox")

Publish = Callable[[str, bytes, bytes, Mapping[str, str]], Awaitable[Awaitable[Any]]]
"""publish(topic, key, value, headers): hands the message to the producer, in call order, and
returns what to await for the broker's acknowledgement (so that a batch is sent pipelined)."""

SCHEMA_VERSION = 1
OLD_FORM = {"schema_version": {"$exists": False}}
"""Entries of the schema before readable ones: an event as JSON in `value`, or many as BSON in `batch`."""
OLD_INDEX = "created_at_1__id_1"


class _Sequence:
    """Nanoseconds since the epoch, but strictly growing within the process."""

    last = 0

    @classmethod
    def next(cls) -> int:
        cls.last = max(cls.last + 1, time.time_ns())
        return cls.last


def _at(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)  # what MongoDB keeps: milliseconds


def _entry(
    topic: str, envelope: dict[str, Any], key: str, headers: Mapping[str, str], at: datetime
) -> dict[str, Any]:
    return {
        "_id": envelope["id"],
        "schema_version": SCHEMA_VERSION,
        "topic": topic,
        "key": key,
        "headers": dict(headers),
        "envelope": envelope,
        "created_at": at,
        "seq": _Sequence.next(),
    }


def message_value(entry: Mapping[str, Any]) -> bytes:
    """The Kafka message of an entry: its envelope as compact JSON (as pydantic writes it)."""
    return json.dumps(entry["envelope"], ensure_ascii=False, separators=(",", ":")).encode()


class Outbox:
    collection = "outbox"
    order = [("created_at", ASCENDING), ("seq", ASCENDING)]

    def __init__(self, mongo: Mongo) -> None:
        self.mongo = mongo
        self._wake = asyncio.Event()

    async def ensure_indexes(self) -> None:
        coll = self.mongo.db[self.collection]
        await coll.create_index(self.order)
        await self.migrate()
        if (
            OLD_INDEX in await coll.index_information()
        ):  # the earlier schema's order: no longer read
            await coll.drop_index(OLD_INDEX)

    @staticmethod
    def _entry(
        topic: str, envelope: Envelope[Any], headers: Mapping[str, str], at: datetime
    ) -> dict[str, Any]:
        return _entry(topic, envelope.model_dump(mode="json"), envelope.subject, headers, at)

    async def put(self, topic: str, envelope: Envelope[Any], session: Session) -> None:
        """Record an event to publish, inside the caller's transaction."""
        await self.mongo.db[self.collection].insert_one(
            self._entry(topic, envelope, current_carrier(), _at(datetime.now(UTC))), session=session
        )

    async def put_many(self, topic: str, envelopes: list[Envelope[Any]], session: Session) -> None:
        """Record many events, in their order, inside the caller's transaction: one insert."""
        if envelopes:
            headers, now = current_carrier(), _at(datetime.now(UTC))
            await self.mongo.db[self.collection].insert_many(
                [self._entry(topic, e, headers, now) for e in envelopes], session=session
            )

    def notify(self) -> None:
        """Wake the relay (after a commit) instead of waiting for its next poll."""
        self._wake.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
        self._wake.clear()

    async def pending(self) -> int:
        """Events waiting to be published."""
        return int(await self.mongo.db[self.collection].count_documents({}))

    async def migrate(self) -> int:
        """Rewrite the entries of the earlier schema as one document per event, with their creation
        time and in their order, each entry in a transaction of its own (its events inserted, the
        entry deleted); returns the events rewritten. Another replica doing the same at once makes
        one of the two transactions fail on the events' ids: that entry is already done."""
        coll = self.mongo.db[self.collection]
        rewritten = 0
        async for entry in (
            coll.find(OLD_FORM).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).batch_size(16)
        ):
            messages = (
                bson.decode(bytes(entry["batch"]))["messages"] if "batch" in entry else [entry]
            )
            docs = [
                _entry(
                    entry["topic"],
                    json.loads(bytes(m["value"])),
                    m["key"],
                    entry.get("headers") or {},
                    entry["created_at"],
                )
                for m in messages
            ]
            try:
                async with self.mongo.transaction() as session:
                    if (
                        await coll.delete_one({"_id": entry["_id"], **OLD_FORM}, session=session)
                    ).deleted_count:
                        await coll.insert_many(docs, session=session)
            except PyMongoError as exc:
                if not (is_duplicate_key(exc) or exc.has_error_label("TransientTransactionError")):
                    raise
                continue
            rewritten += len(docs)
        if rewritten:
            log.info(
                "outbox entries rewritten as one document per event", extra={"events": rewritten}
            )
        return rewritten


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        publish: Publish,
        *,
        poll_seconds: float = 0.2,
        batch_size: int = 500,
        lease_seconds: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self.publish = publish
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.lease = Lease(outbox.mongo, "outbox_lease", "relay", lease_seconds)
        self._job = LeasedJob(
            self.lease, self._drain, lambda: outbox.wait(poll_seconds), "outbox-relay"
        )

    async def drain_once(self) -> int:
        """Publish the oldest `batch_size` events; returns how many were published."""
        coll = self.outbox.mongo.db[self.outbox.collection]
        entries = (
            await coll.find({})
            .sort(self.outbox.order)
            .limit(self.batch_size)
            .to_list(self.batch_size)
        )
        await self._send(entries)
        return len(entries)

    async def drain_pass(self) -> int:
        """Publish every event waiting, oldest first, `batch_size` at a time from one cursor (one
        query for a backlog, not one a batch: a sorted query costs the database the whole backlog's
        scan, and a batch at a time made draining a backlog quadratic). A long pass renews the lease
        as it goes and stops if it is lost; events committed during the pass wait for the next one.
        Returns how many were published."""
        coll = self.outbox.mongo.db[self.outbox.collection]
        published, renewed = 0, time.monotonic()
        batch: list[dict[str, Any]] = []
        cursor = coll.find({}).sort(self.outbox.order).batch_size(self.batch_size)
        try:
            async for entry in cursor:
                batch.append(entry)
                if len(batch) < self.batch_size:
                    continue
                await self._send(batch)
                published, batch = published + len(batch), []
                if time.monotonic() - renewed > self.lease.seconds / 3:
                    if not await self.lease.hold():
                        return published
                    renewed = time.monotonic()
            await self._send(batch)
            return published + len(batch)
        finally:
            await cursor.close()

    async def _send(self, entries: list[dict[str, Any]]) -> None:
        """Publish entries, in their order, then delete them."""
        if not entries:
            return
        coll = self.outbox.mongo.db[self.outbox.collection]
        # Handed to the producer in order (one key's events stay in order: they share a partition),
        # acknowledged together; the events of one transaction (same topic, same trace) in one span.
        acks: list[Awaitable[Any]] = []
        for group in _runs(entries):
            acks.extend(await self._publish_run(group))
        await asyncio.gather(*acks)
        await coll.bulk_write(
            [DeleteMany({"_id": {"$in": chunk}}) for chunk in in_chunks(e["_id"] for e in entries)],
            ordered=False,
        )

    async def _publish_run(self, entries: list[dict[str, Any]]) -> list[Awaitable[Any]]:
        """Hand events of one topic and one transaction to the producer, in a producer span carrying
        the context of that transaction; returns the acknowledgements to await."""
        first = entries[0]
        token = otel_context.attach(context_from(first.get("headers")))
        try:
            attributes: dict[str, Any] = {
                "messaging.system": "kafka",
                "messaging.destination.name": first["topic"],
            }
            if len(entries) > 1:
                attributes["messaging.batch.message_count"] = len(entries)
            else:
                attributes["messaging.message.id"] = first["_id"]
            with tracer().start_as_current_span(
                f"{first['topic']} publish", kind=trace.SpanKind.PRODUCER, attributes=attributes
            ):
                headers: dict[str, str] = {}
                propagate.inject(headers)
                return [
                    await self.publish(e["topic"], e["key"].encode(), message_value(e), headers)
                    for e in entries
                ]
        finally:
            otel_context.detach(token)

    async def _drain(self) -> bool:
        # Go again at once if this pass had a backlog: more was likely committed meanwhile.
        return await self.drain_pass() >= self.batch_size

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()


def _runs(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive entries of the same topic and the same trace context."""
    runs: list[list[dict[str, Any]]] = []
    for entry in entries:
        if (
            runs
            and runs[-1][0]["topic"] == entry["topic"]
            and runs[-1][0].get("headers") == entry.get("headers")
        ):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs
