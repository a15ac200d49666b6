"""Re-verification at lookup time against the trust list and CRLs as configured now."""

from __future__ import annotations

from typing import Any

from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import REASONS, SignatureInvalid, TrustList, verify_document_signature

from hocba_lookup.domain.model import SignatureCheck, Verification


class TrustListRecordVerifier:
    def __init__(self, trust: TrustList | None) -> None:
        self.trust = trust

    def verify(
        self, document: dict[str, Any], content_sha256: str, signatures: list[dict[str, Any]]
    ) -> Verification:
        content = canonical_bytes(document)
        intact = sha256_hex(content) == content_sha256
        checks = []
        for sig in signatures:
            base = {
                "role": sig["role"],
                "signer_name": sig["signer_name"],
                "signed_at": str(sig["signed_at"]),
            }
            try:
                if self.trust is None:
                    raise SignatureInvalid("untrusted", "no trust roots configured")
                verify_document_signature(content, sig["cms"], sig.get("batch"), self.trust)
                checks.append(SignatureCheck(**base, valid=True))
            except SignatureInvalid as exc:
                checks.append(
                    SignatureCheck(
                        **base,
                        valid=False,
                        reason=exc.reason,
                        message_vi=exc.message_vi,
                        message_en=exc.message_en,
                    )
                )
            except ValueError:
                vi, en = REASONS["malformed"]
                checks.append(
                    SignatureCheck(
                        **base, valid=False, reason="malformed", message_vi=vi, message_en=en
                    )
                )
        return Verification(content_intact=intact, signatures=checks)
