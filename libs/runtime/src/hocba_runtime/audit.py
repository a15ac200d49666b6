"""The audit trail: who did what to whose data, when and from where, in an append-only, hash-chained
collection of each service's database.

Every change of state (an HTTP request that writes, a Kafka message a consumer handled) and every
read of a child's personal data is recorded by the service shell, not by the handlers: the
access-control middleware records HTTP requests, the Kafka middleware records consumed messages.
Entries are written as they happen, without a position in the chain; one process at a time (it
holds a lease) then gives them, oldest first, their `seq`, the previous entry's hash and their own
hash, SHA-256 over the entry's canonical JSON (RFC 8785) with its `seq` and `prev_hash`. The head of
the chain (last `seq` and hash) is kept apart, so deleting the newest entries shows too.

`python -m hocba_runtime.audit verify --mongo-uri URI --database DB` walks the chain and reports
every entry deleted, reordered or edited; `... export --school-id S` (or `--student-id`) prints a
school's or a student's entries, with their hashes, one JSON object a line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne

from hocba_runtime.canonical import canonical_bytes
from hocba_runtime.lease import Lease, LeasedJob
from hocba_runtime.mongo import Mongo

log = logging.getLogger("hocba.audit")

SCHEMA_VERSION = 1
GENESIS = "0" * 64
"""The `prev_hash` of the first entry."""
HEAD_ID = "head"
CHAIN_FIELDS = ("seq", "prev_hash", "hash")
TARGET_KEYS = ("school_ids", "class_ids", "student_ids", "record_ids")
"""What an entry is about, as lists of ids: a school's or a student's trail is found by them."""


def _now() -> datetime:
    at = datetime.now(UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)  # MongoDB keeps milliseconds


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def entry_hash(entry: Mapping[str, Any], seq: int, prev_hash: str) -> str:
    """SHA-256 of the entry's content with its place in the chain."""
    content = {k: v for k, v in entry.items() if k not in CHAIN_FIELDS and k != "pending"}
    return hashlib.sha256(canonical_bytes(_jsonable({**content, "seq": seq, "prev_hash": prev_hash}))).hexdigest()


def targets_of(data: Mapping[str, Any]) -> dict[str, set[str]]:
    """The ids an event payload or request is about: its own fields and those of the student,
    school and class it carries."""
    found: dict[str, set[str]] = {k: set() for k in TARGET_KEYS}
    parts = [data, *(data.get(k) for k in ("student", "school", "class_info"))]
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        for key, target in (("school_id", "school_ids"), ("class_id", "class_ids"), ("student_id", "student_ids"),
                            ("record_id", "record_ids")):
            value = part.get(key)
            if isinstance(value, str) and value:
                found[target].add(value)
    return found


@dataclass
class Targets:
    ids: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in TARGET_KEYS})

    def add(self, more: Mapping[str, Iterable[str]]) -> None:
        for key, values in more.items():
            self.ids[key].update(v for v in values if v)

    def doc(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in self.ids.items()}


