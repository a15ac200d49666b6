"""Verification verdicts kept in the process: verifying a record's signatures (CMS, certificate
paths, Merkle proofs) is most of what a verification costs, and its outcome depends only on what is
verified and on the trust list.

A verdict is kept under a key made of everything the verifier is given: the record's content as it
is stored now (its canonical bytes, hashed at every call, so that a record changed in the database
is verified afresh), the content hash it claims, and its signatures; and it holds for the trust
list's generation it was reached under (`TrustList.generation`, which a CRL refresh that brings
other CRLs moves on): a new generation empties the cache. A verdict also expires after
`ttl_seconds`, for what depends on the time (a signature without a signing time is checked as of
now, and a certificate may expire meanwhile).

Hashing a whole record costs more than the rest of a cached verification: the key is therefore
kept for the objects it was computed from (the very dict and list, held by the entries the lookup
keeps in memory, `adapters.entry_cache`; they are never changed in place), and computed again for
any other objects, a record read afresh from the database among them.

What is not cached here: the record's status. Revoked or superseded comes from the read model at
every request (`LookupService.document`), never from the process."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from hocba_trust.canonical import canonical_bytes
from hocba_trust.cms import TrustList

from hocba_lookup.adapters.kept import Kept
from hocba_lookup.application.ports import RecordVerifier
from hocba_lookup.domain.model import Verification

MAX_ENTRIES = 50_000
"""About 2 KB a verdict: 100 MB at most."""
TTL_SECONDS = 300.0
KEYS_KEPT = 20_000
"""Keys kept with the objects they were computed from: as many as the entries kept in memory (the
same objects, so this holds no more records alive than they do)."""


class CachingRecordVerifier:
    """A RecordVerifier that asks `inner` once per record content, signatures and trust list
    generation (see the module's text)."""

    def __init__(
        self,
        inner: RecordVerifier,
        trust: TrustList | None,
        *,
        max_entries: int = MAX_ENTRIES,
        ttl_seconds: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.trust = trust
        self._entries: Kept[bytes, Verification] = Kept(max_entries, ttl_seconds, clock)
        self._keys: Kept[tuple[int, int], tuple[object, object, str, bytes]] = Kept(KEYS_KEPT)
        self._generation = self._current_generation()
        self.hits = 0
        self.misses = 0

    def _current_generation(self) -> int:
        return -1 if self.trust is None else self.trust.generation

    @staticmethod
    def key(
        document: dict[str, Any], content_sha256: str, signatures: list[dict[str, Any]]
    ) -> bytes:
        h = hashlib.sha256(canonical_bytes(document))
        h.update(b"\0" + content_sha256.encode() + b"\0")
        h.update(json.dumps(signatures, sort_keys=True, default=str).encode())
        return h.digest()

    def _key_of(
        self, document: dict[str, Any], content_sha256: str, signatures: list[dict[str, Any]]
    ) -> bytes:
        """`key`, kept for these very objects (held here, so that their ids stay theirs)."""
        ids = (id(document), id(signatures))
        kept = self._keys.get(ids)
        if kept is not None and kept[0] is document and kept[1] is signatures:
            if kept[2] == content_sha256:
                return kept[3]
        key = self.key(document, content_sha256, signatures)
        self._keys.put(ids, (document, signatures, content_sha256, key))
        return key

    def verify(
        self, document: dict[str, Any], content_sha256: str, signatures: list[dict[str, Any]]
    ) -> Verification:
        generation = self._current_generation()
        if generation != self._generation:  # other CRLs in force: every verdict is asked again
            self._entries.clear()
            self._generation = generation
        key = self._key_of(document, content_sha256, signatures)
        verdict = self._entries.get(key)
        if verdict is not None:
            self.hits += 1
        else:
            self.misses += 1
            verdict = self.inner.verify(document, content_sha256, signatures)
            self._entries.put(key, verdict)
        # a copy of the list: a caller that changed it would not change the verdict kept
        return dataclasses.replace(verdict, signatures=list(verdict.signatures))
