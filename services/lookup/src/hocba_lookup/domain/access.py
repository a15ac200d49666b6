"""Parents' access to their child's records: access codes, sign-in, sessions, lockout, rate limits
and the copies a parent downloads.

Rules:
- an access code is issued by the school administrator of the student's school, for a student who
  has a published record; it is 12 characters of an alphabet without look-alikes (no 0/O, 1/I/L),
  drawn by `secrets` (12 x log2(31) = 59 bits), shown grouped `XXXX-XXXX-XXXX` once (in the answer
  and on the printable notice) and stored only as an Argon2id hash. Re-issuing a code replaces the
  hash, so the old code stops working, and ends the student's sessions;
- typed input is normalized: case, spaces and dashes do not matter;
- a parent signs in with the personal ID number, the date of birth and the access code. The code's
  document is found by the HMAC of `citizen id|date of birth` (the read model's `lookup_key`), and
  failures are counted by the HMAC of the citizen id alone (`student_key`), so that guessing dates
  of birth for one ID counts against that ID too, whether or not such a student exists;
- every sign-in that fails, for whatever reason (unknown ID, wrong date of birth, wrong code,
  locked), gets the same answer, and every attempt does the same work: exactly one Argon2
  verification (against a fixed dummy hash of the same parameters when there is nothing to check)
  and the same database round trips;
- `MAX_FAILURES` consecutive failures for one `student_key` lock sign-in for `LOCKOUT_SECONDS`,
  even with the right code; a successful sign-in resets the count; the school's administrator
  lifts a lockout;
- rate limits count attempts per client address and per `student_key` in fixed windows shared by
  every replica (MongoDB counters); over the limit the answer is 429 with Retry-After;
- a session is a random token in an HttpOnly, SameSite=Strict cookie, stored only as its SHA-256,
  valid `SESSION_IDLE_SECONDS` after the last request and never more than `SESSION_MAX_SECONDS`
  after sign-in; sign-out and a re-issued code end it;
- every PDF a parent downloads is recorded as an issued copy: which documents and versions, when,
  by which sign-in (the session's public id, never the personal ID number).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""31 symbols: digits and capitals without 0, 1, I, L and O (and so no look-alikes)."""
CODE_LENGTH = 12
CODE_GROUP = 4

MAX_FAILURES = 5
LOCKOUT_SECONDS = 30 * 60
FAILURE_MEMORY_SECONDS = 24 * 3600
"""A failure count with no new failure for this long is forgotten (TTL)."""

SESSION_IDLE_SECONDS = 20 * 60
SESSION_MAX_SECONDS = 2 * 3600
SESSION_COOKIE = "hocba_session"


@dataclass(frozen=True)
class RateLimit:
    """At most `attempts` sign-in attempts per `window_seconds` for one subject."""

    attempts: int
    window_seconds: int


CLIENT_LIMIT = RateLimit(attempts=20, window_seconds=10 * 60)
"""Per client address (a school's shared connection may sign several parents in)."""
STUDENT_LIMIT = RateLimit(attempts=10, window_seconds=60 * 60)
"""Per student_key, whatever the outcome: on top of the lockout."""


def new_code() -> str:
    """A fresh access code, grouped for typing: `XXXX-XXXX-XXXX`."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def normalize_code(typed: str) -> str | None:
    """The code as it is hashed (12 symbols, upper case, no separators), or None when what was
    typed cannot be a code (then the sign-in form says what a code looks like)."""
    raw = re.sub(r"[\s\-_.]", "", typed).upper()
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        return None
    return raw


def student_key(secret: str, citizen_id: str) -> str:
    """HMAC-SHA256 of 'student|citizen id' under the lookup secret, hex: counts failures per ID."""
    return hmac.new(secret.encode(), f"student|{citizen_id}".encode(), hashlib.sha256).hexdigest()


def session_hash(token: str) -> str:
    """What is stored of a session token (a random 256-bit value: SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AccessCode:
    """The stored form of a student's access code: never the code itself."""

    student_id: str
    school_id: str
    lookup_key: str
    student_key: str
    code_hash: str
    issued_at: datetime
    issued_by: str


@dataclass(frozen=True)
class Session:
    """A parent's sign-in: `sign_in_id` names it in issued copies and audit notes."""

    sign_in_id: str
    student_id: str
    school_id: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class IssuedDocument:
    document_id: str
    record_version: int
    school_year: str


@dataclass(frozen=True)
class IssuedCopy:
    """An electronic copy handed to a parent: which documents, when, by which sign-in."""

    copy_id: str
    student_id: str
    school_id: str
    kind: Literal["year", "book"]
    level: str | None
    documents: list[IssuedDocument] = field(default_factory=list)
    issued_at: datetime | None = None
    sign_in_id: str = ""


@dataclass(frozen=True)
class SignedIn:
    token: str
    session: Session


@dataclass(frozen=True)
class SignInFailed:
    """The one answer for every failed sign-in: it does not say why."""


@dataclass(frozen=True)
class RateLimited:
    retry_after: int


SignInOutcome = SignedIn | SignInFailed | RateLimited


@dataclass(frozen=True)
class SignInInput:
    citizen_id: str
    date_of_birth: date
    code: str
    """Normalized (`normalize_code`)."""