class AuditTrail:
    collection = "audit_trail"
    heads = "audit_head"

    def __init__(self, mongo: Mongo, service: str) -> None:
        self.mongo = mongo
        self.service = service

    @property
    def entries(self) -> Any:
        return self.mongo.db[self.collection]

    async def ensure_indexes(self) -> None:
        await self.entries.create_index([("seq", ASCENDING)], unique=True, sparse=True)
        await self.entries.create_index([("pending", ASCENDING)], sparse=True)
        for key in ("school_ids", "student_ids"):
            await self.entries.create_index([(f"targets.{key}", ASCENDING), ("seq", ASCENDING)])

    def _entry(self, *, via: str, actor: dict[str, Any], origin: str | None, action: str, outcome: Any,
               targets: Targets, **extra: Any) -> dict[str, Any]:
        return {"_id": str(uuid.uuid4()), "schema_version": SCHEMA_VERSION, "service": self.service, "at": _now(),
                "via": via, "actor": actor, "origin": origin, "action": action, "outcome": outcome,
                "targets": targets.doc(), **extra, "pending": True}

    async def record(self, entries: list[dict[str, Any]]) -> None:
        """Append entries (they join the chain within `audit_chain_seconds`). Never raises: an audit
        that cannot be written is logged as an error for the operators, and the request stands."""
        if not entries:
            return
        try:
            await self.entries.insert_many(entries, ordered=False)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            if getattr(exc, "code", None) == 11000 or "E11000" in str(exc):
                return  # a redelivered message's entry is there already
            log.error("audit entry not written", extra={"error_type": type(exc).__name__, "entries": len(entries)})

    async def http(self, access: Any, method: str, path: str, params: Mapping[str, Any], status: int,
                   client: str | None) -> None:
        """One HTTP request: the caller, the endpoint, what it touched, the answer's status."""
        p = access.principal
        targets = Targets()
        targets.add(targets_of(params))
        for r in access.resources + ([access.denied] if access.denied else []):
            targets.add({"school_ids": [r.school_id] if r.school_id else [], "class_ids": [r.class_id] if r.class_id else [],
                         "student_ids": r.student_ids, "record_ids": [r.record_id] if r.record_id else []})
        actor = {"id": p.actor, "subject": p.subject, "roles": sorted(r.value for r in p.roles),
                 "school_id": p.school_id, "client_id": p.client_id}
        kind = "read" if method in ("GET", "HEAD") or access.rule.public else "change"
        await self.record([self._entry(via="http", actor=actor, origin=client, action=f"{method} {path}",
                                       outcome=status, targets=targets, kind=kind,
                                       params={k: str(v) for k, v in params.items()})])

    async def kafka(self, consumer: str, records: list[Any], rejected: set[tuple[str, int, int]]) -> None:
        """Consumed messages a handler took (those it dead-lettered are in the dead-letter topic, with
        the reason): one entry per source that sent them."""
        groups: dict[str, tuple[Targets, list[dict[str, str]], set[str]]] = {}
        for record in records:
            where = (getattr(record, "topic", ""), getattr(record, "partition", -1), getattr(record, "offset", -1))
            if where in rejected:
                continue
            try:
                body = json.loads(record.value or b"")
                data = body.get("data") if isinstance(body.get("data"), dict) else {}
                source, event = str(body.get("source", "unknown")), {"id": str(body.get("id")), "type": str(body.get("type"))}
            except (ValueError, AttributeError):
                continue
            targets, events, origins = groups.setdefault(source, (Targets(), [], set()))
            targets.add(targets_of(data))
            events.append(event)
            origins.add(f"kafka:{where[0]}[{where[1]}]")
        entries = []
        for source, (targets, events, origins) in groups.items():
            entry = self._entry(via="kafka", actor={"id": source, "source": source, "consumer": consumer},
                                origin=",".join(sorted(origins)), action="consume " + ",".join(sorted({e["type"] for e in events})),
                                outcome="handled", targets=targets, kind="change", events=events)
            # The same messages redelivered give the same entry id: recorded once.
            entry["_id"] = f"kafka:{consumer}:" + hashlib.sha256(
                "|".join(e["id"] for e in events).encode()).hexdigest()[:32]
            entries.append(entry)
        await self.record(entries)

    async def export(self, *, school_id: str | None = None, student_id: str | None = None, after_seq: int = 0,
                     limit: int = 1000) -> list[dict[str, Any]]:
        return await export_entries(self.mongo.db, school_id=school_id, student_id=student_id, after_seq=after_seq,
                                    limit=limit)


async def export_entries(db: Any, *, school_id: str | None = None, student_id: str | None = None, after_seq: int = 0,
                         limit: int = 1000) -> list[dict[str, Any]]:
    """Chained entries about a school or a student (or all), in chain order, after `after_seq`, as JSON."""
    query: dict[str, Any] = {"seq": {"$gt": after_seq}}
    if school_id:
        query["targets.school_ids"] = school_id
    if student_id:
        query["targets.student_ids"] = student_id
    return [_jsonable(d) async for d in db[AuditTrail.collection].find(query).sort("seq", ASCENDING).limit(limit)]


