"""Bulk-signed records (a class under one teacher's and one principal's signature over a Merkle
root): the root's signature is verified once for the class, yet every record is still checked on
its own: one not in the signed tree, or changed, is refused however many of its class passed."""

from __future__ import annotations

import base64
import copy
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts.payloads.signing import DocumentSignature, RecordSigned  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_publishing.adapters.trust import TrustListVerifier  # noqa: E402
from hocba_publishing.domain.model import NotPublishable  # noqa: E402
from hocba_trust import merkle  # noqa: E402
from hocba_trust.canonical import canonical_bytes, sha256_hex  # noqa: E402
from hocba_trust.cms import TrustList, sign_detached  # noqa: E402
from publishing_fixtures import document  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("pub-bulk-pki"))
    p.create()
    return p


def bulk_signed(pki: DevPKI, n: int) -> list[RecordSigned]:
    docs = [document() for _ in range(n)]
    hashes = [bytes.fromhex(sha256_hex(canonical_bytes(d))) for d in docs]
    tree = merkle.build(hashes)
    signers = []
    for role, staff in (("homeroom_teacher", "GV-BULK"), ("principal", "HT-BULK")):
        identity = pki.load_identity(staff) or pki.issue(staff, f"Cán bộ {staff}")
        statement = merkle.statement(tree.root, n, f"B-{role}", role, staff)
        cms = base64.b64encode(sign_detached(canonical_bytes(statement), identity)).decode()
        signers.append((role, staff, statement, cms))
    return [
        RecordSigned(
            record_id=d["record_id"],
            record_version=1,
            student_id=d["student"]["student_id"],
            document=d,
            content_sha256=h.hex(),
            signatures=tuple(
                DocumentSignature(
                    role=role,
                    signer_id=staff,
                    signer_name=staff,
                    signed_at=datetime.now(UTC),
                    cms=cms,
                    batch={"statement": statement, "proof": proof},
                )
                for role, staff, statement, cms in signers
            ),
        )
        for d, h, proof in zip(docs, hashes, tree.proofs, strict=True)
    ]


def test_a_class_verifies_once_and_each_record_is_still_checked_on_its_own(pki: DevPKI) -> None:
    verifier = TrustListVerifier(TrustList.from_pem_files([str(pki.root_file)]))
    records = bulk_signed(pki, 5)
    for r in records:
        verifier.verify(r)
    assert len(verifier._batches) == 2, "the two root signatures, verified once each"

    # a record of another class, given this class's signatures (with a proof that does not fold)
    stranger = bulk_signed(pki, 3)[0]
    forged = stranger.model_copy(update={"signatures": records[0].signatures})
    with pytest.raises(NotPublishable) as refused:
        verifier.verify(forged)
    assert refused.value.reason == "tampered"

    # a record of the class changed after signing, its hash recomputed so that only the proof fails
    changed = copy.deepcopy(records[1].document)
    changed["result"]["level_label"] = "Chưa hoàn thành"
    altered = records[1].model_copy(
        update={"document": changed, "content_sha256": sha256_hex(canonical_bytes(changed))}
    )
    with pytest.raises(NotPublishable) as refused:
        verifier.verify(altered)
    assert refused.value.reason == "tampered"

    # a signature over another statement is verified, not taken from memory
    other = bulk_signed(pki, 4)
    verifier.verify(other[0])
    assert len(verifier._batches) == 4
