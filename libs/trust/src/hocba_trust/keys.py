"""Signers' certificates and keys as files, and the port that certifies a key.

A key directory holds, per signer id, `<id>.pem` (the signer's certificate, then its chain up to,
not including, the root) and, for a software key, `<id>.key.pem` (PKCS#8, mode 0600). A key held
in a token has only its certificate file here. This module loads and saves those files; it never
creates a certificate: that is a CA's work (`CertificateIssuer`), in production a licensed CA, in
development the development kit's CA (hocba_devstack).

Signer ids come from events and requests, so they are checked before they name a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hocba_trust.cms import PrivateKey, SigningIdentity

_SIGNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class CertificateIssuer(Protocol):
    """A CA that certifies a public key for a signer: returns the certificate, then its chain up
    to, not including, the root."""

    def certify_key(
        self,
        subject_id: str,
        common_name: str,
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
        *,
        organization: bool,
    ) -> tuple[x509.Certificate, ...]: ...


def check_signer_id(signer_id: str) -> str:
    """The id, if it may name a file: letters, digits, '.', '_' and '-', not starting with '.'."""
    if not _SIGNER_ID.fullmatch(signer_id):
        raise ValueError(
            "a signer id is 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return signer_id


def pem(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def write_private_key(path: Path, key: PrivateKey) -> None:
    """PKCS#8 PEM, readable by its owner only (created with mode 0600, never wider)."""
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"{path}: an EC or RSA private key is expected")
    return key


def load_identity(certificate_file: Path, key_file: Path) -> SigningIdentity:
    """A software signing identity from a certificate file (leaf, then chain) and a key file."""
    certs = x509.load_pem_x509_certificates(Path(certificate_file).read_bytes())
    key = load_private_key(key_file)
    # cryptography's public keys compare by value, whatever their type (an Ed25519 key in the
    # certificate is simply not equal; it has no `public_numbers` to compare)
    if certs[0].public_key() != key.public_key():
        raise ValueError(f"{key_file} is not the key of the certificate in {certificate_file}")
    return SigningIdentity(key=key, certificate=certs[0], chain=tuple(certs[1:]))


class KeyDirectory:
    """Signers' certificates and software keys under one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def certificate_file(self, signer_id: str) -> Path:
        return self.dir / f"{check_signer_id(signer_id)}.pem"

    def key_file(self, signer_id: str) -> Path:
        return self.dir / f"{check_signer_id(signer_id)}.key.pem"

    def has_key(self, signer_id: str) -> bool:
        return self.key_file(signer_id).exists()

    def certificates(self, signer_id: str) -> tuple[x509.Certificate, ...] | None:
        path = self.certificate_file(signer_id)
        return tuple(x509.load_pem_x509_certificates(path.read_bytes())) if path.exists() else None

    def load_identity(self, signer_id: str) -> SigningIdentity | None:
        if not self.has_key(signer_id):
            return None
        return load_identity(self.certificate_file(signer_id), self.key_file(signer_id))

    def save_certificates(self, signer_id: str, certificates: Sequence[x509.Certificate]) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.certificate_file(signer_id)
        path.write_bytes(pem(certificates))
        return path

    def save_identity(self, signer_id: str, identity: SigningIdentity) -> None:
        if not isinstance(identity.key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise TypeError("only a software key can be saved to a file")
        self.dir.mkdir(parents=True, exist_ok=True)
        write_private_key(self.key_file(signer_id), identity.key)
        self.save_certificates(signer_id, (identity.certificate, *identity.chain))
