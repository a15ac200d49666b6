"""Whether a document's publication is in the transparency log, checked as the offline verifier
checks it (hocba_verifier.checks): the document's bundle, fetched from publishing now, verifies
under the log's key the lookup pins (HOCBA_LOOKUP_LOG_KEY), and one of its entries is the
document's `published` entry with the record's version and content hash. The lookup takes nothing
of publishing's answer on trust: a bundle that does not verify is a forgery."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from hocba_trust import note
from hocba_verifier import checks
from hocba_verifier.checks import Bundle, LogKey, Outcome

from hocba_lookup.adapters.kept import Kept
from hocba_lookup.application.ports import LogChecker, LogSource
from hocba_lookup.domain.model import LogCheck, LogState, LogUnavailable

log = logging.getLogger("hocba.lookup.verify")


def load_log_key(value: str, origin: str | None = None) -> LogKey:
    """The log's verifier key (c2sp.org/signed-note, `<name>+<id>+<base64>`), given as the key
    itself or as a file holding it on its first line (the devstack's `var/log-key.pub`)."""
    text = value.strip()
    if "+" not in text and Path(text).is_file():
        lines = Path(text).read_text(encoding="utf-8").splitlines()
        text = next((line.strip() for line in lines if line.strip()), "")
    try:
        verifier = note.Verifier.from_key(text)
    except note.NoteError as exc:
        raise ValueError(
            f"HOCBA_LOOKUP_LOG_KEY is not a log verifier key (c2sp.org/signed-note): {exc}"
        ) from None
    return LogKey(verifier, origin or verifier.name)


class BundleLogChecker:
    """LogChecker over the lookup's LogSource (publishing's log API) and the pinned key."""

    def __init__(self, source: LogSource, key: LogKey | None) -> None:
        self.source = source
        self.key = key

    async def check(
        self, document_id: str, record_version: int | None, content_sha256: str
    ) -> LogCheck:
        if self.key is None:
            return LogCheck(
                "unconfigured",
                "Chưa kiểm tra được sổ công khai: hệ thống tra cứu chưa được cấu hình khóa của sổ",
                "The transparency log could not be checked: this lookup has no log key configured",
            )
        try:
            answer = await self.source.get(f"/log/documents/{document_id}")
        except LogUnavailable:
            return _unavailable()
        if answer.status == 404:
            return LogCheck(
                "missing",
                "Không có trong sổ công khai: sổ không ghi việc công bố học bạ này",
                "Not in the transparency log: the log has no publication of this document",
            )
        if answer.status != 200:
            log.error("the log's answer for a document", extra={"status": answer.status})
            return _unavailable()
        try:
            data = json.loads(answer.body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return _forged("the answer is not a log bundle")
        view, failures = checks.verify_bundles([Bundle("lookup", data, fresh=True)], self.key)
        if failures or not view.checkpoints:
            return _forged("; ".join(d for f in failures for d in f.details))
        found = checks.check_inclusion(view, document_id, record_version, content_sha256)
        size = view.freshest.size if view.freshest else None
        if found.outcome is not Outcome.PASS:
            logged = any(
                e.entry["kind"] == "published" and e.entry["document_id"] == document_id
                for e in view.entries.values()
            )
            state: LogState = "mismatch" if logged else "missing"
            return LogCheck(state, found.vi, found.en, checkpoint_size=size)
        status = checks.check_status(view, document_id, "")
        return LogCheck(
            "included",
            "Có trong sổ công khai",
            "In the transparency log",
            index=int(found.data["index"]),
            checkpoint_size=int(found.data["checkpoint_size"]),
            logged_status=None if status is None else str(status.data.get("status")),
        )


INCLUDED_SECONDS = 60.0
"""How long a proven inclusion is taken as proven again without asking: about a checkpoint interval."""
INCLUDED_KEPT = 50_000


class CachingLogChecker:
    """A LogChecker that keeps what `inner` proved included, for `ttl_seconds`.

    Asking the log costs each verification a call to publishing and the bundle's verification
    (checkpoint signatures, inclusion and consistency proofs), most of what a verification costs
    when a log key is set. An entry once in the append-only log stays there, under the same index,
    so a proof of it holds; it is asked again after `ttl_seconds` all the same, so that a log
    found forked or forged later is seen within that time. Only `included` is kept, by the
    document id, version and content hash it was proven for: every other answer (missing,
    mismatch, forged, unavailable) is asked again at the next verification, since each may be
    passing (a publication not yet logged, publishing unreachable) or must be seen at once."""

    def __init__(
        self,
        inner: LogChecker,
        *,
        ttl_seconds: float = INCLUDED_SECONDS,
        max_entries: int = INCLUDED_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self._kept: Kept[tuple[str, int | None, str], LogCheck] = Kept(
            max_entries, ttl_seconds, clock
        )
        self.hits = 0
        self.misses = 0

    async def check(
        self, document_id: str, record_version: int | None, content_sha256: str
    ) -> LogCheck:
        key = (document_id, record_version, content_sha256)
        kept = self._kept.get(key)
        if kept is not None:
            self.hits += 1
            return kept
        self.misses += 1
        checked = await self.inner.check(document_id, record_version, content_sha256)
        if checked.included:
            self._kept.put(key, checked)
        return checked


def _unavailable() -> LogCheck:
    return LogCheck(
        "unavailable",
        "Chưa kiểm tra được sổ công khai lúc này (không liên lạc được); hãy thử lại sau ít phút",
        "The transparency log could not be checked now (unreachable); try again shortly",
    )


def _forged(detail: str) -> LogCheck:
    log.warning("a log bundle that does not verify", extra={"detail": detail[:200]})
    return LogCheck(
        "forged",
        "Bằng chứng của sổ công khai không hợp lệ (bị giả mạo hoặc hỏng)",
        "The transparency log's proof does not verify (forged or damaged)",
    )
