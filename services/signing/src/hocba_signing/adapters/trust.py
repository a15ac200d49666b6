"""Signature checks and server-side keys.

`TrustListChecker` verifies a CMS against the configured trust list and checks that the
certificate belongs to the expected signer (its subject's UID is the staff id).
`DevPKISigner` signs with software keys from a key directory (development: teachers and
principals sign with their own tokens or apps in production). With a `CertificateIssuer` (the
local stack's development CA), a signer without a key gets one generated here and certified there.
Nothing trusts the development PKI unless configured.
"""

from __future__ import annotations

import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hocba_trust.cms import (
    SignatureInvalid,
    SigningIdentity,
    TrustList,
    sign_detached,
    verify_detached,
)
from hocba_trust.keys import CertificateIssuer, KeyDirectory

from hocba_signing.application.ports import CheckedSignature


class TrustListChecker:
    def __init__(self, trust: TrustList | None) -> None:
        self.trust = trust

    def check(self, content: bytes, cms_der: bytes, signer_id: str) -> CheckedSignature:
        if self.trust is None:
            raise SignatureInvalid(
                "untrusted", "no trust roots are configured (HOCBA_SIGNING_TRUST_ROOTS)"
            )
        verified = verify_detached(content, cms_der, self.trust)
        uids = [
            str(a.value)
            for a in verified.certificate.subject.get_attributes_for_oid(NameOID.USER_ID)
        ]
        if signer_id not in uids:
            raise SignatureInvalid("bad_signature", "the certificate belongs to another signer")
        return CheckedSignature(verified.signer_common_name, verified.signing_time)


class DevPKISigner:
    def __init__(
        self,
        keys: KeyDirectory,
        issuer: CertificateIssuer | None = None,
        external_signers: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.external = tuple(external_signers)
        self._cache: dict[str, SigningIdentity] = {}
        self._lock = threading.Lock()

    def _external(self, signer_id: str) -> bool:
        return any(
            signer_id.startswith(p[:-1]) if p.endswith("*") else signer_id == p
            for p in self.external
        )

    def can_sign(self, role: str, signer_id: str) -> bool:
        if role == "school_seal" or self._external(signer_id):
            return False
        return self.issuer is not None or signer_id in self._cache or self.keys.has_key(signer_id)

    def identity(self, signer_id: str, signer_name: str) -> SigningIdentity:
        with self._lock:
            if signer_id in self._cache:
                return self._cache[signer_id]
            identity = self.keys.load_identity(signer_id)
            if identity is None:
                if self.issuer is None:
                    raise LookupError(f"no signing key for {signer_id} in {self.keys.dir}")
                key = ec.generate_private_key(ec.SECP256R1())
                certs = self.issuer.certify_key(
                    signer_id, signer_name, key.public_key(), organization=False
                )
                identity = SigningIdentity(key=key, certificate=certs[0], chain=certs[1:])
                self.keys.save_identity(signer_id, identity)
            self._cache[signer_id] = identity
            return identity

    def sign(self, role: str, signer_id: str, signer_name: str, content: bytes) -> bytes:
        return sign_detached(content, self.identity(signer_id, signer_name))


class RoutingSigner:
    """People sign with their keys (development PKI); the school seal with its key in the token."""

    def __init__(self, people: DevPKISigner | None, seal: Any | None) -> None:
        self.people = people
        self.seal = seal

    def can_sign(self, role: str, signer_id: str) -> bool:
        if role == "school_seal":
            return self.seal is not None and bool(self.seal.can_sign(signer_id))
        return self.people is not None and self.people.can_sign(role, signer_id)

    def sign(self, role: str, signer_id: str, signer_name: str, content: bytes) -> bytes:
        if role == "school_seal":
            assert self.seal is not None
            return bytes(self.seal.sign(signer_id, signer_name, content))
        assert self.people is not None
        return self.people.sign(role, signer_id, signer_name, content)
