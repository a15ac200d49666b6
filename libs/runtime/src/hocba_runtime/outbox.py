"""Transactional outbox: state and the events announcing it commit in one MongoDB transaction.

A relay publishes committed entries to Kafka, oldest first, keeping each key's order, and then
deletes them. A crash between publishing and deleting publishes an entry again with the same
event id; consumers drop it (at-least-once delivery, idempotent consumers). Several replicas may
run: a lease in `outbox_lease` lets one relay at a time publish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pymongo import ASCENDING

from hocba_contracts import Envelope
from hocba_runtime.mongo import Mongo, Session, in_chunks
from hocba_runtime.tracing import context_from, current_carrier, tracer

log = logging.getLogger("hocba.outbox")

Publish = Callable[[str, bytes, bytes, Mapping[str, str]], Awaitable[None]]
"""publish(topic, key, value, headers)"""


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
        """Record many events in one insert, in their order, inside the caller's transaction."""
        if envelopes:
            headers, now = current_carrier(), datetime.now(UTC)
            await self.mongo.db[self.collection].insert_many(
                [self._entry(topic, e, headers, now + timedelta(microseconds=i)) for i, e in enumerate(envelopes)],
                session=session)

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
        return await self.mongo.db[self.collection].count_documents({})


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
        self.lease_seconds = lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._task: asyncio.Task[None] | None = None

    async def _hold_lease(self) -> bool:
        now = datetime.now(UTC)
        leases = self.outbox.mongo.db["outbox_lease"]
        try:
            await leases.find_one_and_update(
                {"_id": "relay", "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": now + timedelta(seconds=self.lease_seconds)}},
                upsert=True,
            )
        except Exception as exc:  # another relay holds it (upsert hit the unique _id)
            if getattr(exc, "code", None) == 11000:
                return False
            raise
        return True

    async def drain_once(self) -> int:
        """Publish one batch; returns how many entries were published."""
        coll = self.outbox.mongo.db[self.outbox.collection]
        entries = await coll.find({}).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).to_list(
            self.batch_size
        )
        if not entries:
            return 0
        by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in entries:
            by_key[entry["key"]].append(entry)

        async def publish_chain(chain: list[dict[str, Any]]) -> None:
            for entry in chain:
                await self._publish_entry(entry)

        await asyncio.gather(*(publish_chain(chain) for chain in by_key.values()))
        for chunk in in_chunks(e["_id"] for e in entries):
            await coll.delete_many({"_id": {"$in": chunk}})
        return len(entries)

    async def _publish_entry(self, entry: dict[str, Any]) -> None:
        token = otel_context.attach(context_from(entry.get("headers")))
        try:
            with tracer().start_as_current_span(
                f"{entry['topic']} publish", kind=trace.SpanKind.PRODUCER,
                attributes={"messaging.system": "kafka", "messaging.destination.name": entry["topic"],
                            "messaging.message.id": entry["_id"]},
            ):
                headers: dict[str, str] = {}
                propagate.inject(headers)
                await self.publish(entry["topic"], entry["key"].encode(), bytes(entry["value"]), headers)
        finally:
            otel_context.detach(token)

    async def run(self) -> None:
        while True:
            try:
                if await self._hold_lease():
                    while await self.drain_once() >= self.batch_size:
                        pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)
            await self.outbox.wait(self.poll_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
