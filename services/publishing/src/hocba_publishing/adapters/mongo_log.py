"""The publications log in MongoDB: an RFC 9162 Merkle tree that only grows, its sequencer, and its
signed checkpoints (c2sp.org/tlog-checkpoint), as hocba_trust.tlog and hocba_trust.note define them.

A publication, supersession or revocation queues its log entry in the transaction that stores it
(`log_queue`), so nothing is logged that was not stored, and nothing stored is left unlogged. The
sequencer (one replica at a time, by a lease) gives queued entries their indexes in one transaction
a batch: it stores the entries, the tree's new nodes and the new head, and deletes what it took from
the queue. Two sequencers that overlap (a lease expired under a slow one) cannot both commit: the
entries are keyed by index and the head moves only from the size it was read at. The sequencer
then signs a checkpoint of the head once the tree has grown and the last checkpoint is at least
`checkpoint_seconds` old, so a publication waits for its checkpoint at most about that long.

Collections, every value readable (hashes in hex, as an operator compares them with `sha256sum`;
checkpoints as the note text witnesses read)::

    log_queue        {_id: "<kind>:<document id>", schema_version, entry: {...}, queued_at}
    log_entries      {_id: <index>, schema_version, key, kind, document_id, entry: {...},
                      leaf_hash: <hex>, logged_at}
    log_nodes        {_id: "<level>/<index>", schema_version, level, index, hash: <hex>}
    log_head         {_id: "head", schema_version, size, root: <hex>, updated_at}
    log_checkpoints  {_id: <size>, schema_version, size, root: <base64>, note: <signed note>,
                      signed_at}

`log_nodes` holds every perfect subtree (level 0 is the leaf hashes), so a root, an inclusion proof
or a consistency proof for any size up to the head is a handful of reads by _id, fetched in one
query: which nodes a proof needs depends only on the sizes and the index (tlog.py), so they are
named first and read together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from hocba_runtime.lease import Lease, LeasedJob
from hocba_runtime.mongo import Mongo, Session, is_duplicate_key
from hocba_trust import logentry, note, tlog
from pymongo import ASCENDING, DESCENDING

from hocba_publishing.domain.model import LogCheckpoint, LogEntry, OutsideTheLog

log = logging.getLogger("hocba.publishing.log")

SCHEMA_VERSION = 1
"""Of every log collection."""
HEAD = "head"


class LogConflict(Exception):
    """Another sequencer moved the log meanwhile: this batch is not committed."""


async def ensure_log_indexes(mongo: Mongo) -> None:
    db = mongo.db
    await db.log_queue.create_index([("queued_at", ASCENDING), ("_id", ASCENDING)])
    await db.log_entries.create_index([("key", ASCENDING)], unique=True)
    await db.log_entries.create_index([("document_id", ASCENDING), ("_id", ASCENDING)])


def log_key(entry: dict[str, Any]) -> str:
    """An entry's key: one publication, one supersession and one revocation a document."""
    return f"{entry['kind']}:{entry['document_id']}"


async def queue_entries(
    db: Any, entries: Iterable[dict[str, Any]], session: Session | None
) -> None:
    """Queue entries in the caller's transaction; an entry queued or logged before is a duplicate
    key (a publication is logged once)."""
    now = datetime.now(UTC)
    docs = [
        {"_id": log_key(e), "schema_version": SCHEMA_VERSION, "entry": e, "queued_at": now}
        for e in entries
    ]
    if docs:
        await db.log_queue.insert_many(docs, ordered=True, session=session)


def _node_id(level: int, index: int) -> str:
    return f"{level}/{index}"


def _needed(compute: Callable[[tlog.Subtree], object]) -> list[tuple[int, int]]:
    """The nodes `compute` reads. Which ones depends on sizes and indexes, never on hash values, so
    a run with placeholder hashes names them."""
    asked: dict[tuple[int, int], None] = {}

    def record(level: int, index: int) -> bytes:
        asked[(level, index)] = None
        return bytes(tlog.HASH_SIZE)

    compute(record)
    return list(asked)


