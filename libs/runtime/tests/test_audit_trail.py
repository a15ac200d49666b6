"""The audit trail: entries chained in order, and the verifier finds what was deleted, reordered or edited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from hocba_devstack.testing import LocalInfra
from hocba_runtime.audit import AuditTrail, Targets, cursor_of, verify_trail
from hocba_runtime.auth import Access, Principal, Resource, Role, allow
from hocba_runtime.auth import Scope as S
from hocba_runtime.mongo import Mongo

pytestmark = pytest.mark.integration


@pytest.fixture
async def trail(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> AsyncIterator[AuditTrail]:
    mongo = Mongo(local_infra.mongo_uri, unique_db("audit"))
    trail = AuditTrail(mongo, "records")
    await trail.ensure_indexes()
    yield trail
    mongo.close()


async def _fill(trail: AuditTrail, n: int) -> list[dict[str, Any]]:
    principal = Principal(
        "sub-1", frozenset({Role.PRINCIPAL}), "portal", "079-TH-NBK", "HT1", ("079-TH-NBK",)
    )
    for i in range(n):
        access = Access(
            principal,
            allow(principal=S.SCHOOL, personal=True),
            "GET /students/{student_id}",
            "10.0.0.7",
        )
        access.require(Resource(school_id="079-TH-NBK", student_ids=(f"HS{i}",)))
        await trail.http(
            access, "GET", "/students/{student_id}", {"student_id": f"HS{i}"}, 200, "10.0.0.7"
        )
        if i % 3 == 2:
            await trail.flush()  # entries come in several writes
    await trail.flush()
    entries: list[dict[str, Any]] = await trail.entries.find({}).sort("seq", 1).to_list(None)
    return entries


async def test_entries_say_who_what_when_from_where_and_chain_in_order(trail: AuditTrail) -> None:
    entries = await _fill(trail, 7)
    assert [e["seq"] for e in entries] == list(range(1, 8)) and {e["chain"] for e in entries} == {
        trail.chain
    }
    first = entries[0]
    assert first["actor"]["id"] == "HT1" and first["actor"]["roles"] == ["principal"]
    assert first["actor"]["school_id"] == "079-TH-NBK" and first["origin"] == "10.0.0.7"
    assert (
        first["action"] == "GET /students/{student_id}"
        and first["kind"] == "read"
        and first["outcome"] == 200
    )
    assert first["targets"]["student_ids"] == ["HS0"] and first["schema_version"] == 1
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(entries, entries[1:], strict=False))
    assert (await verify_trail(trail.mongo.db)).intact
    exported = await trail.export(student_id="HS3")
    assert [e["seq"] for e in exported] == [4] and isinstance(exported[0]["at"], str)
    first_page = await trail.export(limit=4)
    rest = await trail.export(after=cursor_of(first_page[-1]))
    assert [e["seq"] for e in first_page + rest] == list(range(1, 8))


async def test_the_verifier_finds_an_edited_entry(trail: AuditTrail) -> None:
    await _fill(trail, 5)
    await trail.entries.update_one({"seq": 3}, {"$set": {"actor.id": "someone-else"}})
    verdict = await verify_trail(trail.mongo.db)
    assert not verdict.intact and any("entry 3" in p and "edited" in p for p in verdict.problems)


async def test_the_verifier_finds_a_deleted_entry_in_the_middle_and_at_the_end(
    trail: AuditTrail,
) -> None:
    await _fill(trail, 6)
    await trail.entries.delete_one({"seq": 3})
    verdict = await verify_trail(trail.mongo.db)
    assert any("entries 3 are missing" in p for p in verdict.problems), verdict.problems
    await trail.entries.delete_one({"seq": 6})
    verdict = await verify_trail(trail.mongo.db)
    assert any("newest entries were deleted" in p for p in verdict.problems), verdict.problems


async def test_the_verifier_finds_reordered_entries(trail: AuditTrail) -> None:
    entries = await _fill(trail, 5)
    two, four = entries[1], entries[3]
    # Swap the two entries' places in the chain, each keeping its own chain fields otherwise.
    await trail.entries.update_one({"_id": two["_id"]}, {"$set": {"seq": -4}})
    await trail.entries.update_one({"_id": four["_id"]}, {"$set": {"seq": 2}})
    await trail.entries.update_one({"_id": two["_id"]}, {"$set": {"seq": 4}})
    verdict = await verify_trail(trail.mongo.db)
    assert not verdict.intact
    assert any("does not follow" in p or "edited" in p for p in verdict.problems), verdict.problems


async def test_a_redelivered_kafka_message_is_recorded_once_and_a_dead_lettered_one_not_at_all(
    trail: AuditTrail,
) -> None:
    def record(offset: int, event_id: str, source: str) -> SimpleNamespace:
        body = {
            "id": event_id,
            "type": "hocba.records.student_registration_submitted",
            "source": source,
            "data": {"school_id": "079-TH-KD", "student_id": f"HS-{event_id}"},
        }
        return SimpleNamespace(
            topic="hocba.records.ingest",
            partition=2,
            offset=offset,
            value=json.dumps(body).encode(),
        )

    good, bad = record(10, "e1", "vnedu-079"), record(11, "e2", "vnedu-079")
    for _ in range(2):
        await trail.kafka("hocba-records", [good, bad], {("hocba.records.ingest", 2, 11)})
        await trail.flush()
    entries = await trail.entries.find({}).to_list(None)
    assert len(entries) == 1
    assert entries[0]["actor"]["source"] == "vnedu-079" and entries[0]["events"] == [
        {"id": "e1", "type": "hocba.records.student_registration_submitted"}
    ]
    assert entries[0]["targets"]["student_ids"] == ["HS-e1"] and entries[0]["via"] == "kafka"
    assert (await verify_trail(trail.mongo.db)).intact, (
        "the dropped redelivery left no gap in the chain"
    )


async def test_two_processes_write_two_chains_and_each_verifies(trail: AuditTrail) -> None:
    other = AuditTrail(trail.mongo, "records")
    other.chain += ":replica-2"
    await _fill(trail, 3)
    await _fill(other, 2)
    assert len(await trail.entries.distinct("chain")) == 2
    assert (await verify_trail(trail.mongo.db)).intact
    await trail.mongo.db[AuditTrail.heads].delete_one({"_id": other.chain})
    verdict = await verify_trail(trail.mongo.db)
    assert any("head is missing" in p for p in verdict.problems), verdict.problems


def test_targets_collect_ids_from_an_event_and_its_snapshots() -> None:
    from hocba_runtime.audit import targets_of

    found = targets_of(
        {
            "record_id": "R1",
            "student": {"student_id": "HS1", "full_name": "X"},
            "school": {"school_id": "S1"},
            "class_info": {"class_id": "C1", "school_id": "S1"},
        }
    )
    t = Targets()
    t.add(found)
    assert t.doc() == {
        "school_ids": ["S1"],
        "class_ids": ["C1"],
        "student_ids": ["HS1"],
        "record_ids": ["R1"],
    }
