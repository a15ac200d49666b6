"""Verification on receipt: the content hash and every required signature, against the
configured trust list (roots and CRLs).

A bulk signature covers a class's Merkle root: the 35 records of a class carry the same CMS over
the same root statement, so a statement's signature verified once is taken as verified for the
next `BATCH_MEMORY_SECONDS` (each record's own inclusion proof is still folded every time). A
revocation read from a CRL meanwhile applies to the batches verified after that."""

from __future__ import annotations

import time
from typing import Any

from hocba_contracts.payloads.signing import RecordSigned
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import SignatureInvalid, TrustList, verify_document_signature
from hocba_trust.merkle import verify_in_batch

from hocba_publishing.domain.model import REQUIRED_ROLES, NotPublishable

BATCH_MEMORY_SECONDS = 60.0


class TrustListVerifier:
    def __init__(self, trust: TrustList | None) -> None:
        self.trust = trust
        self._batches: dict[tuple[str, str], float] = {}

    def _known_batch(self, content: bytes, cms: str, batch: dict[str, Any] | None) -> bool:
        """This record is in a batch whose statement's signature was verified a moment ago."""
        if batch is None:
            return False
        try:
            statement = verify_in_batch(content, batch)
        except (LookupError, ValueError, KeyError, TypeError):
            return False  # verify_document_signature says why
        seen = self._batches.get((cms, sha256_hex(canonical_bytes(statement))))
        return seen is not None and time.monotonic() - seen < BATCH_MEMORY_SECONDS

    def _remember(self, cms: str, batch: dict[str, Any] | None) -> None:
        if batch is None or not isinstance(batch.get("statement"), dict):
            return
        if len(self._batches) > 10_000:
            self._batches.clear()
        key = (cms, sha256_hex(canonical_bytes(batch["statement"])))
        self._batches[key] = time.monotonic()

    def verify(self, signed: RecordSigned) -> None:
        content = canonical_bytes(signed.document)
        if sha256_hex(content) != signed.content_sha256:
            raise NotPublishable(
                "tampered",
                f"record {signed.record_id}: the document does not match its content hash",
            )
        missing = [r for r in REQUIRED_ROLES if r not in {s.role for s in signed.signatures}]
        if missing:
            raise NotPublishable(
                "missing_signature",
                f"record {signed.record_id}: missing signatures of {', '.join(missing)}",
            )
        if self.trust is None:
            raise NotPublishable(
                "untrusted", "no trust roots are configured (HOCBA_PUBLISHING_TRUST_ROOTS)"
            )
        for sig in signed.signatures:
            if self._known_batch(content, sig.cms, sig.batch):
                continue
            try:
                verify_document_signature(content, sig.cms, sig.batch, self.trust)
            except SignatureInvalid as exc:
                raise NotPublishable(
                    exc.reason,
                    f"record {signed.record_id}: the {sig.role} signature fails: "
                    f"{exc.message_en} / {exc.message_vi}",
                ) from None
            self._remember(sig.cms, sig.batch)
