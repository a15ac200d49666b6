"""Reading a topic again from its first message: every partition, from the earliest offset up to
the end, with a plain aiokafka consumer assigned to the partitions by hand (no consumer group: the
live subscribers' group and its committed offsets are never touched)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

log = logging.getLogger("hocba.lookup.replay")

Records = list[ConsumerRecord[bytes, bytes]]


class TopicReplay:
    """`async with TopicReplay(...) as replay`: `replay.total` is how many messages the topic held
    when it was opened (by its end offsets); `replay.batches()` yields each poll's records, by
    partition, until everything up to the end is read.

    The end: a poll that returns nothing once every partition's position has reached the end
    offsets taken when reading began. Not the end offsets alone: the local broker (tansu) has been
    seen to answer end offsets a batch short, and a reader that stopped there would miss the last
    batch; messages published meanwhile are read too, which a projection takes as it would live.
    `catch_up()` reads on from where the last `batches()` stopped to the topic's end as it is then."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        client_options: Mapping[str, Any] | None = None,
        *,
        max_records: int = 500,
        idle_ms: int = 1000,
        stall_seconds: float = 30.0,
    ) -> None:
        self.topic = topic
        self.max_records = max_records
        self.idle_ms = idle_ms
        self.stall_seconds = stall_seconds
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="hocba-lookup-rebuild",
            **dict(client_options or {}),
        )
        self.partitions: list[TopicPartition] = []
        self.end: dict[TopicPartition, int] = {}
        self.total = 0

    async def __aenter__(self) -> TopicReplay:
        await self.consumer.start()
        try:
            await self.consumer.topics()  # the cluster's metadata, with the topic's partitions
            found = self.consumer.partitions_for_topic(self.topic)
            if not found:
                raise LookupError(f"topic {self.topic} not found on the broker")
            self.partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
            self.consumer.assign(self.partitions)
            await self.consumer.seek_to_beginning(*self.partitions)
            first = await self.consumer.beginning_offsets(self.partitions)
            self.end = await self.consumer.end_offsets(self.partitions)
            self.total = sum(max(0, self.end[tp] - first[tp]) for tp in self.partitions)
        except BaseException:
            await self.consumer.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def _reached_end(self) -> bool:
        for tp in self.partitions:
            if await self.consumer.position(tp) < self.end[tp]:
                return False
        return True

    async def batches(self) -> AsyncIterator[dict[TopicPartition, Records]]:
        idle_since: float | None = None
        while True:
            got = await self.consumer.getmany(
                *self.partitions, timeout_ms=self.idle_ms, max_records=self.max_records
            )
            if got:
                idle_since = None
                yield got
                continue
            if await self._reached_end():
                return
            now = time.monotonic()
            idle_since = idle_since or now
            if now - idle_since > self.stall_seconds:
                # positions short of the end with nothing to read: offsets with no message at the
                # end (transaction markers, compacted or deleted messages); nothing more to get
                log.warning(
                    "the replay stopped short of the end offsets with nothing more to read",
                    extra={"topic": self.topic},
                )
                return

    async def catch_up(self) -> AsyncIterator[dict[TopicPartition, Records]]:
        """Read on to the end as it is now (a second pass after the first `batches()`)."""
        self.end = await self.consumer.end_offsets(self.partitions)
        async for got in self.batches():
            yield got
