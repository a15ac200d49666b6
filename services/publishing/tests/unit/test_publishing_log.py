"""What the publishing use cases queue for the transparency log: a publication's entry, with the
supersession of the version it corrects, and a revocation's, each in the transaction that stores
what it logs; a redelivery or a refused revocation queues nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_publishing.adapters.trust import TrustListVerifier  # noqa: E402
from hocba_publishing.application.use_cases import PublishingService  # noqa: E402
from hocba_publishing.domain.model import AlreadyRevoked  # noqa: E402
from hocba_trust import logentry  # noqa: E402
from hocba_trust.cms import TrustList  # noqa: E402
from publishing_fixtures import FakeStore, document, signed_record  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("pub-log-pki"))
    p.create()
    return p


async def test_publications_corrections_and_revocations_queue_their_entries(pki: DevPKI) -> None:
    store = FakeStore()
    service = PublishingService(
        store,
        store,
        TrustListVerifier(TrustList.from_pem_files([str(pki.root_file)])),
        id_key=b"unit-test-document-id-secret-0123456789",
    )
    signed = signed_record(pki)
    first = await service.publish(signed)
    assert first is not None
    assert list(store.log_queue.values()) == [
        logentry.published(first.document_id, 1, first.content_sha256, first.published_at)
    ]
    assert await service.publish(signed) is None  # a redelivery
    second = await service.publish(signed_record(pki, document(signed.student_id, version=2)))
    assert second is not None
    revocation = await service.revoke(second.document_id, "Cấp nhầm học sinh", "HT-P")
    with pytest.raises(AlreadyRevoked):
        await service.revoke(second.document_id, "Lần nữa", "HT-P")
    assert list(store.log_queue.values())[1:] == [
        logentry.published(
            second.document_id, 2, second.content_sha256, second.published_at, first.document_id
        ),
        logentry.superseded(first.document_id, second.document_id, 2, second.published_at),
        logentry.revoked(second.document_id, "Cấp nhầm học sinh", revocation.revoked_at),
    ]
