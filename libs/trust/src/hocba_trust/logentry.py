"""What the leaves of Hocba's transparency log say, and how a verifier checks them.

Publishing appends one entry to its log (tlog.py's tree, RFC 9162) for every publication,
supersession and revocation. An entry is a JSON object; its leaf is the RFC 8785 canonical bytes of
that object (canonical.py), so its leaf hash is SHA-256(0x00 || canonical bytes). Three kinds, each
with `v` (the entry format, 1), `kind`, `document_id` and `at` (RFC 3339, UTC, milliseconds):

- ``published``: a document was published: ``record_version`` and ``content_sha256`` (the SHA-256
  of the canonical record the signatures cover), and ``supersedes`` (the document id of the version
  it corrects) when it is a correction;
- ``superseded``: a newer version replaced the document: ``superseded_by`` and ``record_version``
  (the new version's), and ``reason`` when the correction gave one;
- ``revoked``: the document was revoked (thu hồi): ``reason``, as the public verification page
  shows it.

The log is public, so an entry holds no personal data: no name, student id or record id, only the
document id (derived under the publisher's secret key, so it cannot be computed from a student) and
a hash of the content, which only someone holding the record can check.

A **log bundle** is what a verifier needs to check a document's entries without the server: the
signed checkpoint (c2sp.org/tlog-checkpoint note) and, for each entry, its index and inclusion proof
against that checkpoint (hashes base64, nearest sibling first)::

    {"checkpoint": "<note text>", "entries": [{"index": 7, "entry": {...}, "proof": ["...", ...]}]}

`verify_bundle` checks the checkpoint's signature and every entry's inclusion and returns them;
`document_status` reads a document's standing from its verified entries.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from hocba_trust import note, tlog
from hocba_trust.canonical import canonical_bytes

__all__ = [
    "ENTRY_VERSION",
    "BundleError",
    "LoggedEntry",
    "VerifiedBundle",
    "b64",
    "document_status",
    "entry_bytes",
    "entry_leaf_hash",
    "published",
    "revoked",
    "superseded",
    "unb64",
    "verify_bundle",
]

ENTRY_VERSION = 1
Kind = Literal["published", "superseded", "revoked"]
KINDS: tuple[Kind, ...] = ("published", "superseded", "revoked")


class BundleError(ValueError):
    """A log bundle that does not verify: malformed, signed by another key, or not included."""


def _at(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("a log entry's time must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def published(
    document_id: str,
    record_version: int,
    content_sha256: str,
    at: datetime,
    supersedes: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "v": ENTRY_VERSION,
        "kind": "published",
        "document_id": document_id,
        "record_version": record_version,
        "content_sha256": content_sha256,
        "at": _at(at),
    }
    if supersedes:
        entry["supersedes"] = supersedes
    return entry


def superseded(
    document_id: str,
    superseded_by: str,
    record_version: int,
    at: datetime,
    reason: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "v": ENTRY_VERSION,
        "kind": "superseded",
        "document_id": document_id,
        "superseded_by": superseded_by,
        "record_version": record_version,
        "at": _at(at),
    }
    if reason:
        entry["reason"] = reason
    return entry


def revoked(document_id: str, reason: str, at: datetime) -> dict[str, Any]:
    return {
        "v": ENTRY_VERSION,
        "kind": "revoked",
        "document_id": document_id,
        "reason": reason,
        "at": _at(at),
    }


def entry_bytes(entry: Mapping[str, Any]) -> bytes:
    """The leaf: the entry's RFC 8785 canonical bytes."""
    return canonical_bytes(dict(entry))


def entry_leaf_hash(entry: Mapping[str, Any]) -> bytes:
    return tlog.leaf_hash(entry_bytes(entry))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(text: str, what: str = "a hash") -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise BundleError(f"{what} is not base64") from None


@dataclass(frozen=True)
class LoggedEntry:
    index: int
    entry: dict[str, Any]


@dataclass(frozen=True)
class VerifiedBundle:
    checkpoint: note.Checkpoint
    entries: tuple[LoggedEntry, ...]


def _entry(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BundleError("a bundle entry's `entry` is a JSON object")
    if raw.get("v") != ENTRY_VERSION or raw.get("kind") not in KINDS:
        raise BundleError(
            f"unknown log entry format (v={raw.get('v')!r}, kind={raw.get('kind')!r})"
        )
    if not isinstance(raw.get("document_id"), str):
        raise BundleError("a log entry names its document_id")
    return raw


def verify_bundle(
    bundle: Mapping[str, Any],
    log_key: note.Verifier,
    origin: str,
    witnesses: Iterable[note.Verifier] = (),
) -> VerifiedBundle:
    """Check a log bundle: the checkpoint is the log's (origin and key) and every entry is the leaf
    at its index of the checkpoint's tree. Raises BundleError on anything else."""
    text = bundle.get("checkpoint")
    if not isinstance(text, str):
        raise BundleError("a bundle carries the signed checkpoint's note text")
    try:
        checkpoint, _ = note.open_checkpoint(text.encode(), origin, log_key, witnesses)
    except note.NoteError as exc:
        raise BundleError(f"the checkpoint does not verify: {exc}") from None
    items = bundle.get("entries")
    if not isinstance(items, list):
        raise BundleError("a bundle's `entries` is a list")
    verified = []
    for item in items:
        if not isinstance(item, dict):
            raise BundleError("each bundle entry is a JSON object")
        index, proof = item.get("index"), item.get("proof")
        if not isinstance(index, int) or isinstance(index, bool):
            raise BundleError("a bundle entry's index is an integer")
        if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
            raise BundleError("a bundle entry's proof is a list of base64 hashes")
        entry = _entry(item.get("entry"))
        try:
            tlog.verify_inclusion(
                entry_leaf_hash(entry),
                index,
                checkpoint.size,
                [unb64(h) for h in proof],
                checkpoint.root,
            )
        except tlog.ProofError as exc:
            raise BundleError(
                f"entry {index} ({entry['kind']} {entry['document_id']}) is not in the log at "
                f"checkpoint {checkpoint.size}: {exc}"
            ) from None
        verified.append(LoggedEntry(index, entry))
    return VerifiedBundle(checkpoint, tuple(verified))


Status = Literal["unlogged", "published", "superseded", "revoked"]


def document_status(document_id: str, entries: Sequence[LoggedEntry]) -> Status:
    """A document's standing from log entries: revoked outweighs superseded, which outweighs
    published; `unlogged` when no entry names its publication."""
    kinds = {e.entry["kind"] for e in entries if e.entry.get("document_id") == document_id}
    if "revoked" in kinds:
        return "revoked"
    if "superseded" in kinds:
        return "superseded"
    return "published" if "published" in kinds else "unlogged"
