"""A PDF's document time-stamp (PAdES B-LTA): an RFC 3161 token whose message imprint is the hash
of the bytes the time-stamp covers, signed by a time-stamping authority whose certificate is for
time-stamping (extended key usage timeStamping) and has a path to the trust list at the time it
stamped, not revoked by the CRLs given. Each failure says why, as the signatures' checks do."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import cms as acms
from asn1crypto import tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from hocba_trust.cms import SignatureInvalid, TrustList

HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


@dataclass(frozen=True)
class VerifiedTimestamp:
    time: datetime
    authority: str
    """The TSA certificate's subject (RFC 4514)."""


def verify_timestamp(content: bytes, token_der: bytes, trust: TrustList) -> VerifiedTimestamp:
    """Verify an RFC 3161 time-stamp token over `content`; raise `SignatureInvalid` saying why."""
    try:
        signed = acms.ContentInfo.load(token_der)["content"]
        encap = signed["encap_content_info"]
        content_type = encap["content_type"].native
        tst_der = bytes(encap["content"].contents)
        info = tsp.TSTInfo.load(tst_der)
        imprint_algorithm = info["message_imprint"]["hash_algorithm"]["algorithm"].native
        imprint = info["message_imprint"]["hashed_message"].native
        at = info["gen_time"].native
        signer = signed["signer_infos"][0]
        digest_algorithm = signer["digest_algorithm"]["algorithm"].native
        attrs = signer["signed_attrs"]
        values = {a["type"].native: a["values"][0] for a in attrs}
        message_digest = values["message_digest"].native
        attr_content_type = values["content_type"].native
        sid = signer["sid"].chosen
        serial, issuer = sid["serial_number"].native, sid["issuer"].dump()
        cert_ders = [c.chosen.dump() for c in signed["certificates"] or []]
        signature = signer["signature"].native
        signed_attrs_der = attrs.untag().dump()
    except Exception as exc:  # asn1crypto raises many kinds on bad input, lazily
        raise SignatureInvalid(
            "malformed", f"not an RFC 3161 token ({type(exc).__name__})"
        ) from None
    if content_type != "tst_info" or attr_content_type != "tst_info":
        raise SignatureInvalid("malformed", "the token does not hold a TSTInfo")
    if imprint_algorithm not in HASHES or digest_algorithm not in HASHES:
        raise SignatureInvalid("weak_algorithm", f"{imprint_algorithm} / {digest_algorithm}")
    if hashlib.new(imprint_algorithm, content).digest() != imprint:
        raise SignatureInvalid("tampered", "the time-stamp's imprint is not the file's")
    if hashlib.new(digest_algorithm, tst_der).digest() != message_digest:
        raise SignatureInvalid("tampered", "the TSTInfo does not match its signed digest")
    try:
        certs = [x509.load_der_x509_certificate(d) for d in cert_ders]
    except ValueError:
        raise SignatureInvalid("malformed", "a certificate does not parse") from None
    leaf = next(
        (c for c in certs if c.serial_number == serial and c.issuer.public_bytes() == issuer),
        None,
    )
    if leaf is None:
        raise SignatureInvalid("malformed", "the time-stamping authority's certificate is missing")
    key = leaf.public_key()
    algorithm = HASHES[digest_algorithm]
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_attrs_der, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_attrs_der, padding.PKCS1v15(), algorithm)
        else:
            raise SignatureInvalid("weak_algorithm", type(key).__name__)
    except InvalidSignature:
        raise SignatureInvalid("bad_signature", "the time-stamp's signature") from None
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.TIME_STAMPING not in eku:
        raise SignatureInvalid("key_usage", "the certificate is not a time-stamping authority's")
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    trust.validate_path(leaf, [c for c in certs if c is not leaf], at)
    return VerifiedTimestamp(time=at, authority=leaf.subject.rfc4514_string())
