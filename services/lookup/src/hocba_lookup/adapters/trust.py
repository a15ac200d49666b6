"""Re-verification at lookup time against the trust list and CRLs as configured now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import REASONS, SignatureInvalid, TrustList, verify_document_signature

from hocba_lookup.domain.model import SignatureCheck, Verification


def name_of(name: x509.Name) -> str:
    """A certificate name as a reader knows it: its common name, else its organization."""
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        found = name.get_attributes_for_oid(oid)
        if found:
            return str(found[0].value)
    return name.rfc4514_string()


def _school(document: dict[str, Any]) -> str | None:
    school = document.get("school")
    name = school.get("name") if isinstance(school, dict) else None
    return name if isinstance(name, str) else None


class TrustListRecordVerifier:
    def __init__(self, trust: TrustList | None) -> None:
        self.trust = trust

    def verify(
        self, document: dict[str, Any], content_sha256: str, signatures: list[dict[str, Any]]
    ) -> Verification:
        content = canonical_bytes(document)
        intact = sha256_hex(content) == content_sha256
        school = _school(document)
        checks = []
        for sig in signatures:
            base: dict[str, Any] = {
                "role": str(sig.get("role")),
                "signer_name": str(sig.get("signer_name", "")),
                "signed_at": str(sig.get("signed_at", "")),
                "school": school,
            }
            try:
                if self.trust is None:
                    raise SignatureInvalid("untrusted", "no trust roots configured")
                cms, batch = sig.get("cms"), sig.get("batch")
                if not isinstance(cms, str) or not (batch is None or isinstance(batch, dict)):
                    raise ValueError("a signature is its CMS (base64) and its batch, if any")
                verified = verify_document_signature(content, cms, batch, self.trust)
                checks.append(
                    SignatureCheck(
                        **base,
                        valid=True,
                        issuer=name_of(verified.certificate.issuer),
                        certificate_subject=verified.signer_subject,
                        signing_time=verified.signing_time,
                    )
                )
            except SignatureInvalid as exc:
                checks.append(
                    SignatureCheck(
                        **base,
                        valid=False,
                        reason=exc.reason,
                        message_vi=exc.message_vi,
                        message_en=exc.message_en,
                        signing_time=_stated_time(sig),
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


def _stated_time(sig: dict[str, Any]) -> datetime | None:
    """The signing time the record states (not proven by a signature that does not verify)."""
    at = sig.get("signed_at")
    if isinstance(at, datetime):
        return at
    try:
        return datetime.fromisoformat(str(at))
    except ValueError:
        return None
