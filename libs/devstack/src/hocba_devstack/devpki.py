"""A development PKI shaped like Vietnam's: a national root (NEAC-like), a public-duty CA for
schools' organizational certificates (VGCA-like), and a licensed public CA for teachers' and
principals' personal certificates.

For the local stack and tests only. Nothing trusts it unless a service is configured with its
root. Keys are ECDSA P-256; every issued certificate names a CRL distribution point.

Services never import it: the local stack creates the PKI and the publisher's seal, passes their
files through settings, and serves `certify_key` over HTTP (hocba_devstack.devca) for signers
and seals certified on demand. Signers' files use hocba_trust.keys' layout (`signers/`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hocba_trust.cms import PrivateKey, SigningIdentity
from hocba_trust.keys import KeyDirectory, write_private_key

ROOT = "root"
PUBLIC_DUTY_CA = "public-duty-ca"
PERSONAL_CA = "personal-ca"
TSA = "tsa"
"""The development time-stamping authority's certificate and key (`tsa.pem`, `tsa.key.pem`)."""


def _name(cn: str, org: str = "Hocba Development PKI", **extra: str) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
    ]
    if "uid" in extra:
        attrs.append(x509.NameAttribute(NameOID.USER_ID, extra["uid"]))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class CA:
    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # from this CA up to, not including, the root
    crl_url: str


