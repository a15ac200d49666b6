"""Pytest fixtures: the real local broker and database, started once per test session.

Used through `pytest_plugins = ["hocba_runtime.testing"]` in the root conftest.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hocba_contracts import Envelope

from hocba_runtime import localstack
from hocba_runtime.kafka import ensure_topics


@dataclass
class LocalInfra:
    kafka_bootstrap: str
    mongo_uri: str
    workdir: Path

    def settings(self, **extra: Any) -> dict[str, Any]:
        """A service's settings in a test, as keyword arguments: this broker and database, consumers
        that rejoin their group quickly, retries that hardly wait; then `extra`."""
        return {"kafka_bootstrap": self.kafka_bootstrap, "mongo_uri": self.mongo_uri,
                "consumer_session_timeout_ms": 6000, "consumer_heartbeat_interval_ms": 1000,
                "retry_backoff_seconds": 0.01, **extra}


@pytest.fixture(scope="session")
def local_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfra]:
    workdir = tmp_path_factory.mktemp("infra")
    kport, mport = localstack.free_port(), localstack.free_port()
    broker = localstack.start_broker(kport, workdir / "tansu.log")
    db = localstack.start_database(mport, str(workdir / "mongo"), workdir / "secantus.log")
    bootstrap = f"127.0.0.1:{kport}"
    asyncio.run(ensure_topics(bootstrap))
    try:
        yield LocalInfra(bootstrap, localstack.mongo_uri(mport), workdir)
    finally:
        for proc in (broker, db):
            proc.terminate()
        for proc in (broker, db):
            try:
                proc.wait(10)
            except Exception:
                proc.kill()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unique_db() -> Callable[[str], str]:
    return lambda name: f"t_{name}_{uuid.uuid4().hex[:8]}"


async def produce(bootstrap: str, topic: str, envelopes: list[Envelope[Any]] | list[bytes], key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for item in envelopes:
            if isinstance(item, bytes):
                await producer.send_and_wait(topic, item, key=key or b"raw")
            else:
                await producer.send_and_wait(topic, item.model_dump_json().encode(), key=item.subject.encode())
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, *, until: Callable[[list[Any]], bool],
                     timeout: float = 30.0) -> list[Any]:
    """Read `topic` from the beginning until `until(messages)` holds (raw aiokafka records)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    seen: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not until(seen):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"{topic}: condition not met after {timeout}s ({len(seen)} messages)")
            batch = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for records in batch.values():
                seen.extend(records)
        return seen
    finally:
        await consumer.stop()


def payloads(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


async def eventually(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Wait until `await check()` returns something truthy; fail with the last value after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met after {timeout}s; last value: {last!r}")


os.environ.setdefault("HOCBA_TESTING", "1")
