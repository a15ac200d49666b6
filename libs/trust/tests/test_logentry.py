"""The publications log's entries and bundles (`hocba_trust.logentry`): a bundle of entries with
their inclusion proofs verifies against the checkpoint the log signed, and a changed entry, proof,
index or checkpoint, or a checkpoint of another key or log, is refused with BundleError."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hocba_trust import logentry, tlog
from hocba_trust.logentry import BundleError, LoggedEntry, document_status, verify_bundle
from hocba_trust.note import Checkpoint, Signer, sign_checkpoint

pytestmark = pytest.mark.unit

ORIGIN = "hocba.test/publishing"
AT = datetime(2026, 6, 1, 8, 30, 15, 123456, tzinfo=UTC)
SIGNER = Signer.generate(ORIGIN)


def _log() -> tuple[tlog.MemoryStore, list[dict[str, Any]]]:
    entries = [
        logentry.published("HB-2025-AAAA-BBBB-CCC1", 1, "a" * 64, AT),
        logentry.published("HB-2025-AAAA-BBBB-CCC2", 1, "b" * 64, AT),
        logentry.published("HB-2025-AAAA-BBBB-CCC3", 2, "c" * 64, AT, "HB-2025-AAAA-BBBB-CCC1"),
        logentry.superseded("HB-2025-AAAA-BBBB-CCC1", "HB-2025-AAAA-BBBB-CCC3", 2, AT),
        logentry.revoked("HB-2025-AAAA-BBBB-CCC2", "Cấp nhầm học sinh", AT),
    ]
    return tlog.MemoryStore([logentry.entry_leaf_hash(e) for e in entries]), entries


def _bundle(
    store: tlog.MemoryStore, entries: list[dict[str, Any]], indexes: list[int], signer: Signer
) -> dict[str, Any]:
    checkpoint = Checkpoint(ORIGIN, store.size, store.root())
    return {
        "checkpoint": sign_checkpoint(checkpoint, signer).decode(),
        "entries": [
            {
                "index": i,
                "entry": entries[i],
                "proof": [logentry.b64(h) for h in store.inclusion_proof(i)],
            }
            for i in indexes
        ],
    }


def test_entry_formats_hold_no_personal_data_and_times_in_utc_milliseconds() -> None:
    entry = logentry.published(
        "HB-2025-X", 1, "a" * 64, AT.astimezone(timezone(timedelta(hours=7)))
    )
    assert entry == {
        "v": 1,
        "kind": "published",
        "document_id": "HB-2025-X",
        "record_version": 1,
        "content_sha256": "a" * 64,
        "at": "2026-06-01T08:30:15.123Z",
    }
    assert logentry.entry_bytes(entry).startswith(b'{"at":"2026-06-01T08:30:15.123Z"')
    with pytest.raises(ValueError, match="timezone"):
        logentry.revoked("HB-2025-X", "x", datetime(2026, 6, 1))


def test_a_bundle_verifies_and_gives_each_documents_status() -> None:
    store, entries = _log()
    verified = verify_bundle(_bundle(store, entries, [0, 2, 3], SIGNER), SIGNER.verifier(), ORIGIN)
    assert verified.checkpoint.size == 5
    assert [e.index for e in verified.entries] == [0, 2, 3]
    assert document_status("HB-2025-AAAA-BBBB-CCC1", verified.entries) == "superseded"
    assert document_status("HB-2025-AAAA-BBBB-CCC3", verified.entries) == "published"
    assert document_status("HB-2025-AAAA-BBBB-CCC2", verified.entries) == "unlogged"
    both = verify_bundle(_bundle(store, entries, [1, 4], SIGNER), SIGNER.verifier(), ORIGIN)
    assert document_status("HB-2025-AAAA-BBBB-CCC2", both.entries) == "revoked"
    assert document_status("HB-2025-AAAA-BBBB-CCC2", [LoggedEntry(1, entries[1])]) == "published"


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        (lambda b: b["entries"][0]["entry"].update(content_sha256="d" * 64), "not in the log"),
        (lambda b: b["entries"][0]["entry"].update(kind="revoked"), "not in the log"),
        (lambda b: b["entries"][0].update(index=1), "not in the log"),
        (lambda b: b["entries"][0]["proof"].reverse(), "not in the log"),
        (lambda b: b["entries"][0]["proof"].pop(), "not in the log"),
        (lambda b: b["entries"][0].update(proof=["%%%"]), "base64"),
        (lambda b: b["entries"][0]["entry"].update(v=2), "format"),
        (lambda b: b.update(checkpoint=b["checkpoint"].replace("\n5\n", "\n4\n")), "checkpoint"),
        (lambda b: b.update(checkpoint=42), "note text"),
        (lambda b: b.update(entries={}), "list"),
    ],
)
def test_a_changed_bundle_is_refused(forge: Any, message: str) -> None:
    store, entries = _log()
    bundle = copy.deepcopy(_bundle(store, entries, [0, 2], SIGNER))
    verify_bundle(copy.deepcopy(bundle), SIGNER.verifier(), ORIGIN)
    forge(bundle)
    with pytest.raises(BundleError, match=message):
        verify_bundle(bundle, SIGNER.verifier(), ORIGIN)


def test_a_checkpoint_of_another_key_or_log_is_refused() -> None:
    store, entries = _log()
    other = Signer.generate(ORIGIN)
    with pytest.raises(BundleError, match="checkpoint does not verify"):
        verify_bundle(_bundle(store, entries, [0], other), SIGNER.verifier(), ORIGIN)
    with pytest.raises(BundleError, match="checkpoint does not verify"):
        verify_bundle(_bundle(store, entries, [0], SIGNER), SIGNER.verifier(), "hocba.test/other")
