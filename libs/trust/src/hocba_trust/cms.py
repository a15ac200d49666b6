"""Detached CMS signatures (CAdES-shaped: SHA-256, signing time, signer's chain included) and
their verification against a trust list.

Verification checks, in order: the structure, the message digest over the content, the signature
over the signed attributes, the signer's certificate path to a trusted root at the signing time,
the signer's key usage, and revocation against the CRLs given. Each failure says why, in
Vietnamese and English.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms as acms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID

from hocba_trust import cades
from hocba_trust.cades import Key, sign_cades
from hocba_trust.canonical import canonical_bytes
from hocba_trust.merkle import verify_in_batch

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

REASONS: dict[str, tuple[str, str]] = {
    "malformed": (
        "Chữ ký không đúng định dạng CMS",
        "the signature is not a well-formed CMS SignedData",
    ),
    "tampered": (
        "Nội dung đã bị thay đổi sau khi ký",
        "the content was changed after it was signed",
    ),
    "bad_signature": (
        "Chữ ký không khớp với chứng thư số",
        "the signature does not match the signer's certificate",
    ),
    "untrusted": (
        "Chứng thư số không do tổ chức được tin cậy cấp",
        "the certificate does not chain to a trusted root",
    ),
    "expired": (
        "Chứng thư số đã hết hạn hoặc chưa có hiệu lực tại thời điểm ký",
        "the certificate was not valid at the signing time",
    ),
    "revoked": (
        "Chứng thư số đã bị thu hồi trước thời điểm ký",
        "the certificate was revoked before the signing time",
    ),
    "key_usage": (
        "Chứng thư số không được phép dùng để ký số",
        "the certificate's key usage does not allow signing",
    ),
    "weak_algorithm": (
        "Thuật toán không đạt yêu cầu (RSA ≥ 2048, ECDSA ≥ 256, SHA-256)",
        "the algorithm is weaker than RSA 2048 / ECDSA P-256 / SHA-256",
    ),
}


class SignatureInvalid(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        vi, en = REASONS[reason]
        super().__init__(f"{en}{': ' + detail if detail else ''}")
        self.reason = reason
        self.message_vi = vi
        self.message_en = en
        self.detail = detail


@dataclass(frozen=True)
class VerifiedSignature:
    signer_subject: str
    signer_common_name: str
    signer_serial: int
    signing_time: datetime
    certificate: x509.Certificate


@dataclass(frozen=True)
class SigningIdentity:
    key: Key  # a software key, or a key held in a token (DigestSigner)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()


def sign_detached(
    content: bytes, identity: SigningIdentity, *, at: datetime | None = None
) -> bytes:
    """DER CMS SignedData over `content` (detached): CAdES-BES attributes (content type, message
    digest, signing time, signing-certificate-v2), SHA-256, the signer's certificate and chain."""
    return sign_cades(content, identity.key, identity.certificate, identity.chain, at=at)


def sign_detached_pkcs7(content: bytes, identity: SigningIdentity) -> bytes:
    """The same with `cryptography`'s PKCS7 builder (no signing-certificate-v2): the baseline."""
    assert isinstance(identity.key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(identity.certificate, identity.key, hashes.SHA256())
    )
    for cert in identity.chain:
        builder = builder.add_certificate(cert)
    return builder.sign(
        serialization.Encoding.DER,
        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
    )