class MongoLog:
    """The log's reads and writes (the sequencer's work, checkpoints, proofs)."""

    def __init__(
        self,
        mongo: Mongo,
        signer: note.Signer,
        origin: str,
        *,
        checkpoint_seconds: float = 1.0,
        batch_size: int = 1000,
    ) -> None:
        self.mongo = mongo
        self.db = mongo.db
        self.signer = signer
        self.origin = origin
        self.checkpoint_seconds = checkpoint_seconds
        self.batch_size = batch_size

    @property
    def verifier_key(self) -> str:
        """The log's public key (c2sp.org/signed-note verifier key), for verifiers to pin."""
        return self.signer.verifier().key()

    async def _subtrees(
        self, wanted: Iterable[tuple[int, int]], session: Session | None = None
    ) -> dict[tuple[int, int], bytes]:
        ids = [_node_id(level, index) for level, index in wanted]
        if not ids:
            return {}
        found = {}
        async for d in self.db.log_nodes.find({"_id": {"$in": ids}}, session=session):
            found[(d["level"], d["index"])] = bytes.fromhex(d["hash"])
        return found

    async def _read(self, compute: Callable[[tlog.Subtree], Any]) -> Any:
        """Run a tree computation over stored nodes: name the nodes, read them in one query, run."""
        nodes = await self._subtrees(_needed(compute))

        def subtree(level: int, index: int) -> bytes:
            try:
                return nodes[(level, index)]
            except KeyError:
                raise LookupError(f"the log has no node {level}/{index}") from None

        return compute(subtree)

    async def head(self, session: Session | None = None) -> tuple[int, bytes]:
        found = await self.db.log_head.find_one({"_id": HEAD}, session=session)
        if found is None:
            return 0, tlog.EMPTY_ROOT
        return int(found["size"]), bytes.fromhex(found["root"])

    async def queued(self) -> int:
        return int(await self.db.log_queue.count_documents({}))

    # The sequencer's work

    async def sequence(self) -> int:
        """Give the oldest queued entries (a batch) their indexes; how many were logged."""
        queued = await self.db.log_queue.find(
            {}, sort=[("queued_at", ASCENDING), ("_id", ASCENDING)], limit=self.batch_size
        ).to_list(None)
        if not queued:
            return 0
        logged = {
            d["key"]
            async for d in self.db.log_entries.find(
                {"key": {"$in": [q["_id"] for q in queued]}}, {"key": 1}
            )
        }
        if logged:  # queued again after it was logged (a replayed write): logged once is enough
            await self.db.log_queue.delete_many({"_id": {"$in": list(logged)}})
            queued = [q for q in queued if q["_id"] not in logged]
            if not queued:
                return len(logged)
        entries = [q["entry"] for q in queued]
        leaves = [logentry.entry_leaf_hash(e) for e in entries]
        async with self.mongo.transaction() as session:
            size, _ = await self.head(session)
            new_size = size + len(leaves)
            known = await self._subtrees(
                _needed(lambda st: tlog.append_nodes(size, leaves, st)), session
            )
            made = tlog.append_nodes(size, leaves, lambda level, index: known[(level, index)])
            nodes = {**known, **{(n.level, n.index): n.hash for n in made}}
            edge = [k for k in _needed(lambda st: tlog.root_at(new_size, st)) if k not in nodes]
            nodes |= await self._subtrees(edge, session)
            root = tlog.root_at(new_size, lambda level, index: nodes[(level, index)])
            now = datetime.now(UTC)
            taken = await self.db.log_queue.delete_many(
                {"_id": {"$in": [q["_id"] for q in queued]}}, session=session
            )
            if taken.deleted_count != len(queued):
                raise LogConflict("another sequencer took these entries")
            await self.db.log_entries.insert_many(
                [
                    {
                        "_id": size + i,
                        "schema_version": SCHEMA_VERSION,
                        "key": q["_id"],
                        "kind": e["kind"],
                        "document_id": e["document_id"],
                        "entry": e,
                        "leaf_hash": leaf.hex(),
                        "logged_at": now,
                    }
                    for i, (q, e, leaf) in enumerate(zip(queued, entries, leaves, strict=True))
                ],
                session=session,
            )
            await self.db.log_nodes.insert_many(
                [
                    {
                        "_id": _node_id(n.level, n.index),
                        "schema_version": SCHEMA_VERSION,
                        "level": n.level,
                        "index": n.index,
                        "hash": n.hash.hex(),
                    }
                    for n in made
                ],
                session=session,
            )
            moved = await self.db.log_head.update_one(
                {"_id": HEAD, "size": size},
                {
                    "$set": {
                        "schema_version": SCHEMA_VERSION,
                        "size": new_size,
                        "root": root.hex(),
                        "updated_at": now,
                    }
                },
                upsert=size == 0,
                session=session,
            )
            if moved.matched_count == 0 and moved.upserted_id is None:
                raise LogConflict(f"the log moved on from size {size} meanwhile")
        return len(queued)

    async def checkpoint_if_due(self, now: datetime | None = None) -> LogCheckpoint | None:
        """Sign a checkpoint of the head if none covers it and the last is old enough; the first
        one (of the empty tree, too) is signed at once, so a verifier always finds one."""
        now = now or datetime.now(UTC)
        last = await self.latest_checkpoint()
        size, root = await self.head()
        if last is not None and (
            last.size == size or now - last.signed_at < timedelta(seconds=self.checkpoint_seconds)
        ):
            return None
        text = note.sign_checkpoint(note.Checkpoint(self.origin, size, root), self.signer).decode()
        stored = LogCheckpoint(
            size, root, text, now.replace(microsecond=now.microsecond // 1000 * 1000)
        )
        try:
            await self.db.log_checkpoints.insert_one(
                {
                    "_id": size,
                    "schema_version": SCHEMA_VERSION,
                    "size": size,
                    "root": logentry.b64(root),
                    "note": text,
                    "signed_at": stored.signed_at,
                }
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            return None  # another sequencer signed this size meanwhile
        return stored

    async def work(self) -> bool:
        """One round of the sequencer: True while a full batch was logged (more may wait)."""
        logged = await self.sequence()
        await self.checkpoint_if_due()
        return logged == self.batch_size

    # Reads

    @staticmethod
    def _checkpoint(d: dict[str, Any] | None) -> LogCheckpoint | None:
        if d is None:
            return None
        return LogCheckpoint(
            int(d["size"]), logentry.unb64(d["root"]), str(d["note"]), d["signed_at"]
        )

    async def latest_checkpoint(self) -> LogCheckpoint | None:
        return self._checkpoint(
            await self.db.log_checkpoints.find_one({}, sort=[("_id", DESCENDING)])
        )

    async def checkpoint(self, size: int) -> LogCheckpoint | None:
        return self._checkpoint(await self.db.log_checkpoints.find_one({"_id": size}))

    async def entry(self, index: int) -> LogEntry | None:
        found = await self.db.log_entries.find_one({"_id": index})
        return None if found is None else LogEntry(int(found["_id"]), found["entry"])

    async def entries_of(self, document_id: str) -> list[LogEntry]:
        cursor = self.db.log_entries.find({"document_id": document_id}, sort=[("_id", ASCENDING)])
        return [LogEntry(int(d["_id"]), d["entry"]) async for d in cursor]

    async def pending_of(self, document_id: str) -> list[dict[str, Any]]:
        """Entries of a document still queued (not yet given an index)."""
        cursor = self.db.log_queue.find(
            {"entry.document_id": document_id}, sort=[("queued_at", ASCENDING)]
        )
        return [d["entry"] async for d in cursor]

    async def _proof(self, size: int, compute: Callable[[tlog.Subtree], Any]) -> list[bytes]:
        head, _ = await self.head()
        if size > head:
            raise OutsideTheLog(
                f"the log has {head} entries; ask for a tree size up to {head} "
                "(the latest checkpoint's size is always within it)"
            )
        try:
            proof: list[bytes] = await self._read(compute)
        except tlog.ProofError as exc:
            raise OutsideTheLog(str(exc)) from None
        return proof

    async def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return await self._proof(size, lambda st: tlog.inclusion_proof(index, size, st))

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return await self._proof(
            new_size, lambda st: tlog.consistency_proof(old_size, new_size, st)
        )

    async def log_index(self, document_id: str) -> int | None:
        """The index of the document's publication in the log; None until it is sequenced."""
        found = await self.db.log_entries.find_one({"key": f"published:{document_id}"}, {"_id": 1})
        return None if found is None else int(found["_id"])

    async def bundle(self, document_id: str) -> dict[str, Any] | None:
        """The document's logged entries with their inclusion proofs against the latest checkpoint
        (hocba_trust.logentry's bundle), and what is still queued or not yet checkpointed."""
        checkpoint = await self.latest_checkpoint()
        if checkpoint is None:
            return None
        entries = await self.entries_of(document_id)
        proven = [e for e in entries if e.index < checkpoint.size]
        proofs = await asyncio.gather(
            *(self.inclusion_proof(e.index, checkpoint.size) for e in proven)
        )
        pending = [e.entry for e in entries if e.index >= checkpoint.size]
        pending += await self.pending_of(document_id)
        return {
            "checkpoint": checkpoint.note,
            "entries": [
                {"index": e.index, "entry": e.entry, "proof": [logentry.b64(h) for h in proof]}
                for e, proof in zip(proven, proofs, strict=True)
            ],
            "pending": pending,
        }


def sequencer(
    mongo: Mongo, tlog_store: MongoLog, poll_seconds: float, lease_seconds: float = 10.0
) -> LeasedJob:
    """The log's sequencer as a leased background job: one replica at a time."""
    lease = Lease(mongo, "log_lease", "sequencer", lease_seconds)

    async def wait() -> None:
        await asyncio.sleep(poll_seconds)

    return LeasedJob(lease, tlog_store.work, wait, "log-sequencer")
