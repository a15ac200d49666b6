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


def _template(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate], key: Key
) -> _Template:
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    cache_key = cert_der + b"".join(c.public_bytes(serialization.Encoding.DER) for c in chain)
    found = _templates.get(cache_key)
    if found is not None:
        return found
    issuer = certificate.issuer.public_bytes()
    serial = integer(certificate.serial_number)
    sid = seq(issuer, serial)
    # ESSCertIDv2 with the default hash (SHA-256, omitted) and issuerSerial: GeneralNames{[4] Name}.
    ess = seq(
        seq(seq(octets(hashlib.sha256(cert_der).digest()), seq(seq(tlv(0xA4, issuer)), serial)))
    )
    ess_attr = seq(OID_SIGNING_CERT_V2, set_of(ess))
    certs = [cert_der] + [c.public_bytes(serialization.Encoding.DER) for c in chain]
    head = integer(1) + set_of(SHA256) + seq(OID_DATA) + tlv(0xA0, b"".join(sorted(certs)))
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


def sign_cades(
    content: bytes,
    key: Key,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    at: datetime | None = None,
    content_digest: bytes | None = None,
) -> bytes:
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
    signer_info = seq(
        integer(1),
        t.sid,
        SHA256,
        b"\xa0" + signed_attrs[1:],
        t.signature_algorithm,
        octets(signature),
    )
    signed_data = seq(t.head, set_of(signer_info))
    return seq(OID_SIGNED_DATA, tlv(0xA0, signed_data))


__all__ = ["sign_cades", "DigestSigner", "Prehashed"]


# -- reading ----------------------------------------------------------------------------------------


def _read(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """(tag, start of the whole TLV, start of content, end) of the DER element at `pos`."""
    tag = data[pos]
    n = data[pos + 1]
    i = pos + 2
    if n & 0x80:
        count = n & 0x7F
        if count == 0 or count > 4:
            raise ValueError("indefinite or oversized length")
        n = int.from_bytes(data[i : i + count], "big")
        i += count
    end = i + n
    if end > len(data):
        raise ValueError("truncated")
    return tag, pos, i, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    out = []
    pos = start
    while pos < end:
        element = _read(data, pos)
        out.append(element)
        pos = element[3]
    if pos != end:
        raise ValueError("bad nesting")
    return out


@dataclass(frozen=True)
class ParsedSignature:
    certificates: list[bytes]
    digest_algorithm: bytes
    issuer: bytes
    serial: int
    signed_attrs: bytes  # as signed: SET tag 0x31
    attributes: dict[bytes, bytes]  # attribute OID (DER) -> its SET of values (DER)
    signature_algorithm: bytes
    signature: bytes


def parse(der: bytes) -> ParsedSignature:
    """Read a CMS SignedData with one signer (strict DER, definite lengths). ValueError otherwise."""
    try:
        tag, _, c, e = _read(der, 0)
        content_type, explicit = _children(der, c, e)[:2]
        if der[content_type[1] : content_type[3]] != OID_SIGNED_DATA or explicit[0] != 0xA0:
            raise ValueError("not SignedData")
        (sd,) = _children(der, explicit[2], explicit[3])
        parts = _children(der, sd[2], sd[3])
        certificates: list[bytes] = []
        signer_infos = None
        for part in parts[3:]:
            if part[0] == 0xA0:
                certificates = [der[x[1] : x[3]] for x in _children(der, part[2], part[3])]
            elif part[0] == 0x31:
                signer_infos = part
        if signer_infos is None:
            raise ValueError("no signerInfos")
        infos = _children(der, signer_infos[2], signer_infos[3])
        if len(infos) != 1:
            raise ValueError("exactly one signer expected")
        fields = _children(der, infos[0][2], infos[0][3])
        sid, digest_alg, attrs, sig_alg, signature = (
            fields[1],
            fields[2],
            fields[3],
            fields[4],
            fields[5],
        )
        if attrs[0] != 0xA0 or sid[0] != 0x30:
            raise ValueError("signed attributes and issuer-and-serial expected")
        issuer, serial = _children(der, sid[2], sid[3])
        attributes = {}
        for attr in _children(der, attrs[2], attrs[3]):
            oid_el, values = _children(der, attr[2], attr[3])
            attributes[der[oid_el[1] : oid_el[3]]] = der[values[1] : values[3]]
        return ParsedSignature(
            certificates=certificates,
            digest_algorithm=der[digest_alg[2] : digest_alg[3]],
            issuer=der[issuer[1] : issuer[3]],
            serial=int.from_bytes(der[serial[2] : serial[3]], "big", signed=True),
            signed_attrs=b"\x31" + der[attrs[1] + 1 : attrs[3]],
            attributes=attributes,
            signature_algorithm=der[sig_alg[1] : sig_alg[3]],
            signature=der[signature[2] : signature[3]],
        )
    except (IndexError, ValueError) as exc:
        raise ValueError(f"not a CMS SignedData this reader handles: {exc}") from None


def attribute_value(values: bytes) -> bytes:
    """The content of the single value in an attribute's SET."""
    _, _, c, e = _read(values, 0)
    (value,) = _children(values, c, e)
    return (
        values[value[2] : value[3]]
        if value[0] in (0x04, 0x17, 0x18)
        else values[value[1] : value[3]]
    )


def parse_time(value: bytes, tag: int) -> datetime:
    """UTCTime YYMMDDHHMMSSZ (years 1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ."""
    text = value.decode("ascii")
    if not text.endswith("Z"):
        raise ValueError("signing time must be UTC")
    if tag == 0x17 and len(text) == 13:
        yy = int(text[0:2])
        year, rest = (2000 + yy if yy < 50 else 1900 + yy), text[2:]
    elif tag == 0x18 and len(text) == 15:
        year, rest = int(text[0:4]), text[4:]
    else:
        raise ValueError("unsupported time format")
    return datetime(
        year,
        int(rest[0:2]),
        int(rest[2:4]),
        int(rest[4:6]),
        int(rest[6:8]),
        int(rest[8:10]),
        tzinfo=UTC,
    )
