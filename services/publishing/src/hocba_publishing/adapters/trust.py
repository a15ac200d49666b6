"""Verification on receipt: the content hash and every required signature, against the
configured trust list (roots and CRLs)."""

from __future__ import annotations

from hocba_contracts.payloads.signing import RecordSigned
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import SignatureInvalid, TrustList, verify_document_signature

from hocba_publishing.domain.model import REQUIRED_ROLES, NotPublishable


class TrustListVerifier:
    def __init__(self, trust: TrustList | None) -> None:
        self.trust = trust

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
            try:
                verify_document_signature(content, sig.cms, sig.batch, self.trust)
            except SignatureInvalid as exc:
                raise NotPublishable(
                    exc.reason,
                    f"record {signed.record_id}: the {sig.role} signature fails: "
                    f"{exc.message_en} / {exc.message_vi}",
                ) from None
