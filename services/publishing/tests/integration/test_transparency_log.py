"""The publications log on the local database: every publication, supersession and revocation is
logged once, in a tree whose signed checkpoints and proofs verify with hocba_trust alone; two
sequencers that overlap never fork it; a checkpoint follows a publication within its interval."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually, scratch_database  # noqa: E402
from hocba_publishing.adapters.mongo_log import (  # noqa: E402
    MongoLog,
    ensure_log_indexes,
    queue_entries,
)
from hocba_publishing.bootstrap import Publishing, build  # noqa: E402
from hocba_publishing.config import PublishingSettings  # noqa: E402
from hocba_trust import logentry, note, tlog  # noqa: E402
from hocba_trust.logentry import BundleError, document_status, verify_bundle  # noqa: E402
from publishing_fixtures import document, signed_record  # noqa: E402

pytestmark = pytest.mark.integration

ORIGIN = "hocba.test/publishing"
SIGNER = note.Signer.generate(ORIGIN)
INTERVAL = 0.5
POLL = 0.1


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("publishing-log-pki"))
    p.create()
    return p


@pytest.fixture
async def publishing(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Publishing]:
    svc = build(
        PublishingSettings(
            **local_infra.settings(mongo_database=unique_db("publishing")),
            trust_roots=[str(pki.root_file)],
            log_origin=ORIGIN,
            log_signing_key=SIGNER.key(),
            log_checkpoint_seconds=INTERVAL,
            log_poll_seconds=POLL,
        )
    )
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()


@pytest.fixture
async def http(publishing: Publishing, local_infra: LocalInfra) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=publishing.app),
        base_url="http://p",
        headers=local_infra.headers("service"),
    ) as client:
        yield client


async def _bundle(http: httpx.AsyncClient, document_id: str, kinds: int) -> dict[str, Any]:
    """The document's bundle once `kinds` of its entries are under a checkpoint."""

    async def proven() -> dict[str, Any] | None:
        r = await http.get(f"/log/documents/{document_id}")
        body: dict[str, Any] = r.json()
        return body if r.status_code == 200 and len(body["entries"]) >= kinds else None

    found: dict[str, Any] = await eventually(proven, timeout=20)
    return found


async def test_a_publication_its_correction_and_a_revocation_are_logged_and_proven(
    publishing: Publishing, http: httpx.AsyncClient, pki: DevPKI
) -> None:
    first = await publishing.service.publish(signed_record(pki))
    assert first is not None
    student = first.student_id
    corrected = document(student, version=2)
    corrected["correction"] = {
        "kind": "unlock",
        "reason": "Sai điểm Toán cuối năm",
        "approved_by": "079-TH-P-QT",
        "at": "2025-06-12T09:30:00Z",
    }
    second = await publishing.service.publish(signed_record(pki, corrected))
    assert second is not None and second.supersedes == first.document_id
    await publishing.service.revoke(second.document_id, "Cấp nhầm học sinh", by="HT-P")

    old = verify_bundle(await _bundle(http, first.document_id, 2), SIGNER.verifier(), ORIGIN)
    new = verify_bundle(await _bundle(http, second.document_id, 2), SIGNER.verifier(), ORIGIN)
    assert [e.entry["kind"] for e in old.entries] == ["published", "superseded"]
    assert [e.entry["kind"] for e in new.entries] == ["published", "revoked"]
    assert document_status(first.document_id, old.entries) == "superseded"
    assert document_status(second.document_id, new.entries) == "revoked"
    published = new.entries[0].entry
    assert published == logentry.published(
        second.document_id, 2, second.content_sha256, second.published_at, first.document_id
    )
    assert old.entries[1].entry["superseded_by"] == second.document_id
    assert old.entries[1].entry["reason"] == "Sai điểm Toán cuối năm", "the correction's reason"
    assert new.entries[1].entry["reason"] == "Cấp nhầm học sinh"
    # four entries, each once, in the order they were stored
    assert sorted(e.index for e in [*old.entries, *new.entries]) == [0, 1, 2, 3]
    # no personal data in the public log: the student's id, the record's id, the name
    for e in [*old.entries, *new.entries]:
        text = logentry.entry_bytes(e.entry).decode()
        assert student not in text and first.record_id not in text
        assert first.document["student"]["full_name"] not in text

    # the document's view names its publication's index; both versions show, the old one
    # superseded with the reason of the correction
    view = (await http.get(f"/documents/{second.document_id}")).json()
    assert view["log_index"] == new.entries[0].index
    assert view["correction"]["reason"] == "Sai điểm Toán cuối năm"
    was = (await http.get(f"/documents/{first.document_id}")).json()
    assert was["status"] == "superseded" and was["superseded_by"] == second.document_id
    assert was["superseded_reason"] == "Sai điểm Toán cuối năm" and was["correction"] is None
    both = (await http.get(f"/records/{first.record_id}/documents")).json()["documents"]
    assert [(d["record_version"], d["status"], d["superseded_reason"]) for d in both] == [
        (1, "superseded", "Sai điểm Toán cuối năm"),
        (2, "revoked", None),
    ]

    # the same proofs, one at a time, against the checkpoint
    checkpoint = note.Checkpoint.parse(
        note.open_note((await http.get("/log/checkpoint")).text.encode(), [SIGNER.verifier()]).text
    )
    for e in new.entries:
        entry = (await http.get(f"/log/entries/{e.index}")).json()
        assert entry == {"index": e.index, "entry": e.entry}
        proof = (
            await http.get(
                "/log/proof/inclusion", params={"index": e.index, "size": checkpoint.size}
            )
        ).json()
        tlog.verify_inclusion(
            logentry.entry_leaf_hash(entry["entry"]),
            e.index,
            checkpoint.size,
            [logentry.unb64(h) for h in proof["proof"]],
            checkpoint.root,
        )
    assert (await http.get("/log/key")).text.strip() == SIGNER.verifier().key()


