"""Property-based fuzzing of the readers of untrusted signatures (`cades.parse`, the strict DER
reader, and `cms.verify_detached` behind it, with the asn1crypto path it falls back to).

Starting from real signatures made with the development PKI, hypothesis flips, inserts and deletes
bytes, truncates, rewrites length octets (indefinite, oversized, longer than the input) and nests
deeply. Whatever comes in:
- `cades.parse` returns or raises ValueError, nothing else;
- `verify_detached` returns or raises the typed `SignatureInvalid`, nothing else, within a deadline;
- a changed signature never verifies for content other than what was signed.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hocba_devstack.devpki import DevPKI
from hocba_trust import cades
from hocba_trust.cms import (
    SignatureInvalid,
    TrustList,
    VerifiedSignature,
    sign_detached,
    sign_detached_pkcs7,
    verify_detached,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

CONTENT = "Học bạ số 2024-2025: Nguyễn Hoàng Khôi, lớp 5A".encode()
OTHER = CONTENT + b" (changed)"
FUZZ = settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
"""Each example within 2 s (a hang or a quadratic blow-up fails it), a few hundred per property."""


@dataclass(frozen=True)
class Material:
    trust: TrustList
    signature: bytes  # our own encoder: read by the fast DER reader
    pkcs7: bytes  # cryptography's PKCS#7 builder: another shape, same reader or asn1crypto
    serial: bytes  # the signer certificate's serial number, DER INTEGER


@functools.cache
def material() -> Material:
    pki = DevPKI(Path(tempfile.mkdtemp(prefix="der-fuzz-pki-")))
    pki.create()
    identity = pki.issue("GV-FUZZ-1", "Vũ Đức Thắng")
    return Material(
        TrustList.from_pem_files([str(pki.root_file)]),
        sign_detached(CONTENT, identity),
        sign_detached_pkcs7(CONTENT, identity),
        cades.integer(identity.certificate.serial_number),
    )


def headers(der: bytes) -> list[int]:
    """Offsets of every TLV header the strict reader would walk (constructed tags descended)."""
    out: list[int] = []

    def walk(start: int, end: int, depth: int) -> None:
        pos = start
        while pos < end and depth < 12:
            try:
                tag, _, content, stop = cades._read(der, pos)
            except (ValueError, IndexError):
                return
            out.append(pos)
            if tag & 0x20:
                walk(content, stop, depth + 1)
            pos = stop

    walk(0, len(der), 0)
    return out


P256 = cades.oid("1.2.840.10045.3.1.7")


def curve_flip() -> list[tuple[int, int]]:
    """Found by the fuzzing: the leaf's curve OID changed to one `cryptography` does not support
    (1.2.840.10045.3.1.8) made `public_key()` raise UnsupportedAlgorithm, which escaped."""
    sig = material().signature
    return [(sig.index(P256) + len(P256) - 1, 0x0F)]


def version_flip() -> list[tuple[int, int]]:
    """Found by the fuzzing: a certificate's version (v3, INTEGER 2 in [0]) changed to 3, which
    `cryptography` refuses with InvalidVersion, not a ValueError, and which escaped."""
    sig = material().signature
    return [(sig.index(b"\xa0\x03\x02\x01\x02") + 4, 0x01)]


def sid_serial_header() -> int:
    """Found by the fuzzing: the issuer-and-serial's INTEGER given an indefinite length sends the
    signature to asn1crypto, which parses lazily and raised ValueError outside the reader's guard."""
    sig = material().signature
    serial = material().serial
    second_last = sig.rindex(serial, 0, sig.rindex(serial))  # the last is in signing-certificate-v2
    return headers(sig).index(second_last)


