"""The schools' organizational seals (con dấu số) in a PKCS#11 token: SoftHSM2 in the local stack
and tests, a network HSM in production (DOMAIN §7: a school's seal certificate comes from VGCA,
or from a licensed public CA for a private school).

A school's seal is found the way signing keeps it: the private key in the token labelled with the
school id (CKA_LABEL, and CKA_ID the id's bytes), its certificate and chain in a key directory
beside it (`<school_id>.pem`, hocba_trust.keys). The key never leaves the token: pyHanko's
PKCS11Signer sends it the digest to sign (raw CKM_ECDSA for an EC key, as Debian's SoftHSM has no
hash-and-sign EC mechanism). One logged-in session per process, opened at the first seal (a
render process's own, never one inherited across a fork), and a signer per school kept for the
process's life.

A school without a seal is an error naming it (`SealMissing`), unless an `issuer` is given:
development only (the local stack's CA, through `HOCBA_PUBLISHING_DEV_CA_URL`), a key is then
generated in the token, as signing does for a school's seal, and certified by the development
public-duty CA. Render processes of one host take a file lock in the key directory first, so
that two of them never generate two keys for one school.
"""

from __future__ import annotations

import fcntl
import threading
from typing import Any

import pkcs11
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from hocba_trust.keys import CertificateIssuer, KeyDirectory, check_signer_id
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key
from pyhanko.sign.pkcs11 import PKCS11Signer


class SealMissing(LookupError):
    """A school whose seal (key in the token, certificate in the key directory) is not there."""

    def __init__(self, school_id: str, detail: str) -> None:
        super().__init__(
            f"no organizational seal for school {school_id}: {detail}; install the school's seal "
            f"key in the token (label {school_id}) and its certificate with its chain "
            f"({school_id}.pem in the seal certificates directory), from VGCA or a licensed CA"
        )
        self.school_id = school_id


def _asn1(cert: x509.Certificate) -> ax509.Certificate:
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _spki(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


class TokenSeals:
    """The seal of each school, by school id, as pyHanko signers over one token session."""

    def __init__(
        self,
        library: str,
        token_label: str,
        pin: str,
        certificates: KeyDirectory,
        issuer: CertificateIssuer | None = None,
    ) -> None:
        self.library, self.token_label, self._pin = library, token_label, pin
        self.certificates = certificates
        self.issuer = issuer
        self._session: Any = None
        self._signers: dict[str, PKCS11Signer] = {}
        self._lock = threading.RLock()

    def _open(self) -> Any:
        if self._session is None:
            token = pkcs11.lib(self.library).get_token(token_label=self.token_label)
            try:
                self._session = token.open(user_pin=self._pin, rw=self.issuer is not None)
            except pkcs11.UserAlreadyLoggedIn:  # login is per process: another session did it
                self._session = token.open(rw=self.issuer is not None)
        return self._session

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
                self._signers.clear()

    def _objects(self, object_class: ObjectClass, label: str) -> list[Any]:
        return list(
            self._open().get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label})
        )

    def _token_public_key(self, school_id: str) -> bytes | None:
        """The SubjectPublicKeyInfo of the school's public key object in the token, if any."""
        found = self._objects(ObjectClass.PUBLIC_KEY, school_id)
        if len(found) != 1:
            return None
        pub = found[0]
        if pub.key_type == KeyType.EC:
            der = encode_ec_public_key(pub)
        elif pub.key_type == KeyType.RSA:
            der = encode_rsa_public_key(pub)  # PKCS#1, which load_der_public_key also reads
        else:
            return None
        return _spki(load_der_public_key(der))

    def _generate(self, school_id: str) -> None:
        """A P-256 key pair generated in the token, as signing's seal: sensitive, not extractable."""
        params = self._open().create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        params.generate_keypair(
            store=True,
            label=school_id,
            id=school_id.encode(),
            private_template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
            },
        )

    def _issue(self, school_id: str, school_name: str) -> None:
        """Development: the school's key (generated if the token has none) certified now."""
        assert self.issuer is not None
        self.certificates.dir.mkdir(parents=True, exist_ok=True)
        with open(self.certificates.dir / f".{school_id}.seal.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._objects(ObjectClass.PRIVATE_KEY, school_id) and (
                self.certificates.certificates(school_id) is not None
            ):
                return  # another render process made it while this one waited
            if not self._objects(ObjectClass.PRIVATE_KEY, school_id):
                self._generate(school_id)
            spki = self._token_public_key(school_id)
            assert spki is not None, "the key pair was generated with its public key"
            public = load_der_public_key(spki)
            assert isinstance(public, ec.EllipticCurvePublicKey)
            certs = self.issuer.certify_key(school_id, school_name, public, organization=True)
            self.certificates.save_certificates(school_id, certs)

    def signer(self, school_id: str, school_name: str) -> PKCS11Signer:
        """The pyHanko signer of the school's seal; `SealMissing` if it has none (and no issuer)."""
        with self._lock:
            found = self._signers.get(school_id)
            if found is not None:
                return found
            try:
                check_signer_id(school_id)
            except ValueError as exc:
                raise SealMissing(school_id, f"not a school id ({exc})") from None
            keys = self._objects(ObjectClass.PRIVATE_KEY, school_id)
            certs = self.certificates.certificates(school_id)
            if (not keys or certs is None) and self.issuer is not None:
                self._issue(school_id, school_name)
                keys = self._objects(ObjectClass.PRIVATE_KEY, school_id)
                certs = self.certificates.certificates(school_id)
            if not keys:
                raise SealMissing(school_id, f"the token {self.token_label!r} has no key for it")
            if len(keys) > 1:
                raise SealMissing(
                    school_id, f"the token {self.token_label!r} has {len(keys)} keys labelled so"
                )
            if certs is None:
                raise SealMissing(
                    school_id, f"no certificate {self.certificates.certificate_file(school_id)}"
                )
            in_token = self._token_public_key(school_id)
            if in_token is not None and in_token != _spki(certs[0].public_key()):
                raise SealMissing(
                    school_id, "its certificate is not the certificate of its key in the token"
                )
            signer = PKCS11Signer(
                self._open(),
                key_label=school_id,
                signing_cert=_asn1(certs[0]),
                ca_chain=[_asn1(c) for c in certs[1:]],
                # Debian's SoftHSM2 signs EC keys with raw CKM_ECDSA only: hash here, sign there
                use_raw_mechanism=isinstance(certs[0].public_key(), ec.EllipticCurvePublicKey),
                embed_roots=False,
            )
            self._signers[school_id] = signer
            return signer
