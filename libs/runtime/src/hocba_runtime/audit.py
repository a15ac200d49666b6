"""The audit trail: who did what to whose data, when and from where, in an append-only, hash-chained
collection of each service's database.

Every change of state (an HTTP request that writes, a Kafka message a consumer handled) and every
read of a child's personal data is recorded by the service shell, not by the handlers: the
access-control middleware records HTTP requests, the Kafka middleware records consumed messages.

Each service process keeps its own chain (`chain`: the service, the host, the process and its start
time), so that replicas never contend for the end of one chain: a writer task gives each new entry
the next `seq` of its chain, the previous entry's hash and its own hash (SHA-256 over the entry's
canonical JSON, RFC 8785, with `chain`, `seq` and `prev_hash`), and writes the entries of the last
fraction of a second in one bulk insert, with the chain's head (last `seq` and hash) kept apart, so
that deleting the newest entries shows too. An entry is written shortly after the request that
caused it (`audit_chain_seconds`); at shutdown the writer writes what is left.

`python -m hocba_runtime.audit verify --mongo-uri URI --database DB` walks every chain and reports
each entry deleted, reordered or edited; `... export --school-id S` (or `--student-id`) prints a
school's or a student's entries, with their hashes, one JSON object a line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import socket
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hocba_trust.canonical import canonical_bytes
from pymongo import ASCENDING

from hocba_runtime.lease import cancel
from hocba_runtime.mongo import Mongo

log = logging.getLogger("hocba.audit")

SCHEMA_VERSION = 1
GENESIS = "0" * 64
"""The `prev_hash` of the first entry."""
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


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 of the entry's content with its place in the chain (`chain`, `seq`, `prev_hash`)."""
    return hashlib.sha256(
        canonical_bytes(_jsonable({k: v for k, v in entry.items() if k != "hash"}))
    ).hexdigest()


