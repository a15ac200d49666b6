"""Keys in a PKCS#11 token (SoftHSM2 in the local stack and tests; a network HSM in production).

The school's organizational seal signs here: the private key is generated inside the token,
marked sensitive and non-extractable, and never leaves it. Signing sends the SHA-256 digest of the
CMS signed attributes to the token (CKM_ECDSA, raw r‖s), which is then DER-encoded for the CMS.
Certificates sit beside it, in a key directory (hocba_trust.keys; certificate files only).
"""

from __future__ import annotations

import threading
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from hocba_trust.cms import SigningIdentity, sign_detached
from hocba_trust.keys import CertificateIssuer, KeyDirectory
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.types import PublicKey
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters


class TokenKey:
    """A private key in the token, as hocba_trust.cades.DigestSigner."""

    def __init__(self, token: Pkcs11Token, key: Any, public: ec.EllipticCurvePublicKey) -> None:
        self.token = token
        self.key = key
        self._public = public

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign_digest(self, digest: bytes) -> bytes:
        with self.token.lock:
            raw = self.key.sign(digest, mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        return encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )


class Pkcs11Token:
    """One logged-in session on a token, shared by the process (calls are serialized)."""

    def __init__(self, library: str, token_label: str, pin: str) -> None:
        self.lib = pkcs11.lib(library)
        self.token = self.lib.get_token(token_label=token_label)
        try:
            self.session = self.token.open(user_pin=pin, rw=True)
        except pkcs11.UserAlreadyLoggedIn:  # login is per process: another session of ours did it
            self.session = self.token.open(rw=True)
        self.lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def find(self, label: str) -> Any | None:
        with self.lock:
            try:
                return self.session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
                return None

    def public_key(self, label: str) -> ec.EllipticCurvePublicKey:
        with self.lock:
            pub = self.session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
            if not isinstance(pub, PublicKey):  # get_key is typed as any kind of key
                raise TypeError(f"token object {label!r} is not a public key")
            key = load_der_public_key(encode_ec_public_key(pub))
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return key

    def generate(self, label: str) -> Any:
        """A P-256 key pair generated in the token: sensitive, not extractable."""
        with self.lock:
            params = self.session.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            _, private = params.generate_keypair(
                store=True,
                label=label,
                id=label.encode(),
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                },
            )
        return private


class TokenSealSigner:
    """Signs as a school's seal with its key in the token. With an `issuer` (development only: the
    local stack's CA), a school without a key gets one generated in the token and certified by the
    development public-duty CA."""

    def __init__(
        self,
        token: Pkcs11Token,
        certificates: KeyDirectory,
        issuer: CertificateIssuer | None = None,
    ) -> None:
        self.token = token
        self.certificates = certificates
        self.issuer = issuer
        self._cache: dict[str, SigningIdentity] = {}
        self._lock = threading.Lock()

    def can_sign(self, signer_id: str) -> bool:
        return (
            self.issuer is not None
            or signer_id in self._cache
            or self.token.find(signer_id) is not None
        )

    def identity(self, signer_id: str, name: str) -> SigningIdentity:
        with self._lock:
            if signer_id in self._cache:
                return self._cache[signer_id]
            key = self.token.find(signer_id)
            certs = self.certificates.certificates(signer_id)
            if key is None or certs is None:
                if self.issuer is None:
                    raise LookupError(f"no seal key or certificate for {signer_id}")
                key = key or self.token.generate(signer_id)
                certs = self.issuer.certify_key(
                    signer_id, name, self.token.public_key(signer_id), organization=True
                )
                self.certificates.save_certificates(signer_id, certs)
            identity = SigningIdentity(
                key=TokenKey(self.token, key, self.token.public_key(signer_id)),
                certificate=certs[0],
                chain=certs[1:],
            )
            self._cache[signer_id] = identity
            return identity

    def sign(self, signer_id: str, name: str, content: bytes) -> bytes:
        return sign_detached(content, self.identity(signer_id, name))
