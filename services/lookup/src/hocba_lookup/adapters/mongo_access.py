"""Parents' access in MongoDB: the lookup's own collections, kept apart from the read model
(`published`, `revocations`), which is rebuilt from Kafka and must not take these with it.

- `access_codes`: one per student, `{_id: student_id, schema_version, student_id, school_id,
  lookup_key, student_key, code_hash (Argon2id, PHC string), issued_at, issued_by}`; found at
  sign-in by `lookup_key` (HMAC of citizen id|date of birth); a re-issued code replaces it;
- `sessions`: `{_id: SHA-256 of the token, schema_version, sign_in_id, student_id, school_id,
  created_at, cap_at, expires_at}`; a TTL index on `expires_at` deletes it when it lapses (the
  queries check `expires_at` too, since the TTL monitor runs only every minute);
- `sign_in_failures`: `{_id: student_key, schema_version, count, locked_until, updated_at,
  expires_at}` (TTL on `expires_at`);
- `rate_limits`: `{_id: "<subject>:<window number>", schema_version, subject, count, expires_at}`,
  one counter per subject and fixed window, counted with one `find_one_and_update` ($inc, upsert)
  and deleted by TTL when the window is over; shared by every replica;
- `issued_copies`: `{_id: copy_id, schema_version, student_id, school_id, kind (year|book), level,
  documents: [{document_id, record_version, school_year}], issued_at, sign_in_id}`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from hocba_runtime.mongo import Mongo
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from hocba_lookup.domain.access import (
    FAILURE_MEMORY_SECONDS,
    LOCKOUT_SECONDS,
    MAX_FAILURES,
    SESSION_IDLE_SECONDS,
    SESSION_MAX_SECONDS,
    AccessCode,
    IssuedCopy,
    IssuedDocument,
    RateLimit,
    Session,
)

SCHEMA_VERSION = 1
"""Of every collection here."""

COLLECTIONS = ("access_codes", "sessions", "sign_in_failures", "rate_limits", "issued_copies")


async def ensure_access_indexes(mongo: Mongo) -> None:
    db = mongo.db
    await db.access_codes.create_index([("lookup_key", ASCENDING)])
    await db.access_codes.create_index([("school_id", ASCENDING)])
    await db.sessions.create_index([("student_id", ASCENDING)])
    for name in ("sessions", "sign_in_failures", "rate_limits"):
        await db[name].create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    await db.issued_copies.create_index([("student_id", ASCENDING), ("issued_at", DESCENDING)])


def _session(d: dict[str, Any] | None) -> Session | None:
    if d is None:
        return None
    return Session(
        sign_in_id=d["sign_in_id"],
        student_id=d["student_id"],
        school_id=d["school_id"],
        created_at=d["created_at"],
        expires_at=d["expires_at"],
    )


class MongoAccessStore:
    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db

    async def save_code(self, code: AccessCode) -> None:
        doc = {"_id": code.student_id, "schema_version": SCHEMA_VERSION, **asdict(code)}
        await self.db.access_codes.replace_one({"_id": code.student_id}, doc, upsert=True)

    async def code_by_lookup_key(self, lookup_key: str) -> AccessCode | None:
        d = await self.db.access_codes.find_one({"lookup_key": lookup_key})
        if d is None:
            return None
        return AccessCode(**{k: v for k, v in d.items() if k not in ("_id", "schema_version")})

    async def hit(self, subject: str, limit: RateLimit, now: datetime) -> int:
        window = int(now.timestamp()) // limit.window_seconds
        ends = datetime.fromtimestamp((window + 1) * limit.window_seconds, now.tzinfo)
        d = await self.db.rate_limits.find_one_and_update(
            {"_id": f"{subject}:{window}"},
            {
                "$inc": {"count": 1},
                "$setOnInsert": {
                    "schema_version": SCHEMA_VERSION,
                    "subject": subject,
                    "expires_at": ends,
                },
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if d["count"] <= limit.attempts:
            return 0
        return max(1, int((ends - now).total_seconds()) + 1)

    async def locked(self, student_key: str, now: datetime) -> bool:
        d = await self.db.sign_in_failures.find_one({"_id": student_key})
        locked_until = None if d is None else d.get("locked_until")
        if locked_until is None:
            return False
        if locked_until.tzinfo is None:
            locked_until = locked_until.replace(tzinfo=now.tzinfo)
        return bool(locked_until > now)

    async def failed(self, student_key: str, now: datetime) -> None:
        d = await self.db.sign_in_failures.find_one_and_update(
            {"_id": student_key},
            {
                "$inc": {"count": 1},
                "$set": {
                    "updated_at": now,
                    "expires_at": now + timedelta(seconds=FAILURE_MEMORY_SECONDS),
                },
                "$setOnInsert": {"schema_version": SCHEMA_VERSION, "locked_until": None},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if d["count"] >= MAX_FAILURES:
            # locked: the count starts again, so that after the lockout a few tries lock it again
            await self.db.sign_in_failures.update_one(
                {"_id": student_key},
                {"$set": {"count": 0, "locked_until": now + timedelta(seconds=LOCKOUT_SECONDS)}},
            )

    async def clear_failures(self, student_key: str) -> bool:
        result = await self.db.sign_in_failures.delete_one({"_id": student_key})
        return bool(result.deleted_count)

    async def create_session(self, token_hash: str, session: Session) -> None:
        await self.db.sessions.insert_one(
            {
                "_id": token_hash,
                "schema_version": SCHEMA_VERSION,
                **asdict(session),
                "cap_at": session.created_at + timedelta(seconds=SESSION_MAX_SECONDS),
            }
        )

    async def session(self, token_hash: str, now: datetime) -> Session | None:
        renewed = now + timedelta(seconds=SESSION_IDLE_SECONDS)
        d = await self.db.sessions.find_one_and_update(
            {"_id": token_hash, "expires_at": {"$gt": now}, "cap_at": {"$gt": renewed}},
            {"$set": {"expires_at": renewed}},
            return_document=ReturnDocument.AFTER,
        )
        if d is None:  # lapsed, ended, or close to its cap (then it runs out at the cap)
            d = await self.db.sessions.find_one({"_id": token_hash, "expires_at": {"$gt": now}})
            if d is not None and d["cap_at"] > d["expires_at"]:
                d = await self.db.sessions.find_one_and_update(
                    {"_id": token_hash},
                    {"$set": {"expires_at": d["cap_at"]}},
                    return_document=ReturnDocument.AFTER,
                )
        return _session(d)

    async def end_session(self, token_hash: str) -> None:
        await self.db.sessions.delete_one({"_id": token_hash})

    async def end_sessions_of(self, student_id: str) -> int:
        result = await self.db.sessions.delete_many({"student_id": student_id})
        return int(result.deleted_count)

    async def record_copy(self, copy: IssuedCopy) -> None:
        doc = {"_id": copy.copy_id, "schema_version": SCHEMA_VERSION, **asdict(copy)}
        await self.db.issued_copies.insert_one(doc)

    async def copies_of(self, student_id: str) -> list[IssuedCopy]:
        cursor = self.db.issued_copies.find({"student_id": student_id}).sort("issued_at", -1)
        out = []
        async for d in cursor:
            fields = {k: v for k, v in d.items() if k not in ("_id", "schema_version")}
            fields["documents"] = [IssuedDocument(**x) for x in fields["documents"]]
            out.append(IssuedCopy(**fields))
        return out
