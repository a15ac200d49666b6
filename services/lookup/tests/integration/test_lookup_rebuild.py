"""Rebuilding the lookup's read model by replaying the publishing topic, against the real local
broker and database: the rebuilt model gives exactly the answers the live projection gave."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads.publishing import RecordPublished  # noqa: E402
from hocba_contracts.topics import PUBLISHING_EVENTS  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually, produce, unique  # noqa: E402
from hocba_lookup.adapters.kafka_replay import TopicReplay  # noqa: E402
from hocba_lookup.adapters.mongo_lookup import drop_projection  # noqa: E402
from hocba_lookup.bootstrap import Lookup, build  # noqa: E402
from hocba_lookup.config import LookupSettings  # noqa: E402
from hocba_lookup.rebuild import rebuild  # noqa: E402
from lookup_fixtures import BORN, new_citizen_id, personal_values, published, revoked  # noqa: E402
from lookup_stack import LOOKUP_URL, lookup_settings  # noqa: E402

pytestmark = pytest.mark.integration

OTHER_COLLECTIONS = ("access_codes", "sessions", "sign_in_failures", "issued_copies")
"""Collections another part of the lookup keeps in its database, not derivable from Kafka."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-rebuild-pki"))
    p.create()
    return p


@dataclass
class Live:
    lookup: Lookup
    settings: LookupSettings
    http: httpx.AsyncClient


@pytest.fixture
async def live(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Live]:
    settings = lookup_settings(local_infra, unique_db("lookup"), pki)
    lookup = build(settings)
    await lookup.runtime.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=lookup.app), base_url=LOOKUP_URL
        ) as http:
            yield Live(lookup, settings, http)
    finally:
        await lookup.runtime.stop()


@dataclass
class Published:
    citizen_ids: list[str]
    documents: list[str]
    corrected: str
    correction: str
    withdrawn: str


async def publish_history(local_infra: LocalInfra, pki: DevPKI) -> Published:
    """Records as publishing announces them: two students with a record each, one of them
    corrected (its first version superseded), and another record revoked after its publication."""
    first, second = new_citizen_id(), new_citizen_id()
    plain = published(pki, citizen_id=first)
    old = published(pki, citizen_id=second)
    new = published(
        pki, citizen_id=second, version=2, supersedes=old.document_id, student_id=old.student_id
    )
    withdrawn = published(pki, citizen_id=first)
    extra = [published(pki, citizen_id=first) for _ in range(4)]
    events: list[Any] = [plain, old, *extra, withdrawn, new, revoked(withdrawn)]
    for payload in events:
        await produce(
            local_infra.kafka_bootstrap,
            PUBLISHING_EVENTS.name,
            [make_envelope(payload, source="hocba/publishing")],
        )
    docs = [e.document_id for e in events if isinstance(e, RecordPublished)]
    return Published([first, second], docs, old.document_id, new.document_id, withdrawn.document_id)


async def answers(live: Live, history: Published) -> dict[str, Any]:
    """What the lookup answers about these records: each document as the API shows it, and the
    entries the parent lookup finds for each student."""
    out: dict[str, Any] = {}
    for document_id in history.documents:
        r = await live.http.get(f"/api/documents/{document_id}")
        out[document_id] = (r.status_code, r.json())
    for citizen_id in history.citizen_ids:
        out[citizen_id] = await live.lookup.service.find(citizen_id, BORN)
    return out


async def test_the_publishing_topic_keeps_every_event(local_infra: LocalInfra) -> None:
    """A replay needs the whole history: the topic is created with unlimited retention, deleted
    (not compacted) when a retention applies."""
    admin = AIOKafkaAdminClient(bootstrap_servers=local_infra.kafka_bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, PUBLISHING_EVENTS.name)]
        )
    finally:
        await admin.close()
    [(*_, entries)] = response.resources
    configs = {e[0]: e[1] for e in entries}
    assert configs.get("retention.ms") == "-1" and configs.get("cleanup.policy") == "delete"


