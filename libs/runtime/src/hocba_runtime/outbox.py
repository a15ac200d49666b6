"""Transactional outbox: state and the events announcing it commit in one MongoDB transaction.

A relay publishes committed entries to Kafka, oldest first, keeping each key's order, and then
deletes them. A crash between publishing and deleting publishes an entry again with the same
event id; consumers drop it (at-least-once delivery, idempotent consumers). Several replicas may
run: a lease in `outbox_lease` lets one relay at a time publish.

An entry holds one event (`put`) or, for a bulk operation, many (`put_many`: a class's closed
year is some 35 records): one document to write, read and delete instead of one per event, which
is most of what a bulk operation costs the database. A bulk entry keeps its events as one binary
field (BSON inside) with their `count`: the database copies it whole rather than taking apart and
rebuilding hundreds of sub-documents each time it writes, reads or deletes the entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import bson
from hocba_contracts import Envelope
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pymongo import ASCENDING

from hocba_runtime.lease import Lease, LeasedJob
from hocba_runtime.mongo import Mongo, Session, in_chunks
from hocba_runtime.tracing import context_from, current_carrier, tracer

log = logging.getLogger("hocba.outbox")

Publish = Callable[[str, bytes, bytes, Mapping[str, str]], Awaitable[Awaitable[Any]]]
"""publish(topic, key, value, headers): hands the message to the producer, in call order, and
returns what to await for the broker's acknowledgement (so that a batch is sent pipelined)."""

BATCH_BYTES = 4 * 1024 * 1024
"""The most event bytes in one outbox document (MongoDB's limit for a document is 16 MB)."""


class Outbox:
    collection = "outbox"

    def __init__(self, mongo: Mongo) -> None:
        self.mongo = mongo
        self._wake = asyncio.Event()

    async def ensure_indexes(self) -> None:
        await self.mongo.db[self.collection].create_index([("created_at", ASCENDING), ("_id", ASCENDING)])

    @staticmethod
    def _entry(topic: str, envelope: Envelope[Any], headers: dict[str, str], at: datetime) -> dict[str, Any]:
        return {"_id": envelope.id, "topic": topic, "key": envelope.subject,
                "value": envelope.model_dump_json().encode(), "headers": headers, "created_at": at}

    async def put(self, topic: str, envelope: Envelope[Any], session: Session) -> None:
        """Record an event to publish, inside the caller's transaction."""
        await self.mongo.db[self.collection].insert_one(
            self._entry(topic, envelope, current_carrier(), datetime.now(UTC)), session=session)

    async def put_many(self, topic: str, envelopes: list[Envelope[Any]], session: Session) -> None:
        """Record many events, in their order, inside the caller's transaction: a few documents of
        up to BATCH_BYTES each, every one listing its events."""
        if not envelopes:
            return
        headers, now = current_carrier(), datetime.now(UTC)
        docs: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        size = 0

        def close() -> None:
            # one created_at (stored to the millisecond) and ids that sort in order: the relay reads
            # them back in this order
            docs.append({"_id": f"batch:{envelopes[0].id}:{len(docs):06d}", "topic": topic, "count": len(messages),
                         "batch": bson.encode({"messages": messages}), "headers": headers, "created_at": now})

        for envelope in envelopes:
            value = envelope.model_dump_json().encode()
            if messages and size + len(value) > BATCH_BYTES:
                close()
                messages, size = [], 0
            messages.append({"_id": envelope.id, "key": envelope.subject, "value": value})
            size += len(value)
        close()
        await self.mongo.db[self.collection].insert_many(docs, session=session)

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
        pipeline = [{"$group": {"_id": None, "n": {"$sum": {"$ifNull": ["$count", 1]}}}}]
        found = await self.mongo.db[self.collection].aggregate(pipeline).to_list(1)
        return int(found[0]["n"]) if found else 0


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
        self._job = LeasedJob(self.lease, self._drain, lambda: outbox.wait(poll_seconds), "outbox-relay")

    async def drain_once(self) -> int:
        """Publish the oldest entries, about `batch_size` events; returns how many were published.

        Counted in events, not entries: a bulk entry holds up to BATCH_BYTES of them, and a backlog
        of hundreds (a relay restarting after a city's close) must not be read into memory at once."""
        coll = self.outbox.mongo.db[self.outbox.collection]
        cursor = coll.find({}).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).batch_size(16)
        entries: list[dict[str, Any]] = []
        events = 0
        try:
            async for entry in cursor:
                entries.append(entry)
                events += entry.get("count", 1)
                if events >= self.batch_size:
                    break
        finally:
            await cursor.close()
        if not entries:
            return 0
        # Handed to the producer in order (one key's events stay in order: they share a partition),
        # acknowledged together.
        acks: list[Awaitable[Any]] = []
        for entry in entries:
            acks.extend(await self._publish_entry(entry))
        await asyncio.gather(*acks)
        for chunk in in_chunks(e["_id"] for e in entries):
            await coll.delete_many({"_id": {"$in": chunk}})
        return events

    async def _publish_entry(self, entry: dict[str, Any]) -> list[Awaitable[Any]]:
        """Hand an entry's events to the producer, in a producer span carrying the context of the
        transaction that wrote them; returns the acknowledgements to await."""
        messages = bson.decode(entry["batch"])["messages"] if "batch" in entry else [entry]
        token = otel_context.attach(context_from(entry.get("headers")))
        try:
            attributes: dict[str, Any] = {"messaging.system": "kafka", "messaging.destination.name": entry["topic"]}
            if "batch" in entry:
                attributes["messaging.batch.message_count"] = len(messages)
            else:
                attributes["messaging.message.id"] = entry["_id"]
            with tracer().start_as_current_span(f"{entry['topic']} publish", kind=trace.SpanKind.PRODUCER,
                                                attributes=attributes):
                headers: dict[str, str] = {}
                propagate.inject(headers)
                return [await self.publish(entry["topic"], m["key"].encode(), bytes(m["value"]), headers)
                        for m in messages]
        finally:
            otel_context.detach(token)

    async def _drain(self) -> bool:
        return await self.drain_once() >= self.batch_size

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()