class TrustList:
    """Trusted roots, the intermediates known to us, and CRLs."""

    def __init__(
        self,
        roots: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        crls: Sequence[x509.CertificateRevocationList] = (),
    ) -> None:
        if not roots:
            raise ValueError("a trust list needs at least one root certificate")
        self.roots = list(roots)
        self.intermediates = list(intermediates)
        self.generation = 0
        """Counts the changes of the CRLs in force (`crls` set to other CRLs): a verdict reached
        against this list holds as long as its generation is the same (the lookup's verification
        cache is keyed by it)."""
        self._crls = list(crls)
        self._store = xv.Store(self.roots)
        self._paths: dict[tuple[bytes, ...], tuple[list[x509.Certificate], datetime, datetime]] = {}
        self._crl_checks: dict[tuple[int, bytes], bool] = {}
        self.known_cas: dict[bytes, x509.Certificate] = {}

    @property
    def crls(self) -> list[x509.CertificateRevocationList]:
        return self._crls

    @crls.setter
    def crls(self, crls: list[x509.CertificateRevocationList]) -> None:
        """Put these CRLs in force; a new generation unless they are exactly those in force (a
        refresh that re-read the same files)."""
        der = serialization.Encoding.DER
        if [c.public_bytes(der) for c in crls] != [c.public_bytes(der) for c in self._crls]:
            self.generation += 1
        self._crls = list(crls)

    @classmethod
    def from_pem_files(cls, root_files: Iterable[str], crl_files: Iterable[str] = ()) -> TrustList:
        roots: list[x509.Certificate] = []
        for path in root_files:
            with open(path, "rb") as f:
                roots += x509.load_pem_x509_certificates(f.read())
        crls = []
        for path in crl_files:
            with open(path, "rb") as f:
                data = f.read()
            crls.append(
                x509.load_pem_x509_crl(data)
                if b"-----BEGIN" in data
                else x509.load_der_x509_crl(data)
            )
        return cls(roots, crls=crls)

    def _crl_signed_by(
        self, crl: x509.CertificateRevocationList, issuer: x509.Certificate | None
    ) -> bool:
        """Only a CRL signed by the certificate's own issuer counts (a forged one is ignored)."""
        if issuer is None:
            return True
        key = (id(crl), issuer.fingerprint(hashes.SHA256()))
        found = self._crl_checks.get(key)
        if found is None:
            try:
                found = bool(crl.is_signature_valid(issuer.public_key()))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                found = False
            self._crl_checks[key] = found
        return found

    def revocation_time(
        self, cert: x509.Certificate, issuer: x509.Certificate | None = None
    ) -> datetime | None:
        for crl in self.crls:
            if crl.issuer != cert.issuer or not self._crl_signed_by(crl, issuer):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                return entry.revocation_date_utc
        return None

    def validate_path(
        self,
        leaf: x509.Certificate,
        others: Sequence[x509.Certificate],
        at: datetime,
        key: tuple[bytes, ...] | None = None,
    ) -> None:
        if not (leaf.not_valid_before_utc <= at <= leaf.not_valid_after_utc):
            raise SignatureInvalid(
                "expired",
                f"valid {leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d}",
            )
        # A path found once holds for any time inside every certificate's validity on it.
        key = key or (
            leaf.fingerprint(hashes.SHA256()),
            *(o.fingerprint(hashes.SHA256()) for o in others),
        )
        cached = self._paths.get(key)
        if cached is not None and cached[1] <= at <= cached[2]:
            chain = cached[0]
        else:
            chain = self._build_path(leaf, others, at)
            for ca in chain[1:]:  # CAs proven by a path: their CRLs can be checked when fetched
                self.known_cas[ca.subject.public_bytes()] = ca
            start = max(c.not_valid_before_utc for c in chain)
            end = min(c.not_valid_after_utc for c in chain)
            if len(self._paths) > 50_000:
                self._paths.clear()
            self._paths[key] = (chain, start, end)
        for cert, issuer in zip(chain[:-1], chain[1:], strict=True):
            revoked_at = self.revocation_time(cert, issuer)
            if revoked_at is not None and revoked_at <= at:
                raise SignatureInvalid("revoked", f"revoked {revoked_at:%Y-%m-%d %H:%M} UTC")

    def _build_path(
        self, leaf: x509.Certificate, others: Sequence[x509.Certificate], at: datetime
    ) -> list[x509.Certificate]:
        verifier = (
            xv.PolicyBuilder()
            .store(self._store)
            .time(at)
            .extension_policies(
                ca_policy=xv.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=xv.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(leaf, list(others) + self.intermediates)
        except xv.VerificationError as exc:
            text = str(exc)
            raise SignatureInvalid(
                "expired" if "expired" in text or "not yet valid" in text else "untrusted", text
            ) from None
        return list(verified.chain)


def _check_key_usage(cert: x509.Certificate) -> None:
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (ku.digital_signature or ku.content_commitment):
            raise SignatureInvalid("key_usage", "neither digitalSignature nor nonRepudiation")
    except x509.ExtensionNotFound:
        raise SignatureInvalid("key_usage", "no key usage extension") from None
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        allowed = {
            ExtendedKeyUsageOID.CLIENT_AUTH,
            ExtendedKeyUsageOID.EMAIL_PROTECTION,
            x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        }
        if not allowed.intersection(set(eku)):
            raise SignatureInvalid(
                "key_usage", "extended key usage does not allow document signing"
            )
    except x509.ExtensionNotFound:
        pass


def _check_strength(cert: x509.Certificate) -> None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise SignatureInvalid("weak_algorithm", f"RSA {key.key_size}")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < 256:
        raise SignatureInvalid("weak_algorithm", f"EC {key.curve.key_size}")


@dataclass(frozen=True)
class _CertInfo:
    """What verification needs from a certificate, worked out once per certificate."""

    cert: x509.Certificate
    key: Any  # the certificate's public key
    sha256: bytes
    issuer: bytes
    subject: str
    common_name: str
    problem: SignatureInvalid | None  # key usage or strength, if either is wrong


_certificates: dict[bytes, _CertInfo] = {}

_UNREADABLE = (
    ValueError,
    TypeError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    x509.InvalidVersion,
)
"""What `cryptography` raises on a certificate whose parts do not parse; it parses the key, the
names and the extensions only when asked, so each is asked for here, once."""


def _certificate(der: bytes) -> _CertInfo:
    """A certificate of a signature, read; `SignatureInvalid` if any part of it does not parse."""
    found = _certificates.get(der)
    if found is None:
        try:
            cert = x509.load_der_x509_certificate(der)
            key = cert.public_key()
            problem = None
            try:
                _check_strength(cert)
                _check_key_usage(cert)
            except SignatureInvalid as exc:
                problem = exc
            cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            info = _CertInfo(
                cert,
                key,
                hashlib.sha256(der).digest(),
                cert.issuer.public_bytes(),
                cert.subject.rfc4514_string(),
                str(cn[0].value) if cn else "",
                problem,
            )
        except UnsupportedAlgorithm:
            raise SignatureInvalid(
                "weak_algorithm", "a certificate's key algorithm is not supported"
            ) from None
        except _UNREADABLE as exc:
            raise SignatureInvalid(
                "malformed", f"a certificate does not parse ({type(exc).__name__})"
            ) from None
        if len(_certificates) > 50_000:
            _certificates.clear()
        found = _certificates[der] = info
    return found


_SHA256_OID = cades.oid("2.16.840.1.101.3.4.2.1")


def verify_detached(content: bytes, cms_der: bytes, trust: TrustList) -> VerifiedSignature:
    """Verify a detached CMS signature over `content`; raise `SignatureInvalid` saying why.

    DER SignedData with one signer (what Hocba and common signing apps produce) is read by a small
    DER reader; anything else goes through asn1crypto. Both check the same things, in order."""
    try:
        parsed = cades.parse(cms_der)
    except ValueError:
        return _verify_detached_asn1(content, cms_der, trust)
    try:
        infos = [_certificate(d) for d in parsed.certificates]
        digest = cades.attribute_value(parsed.attributes[cades.OID_MESSAGE_DIGEST])
        time_values = parsed.attributes.get(cades.OID_SIGNING_TIME)
    except (KeyError, ValueError, IndexError) as exc:
        raise SignatureInvalid("malformed", type(exc).__name__) from None
    if _SHA256_OID not in parsed.digest_algorithm:
        raise SignatureInvalid("weak_algorithm", "digest is not SHA-256")
    if hashlib.sha256(content).digest() != digest:
        raise SignatureInvalid("tampered")
    info = next(
        (i for i in infos if i.cert.serial_number == parsed.serial and i.issuer == parsed.issuer),
        None,
    )
    if info is None:
        raise SignatureInvalid("malformed", "the signer's certificate is not included")
    leaf = info.cert
    ess = parsed.attributes.get(cades.OID_SIGNING_CERT_V2)
    if ess is not None and b"\x04\x20" + info.sha256 not in ess:
        raise SignatureInvalid("bad_signature", "signing-certificate-v2 names another certificate")
    if info.problem is not None and info.problem.reason == "weak_algorithm":
        raise info.problem
    key = info.key
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(parsed.signature, parsed.signed_attrs, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(parsed.signature, parsed.signed_attrs, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise SignatureInvalid("weak_algorithm", type(key).__name__)
    except InvalidSignature:
        raise SignatureInvalid("bad_signature") from None
    at = datetime.now(UTC)
    if time_values is not None:
        try:
            value = time_values[
                2:
            ]  # SET { time }: skip the SET header (short form for these sizes)
            at = cades.parse_time(cades.attribute_value(time_values), value[0])
        except (ValueError, IndexError):
            raise SignatureInvalid("malformed", "signing time") from None
    if info.problem is not None:
        raise info.problem
    others = [i for i in infos if i is not info]
    trust.validate_path(
        leaf, [i.cert for i in others], at, key=(info.sha256, *(i.sha256 for i in others))
    )
    return VerifiedSignature(
        signer_subject=info.subject,
        signer_common_name=info.common_name,
        signer_serial=leaf.serial_number,
        signing_time=at,
        certificate=leaf,
    )


def _verify_detached_asn1(content: bytes, cms_der: bytes, trust: TrustList) -> VerifiedSignature:
    """The general path (BER, several signers' structures, unusual encodings), via asn1crypto.

    asn1crypto parses lazily: every value is read inside the `try`, so that a part that does not
    parse is `malformed`, whenever it is first touched."""
    try:
        info = acms.ContentInfo.load(cms_der)
        signed = info["content"]
        signer = signed["signer_infos"][0]
        cert_ders = [c.chosen.dump() for c in signed["certificates"] or []]
        digest_algo = signer["digest_algorithm"]["algorithm"].native
        attrs = signer["signed_attrs"]
        values = {a["type"].native: a["values"][0] for a in attrs}
        message_digest = values["message_digest"].native
        signing_time = values.get("signing_time")
        at = signing_time.native if signing_time is not None else None
        sid = signer["sid"].chosen
        sid_serial, sid_issuer = sid["serial_number"].native, sid["issuer"].dump()
        ess = values.get("signing_certificate_v2", values.get("1.2.840.113549.1.9.16.2.47"))
        ess_der = ess.dump() if ess is not None else None
        signature = signer["signature"].native
        signed_attrs_der = (
            attrs.untag().dump() if hasattr(attrs, "untag") else b"\x31" + attrs.dump()[1:]
        )
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, ... on bad input
        raise SignatureInvalid("malformed", type(exc).__name__) from None
    if (
        not isinstance(message_digest, bytes)
        or not isinstance(signature, bytes)
        or not isinstance(sid_serial, int)
    ):
        raise SignatureInvalid(
            "malformed", "message digest, signature or serial number of the wrong type"
        )
    if at is not None and not isinstance(at, datetime):
        raise SignatureInvalid("malformed", "signing time")
    if digest_algo != "sha256":
        raise SignatureInvalid("weak_algorithm", f"digest {digest_algo}")
    if hashlib.sha256(content).digest() != message_digest:
        raise SignatureInvalid("tampered")
    certs = [_certificate(der) for der in cert_ders]
    leaf_info = next(
        (c for c in certs if c.cert.serial_number == sid_serial and c.issuer == sid_issuer), None
    )
    if leaf_info is None:
        raise SignatureInvalid("malformed", "the signer's certificate is not included")
    leaf = leaf_info.cert
    # ESSCertIDv2 (SHA-256 by default): the attribute must name the leaf certificate's hash.
    if ess_der is not None and b"\x04\x20" + leaf_info.sha256 not in ess_der:
        raise SignatureInvalid("bad_signature", "signing-certificate-v2 names another certificate")
    _check_strength(leaf)
    key = leaf_info.key
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_attrs_der, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_attrs_der, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise SignatureInvalid("weak_algorithm", type(key).__name__)
    except InvalidSignature:
        raise SignatureInvalid("bad_signature") from None
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if leaf_info.problem is not None:
        raise leaf_info.problem
    trust.validate_path(leaf, [c.cert for c in certs if c is not leaf_info], at)
    return VerifiedSignature(
        signer_subject=leaf_info.subject,
        signer_common_name=leaf_info.common_name,
        signer_serial=leaf.serial_number,
        signing_time=at,
        certificate=leaf,
    )


def verify_document_signature(
    content: bytes, cms_b64: str, batch: dict[str, Any] | None, trust: TrustList
) -> VerifiedSignature:
    """Verify one signature on a document: a detached CMS over the document's canonical bytes, or,
    for a bulk signature, the document's inclusion proof plus the CMS over the signed Merkle root
    statement (see hocba_trust.merkle)."""
    try:
        der = base64.b64decode(cms_b64, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("malformed", "the signature is not base64") from None
    if batch is None:
        return verify_detached(content, der, trust)
    try:
        statement = verify_in_batch(content, batch)
    except LookupError:
        raise SignatureInvalid("tampered", "the document is not in the signed batch") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid("malformed", f"inclusion proof: {exc}") from None
    return verify_detached(canonical_bytes(statement), der, trust)