def check(candidate: bytes, *, changed: bool) -> VerifiedSignature | None:
    """The properties, for one input: typed outcomes only, and no verdict for other content."""
    trust = material().trust
    try:
        cades.parse(candidate)
    except ValueError:
        pass
    verified = None
    try:
        verified = verify_detached(CONTENT, candidate, trust)
    except SignatureInvalid as exc:
        assert exc.reason in {
            "malformed",
            "tampered",
            "bad_signature",
            "untrusted",
            "expired",
            "revoked",
            "key_usage",
            "weak_algorithm",
        }
    if changed:
        with pytest.raises(SignatureInvalid):
            verify_detached(OTHER, candidate, trust)
    return verified


def test_the_real_signatures_verify_and_only_for_their_content() -> None:
    m = material()
    for signature in (m.signature, m.pkcs7):
        assert check(signature, changed=True) is not None


signatures = st.sampled_from(["signature", "pkcs7"]).map(lambda name: getattr(material(), name))


@FUZZ
@given(
    signatures,
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)),
        min_size=1,
        max_size=8,
    ),
)
@example(material().signature, curve_flip())
@example(material().signature, version_flip())
def test_flipped_bytes(signature: bytes, flips: list[tuple[int, int]]) -> None:
    mutated = bytearray(signature)
    for at, mask in flips:
        mutated[at % len(mutated)] ^= mask
    check(bytes(mutated), changed=True)


@FUZZ
@given(
    signatures,
    st.integers(min_value=0),
    st.binary(min_size=0, max_size=64),
    st.integers(min_value=0, max_value=64),
)
def test_inserted_and_deleted_bytes(
    signature: bytes, at: int, inserted: bytes, deleted: int
) -> None:
    at %= len(signature) + 1
    check(signature[:at] + inserted + signature[at + deleted :], changed=True)


@FUZZ
@given(signatures, st.integers(min_value=0))
@example(material().signature, 1)
@example(material().signature, 0)
def test_truncated_signatures(signature: bytes, keep: int) -> None:
    check(signature[: keep % len(signature)], changed=True)


LENGTHS = st.one_of(
    st.just(b"\x80"),  # indefinite (BER, not DER)
    st.integers(min_value=1, max_value=9).flatmap(
        lambda n: st.binary(min_size=n, max_size=n).map(lambda body: bytes([0x80 | n]) + body)
    ),
    st.just(b"\x84\xff\xff\xff\xff"),  # 4 GB
    st.just(b"\x88" + b"\xff" * 8),  # beyond any input
    st.just(b"\xff"),  # reserved first octet
    st.just(b"\x82\x00\x05"),  # long form for a short length (not minimal: BER)
)


@FUZZ
@given(signatures, st.integers(min_value=0), LENGTHS)
@example(material().signature, sid_serial_header(), b"\x80")
def test_rewritten_length_octets(signature: bytes, which: int, length: bytes) -> None:
    offsets = headers(signature)
    pos = offsets[which % len(offsets)]
    first = signature[pos + 1]
    old = 1 + (first & 0x7F if first & 0x80 else 0)
    check(signature[: pos + 1] + length + signature[pos + 1 + old :], changed=True)


@FUZZ
@given(
    st.integers(min_value=1, max_value=50_000),
    st.sampled_from([0x30, 0x31, 0xA0, 0x24]),
    st.booleans(),
    signatures,
)
@example(100_000, 0x30, True, b"")
@example(100_000, 0x30, False, b"")
def test_deep_nesting(depth: int, tag: int, indefinite: bool, inner: bytes) -> None:
    if indefinite:
        nested = bytes([tag, 0x80]) * depth + inner + b"\x00\x00" * depth
    else:
        nested = inner
        for _ in range(
            min(depth, 5_000)
        ):  # definite lengths grow the input; 5,000 levels is plenty
            nested = cades.tlv(tag, nested)
    check(nested, changed=False)
    # The same, as what a SignedData's content would hold.
    check(cades.seq(cades.OID_SIGNED_DATA, cades.tlv(0xA0, nested)), changed=False)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data, changed=False)
