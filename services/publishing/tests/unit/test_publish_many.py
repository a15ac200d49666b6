"""A batch of signed records is published as each would be alone: once, verified, each version
superseding the one before it (within the batch too), logged and announced; what does not verify
is refused by its place for the caller to dead-letter; a redelivered batch publishes nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads.publishing import RecordPublished  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_publishing.adapters.trust import TrustListVerifier  # noqa: E402
from hocba_publishing.application.use_cases import PublishingService  # noqa: E402
from hocba_trust.cms import TrustList  # noqa: E402
from publishing_fixtures import FakeStore, document, signed_record  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("pub-many-pki"))
    p.create()
    return p


async def test_a_batch_publishes_each_record_once_in_version_order_and_refuses_the_bad_ones(
    pki: DevPKI,
) -> None:
    store = FakeStore()
    service = PublishingService(
        store,
        store,
        TrustListVerifier(TrustList.from_pem_files([str(pki.root_file)])),
        id_key=b"unit-test-document-id-secret-0123456789",
    )
    earlier = signed_record(pki)
    first = await service.publish(earlier)  # published before the batch
    assert first is not None
    corrected = signed_record(pki, document(earlier.student_id, version=2))
    fresh = signed_record(pki)
    fresh_v2 = signed_record(pki, document(fresh.student_id, version=2))
    tampered = signed_record(pki)
    tampered.document["result"]["level_label"] = "Hoàn thành"
    batch = [fresh_v2, earlier, tampered, fresh, corrected, fresh]
    envelopes = [make_envelope(s, source="hocba/signing") for s in batch]
    done = await service.publish_many(list(zip(batch, envelopes, strict=True)))

    assert set(done.refused) == {2} and done.refused[2].reason == "tampered"
    published = {(d.record_id, d.record_version): d for d in done.published}
    assert set(published) == {
        (fresh.record_id, 1),
        (fresh.record_id, 2),
        (corrected.record_id, 2),
    }, "each version once; what was published before is not published again"
    assert published[(fresh.record_id, 2)].supersedes == published[(fresh.record_id, 1)].document_id
    assert published[(corrected.record_id, 2)].supersedes == first.document_id
    announced = [e.data for _, e in store.emitted if isinstance(e.data, RecordPublished)]
    assert len(announced) == 4  # the one before the batch, and the batch's three
    kinds = [e["kind"] for e in store.log_queue.values()]
    assert kinds.count("published") == 4 and kinds.count("superseded") == 2
    assert store.rejections == {f"{tampered.record_id}:1": "tampered"}

    again = await service.publish_many(list(zip(batch, envelopes, strict=True)))
    assert again.published == [] and len(store.emitted) == 4, "a redelivered batch: nothing new"