async def test_a_replay_reads_every_message_of_every_partition(local_infra: LocalInfra) -> None:
    """In many small polls, over partitions filled unevenly, up to the last message: not only to
    the end offsets the broker answers at the start (tansu's have been seen a batch short)."""
    topic = unique("hocba.test.replay")
    admin = AIOKafkaAdminClient(bootstrap_servers=local_infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    sent = [f"m{i}".encode() for i in range(41)]
    producer = AIOKafkaProducer(bootstrap_servers=local_infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        # sent together: several messages in each record batch, as the outbox relay sends them
        acks = [await producer.send(topic, v, key=f"k{i % 5}".encode()) for i, v in enumerate(sent)]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    async with TopicReplay(
        local_infra.kafka_bootstrap, topic, max_records=4, idle_ms=300
    ) as replay:
        got = [r.value async for batch in replay.batches() for rs in batch.values() for r in rs]
        assert replay.total <= len(sent)
    assert sorted(got) == sorted(sent)


async def test_dropping_the_read_model_and_replaying_the_topic_restores_the_same_answers(
    live: Live, local_infra: LocalInfra, pki: DevPKI
) -> None:
    history = await publish_history(local_infra, pki)
    # An event the live projection dead-letters (no lookup key can be made of its date of birth)
    # stays on the topic: a replay skips it as the live subscriber did, and goes on.
    bad = published(pki)
    bad.document["student"]["date_of_birth"] = "30/02/2014"
    await produce(
        local_infra.kafka_bootstrap,
        PUBLISHING_EVENTS.name,
        [make_envelope(bad, source="hocba/publishing").model_dump_json().encode()],
        key=bad.student_id.encode(),
    )
    http = live.http

    async def caught_up() -> bool:
        r = await http.get(f"/api/documents/{history.withdrawn}")
        return r.status_code == 200 and r.json()["status"] == "revoked"

    await eventually(caught_up, timeout=60)
    await eventually(
        lambda: all_shown(http, history.documents), timeout=30
    )  # every record projected
    before = await answers(live, history)
    assert before[history.corrected][1]["status"] == "superseded"
    correction = before[history.correction][1]["verification"]
    # this lookup has no transparency log behind it: intact and well signed, but never "valid"
    assert correction["content_intact"] is True and correction["outcome"] == "unchecked"
    assert correction["signatures"] and all(s["valid"] for s in correction["signatures"])
    assert before[history.withdrawn][1]["verification"]["revoked"] is True

    db = live.lookup.runtime.mongo.db
    for name in OTHER_COLLECTIONS:
        await db[name].insert_one({"_id": "kept", "schema_version": 1})
    inbox = await db.processed_events.count_documents({})
    await db.published.insert_one({"_id": "HB-STALE", "schema_version": 1})  # not on Kafka

    entries = live.lookup.entries
    assert entries is not None and entries.live, "the lookup keeps entries in memory"
    await drop_projection(live.lookup.runtime.mongo)

    async def dropped() -> bool:  # seen through the change stream, within its delay
        return (await http.get(f"/api/documents/{history.documents[0]}")).status_code == 404

    await eventually(dropped, timeout=10)  # the memory is empty now, and nothing reads until...

    async def swapped_in(emptied: int) -> None:
        """Until the lookup's memory let go of what it kept before a rebuild's swap (its answers
        then come from the rebuilt collections)."""

        async def let_go() -> bool:
            return entries.emptied > emptied

        await eventually(let_go, timeout=10)

    # several polls (two messages each): the replay goes on to the topic's true end
    summary = await rebuild(live.settings, progress=False, max_records=2)
    assert summary.messages >= len(history.documents) + 1
    assert summary.skipped >= 1, "the event that cannot be projected"
    assert sum(summary.kinds.values()) + summary.skipped == summary.messages, "each counted once"
    assert await db.published.find_one({"_id": bad.document_id}) is None
    assert summary.kinds["published"] >= len(history.documents) and summary.kinds["revoked"] >= 1
    assert await answers(live, history) == before
    assert await db.published.find_one({"_id": "HB-STALE"}) is None

    # a replay again over the rebuilt model: idempotent
    await db.published.insert_one({"_id": "HB-STALE", "schema_version": 1})
    emptied = entries.emptied
    await rebuild(live.settings, progress=False)
    await swapped_in(emptied)
    assert await answers(live, history) == before
    assert await db.published.find_one({"_id": "HB-STALE"}) is None

    # what is not the projection's is untouched: other collections, the inbox, no leftovers
    for name in OTHER_COLLECTIONS:
        assert await db[name].find_one({"_id": "kept"}) is not None
    assert await db.processed_events.count_documents({}) == inbox
    names = set(await db.list_collection_names())
    assert not {"published_rebuild", "revocations_rebuild"} & names

    # and once through the command, with its progress bar and summary
    await drop_projection(live.lookup.runtime.mongo)
    await eventually(dropped, timeout=10)
    done = await asyncio.to_thread(run_command, live.settings)
    assert done.returncode == 0, done.stderr
    assert "read model rebuilt" in done.stdout and "published" in done.stdout
    assert "replaying" in done.stderr
    assert await answers(live, history) == before
    for citizen_id in history.citizen_ids:
        for value in personal_values(citizen_id):
            assert value not in done.stdout and value not in done.stderr


async def all_shown(http: httpx.AsyncClient, documents: list[str]) -> bool:
    for document_id in documents:
        if (await http.get(f"/api/documents/{document_id}")).status_code != 200:
            return False
    return True


def run_command(settings: LookupSettings) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOCBA_LOOKUP_")}
    env |= {
        "HOCBA_LOOKUP_ENVIRONMENT": settings.environment,
        "HOCBA_LOOKUP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "HOCBA_LOOKUP_MONGO_URI": settings.mongo_uri,
        "HOCBA_LOOKUP_MONGO_DATABASE": settings.mongo_database,
        "HOCBA_LOOKUP_LOOKUP_SECRET": settings.lookup_secret.get_secret_value(),
        "HOCBA_LOOKUP_OIDC_ISSUER": settings.oidc_issuer or "",
        "COLUMNS": "120",
    }
    return subprocess.run(
        [sys.executable, "-m", "hocba_lookup", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