class DevPKI:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.signers = KeyDirectory(self.dir / "signers")

    # -- files --------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    @property
    def root_file(self) -> Path:
        return self.path(f"{ROOT}.pem")

    def crl_file(self, ca: str) -> Path:
        return self.path("crl", f"{ca}.crl.pem")

    def exists(self) -> bool:
        return self.root_file.exists() and self.path(f"{PERSONAL_CA}.key.pem").exists()

    def load_ca(self, name: str) -> CA:
        key = serialization.load_pem_private_key(self.path(f"{name}.key.pem").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        cert = x509.load_pem_x509_certificate(self.path(f"{name}.pem").read_bytes())
        chain = (cert,) if name != ROOT else ()
        return CA(name, key, cert, chain, self.crl_file(name).resolve().as_uri())

    # -- creation -----------------------------------------------------------------------
    def create(self, *, years: int = 20) -> None:
        """Create the root and both issuing CAs (idempotent: existing files are kept)."""
        if self.exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path("crl").mkdir(exist_ok=True)
        self.path("signers").mkdir(exist_ok=True)
        now = datetime.now(UTC) - timedelta(days=1)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name("Hocba Dev National Root CA (NEAC-like)")
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        write_private_key(self.path(f"{ROOT}.key.pem"), root_key)
        self.root_file.write_bytes(_pem(root))
        for name, cn in (
            (PUBLIC_DUTY_CA, "Hocba Dev Public-Duty CA (VGCA-like)"),
            (PERSONAL_CA, "Hocba Dev Licensed Public CA"),
        ):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (
                x509.CertificateBuilder()
                .subject_name(_name(cn))
                .issuer_name(root_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now)
                .not_valid_after(now + timedelta(days=365 * (years - 1)))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                    critical=True,
                )
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                    critical=False,
                )
                .sign(root_key, hashes.SHA256())
            )
            write_private_key(self.path(f"{name}.key.pem"), key)
            self.path(f"{name}.pem").write_bytes(_pem(cert))
        for name in (ROOT, PUBLIC_DUTY_CA, PERSONAL_CA):
            self.write_crl(name, [])

    def write_crl(self, ca_name: str, revoked: list[tuple[int, datetime]]) -> Path:
        ca = self.load_ca(ca_name)
        now = datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.cert.subject)
            .last_update(now - timedelta(minutes=1))
            .next_update(now + timedelta(days=7))
        )
        for serial, when in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        crl = builder.sign(ca.key, hashes.SHA256())
        path = self.crl_file(ca_name)
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return path

    def refresh_crls(self, within: timedelta = timedelta(days=3)) -> list[str]:
        """Each CA's CRL signed again, with the same entries, when its next update is less than
        `within` away: publishing's seal validates with these CRLs and refuses a stale one, and a
        local stack lives longer than a CRL's week. Returns the CAs whose CRL was renewed."""
        renewed = []
        for name in (ROOT, PUBLIC_DUTY_CA, PERSONAL_CA):
            path = self.crl_file(name)
            if not path.exists():
                continue
            crl = x509.load_pem_x509_crl(path.read_bytes())
            due = crl.next_update_utc
            if due is not None and due - datetime.now(UTC) > within:
                continue
            self.write_crl(name, [(r.serial_number, r.revocation_date_utc) for r in crl])
            renewed.append(name)
        return renewed

    def issue(
        self,
        subject_id: str,
        common_name: str,
        *,
        organization: bool = False,
        not_before: datetime | None = None,
        days: int = 3 * 365,
        key: PrivateKey | None = None,
        save: bool = True,
    ) -> SigningIdentity:
        """A signing certificate for a person (personal CA) or a school (public-duty CA)."""
        ca = self.load_ca(PUBLIC_DUTY_CA if organization else PERSONAL_CA)
        key = key or ec.generate_private_key(ec.SECP256R1())
        start = not_before or (datetime.now(UTC) - timedelta(hours=1))
        subject = _name(
            common_name,
            org=common_name if organization else "Hocba Development PKI",
            uid=subject_id,
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(ca.crl_url)], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .sign(ca.key, hashes.SHA256())
        )
        identity = SigningIdentity(key=key, certificate=cert, chain=ca.chain)
        if save:
            self.save_identity(subject_id, identity)
        return identity

    def tsa_identity(self) -> SigningIdentity:
        """The development time-stamping authority's key and certificate (RFC 3161 §2.3: its only
        extended key usage, critical, is timeStamping), issued by the public-duty CA the first
        time it is asked for and kept in `tsa.pem` / `tsa.key.pem`."""
        cert_file, key_file = self.path(f"{TSA}.pem"), self.path(f"{TSA}.key.pem")
        if cert_file.exists() and key_file.exists():
            certs = x509.load_pem_x509_certificates(cert_file.read_bytes())
            key = serialization.load_pem_private_key(key_file.read_bytes(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return SigningIdentity(key=key, certificate=certs[0], chain=tuple(certs[1:]))
        ca = self.load_ca(PUBLIC_DUTY_CA)
        key = ec.generate_private_key(ec.SECP256R1())
        start = datetime.now(UTC) - timedelta(hours=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Hocba Dev Time-Stamping Authority"))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=5 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(ca.crl_url)], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .sign(ca.key, hashes.SHA256())
        )
        write_private_key(key_file, key)
        cert_file.write_bytes(_pem(cert) + b"".join(_pem(c) for c in ca.chain))
        return SigningIdentity(key=key, certificate=cert, chain=ca.chain)

    def certify_key(
        self,
        subject_id: str,
        common_name: str,
        public_key: Any,
        *,
        organization: bool,
        days: int = 3 * 365,
    ) -> tuple[x509.Certificate, ...]:
        """A certificate for a key we never see (generated inside a token or by a service), then
        its chain: the development CA's side of hocba_trust.keys.CertificateIssuer. Saves nothing."""
        ca = self.load_ca(PUBLIC_DUTY_CA if organization else PERSONAL_CA)
        start = datetime.now(UTC) - timedelta(hours=1)
        subject = _name(
            common_name,
            org=common_name if organization else "Hocba Development PKI",
            uid=subject_id,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                critical=True,
            )
        )
        if not organization:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
                ),
                critical=False,
            )
        cert = (
            builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(ca.crl_url)], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .sign(ca.key, hashes.SHA256())
        )
        return (cert, *ca.chain)

    def certify(
        self,
        subject_id: str,
        common_name: str,
        public_key: Any,
        *,
        organization: bool = True,
        days: int = 3 * 365,
    ) -> x509.Certificate:
        """`certify_key`, saved as the signer's certificate file, without a key file."""
        certs = self.certify_key(
            subject_id, common_name, public_key, organization=organization, days=days
        )
        self.signers.save_certificates(subject_id, certs)
        return certs[0]

    def certificates(self, subject_id: str) -> tuple[x509.Certificate, ...] | None:
        return self.signers.certificates(subject_id)

    def save_identity(self, subject_id: str, identity: SigningIdentity) -> None:
        self.signers.save_identity(subject_id, identity)

    def load_identity(self, subject_id: str) -> SigningIdentity | None:
        return self.signers.load_identity(subject_id)


def main(argv: list[str] | None = None) -> int:
    """`python -m hocba_devstack.devpki DIR [--signer STAFF_ID "FULL NAME"] ...`: creates the root
    and both issuing CAs in DIR (kept if they exist) and personal certificates for the signers."""
    parser = argparse.ArgumentParser(
        prog="python -m hocba_devstack.devpki",
        description="Create Hocba's development PKI (never for production).",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--signer", nargs=2, action="append", default=[], metavar=("STAFF_ID", "FULL_NAME")
    )
    args = parser.parse_args(argv)
    pki = DevPKI(args.directory)
    pki.create()
    for staff_id, name in args.signer:
        pki.issue(staff_id, name)
        print(f"issued {pki.signers.certificate_file(staff_id)}")
    print(f"development PKI in {pki.dir}; trust root: {pki.root_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
