"""Drive a running stack as a school system and as a parent would: Kafka in, lookup out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from hocba_contracts import Envelope


async def publish(bootstrap: str, topic: str, envelopes: Iterable[Envelope[Any]]) -> int:
    """Send envelopes keyed by their subject, as the contracts say; returns how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    count = 0
    try:
        futures = []
        for env in envelopes:
            futures.append(
                await producer.send(topic, env.model_dump_json().encode(), key=env.subject.encode())
            )
            count += 1
        await producer.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return count


async def lookup(
    client: httpx.AsyncClient, lookup_url: str, citizen_id: str, born: date
) -> list[dict[str, Any]]:
    """A parent's lookup: personal data in the body, never in the URL."""
    resp = await client.post(
        f"{lookup_url}/api/lookup",
        json={"citizen_id": citizen_id, "date_of_birth": born.isoformat()},
    )
    resp.raise_for_status()
    return list(resp.json()["documents"])


async def document(client: httpx.AsyncClient, lookup_url: str, document_id: str) -> dict[str, Any]:
    resp = await client.get(f"{lookup_url}/api/documents/{document_id}")
    resp.raise_for_status()
    return dict(resp.json())


async def _watch_published(bootstrap: str, seen: set[str]) -> None:
    """Collect the personal ID numbers of the students whose records are published (from the
    publishing topic), so that the lookup is asked only about those."""
    from aiokafka import AIOKafkaConsumer
    from hocba_contracts.topics import PUBLISHING_EVENTS

    consumer = AIOKafkaConsumer(
        PUBLISHING_EVENTS.name,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while True:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for message in batch:
                    try:
                        seen.add(
                            str(
                                json.loads(message.value)["data"]["document"]["student"][
                                    "citizen_id"
                                ]
                            )
                        )
                    except (ValueError, KeyError, TypeError):
                        continue
    finally:
        await consumer.stop()


async def wait_verified(
    lookup_url: str,
    people: list[tuple[str, date]],
    *,
    timeout: float,
    progress: Any = None,
    bootstrap: str | None = None,
) -> dict[tuple[str, date], dict[str, Any]]:
    """Wait until every (citizen id, date of birth) has a published record that verifies. With
    `bootstrap`, the lookup is asked about a student only once the publishing topic shows their
    record (a few hundred parents asking every second would load the stack more than the records do).

    Returns each person's verified document; raises TimeoutError with how many are missing."""
    found: dict[tuple[str, date], dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    sem = asyncio.Semaphore(16)
    published: set[str] = set()
    watcher = asyncio.create_task(_watch_published(bootstrap, published)) if bootstrap else None

    def ready(person: tuple[str, date]) -> bool:
        return person not in found and (watcher is None or person[0] in published)

    async def check(client: httpx.AsyncClient, person: tuple[str, date]) -> None:
        async with sem:
            try:
                docs = await lookup(client, lookup_url, *person)
                for summary in docs:
                    if summary.get("status") != "published":
                        continue
                    full = await document(client, lookup_url, summary["document_id"])
                    if full.get("verification", {}).get("valid") is True:
                        found[person] = full
                        return
            except httpx.HTTPError:
                return

    try:
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                await asyncio.gather(*(check(client, p) for p in people if ready(p)))
                if progress:
                    progress(len(found), len(people))
                if len(found) == len(people):
                    return found
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{len(people) - len(found)} of {len(people)} records did not reach the "
                        f"lookup as published and verified within {timeout:.0f}s"
                    )
                await asyncio.sleep(1.0)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