async def test_checkpoints_are_consistent_and_a_forged_one_is_refused(
    publishing: Publishing, http: httpx.AsyncClient, pki: DevPKI
) -> None:
    first = await publishing.service.publish(signed_record(pki))
    assert first is not None
    await _bundle(http, first.document_id, 1)
    old_text = (await http.get("/log/checkpoint")).text
    for _ in range(3):
        assert await publishing.service.publish(signed_record(pki)) is not None

    async def grown() -> str | None:
        text = (await http.get("/log/checkpoint")).text
        return (
            text
            if note.Checkpoint.parse(note.open_note(text.encode(), [SIGNER.verifier()]).text).size
            >= 4
            else None
        )

    new_text = await eventually(grown, timeout=20)
    old, _ = note.open_checkpoint(old_text.encode(), ORIGIN, SIGNER.verifier())
    new, _ = note.open_checkpoint(new_text.encode(), ORIGIN, SIGNER.verifier())
    body = (
        await http.get("/log/proof/consistency", params={"old": old.size, "new": new.size})
    ).json()
    proof = [logentry.unb64(h) for h in body["proof"]]
    note.verify_checkpoints_consistent(old, new, proof)
    forged = note.Checkpoint(ORIGIN, old.size, bytes(32))
    with pytest.raises(tlog.ProofError):
        note.verify_checkpoints_consistent(forged, new, proof)
    # a checkpoint signed by anybody but the log's key is refused
    impostor = note.Signer.generate(ORIGIN)
    bundle = await _bundle(http, first.document_id, 1)
    bundle["checkpoint"] = note.sign_checkpoint(new, impostor).decode()
    with pytest.raises(BundleError, match="checkpoint does not verify"):
        verify_bundle(bundle, SIGNER.verifier(), ORIGIN)


async def test_a_proof_beyond_the_log_is_a_clear_422(http: httpx.AsyncClient) -> None:
    r = await http.get("/log/proof/consistency", params={"old": 1, "new": 10**6})
    assert r.status_code == 422 and "ask for a tree size up to" in r.json()["error"]["message"]
    r = await http.get("/log/proof/inclusion", params={"index": 5, "size": 0})
    assert r.status_code == 422 and r.json()["error"]["code"] == "outside_the_log"
    r = await http.get("/log/documents/HB-2024-NONE-NONE-NONE")
    assert r.status_code == 404
    for index in (2**63, 10**30, -1):  # beyond what a log (and a MongoDB int64) holds
        r = await http.get(f"/log/entries/{index}")
        assert r.status_code == 422, (index, r.text)
    assert (await http.get("/log/entries/5")).status_code == 422  # not (yet) in the log


async def test_a_publication_is_under_a_checkpoint_within_the_interval(
    publishing: Publishing, http: httpx.AsyncClient, pki: DevPKI
) -> None:
    waits = []
    for _ in range(3):
        doc = await publishing.service.publish(signed_record(pki))
        assert doc is not None
        await _bundle(http, doc.document_id, 1)
        waits.append(datetime.now(UTC) - doc.published_at)
    # the interval, a poll, and the time a round takes on a busy test machine
    assert max(waits) < timedelta(seconds=INTERVAL + POLL + 2.0), waits


async def test_overlapping_sequencers_never_fork_the_log(local_infra: LocalInfra) -> None:
    """Two sequencers run at once on the same log (a lease expired under a slow one): every queued
    entry gets exactly one index, the indexes run without a gap, and the stored head is the root of
    the entries in index order."""
    async with scratch_database(local_infra, "publishing_log_race") as (mongo, _):
        await ensure_log_indexes(mongo)
        logs = [MongoLog(mongo, SIGNER, ORIGIN, batch_size=7) for _ in range(2)]
        at = datetime.now(UTC)
        entries = [
            logentry.published(f"HB-2024-RACE-{i:04d}-TEST", 1, f"{i:064x}", at) for i in range(60)
        ]
        for chunk in range(0, 60, 10):
            await queue_entries(mongo.db, entries[chunk : chunk + 10], None)

        async def drain(log: MongoLog) -> None:
            while await log.queued():
                with contextlib.suppress(Exception):  # the other one won this batch: go on
                    await log.sequence()

        await asyncio.gather(*(drain(log) for log in logs))
        stored = await mongo.db.log_entries.find({}, sort=[("_id", 1)]).to_list(None)
        assert [d["_id"] for d in stored] == list(range(60))
        assert sorted(d["key"] for d in stored) == sorted(
            f"published:{e['document_id']}" for e in entries
        )
        rebuilt = tlog.MemoryStore([logentry.entry_leaf_hash(d["entry"]) for d in stored])
        size, root = await logs[0].head()
        assert (size, root) == (60, rebuilt.root())
        for index in (0, 31, 59):
            assert await logs[1].inclusion_proof(index, 60) == rebuilt.inclusion_proof(index)
        assert await logs[0].consistency_proof(13, 60) == rebuilt.consistency_proof(13, 60)
        # an entry queued again after it was logged is dropped, not logged twice, and blocks nothing
        await queue_entries(mongo.db, entries[:1], None)
        late = logentry.published("HB-2024-RACE-LATE-TEST", 1, "f" * 64, at)
        await queue_entries(mongo.db, [late], None)
        while await logs[0].queued():
            await logs[0].sequence()
        assert (await logs[0].head())[0] == 61
        assert (await logs[0].entry(60)) is not None
        assert (await logs[0].entry(60)).entry == late  # type: ignore[union-attr]
