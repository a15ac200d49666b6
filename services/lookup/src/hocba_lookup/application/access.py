"""Parents' access use cases: issuing access codes, signing in and out, lifting a lockout, and
recording the copies a parent downloads (the rules are in `domain.access`).

The sign-in does the same work whatever its outcome, in this order: count the attempt for the
client and for the student_key (rate limits), read whether the student_key is locked, read the code
by the lookup key, verify exactly once with Argon2 (the dummy hash when there is no code or the
student is locked), then count a failure or reset the count and open a session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hocba_lookup.application.ports import AccessStore, CodeHasher, LookupReader
from hocba_lookup.domain.access import (
    CLIENT_LIMIT,
    SESSION_IDLE_SECONDS,
    STUDENT_LIMIT,
    AccessCode,
    IssuedCopy,
    IssuedDocument,
    RateLimit,
    RateLimited,
    Session,
    SignedIn,
    SignInFailed,
    SignInInput,
    SignInOutcome,
    new_code,
    new_session_token,
    normalize_code,
    session_hash,
    student_key,
)
from hocba_lookup.domain.model import PublishedEntry, lookup_key


@dataclass(frozen=True)
class Issued:
    """A code just issued: the only time the code itself exists outside the parent's notice."""

    student_id: str
    code: str
    entry: PublishedEntry
    """The student's newest published record (name, class, school for the notice)."""
    issued_at: datetime
    sessions_ended: int


def newest(entries: list[PublishedEntry]) -> list[PublishedEntry]:
    """Newest school year first, then newest version first."""
    return sorted(entries, key=lambda e: (e.school_year, e.record_version), reverse=True)


def school_of(e: PublishedEntry) -> str:
    return str(e.document.get("school", {}).get("school_id") or "")


class AccessService:
    def __init__(
        self,
        store: AccessStore,
        reader: LookupReader,
        hasher: CodeHasher,
        secret: str,
        *,
        clock: type[datetime] = datetime,
        client_limit: RateLimit = CLIENT_LIMIT,
        student_limit: RateLimit = STUDENT_LIMIT,
    ) -> None:
        self.client_limit = client_limit
        self.student_limit = student_limit
        self.store = store
        self.reader = reader
        self.hasher = hasher
        self.secret = secret
        self.clock = clock

    def now(self) -> datetime:
        return self.clock.now(UTC)

    # -- the school ----------------------------------------------------------------------------
    async def student(self, student_id: str) -> list[PublishedEntry]:
        """The student's published entries, newest first (empty when none is published)."""
        return newest(await self.reader.by_student(student_id))

    async def issue(self, entries: list[PublishedEntry], issued_by: str) -> Issued:
        """A new code for the student of `entries` (newest first), voiding the old one and its
        sessions. The caller has checked the school's administrator may."""
        e = entries[0]
        student = e.document["student"]
        cid, born = str(student["citizen_id"]), date.fromisoformat(str(student["date_of_birth"]))
        code = new_code()
        now = self.now()
        await self.store.save_code(
            AccessCode(
                student_id=e.student_id,
                school_id=school_of(e),
                lookup_key=lookup_key(self.secret, cid, born),
                student_key=student_key(self.secret, cid),
                code_hash=await self.hasher.hash(normalize_code(code) or ""),
                issued_at=now,
                issued_by=issued_by,
            )
        )
        ended = await self.store.end_sessions_of(e.student_id)
        return Issued(e.student_id, code, e, now, ended)

    async def lift_lockout(self, entries: list[PublishedEntry]) -> bool:
        cid = str(entries[0].document["student"]["citizen_id"])
        return await self.store.clear_failures(student_key(self.secret, cid))

    async def copies(self, student_id: str) -> list[IssuedCopy]:
        return await self.store.copies_of(student_id)

    # -- the parent ----------------------------------------------------------------------------
    async def sign_in(self, given: SignInInput, client: str | None) -> SignInOutcome:
        now = self.now()
        skey = student_key(self.secret, given.citizen_id)
        wait = await self.store.hit(f"client:{client or 'unknown'}", self.client_limit, now)
        wait = wait or await self.store.hit(f"student:{skey}", self.student_limit, now)
        if wait:
            return RateLimited(wait)
        locked = await self.store.locked(skey, now)
        code = await self.store.code_by_lookup_key(
            lookup_key(self.secret, given.citizen_id, given.date_of_birth)
        )
        usable = code if code is not None and not locked else None
        matches = await self.hasher.verify(usable.code_hash if usable else None, given.code)
        if usable is None or not matches:
            await self.store.failed(skey, now)
            return SignInFailed()
        await self.store.clear_failures(skey)
        token = new_session_token()
        session = Session(
            sign_in_id=uuid.uuid4().hex,
            student_id=usable.student_id,
            school_id=usable.school_id,
            created_at=now,
            expires_at=now + timedelta(seconds=SESSION_IDLE_SECONDS),
        )
        await self.store.create_session(session_hash(token), session)
        return SignedIn(token, session)

    async def session(self, token: str | None) -> Session | None:
        if not token or len(token) > 100:
            return None
        return await self.store.session(session_hash(token), self.now())

    async def sign_out(self, token: str | None) -> None:
        if token and len(token) <= 100:
            await self.store.end_session(session_hash(token))

    async def record_copy(
        self,
        session: Session,
        kind: str,
        documents: list[PublishedEntry],
        level: str | None = None,
    ) -> IssuedCopy:
        copy = IssuedCopy(
            copy_id=uuid.uuid4().hex,
            student_id=session.student_id,
            school_id=session.school_id,
            kind="book" if kind == "book" else "year",
            level=level,
            documents=[
                IssuedDocument(d.document_id, d.record_version, d.school_year) for d in documents
            ],
            issued_at=self.now(),
            sign_in_id=session.sign_in_id,
        )
        await self.store.record_copy(copy)
        return copy
