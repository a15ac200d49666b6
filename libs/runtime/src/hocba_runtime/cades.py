"""A fast CAdES-BES encoder: detached CMS SignedData (RFC 5652) with the attributes CAdES asks for
(ETSI EN 319 122-1): content-type, message-digest (SHA-256), signing-time and
signing-certificate-v2 (ESS, RFC 5035), the signer's certificate and chain included.

Everything that depends only on the signer (certificates, issuer-and-serial, the ESS attribute) is
encoded once per signer; a signature then costs one SHA-256, a few byte joins and the key's sign
operation. General ASN.1 libraries spend most of their time building these structures per call
(pyHanko's CMS path takes about 10 ms a signature here); this encoder writes the same DER.

The key may be a `cryptography` private key or anything with `sign_digest(digest) -> DER signature`
(a key in a PKCS#11 token, see hocba_signing's adapters).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

# -- DER ------------------------------------------------------------------------------------------


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    return tlv(0x31, b"".join(sorted(parts)))  # DER: SET OF sorted by encoding


def oid(dotted: str) -> bytes:
    nums = [int(x) for x in dotted.split(".")]
    body = bytes([40 * nums[0] + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, body)


def integer(n: int) -> bytes:
    body = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, body)


def octets(b: bytes) -> bytes:
    return tlv(0x04, b)


NULL = b"\x05\x00"
OID_DATA = oid("1.2.840.113549.1.7.1")
OID_SIGNED_DATA = oid("1.2.840.113549.1.7.2")
OID_CONTENT_TYPE = oid("1.2.840.113549.1.9.3")
OID_MESSAGE_DIGEST = oid("1.2.840.113549.1.9.4")
OID_SIGNING_TIME = oid("1.2.840.113549.1.9.5")
OID_SIGNING_CERT_V2 = oid("1.2.840.113549.1.9.16.2.47")
SHA256 = seq(oid("2.16.840.1.101.3.4.2.1"))
ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"))
RSA_SHA256 = seq(oid("1.2.840.113549.1.1.11"), NULL)
CONTENT_TYPE_ATTR = seq(OID_CONTENT_TYPE, set_of(OID_DATA))


def signing_time(at: datetime) -> bytes:
    """UTCTime until 2049, GeneralizedTime after (RFC 5652 §11.3)."""
    at = at.astimezone(UTC)
    if at.year < 2050:
        return tlv(0x17, at.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(0x18, at.strftime("%Y%m%d%H%M%SZ").encode())


# -- signers --------------------------------------------------------------------------------------


class DigestSigner(Protocol):
    """A private key we cannot read (a token): signs a SHA-256 digest, returns the DER signature."""

    def sign_digest(self, digest: bytes) -> bytes: ...

    def public_key(self) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey: ...


Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | DigestSigner


@dataclass(frozen=True)
class _Template:
    head: bytes  # SignedData fields before signerInfos (version, digestAlgorithms, encap, certificates)
    sid: bytes
    ess_attr: bytes
    signature_algorithm: bytes


_templates: dict[bytes, _Template] = {}


def _template(certificate: x509.Certificate, chain: Sequence[x509.Certificate], key: Key) -> _Template:
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    cache_key = cert_der + b"".join(c.public_bytes(serialization.Encoding.DER) for c in chain)
    found = _templates.get(cache_key)
    if found is not None:
        return found
    issuer = certificate.issuer.public_bytes()
    serial = integer(certificate.serial_number)
    sid = seq(issuer, serial)
    # ESSCertIDv2 with the default hash (SHA-256, omitted) and issuerSerial: GeneralNames{[4] Name}.
    ess = seq(seq(seq(octets(hashlib.sha256(cert_der).digest()), seq(seq(tlv(0xA4, issuer)), serial))))
    ess_attr = seq(OID_SIGNING_CERT_V2, set_of(ess))
    certs = [cert_der] + [c.public_bytes(serialization.Encoding.DER) for c in chain]
    head = (integer(1) + set_of(SHA256) + seq(OID_DATA) + tlv(0xA0, b"".join(sorted(certs))))
    public = key.public_key()
    algorithm = ECDSA_SHA256 if isinstance(public, ec.EllipticCurvePublicKey) else RSA_SHA256
    template = _Template(head, sid, ess_attr, algorithm)
    if len(_templates) > 10_000:
        _templates.clear()
    _templates[cache_key] = template
    return template


def _sign(key: Key, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign_digest(hashlib.sha256(data).digest())


def sign_cades(content: bytes, key: Key, certificate: x509.Certificate, chain: Sequence[x509.Certificate] = (),
               *, at: datetime | None = None, content_digest: bytes | None = None) -> bytes:
    """DER CMS SignedData, detached, CAdES-BES attributes, SHA-256. `content_digest` may be given
    instead of hashing `content` again (the SHA-256 of the content)."""
    t = _template(certificate, chain, key)
    digest = content_digest if content_digest is not None else hashlib.sha256(content).digest()
    attrs = [
        CONTENT_TYPE_ATTR,
        seq(OID_SIGNING_TIME, set_of(signing_time(at or datetime.now(UTC)))),
        seq(OID_MESSAGE_DIGEST, set_of(octets(digest))),
        t.ess_attr,
    ]
    signed_attrs = set_of(*attrs)  # what is signed: the attributes as a SET (tag 0x31)
    signature = _sign(key, signed_attrs)
    signer_info = seq(integer(1), t.sid, SHA256, b"\xa0" + signed_attrs[1:], t.signature_algorithm, octets(signature))
    signed_data = seq(t.head, set_of(signer_info))
    return seq(OID_SIGNED_DATA, tlv(0xA0, signed_data))


__all__ = ["sign_cades", "DigestSigner", "Prehashed"]
