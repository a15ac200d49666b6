"""The verification cache: a verdict is reused only for the same content, signatures and trust
list generation, and never carries a record's status."""

from __future__ import annotations

import copy
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_lookup.adapters.trust import TrustListRecordVerifier  # noqa: E402
from hocba_lookup.adapters.verification_cache import CachingRecordVerifier  # noqa: E402
from hocba_lookup.application.use_cases import LookupService  # noqa: E402
from hocba_trust.cms import TrustList  # noqa: E402
from hocba_trust.crls import CrlRefresher  # noqa: E402
from lookup_fixtures import FakeStore, published, revoked  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-cache-pki"))
    p.create()
    return p


def cached(trust: TrustList) -> CachingRecordVerifier:
    return CachingRecordVerifier(TrustListRecordVerifier(trust), trust)


def test_a_verdict_is_reused_for_the_same_record(pki: DevPKI) -> None:
    trust = TrustList.from_pem_files([str(pki.root_file)])
    verifier = cached(trust)
    rec = published(pki)
    sigs = [s.model_dump(mode="json") for s in rec.signatures]
    first = verifier.verify(rec.document, rec.content_sha256, sigs)
    again = verifier.verify(copy.deepcopy(rec.document), rec.content_sha256, copy.deepcopy(sigs))
    assert first.valid and again == first
    assert (verifier.misses, verifier.hits) == (1, 1)


async def test_a_crl_refresh_that_revokes_a_signer_is_seen_at_the_next_verification(
    pki: DevPKI,
) -> None:
    crl = pki.write_crl("personal-ca", [])
    trust = TrustList.from_pem_files([str(pki.root_file)], [str(crl)])
    refresher = CrlRefresher(trust, [str(crl)], [], 3600)
    verifier = cached(trust)
    teacher = pki.issue("GV-CACHE", "Mai Thị Yến", save=False)
    now = datetime.now(UTC)
    rec = published(pki, teacher=teacher, signed_at=now)
    sigs = [s.model_dump(mode="json") for s in rec.signatures]
    assert verifier.verify(rec.document, rec.content_sha256, sigs).valid

    await refresher.refresh()  # the same CRL read again: nothing changes, the verdict stands
    assert verifier.verify(rec.document, rec.content_sha256, sigs).valid
    assert verifier.hits == 1
    try:
        pki.write_crl("personal-ca", [(teacher.certificate.serial_number, now - timedelta(1))])
        await refresher.refresh()
        after = verifier.verify(rec.document, rec.content_sha256, sigs)
        assert not after.valid
        assert [(s.role, s.valid, s.reason) for s in after.signatures] == [
            ("homeroom_teacher", False, "revoked"),
            ("principal", True, None),
        ]
    finally:
        pki.write_crl("personal-ca", [])


def test_a_record_changed_in_the_database_is_verified_afresh(pki: DevPKI) -> None:
    trust = TrustList.from_pem_files([str(pki.root_file)])
    verifier = cached(trust)
    rec = published(pki)
    sigs = [s.model_dump(mode="json") for s in rec.signatures]
    assert verifier.verify(rec.document, rec.content_sha256, sigs).valid
    tampered = copy.deepcopy(rec.document)
    tampered["subjects"][0]["score"] = 10.0
    v = verifier.verify(tampered, rec.content_sha256, sigs)
    assert not v.valid and not v.content_intact
    other = published(pki)  # another record's signatures over the same content: not its verdict
    foreign = [s.model_dump(mode="json") for s in other.signatures]
    assert not verifier.verify(rec.document, rec.content_sha256, foreign).valid


def test_a_verdict_expires_after_its_time(pki: DevPKI) -> None:
    trust = TrustList.from_pem_files([str(pki.root_file)])
    now = [1000.0]
    verifier = CachingRecordVerifier(
        TrustListRecordVerifier(trust), trust, ttl_seconds=60, clock=lambda: now[0]
    )
    rec = published(pki)
    sigs = [s.model_dump(mode="json") for s in rec.signatures]
    verifier.verify(rec.document, rec.content_sha256, sigs)
    now[0] += 59
    verifier.verify(rec.document, rec.content_sha256, sigs)
    now[0] += 2
    verifier.verify(rec.document, rec.content_sha256, sigs)
    assert (verifier.misses, verifier.hits) == (2, 1)


def test_the_cache_holds_at_most_its_size(pki: DevPKI) -> None:
    trust = TrustList.from_pem_files([str(pki.root_file)])
    verifier = CachingRecordVerifier(TrustListRecordVerifier(trust), trust, max_entries=2)
    recs = [published(pki) for _ in range(3)]
    for rec in [*recs, recs[0]]:
        verifier.verify(
            rec.document, rec.content_sha256, [s.model_dump(mode="json") for s in rec.signatures]
        )
    assert len(verifier._entries) == 2 and verifier.misses == 4  # the oldest was let go


async def test_the_status_comes_from_the_read_model_at_every_verification(pki: DevPKI) -> None:
    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)])
    svc = LookupService(store, store, cached(trust), "unit-test-secret-0123456789")
    rec = published(pki)
    await svc.project(rec, make_envelope(rec, source="hocba/publishing"))
    _, first = await svc.document(rec.document_id)
    assert first.valid and not first.revoked
    gone = revoked(rec)
    await svc.revoke(gone, make_envelope(gone, source="hocba/publishing"))
    _, now = await svc.document(rec.document_id)
    assert now.revoked and not now.valid
    assert isinstance(svc.verifier, CachingRecordVerifier)
    assert svc.verifier.hits == 1  # the signatures' verdict was reused


def test_the_trust_list_counts_changes_of_its_crls_only(pki: DevPKI) -> None:
    empty = pki.write_crl("personal-ca", [])
    trust = TrustList.from_pem_files([str(pki.root_file)], [str(empty)])
    again = TrustList.from_pem_files([str(pki.root_file)], [str(empty)])
    trust.crls = list(again.crls)  # the same CRL, read again
    assert trust.generation == 0
    trust.crls = []
    assert trust.generation == 1


def test_the_key_is_kept_for_the_same_objects_and_computed_again_for_others(
    pki: DevPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    trust = TrustList.from_pem_files([str(pki.root_file)])
    verifier = cached(trust)
    rec = published(pki)
    sigs = [s.model_dump(mode="json") for s in rec.signatures]
    computed: list[int] = []
    key = CachingRecordVerifier.key

    def counting(*args: object) -> bytes:
        computed.append(1)
        return key(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(CachingRecordVerifier, "key", staticmethod(counting))
    for _ in range(3):  # an entry kept in memory: the same objects each time
        assert verifier.verify(rec.document, rec.content_sha256, sigs).valid
    assert len(computed) == 1
    # the same record read afresh (other objects, equal content): hashed again, the same verdict
    assert verifier.verify(copy.deepcopy(rec.document), rec.content_sha256, list(sigs)).valid
    assert len(computed) == 2 and verifier.misses == 1
    # other content in other objects is never taken for the kept key
    tampered = copy.deepcopy(rec.document)
    tampered["subjects"][0]["score"] = 10.0
    assert not verifier.verify(tampered, rec.content_sha256, sigs).valid
    # nor the same objects with another claimed hash
    assert not verifier.verify(rec.document, "0" * 64, sigs).valid
