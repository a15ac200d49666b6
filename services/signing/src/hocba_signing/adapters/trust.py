"""Signature checks and server-side keys.

`TrustListChecker` verifies a CMS against the configured trust list and checks that the
certificate belongs to the expected signer (its subject's UID is the staff id).
`DevPKISigner` signs with the development PKI's software keys; real keys (PKCS#11 tokens, the
school's seal) come with the signing issue. Nothing trusts the development PKI unless configured.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cryptography.x509.oid import NameOID
from hocba_devstack.devpki import DevPKI
from hocba_trust.cms import (
    SignatureInvalid,
    SigningIdentity,
    TrustList,
    sign_detached,
    verify_detached,
)

from hocba_signing.application.ports import CheckedSignature


class TrustListChecker:
    def __init__(self, trust: TrustList | None) -> None:
        self.trust = trust

    def check(self, content: bytes, cms_der: bytes, signer_id: str) -> CheckedSignature:
        if self.trust is None:
            raise SignatureInvalid("untrusted", "no trust roots are configured (HOCBA_SIGNING_TRUST_ROOTS)")
        verified = verify_detached(content, cms_der, self.trust)
        uids = [str(a.value) for a in verified.certificate.subject.get_attributes_for_oid(NameOID.USER_ID)]
        if signer_id not in uids:
            raise SignatureInvalid("bad_signature", "the certificate belongs to another signer")
        return CheckedSignature(verified.signer_common_name, verified.signing_time)


class DevPKISigner:
    def __init__(self, pki_dir: str, issue_on_demand: bool, external_signers: list[str] | tuple[str, ...] = ()) -> None:
        self.pki = DevPKI(Path(pki_dir))
        self.issue_on_demand = issue_on_demand
        self.external = tuple(external_signers)
        self._cache: dict[str, SigningIdentity] = {}
        self._lock = threading.Lock()

    def _external(self, signer_id: str) -> bool:
        return any(signer_id.startswith(p[:-1]) if p.endswith("*") else signer_id == p for p in self.external)

    def can_sign(self, role: str, signer_id: str) -> bool:
        if role == "school_seal" or self._external(signer_id):
            return False
        return self.issue_on_demand or signer_id in self._cache or self.pki.path("signers", f"{signer_id}.key.pem").exists()

    def identity(self, signer_id: str, signer_name: str) -> SigningIdentity:
        with self._lock:
            if signer_id in self._cache:
                return self._cache[signer_id]
            identity = self.pki.load_identity(signer_id)
            if identity is None:
                if not self.issue_on_demand:
                    raise LookupError(f"no signing key for {signer_id} in {self.pki.dir}")
                self.pki.create()
                identity = self.pki.issue(signer_id, signer_name)
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
