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


async def issue_code(
    client: httpx.AsyncClient, lookup_url: str, student_id: str, headers: dict[str, str]
) -> str:
    """The school administrator (`headers`: their bearer token) issues a student's access code."""
    resp = await client.post(f"{lookup_url}/api/students/{student_id}/access-code", headers=headers)
    resp.raise_for_status()
    return str(resp.json()["codes"][0]["access_code"])


async def parent_records(
    http: httpx.AsyncClient, lookup_url: str, citizen_id: str, born: date, code: str
) -> dict[str, Any]:
    """A parent signs in (personal data in the body, never in the URL) and reads the portal's
    records; `http` keeps the session cookie, to download the PDFs with."""
    resp = await http.post(
        f"{lookup_url}/api/session",
        json={"citizen_id": citizen_id, "date_of_birth": born.isoformat(), "access_code": code},
    )
    resp.raise_for_status()
    records = await http.get(f"{lookup_url}/api/session/records")
    records.raise_for_status()
    return dict(records.json())


async def document(client: httpx.AsyncClient, lookup_url: str, document_id: str) -> dict[str, Any]:
    resp = await client.get(f"{lookup_url}/api/documents/{document_id}")
    resp.raise_for_status()
    return dict(resp.json())


async def _watch_published(bootstrap: str, seen: dict[str, list[str]]) -> None:
    """Collect the document ids published for each personal ID number (from the publishing
    topic), newest last: the lookup is asked about those documents only."""
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
                        data = json.loads(message.value)["data"]
                        cid = str(data["document"]["student"]["citizen_id"])
                        seen.setdefault(cid, []).append(str(data["document_id"]))
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
    bootstrap: str,
) -> dict[tuple[str, date], dict[str, Any]]:
    """Wait until every (citizen id, date of birth) has a published record that verifies in the
    lookup. The publishing topic (at `bootstrap`) says which documents were published for whom;
    the lookup's public verification (`/api/documents/{id}`) is asked about those (a parent's
    sign-in needs an access code, and would load the stack more than the records do).

    Returns each person's verified document; raises TimeoutError with how many are missing."""
    found: dict[tuple[str, date], dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    sem = asyncio.Semaphore(16)
    published: dict[str, list[str]] = {}
    watcher = asyncio.create_task(_watch_published(bootstrap, published))

    def ready(person: tuple[str, date]) -> bool:
        return person not in found and person[0] in published

    async def check(client: httpx.AsyncClient, person: tuple[str, date]) -> None:
        async with sem:
            try:
                for document_id in reversed(published.get(person[0], [])):
                    full = await document(client, lookup_url, document_id)
                    if full.get("status") != "published":
                        continue
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
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