def targets_of(data: Mapping[str, Any]) -> dict[str, set[str]]:
    """The ids an event payload or request is about: its own fields and those of the student,
    school and class it carries."""
    found: dict[str, set[str]] = {k: set() for k in TARGET_KEYS}
    parts = [data, *(data.get(k) for k in ("student", "school", "class_info"))]
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        for key, target in (
            ("school_id", "school_ids"),
            ("class_id", "class_ids"),
            ("student_id", "student_ids"),
            ("record_id", "record_ids"),
        ):
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

    def __init__(self, mongo: Mongo, service: str, *, flush_seconds: float = 0.2) -> None:
        self.mongo = mongo
        self.service = service
        self.flush_seconds = flush_seconds
        self.chain = f"{service}:{socket.gethostname()}:{os.getpid()}:{_now().isoformat(timespec='milliseconds')}"
        self._seq = 0
        self._prev = GENESIS
        self._queue: list[dict[str, Any]] = []
        self._unwritten: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def entries(self) -> Any:
        return self.mongo.db[self.collection]

    async def ensure_indexes(self) -> None:
        await self.entries.create_index([("chain", ASCENDING), ("seq", ASCENDING)], unique=True)
        for key in ("school_ids", "student_ids"):
            await self.entries.create_index([(f"targets.{key}", ASCENDING), ("at", ASCENDING)])

    def _entry(
        self,
        *,
        via: str,
        actor: dict[str, Any],
        origin: str | None,
        action: str,
        outcome: Any,
        targets: Targets,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "_id": str(uuid.uuid4()),
            "schema_version": SCHEMA_VERSION,
            "service": self.service,
            "at": _now(),
            "via": via,
            "actor": actor,
            "origin": origin,
            "action": action,
            "outcome": outcome,
            "targets": targets.doc(),
            **extra,
        }

    async def record(self, entries: list[dict[str, Any]]) -> None:
        """Queue entries for the writer (written within `flush_seconds`). Never raises."""
        if entries:
            self._queue.extend(entries)
            self._wake.set()

    async def flush(self) -> int:
        """Chain and write what is queued; returns how many entries were written. An entry the
        database refuses stays, with its place in the chain, to be written on the next flush."""
        async with self._lock:
            batch, self._queue = self._queue, []
            redelivered = [e["_id"] for e in batch if str(e["_id"]).startswith("kafka:")]
            if redelivered:  # a message handled twice (redelivered) is recorded once
                known = {
                    d["_id"]
                    async for d in self.entries.find({"_id": {"$in": redelivered}}, {"_id": 1})
                }
                known |= {e["_id"] for e in self._unwritten}
                batch = [e for e in batch if e["_id"] not in known]
            for entry in batch:
                self._seq += 1
                entry.update(chain=self.chain, seq=self._seq, prev_hash=self._prev)
                entry["hash"] = self._prev = entry_hash(entry)
            pending = self._unwritten + batch
            if not pending:
                return 0
            try:
                await self.entries.insert_many(pending, ordered=True)
                written = len(pending)
            except Exception as exc:  # noqa: BLE001 - the request stands; the entries are written later
                stored = {
                    d["_id"]
                    async for d in self.entries.find(
                        {"_id": {"$in": [e["_id"] for e in pending]}}, {"_id": 1}
                    )
                }
                self._unwritten = [e for e in pending if e["_id"] not in stored]
                log.error(
                    "audit entries not written yet; retrying",
                    extra={"error_type": type(exc).__name__, "entries": len(self._unwritten)},
                )
                return len(stored)
            self._unwritten = []
            last = pending[-1]
            await self.mongo.db[self.heads].replace_one(
                {"_id": self.chain},
                {
                    "_id": self.chain,
                    "schema_version": SCHEMA_VERSION,
                    "seq": last["seq"],
                    "hash": last["hash"],
                    "at": _now(),
                },
                upsert=True,
            )
            return written

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), 5.0)
            except TimeoutError:
                pass
            self._wake.clear()
            await asyncio.sleep(
                self.flush_seconds
            )  # gather what comes in the meantime into one insert
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("audit writer failed; retrying")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        await self.flush()

    async def http(
        self,
        access: Any,
        method: str,
        path: str,
        params: Mapping[str, Any],
        status: int,
        client: str | None,
    ) -> None:
        """One HTTP request: the caller, the endpoint, what it touched, the answer's status."""
        p = access.principal
        targets = Targets()
        targets.add(targets_of(params))
        for r in access.resources + ([access.denied] if access.denied else []):
            targets.add(
                {
                    "school_ids": [r.school_id] if r.school_id else [],
                    "class_ids": [r.class_id] if r.class_id else [],
                    "student_ids": r.student_ids,
                    "record_ids": [r.record_id] if r.record_id else [],
                }
            )
        actor = {
            "id": p.actor,
            "subject": p.subject,
            "roles": sorted(r.value for r in p.roles),
            "school_id": p.school_id,
            "client_id": p.client_id,
        }
        kind = "read" if method in ("GET", "HEAD") or access.rule.public else "change"
        await self.record(
            [
                self._entry(
                    via="http",
                    actor=actor,
                    origin=client,
                    action=f"{method} {path}",
                    outcome=status,
                    targets=targets,
                    kind=kind,
                    params={k: str(v) for k, v in params.items()},
                )
            ]
        )

    async def kafka(
        self, consumer: str, records: list[Any], rejected: set[tuple[str, int, int]]
    ) -> None:
        """Consumed messages a handler took (those it dead-lettered are in the dead-letter topic, with
        the reason): one entry per source that sent them."""
        groups: dict[str, tuple[Targets, list[dict[str, str]], set[str]]] = {}
        for record in records:
            where = (
                getattr(record, "topic", ""),
                getattr(record, "partition", -1),
                getattr(record, "offset", -1),
            )
            if where in rejected:
                continue
            try:
                body = json.loads(record.value or b"")
                data = body.get("data") if isinstance(body.get("data"), dict) else {}
                source, event = (
                    str(body.get("source", "unknown")),
                    {"id": str(body.get("id")), "type": str(body.get("type"))},
                )
            except (ValueError, AttributeError):
                continue
            targets, events, origins = groups.setdefault(source, (Targets(), [], set()))
            targets.add(targets_of(data))
            events.append(event)
            origins.add(f"kafka:{where[0]}[{where[1]}]")
        entries = []
        for source, (targets, events, origins) in groups.items():
            entry = self._entry(
                via="kafka",
                actor={"id": source, "source": source, "consumer": consumer},
                origin=",".join(sorted(origins)),
                action="consume " + ",".join(sorted({e["type"] for e in events})),
                outcome="handled",
                targets=targets,
                kind="change",
                events=events,
            )
            # The same messages redelivered give the same entry id: recorded once.
            entry["_id"] = (
                f"kafka:{consumer}:"
                + hashlib.sha256("|".join(e["id"] for e in events).encode()).hexdigest()[:32]
            )
            entries.append(entry)
        await self.record(entries)

    async def export(
        self,
        *,
        school_id: str | None = None,
        student_id: str | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        return await export_entries(
            self.mongo.db, school_id=school_id, student_id=student_id, after=after, limit=limit
        )


def cursor_of(entry: Mapping[str, Any]) -> str:
    """Where an export page ends: the last entry's time and place in its chain."""
    return f"{_jsonable(entry['at'])}|{entry['chain']}|{entry['seq']}"


async def export_entries(
    db: Any,
    *,
    school_id: str | None = None,
    student_id: str | None = None,
    after: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Entries about a school or a student (or all), oldest first (a process's entries of one
    millisecond in their chain's order), after the cursor `after` (`cursor_of` the last entry of the
    page before), as JSON, each with its chain fields."""
    query: dict[str, Any] = {}
    if school_id:
        query["targets.school_ids"] = school_id
    if student_id:
        query["targets.student_ids"] = student_id
    if after:
        try:
            at_text, chain, seq_text = after.split("|")
            at, seq = datetime.fromisoformat(at_text), int(seq_text)
        except ValueError:
            raise ValueError("after must be the next_after of the page before") from None
        query["$or"] = [
            {"at": {"$gt": at}},
            {"at": at, "chain": {"$gt": chain}},
            {"at": at, "chain": chain, "seq": {"$gt": seq}},
        ]
    order = [("at", ASCENDING), ("chain", ASCENDING), ("seq", ASCENDING)]
    cursor = db[AuditTrail.collection].find(query).sort(order).limit(limit)
    return [_jsonable(d) async for d in cursor]


@dataclass
class Verdict:
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


async def verify_trail(db: Any) -> Verdict:
    """Walk every chain: a gap in `seq` is a deleted entry, a `prev_hash` that is not the previous
    entry's hash is a reordering or a removal, a hash that does not match the content is an edit,
    and a head ahead of the chain's last entry means its newest entries were deleted."""
    verdict = Verdict()
    heads = {h["_id"]: h async for h in db[AuditTrail.heads].find({})}
    chains = set(await db[AuditTrail.collection].distinct("chain")) | set(heads)
    for chain in sorted(chains):
        expected, prev = 1, GENESIS
        async for entry in db[AuditTrail.collection].find({"chain": chain}).sort("seq", ASCENDING):
            verdict.entries += 1
            seq = int(entry["seq"])
            where = f"chain {chain}: entry {seq}"
            if seq > expected:
                gap = f"{expected}" if seq == expected + 1 else f"{expected}–{seq - 1}"
                verdict.problems.append(
                    f"chain {chain}: entries {gap} are missing: deleted from the trail"
                )
            elif seq < expected:
                verdict.problems.append(f"{where} appears twice: the trail was reordered")
            if entry.get("prev_hash") != prev:
                verdict.problems.append(
                    f"{where} does not follow the entry before it: the trail was reordered "
                    "or an entry removed"
                )
            if entry_hash(entry) != entry.get("hash"):
                verdict.problems.append(
                    f"{where} ({entry.get('action')}) was edited: its content no longer matches "
                    "its hash"
                )
            prev = str(entry.get("hash"))
            expected = seq + 1
        head = heads.get(chain)
        if head is None:
            verdict.problems.append(f"chain {chain}: its head is missing (deleted?)")
        elif int(head["seq"]) >= expected:
            verdict.problems.append(
                f"chain {chain}: the head is entry {head['seq']} but the chain ends at "
                f"{expected - 1}: the newest entries were deleted"
            )
        elif int(head["seq"]) == expected - 1 and head["hash"] != prev:
            verdict.problems.append(
                f"chain {chain}: the last entry is not the one the head recorded"
            )
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hocba-audit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["verify", "export"])
    parser.add_argument("--mongo-uri", required=True)
    parser.add_argument(
        "--database", action="append", required=True, help="a service's database (repeatable)"
    )
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
                    after = None
                    while batch := await export_entries(
                        db, school_id=args.school_id, student_id=args.student_id, after=after
                    ):
                        for entry in batch:
                            print(json.dumps(entry, ensure_ascii=False))
                        after = cursor_of(batch[-1])
        finally:
            mongo.close()
        return 1 if failed else 0

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