class AuditChainer:
    """Gives new entries their place in the chain, one process at a time (a lease), oldest first."""

    def __init__(self, trail: AuditTrail, *, poll_seconds: float = 0.5, batch_size: int = 500) -> None:
        self.trail = trail
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.lease = Lease(trail.mongo, "audit_lease", "chainer")
        self._job = LeasedJob(self.lease, self._chain, lambda: asyncio.sleep(poll_seconds), "audit-chainer")

    async def chain_once(self) -> int:
        entries = await self.trail.entries.find({"pending": True}).sort(
            [("at", ASCENDING), ("_id", ASCENDING)]).limit(self.batch_size).to_list(self.batch_size)
        if not entries:
            return 0
        heads = self.trail.mongo.db[self.trail.heads]
        async with self.trail.mongo.transaction() as session:
            head = await heads.find_one({"_id": HEAD_ID}, session=session) or {"seq": 0, "hash": GENESIS}
            seq, prev = int(head["seq"]), str(head["hash"])
            ops = []
            for entry in entries:
                seq += 1
                digest = entry_hash(entry, seq, prev)
                ops.append(UpdateOne({"_id": entry["_id"], "pending": True},
                                     {"$set": {"seq": seq, "prev_hash": prev, "hash": digest}, "$unset": {"pending": ""}}))
                prev = digest
            await self.trail.entries.bulk_write(ops, ordered=True, session=session)
            await heads.replace_one({"_id": HEAD_ID}, {"_id": HEAD_ID, "seq": seq, "hash": prev, "at": _now()},
                                    upsert=True, session=session)
        return len(entries)

    async def _chain(self) -> bool:
        return await self.chain_once() >= self.batch_size

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()


# -- verification ----------------------------------------------------------------------------------
@dataclass
class Verdict:
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    pending: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems


async def _chained(db: Any) -> AsyncIterator[dict[str, Any]]:
    async for entry in db[AuditTrail.collection].find({"seq": {"$exists": True}}).sort("seq", ASCENDING):
        yield entry


async def verify_trail(db: Any, *, pending_grace: timedelta = timedelta(minutes=5)) -> Verdict:
    """Walk the chain: a gap in `seq` is a deleted entry, a `prev_hash` that is not the previous
    entry's hash is a reordering or a removal, a hash that does not match the content is an edit,
    and a head ahead of the last entry means the newest entries were deleted."""
    verdict = Verdict()
    expected, prev, last_hash = 1, GENESIS, GENESIS
    async for entry in _chained(db):
        verdict.entries += 1
        seq = int(entry["seq"])
        if seq > expected:
            gap = f"{expected}" if seq == expected + 1 else f"{expected}–{seq - 1}"
            verdict.problems.append(f"entries {gap} are missing: deleted from the trail")
        if entry.get("prev_hash") != prev:
            verdict.problems.append(f"entry {seq} does not follow the entry before it: the trail was reordered "
                                    "or an entry removed")
        if entry_hash(entry, seq, str(entry.get("prev_hash"))) != entry.get("hash"):
            verdict.problems.append(f"entry {seq} ({entry.get('action')}) was edited: its content no longer matches its hash")
        prev = last_hash = str(entry.get("hash"))
        expected = seq + 1
    head = await db[AuditTrail.heads].find_one({"_id": HEAD_ID})
    if head is not None:
        if int(head["seq"]) >= expected:
            verdict.problems.append(f"the chain's head is entry {head['seq']} but the trail ends at {expected - 1}: "
                                    "the newest entries were deleted")
        elif head["hash"] != last_hash and int(head["seq"]) == expected - 1:
            verdict.problems.append(f"the last entry {expected - 1} is not the one the chain's head recorded")
    elif verdict.entries:
        verdict.problems.append("the chain's head is missing")
    old = _now() - pending_grace
    verdict.pending = await db[AuditTrail.collection].count_documents({"pending": True, "at": {"$lt": old}})
    if verdict.pending:
        verdict.problems.append(f"{verdict.pending} entries older than {pending_grace} were never chained: is the "
                                "service running?")
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hocba-audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["verify", "export"])
    parser.add_argument("--mongo-uri", required=True)
    parser.add_argument("--database", action="append", required=True, help="a service's database (repeatable)")
    parser.add_argument("--school-id")
    parser.add_argument("--student-id")
    args = parser.parse_args(argv)

    async def run() -> int:
        mongo = Mongo(args.mongo_uri, args.database[0])
        failed = 0
        try:
            for name in args.database:
                db = mongo.client[name]
                if args.command == "verify":
                    verdict = await verify_trail(db)
                    state = "intact" if verdict.intact else "NOT INTACT"
                    print(f"{name}: {verdict.entries} entries, {state}")
                    for problem in verdict.problems:
                        print(f"  - {problem}")
                    failed += not verdict.intact
                else:
                    after = 0
                    while batch := await export_entries(db, school_id=args.school_id, student_id=args.student_id,
                                                        after_seq=after):
                        for entry in batch:
                            print(json.dumps(entry, ensure_ascii=False))
                        after = int(batch[-1]["seq"])
        finally:
            mongo.close()
        return 1 if failed else 0

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
