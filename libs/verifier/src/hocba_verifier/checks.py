"""The checks, each a finding in Vietnamese and English (DOMAIN §7: who signed, when, whether the
content is intact), and the exit code they add up to.

1. content: the RFC 8785 canonical bytes of `document` hash to `content_sha256`;
2. signatures: every signature verifies over those bytes (or over its signed batch statement) with
   a certificate path to the trust list at its signing time, not revoked by the CRLs given; its
   certificate is its signer's (the signer id is the certificate's UID, as signing checks); the
   homeroom teacher and the principal have signed, each the person the signed document names;
3. seal (a PDF): the PAdES seal (the school's) verifies like a signature and covers the whole
   file, or only long-term validation data follows it (PAdES B-LT/B-LTA), the last document
   time-stamp covering the whole file and each verifying (its TSA's path to the trust list);
4. log: every log bundle verifies under the log's key and origin, and one of them has the
   document's `published` entry with the record's version and the content's hash; every checkpoint
   seen (and the one you kept, `--checkpoint`) is consistent with the others;
5. status: current, superseded or revoked, from the verified entries of all bundles (the freshest
   bundle's among them): never from the server's word.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.x509.oid import NameOID
from hocba_trust import logentry, note, tlog
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import (
    SignatureInvalid,
    TrustList,
    VerifiedSignature,
    verify_detached,
    verify_document_signature,
)

from hocba_verifier import timestamps
from hocba_verifier.lookup import ProofMismatch, Unreachable
from hocba_verifier.record import Record, Seal

REQUIRED_ROLES = ("homeroom_teacher", "principal")
ROLES_VI = {
    "homeroom_teacher": "Giáo viên chủ nhiệm",
    "subject_teacher": "Giáo viên bộ môn",
    "principal": "Hiệu trưởng",
    "school_seal": "Con dấu số của nhà trường",
}
ROLES_EN = {
    "homeroom_teacher": "homeroom teacher",
    "subject_teacher": "subject teacher",
    "principal": "principal",
    "school_seal": "school seal",
}


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    NOT_CURRENT = "not_current"
    UNREACHABLE = "unreachable"
    INPUT = "input_error"


class Exit(enum.IntEnum):
    VALID = 0
    FAILED = 1
    NOT_CURRENT = 2
    USAGE = 3
    UNREACHABLE = 4


@dataclass(frozen=True)
class Finding:
    check: str
    outcome: Outcome
    vi: str
    en: str
    details: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


def exit_code(findings: Iterable[Finding]) -> Exit:
    """A failed check outweighs all (1); a verified supersession or revocation (2) stands whatever
    else is unknown, since the log only grows; then an unanswered lookup (4), a missing input (3)."""
    outcomes = {f.outcome for f in findings}
    for outcome, code in (
        (Outcome.FAIL, Exit.FAILED),
        (Outcome.NOT_CURRENT, Exit.NOT_CURRENT),
        (Outcome.UNREACHABLE, Exit.UNREACHABLE),
        (Outcome.INPUT, Exit.USAGE),
    ):
        if outcome in outcomes:
            return code
    return Exit.VALID


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _role(role: Any) -> tuple[str, str]:
    text = str(role)
    return ROLES_VI.get(text, text), ROLES_EN.get(text, text)


# -- 1. content --------------------------------------------------------------------------


def content_hash(record: Record) -> str | None:
    """The SHA-256 of the document's canonical bytes; None if it has values JSON cannot carry."""
    try:
        return sha256_hex(canonical_bytes(record.document))
    except (TypeError, ValueError):
        return None


def check_content(record: Record, computed: str | None) -> Finding:
    if computed is not None and computed == record.content_sha256.lower():
        return Finding(
            "content",
            Outcome.PASS,
            "Nội dung toàn vẹn",
            "Content intact",
            (f"SHA-256 {computed}",),
            {"content_sha256": computed},
        )
    return Finding(
        "content",
        Outcome.FAIL,
        "Nội dung đã bị thay đổi: không khớp mã băm",
        "Content changed: it does not match its hash",
        (f"mã băm ghi / stated {record.content_sha256}", f"mã băm tính / computed {computed}"),
        {"content_sha256": record.content_sha256, "computed_sha256": computed},
    )


# -- 2. signatures -----------------------------------------------------------------------


def _named_signers(document: Mapping[str, Any], role: str) -> set[str] | None:
    """Who the signed document names for `role` (signing asks exactly these); None if it names
    no one for that role."""

    def get(*path: str) -> Any:
        node: Any = document
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    if role == "homeroom_teacher":
        found = get("class_info", "homeroom_teacher", "staff_id")
    elif role == "principal":
        found = get("school", "principal", "staff_id")
    elif role == "school_seal":
        found = get("school", "school_id")
    elif role == "subject_teacher":
        subjects = document.get("subjects")
        ids = {
            s["teacher_id"]
            for s in (subjects if isinstance(subjects, list) else [])
            if isinstance(s, dict) and isinstance(s.get("teacher_id"), str)
        }
        return ids or None
    else:
        return None
    return {found} if isinstance(found, str) else None


def check_signatures(record: Record, content: bytes | None, trust: TrustList) -> Finding:
    lines: list[str] = []
    problems: list[str] = []
    valid_roles: set[str] = set()
    signers: list[dict[str, Any]] = []
    for sig in record.signatures:
        role, signer_id = str(sig.get("role")), sig.get("signer_id")
        vi, en = _role(role)
        cms, batch = sig.get("cms"), sig.get("batch")
        try:
            if content is None:
                raise SignatureInvalid("tampered", "the document has no canonical form")
            if not isinstance(cms, str) or not (
                batch is None
                or (
                    isinstance(batch, dict)
                    and isinstance(batch.get("statement"), dict)
                    and isinstance(batch.get("proof"), dict)
                )
            ):
                raise SignatureInvalid(
                    "malformed", "`cms` is base64 text, `batch` a statement and a proof"
                )
            verified = verify_document_signature(content, cms, batch, trust)
        except SignatureInvalid as exc:
            problems.append(
                f"✘ {vi} / {en}: {exc.message_vi} / {exc.message_en}"
                + (f" ({exc.detail})" if exc.detail else "")
            )
            signers.append({"role": role, "valid": False, "reason": exc.reason})
            continue
        uids = [
            str(a.value)
            for a in verified.certificate.subject.get_attributes_for_oid(NameOID.USER_ID)
        ]
        named = _named_signers(record.document, role)
        statement = (batch or {}).get("statement") or {}
        reason = None
        if signer_id not in uids:
            reason = (
                "Chứng thư số là của người khác, không phải người ký được ghi",
                f"the certificate belongs to another signer than {signer_id}",
            )
        elif batch is not None and (
            statement.get("signer_role"),
            statement.get("signer_id"),
        ) != (role, signer_id):
            reason = (
                "Chữ ký theo lô ghi người ký hoặc vai trò khác",
                "the signed batch statement names another signer or role",
            )
        elif named is not None and signer_id not in named:
            reason = (
                f"Người ký {signer_id} không phải người học bạ ghi ({', '.join(sorted(named))})",
                f"signer {signer_id} is not the one the record names ({', '.join(sorted(named))})",
            )
        if reason is not None:
            problems.append(f"✘ {vi} / {en}: {reason[0]} / {reason[1]}")
            signers.append({"role": role, "valid": False, "reason": "wrong_signer"})
            continue
        valid_roles.add(role)
        lines.append(
            f"✔ {vi} / {en}: {verified.signer_common_name}, "
            f"ký lúc / signed {_time(verified.signing_time)}"
            + (" (ký theo lô / bulk signature)" if batch is not None else "")
        )
        signers.append(
            {
                "role": role,
                "valid": True,
                "signer_id": signer_id,
                "signer": verified.signer_common_name,
                "signed_at": verified.signing_time.astimezone(UTC).isoformat(),
                "bulk": batch is not None,
            }
        )
    for role in REQUIRED_ROLES:
        if role not in valid_roles and not any(s.get("role") == role for s in record.signatures):
            vi, en = _role(role)
            problems.append(f"✘ Thiếu chữ ký của {vi} / missing the {en}'s signature")
    data = {"signatures": signers}
    if problems:
        return Finding(
            "signatures",
            Outcome.FAIL,
            "Chữ ký không hợp lệ",
            "Signatures not valid",
            tuple(problems + lines),
            data,
        )
    return Finding(
        "signatures", Outcome.PASS, "Chữ ký hợp lệ", "Signatures valid", tuple(lines), data
    )


# -- 3. the PDF's seal -------------------------------------------------------------------


def _seal_identity(verified: VerifiedSignature) -> set[str]:
    subject = verified.certificate.subject
    return {
        str(a.value)
        for oid in (NameOID.USER_ID, NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        for a in subject.get_attributes_for_oid(oid)
    }


def check_seals(seals: Sequence[Seal], trust: TrustList, publishers: Sequence[str] = ()) -> Finding:
    """Every signature of the PDF verifies; the last one (not a document time-stamp) covers the
    whole file, or what follows it is validation data and document time-stamps only, the last
    of which covers the whole file; with `publishers`, the last signature is by one of them (its
    certificate's UID, common or organization name): any certificate under the trust roots can
    seal a PDF, a teacher's too."""
    if not [s for s in seals if not s.document_timestamp]:
        return Finding(
            "seal",
            Outcome.FAIL,
            "Tệp PDF không có dấu niêm phong",
            "The PDF is not sealed",
            ("một bản PDF học bạ số luôn có dấu niêm phong / a published PDF is always sealed",),
        )
    problems, lines = [], []
    last: VerifiedSignature | None = None
    for seal in seals:
        if seal.document_timestamp:
            try:
                stamped = timestamps.verify_timestamp(seal.signed_content, seal.cms_der, trust)
            except SignatureInvalid as exc:
                problems.append(
                    f"✘ {seal.field_name}: {exc.message_vi} / {exc.message_en}"
                    + (f" ({exc.detail})" if exc.detail else "")
                )
                continue
            lines.append(
                f"✔ {seal.field_name}: dấu thời gian / document time-stamp "
                f"{_time(stamped.time)}, {stamped.authority}"
            )
            continue
        try:
            last = verify_detached(seal.signed_content, seal.cms_der, trust)
        except SignatureInvalid as exc:
            last = None
            problems.append(
                f"✘ {seal.field_name}: {exc.message_vi} / {exc.message_en}"
                + (f" ({exc.detail})" if exc.detail else "")
            )
            continue
        lines.append(f"✔ {seal.field_name}: {last.signer_subject}")
    signatures = [s for s in seals if not s.document_timestamp]
    sealed = signatures[-1]
    after = seals[seals.index(sealed) + 1 :]
    if not seals[-1].covers_whole_file or not (
        sealed.covers_whole_file
        or (sealed.only_validation_data_after and all(s.document_timestamp for s in after))
    ):
        problems.append(
            "✘ Tệp PDF đã bị sửa hoặc thêm nội dung sau khi niêm phong / "
            "the PDF was changed or added to after it was sealed"
        )
    if last is not None and publishers and not _seal_identity(last) & set(publishers):
        problems.append(
            "✘ Dấu niêm phong không phải của đơn vị công bố / the seal is not the publisher's "
            f"({', '.join(publishers)})"
        )
    elif last is not None and not publishers:
        lines.append(
            "người niêm phong như trên; --publisher để bắt buộc / "
            "sealed by the above; pass --publisher to require it"
        )
    if problems:
        return Finding(
            "seal",
            Outcome.FAIL,
            "Dấu niêm phong PDF không hợp lệ",
            "PDF seal not valid",
            tuple(problems + lines),
        )
    return Finding(
        "seal", Outcome.PASS, "Dấu niêm phong PDF hợp lệ", "PDF seal valid", tuple(lines)
    )


# -- 4. the log --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A log bundle and where it came from (the record, a file, the lookup)."""

    source: str
    data: Mapping[str, Any]
    fresh: bool = False
    """Fetched from the lookup now, or given as the `--status` bundle."""


@dataclass(frozen=True)
class LogKey:
    verifier: note.Verifier
    origin: str


ProofSource = Callable[[int, int], list[bytes] | None]
"""(old size, new size) -> the consistency proof's hashes; None when there is none to be had.
May raise Unreachable (the lookup) or ProofMismatch (an answer for other sizes)."""


@dataclass
class LogView:
    """What the verified bundles say: their checkpoints and entries."""

    checkpoints: list[tuple[str, note.Checkpoint]] = field(default_factory=list)
    entries: dict[int, logentry.LoggedEntry] = field(default_factory=dict)
    fresh_size: int | None = None
    """The largest checkpoint of a bundle fetched now or given as `--status`."""
    notes: dict[int, str] = field(default_factory=dict)
    """Each checkpoint's signed note text, by tree size (to keep the freshest for next time)."""

    @property
    def freshest(self) -> note.Checkpoint | None:
        return max((c for _, c in self.checkpoints), key=lambda c: c.size, default=None)


def verify_bundles(bundles: Sequence[Bundle], key: LogKey) -> tuple[LogView, list[Finding]]:
    view, failures = LogView(), []
    for bundle in bundles:
        try:
            verified = logentry.verify_bundle(bundle.data, key.verifier, key.origin)
        except (ValueError, TypeError) as exc:  # BundleError, or an entry JSON cannot canonicalize
            failures.append(
                Finding(
                    "bundle",
                    Outcome.FAIL,
                    "Gói sổ công khai bị giả mạo hoặc hỏng",
                    "Log bundle forged or damaged",
                    (f"{bundle.source}: {exc}",),
                )
            )
            continue
        view.checkpoints.append((bundle.source, verified.checkpoint))
        view.notes.setdefault(verified.checkpoint.size, str(bundle.data["checkpoint"]))
        for e in verified.entries:
            view.entries[e.index] = e
        if bundle.fresh:
            view.fresh_size = max(view.fresh_size or 0, verified.checkpoint.size)
    return view, failures


def check_inclusion(
    view: LogView, document_id: str, record_version: int | None, content_sha256: str | None
) -> Finding:
    """The document's `published` entry, with this version and content, is in a verified bundle.
    With `content_sha256` None (no record at hand), any publication of the document counts."""
    published = [
        e
        for e in view.entries.values()
        if e.entry["kind"] == "published" and e.entry["document_id"] == document_id
    ]
    size = view.freshest.size if view.freshest else 0
    if not published:
        others = sorted({e.entry["document_id"] for e in view.entries.values()} - {document_id})
        return Finding(
            "log",
            Outcome.FAIL,
            "Không có trong sổ công khai",
            "Not in the transparency log",
            (
                f"không có mục công bố {document_id} / no publication entry for {document_id}"
                + (f" (gói là của / the bundle is for {', '.join(others)})" if others else ""),
            ),
        )
    matching = [
        e
        for e in published
        if (content_sha256 is None or e.entry.get("content_sha256") == content_sha256)
        and (record_version is None or e.entry.get("record_version") == record_version)
    ]
    if not matching:
        logged = published[0].entry
        return Finding(
            "log",
            Outcome.FAIL,
            "Sổ công khai ghi nội dung khác cho học bạ này",
            "The log records other content for this document",
            (
                f"sổ ghi / logged: phiên bản / version {logged.get('record_version')}, "
                f"SHA-256 {logged.get('content_sha256')}",
                f"hồ sơ / record: phiên bản / version {record_version}, SHA-256 {content_sha256}",
            ),
        )
    entry = matching[0]
    return Finding(
        "log",
        Outcome.PASS,
        "Có trong sổ công khai",
        "In the transparency log",
        (
            f"mục / entry #{entry.index}, công bố / published {entry.entry.get('at')}, "
            f"mốc / checkpoint {size}",
        ),
        {"index": entry.index, "checkpoint_size": size, "published_at": entry.entry.get("at")},
    )


def check_consistency(
    view: LogView, trusted: note.Checkpoint | None, proofs: ProofSource
) -> Finding | None:
    """Every checkpoint seen extends the one before it (sizes in order), your kept one among them:
    one log, no fork. None when there is one checkpoint and none kept."""
    seen = list(view.checkpoints) + ([("--checkpoint", trusted)] if trusted else [])
    distinct: dict[tuple[int, bytes], tuple[str, note.Checkpoint]] = {}
    for source, cp in seen:
        distinct.setdefault((cp.size, cp.root), (source, cp))
    if len(distinct) < 2 and trusted is None:
        return None
    chain = sorted(distinct.values(), key=lambda x: x[1].size)
    lines = []
    for (old_source, old), (new_source, new) in zip(chain, chain[1:], strict=False):
        what = f"{old_source} ({old.size}) → {new_source} ({new.size})"
        if old.size == new.size:
            return Finding(
                "consistency",
                Outcome.FAIL,
                "Sổ công khai có hai phiên bản khác nhau (bị chia nhánh)",
                "The log shows two different trees of one size (a fork)",
                (what,),
            )
        if old.size == 0:
            lines.append(f"✔ {what}")
            continue
        try:
            proof = proofs(old.size, new.size)
            if proof is None:
                return Finding(
                    "consistency",
                    Outcome.INPUT,
                    "Thiếu bằng chứng nhất quán của sổ công khai",
                    "A consistency proof is needed",
                    (
                        f"{what}: --consistency-proof FILE "
                        f"(old_size {old.size}, new_size {new.size}) hoặc / or --lookup URL",
                    ),
                )
            note.verify_checkpoints_consistent(old, new, proof)
        except Unreachable as exc:
            return Finding(
                "consistency",
                Outcome.UNREACHABLE,
                "Không lấy được bằng chứng nhất quán từ máy chủ tra cứu",
                "Could not get the consistency proof from the lookup",
                (f"{what}: {exc}",),
            )
        except (ProofMismatch, tlog.ProofError) as exc:
            return Finding(
                "consistency",
                Outcome.FAIL,
                "Sổ công khai không nhất quán: mốc bị giả mạo hoặc sổ bị sửa",
                "The log is not consistent: a forged checkpoint or a rewritten log",
                (f"{what}: {exc}",),
            )
        lines.append(f"✔ {what}")
    if trusted is not None and len(distinct) == 1:
        lines.append(
            f"✔ mốc đã lưu / your checkpoint ({trusted.size}) = mốc của gói / the bundle's"
        )
    return Finding(
        "consistency",
        Outcome.PASS,
        "Sổ công khai nhất quán" + (" với mốc bạn đã lưu" if trusted else ""),
        "The log is consistent" + (" with your checkpoint" if trusted else ""),
        tuple(lines),
        {"sizes": [cp.size for _, cp in chain]},
    )


def check_status(view: LogView, document_id: str, freshness_note: str) -> Finding | None:
    """The document's standing from the verified entries; None when none names it published."""
    entries = list(view.entries.values())
    status = logentry.document_status(document_id, entries)
    size = view.freshest.size if view.freshest else 0
    mine = [e.entry for e in entries if e.entry["document_id"] == document_id]
    if status == "unlogged" and not mine:
        return None
    as_of = f"theo mốc / as of checkpoint {size}; {freshness_note}"
    if status == "revoked":
        revoked = next(e for e in mine if e["kind"] == "revoked")
        return Finding(
            "status",
            Outcome.NOT_CURRENT,
            "Đã bị thu hồi",
            "Revoked",
            (f"lý do / reason: {revoked.get('reason')}", f"lúc / at {revoked.get('at')}", as_of),
            {"status": "revoked", "reason": revoked.get("reason"), "at": revoked.get("at")},
        )
    if status == "superseded":
        newer = next(e for e in mine if e["kind"] == "superseded")
        details = [
            f"thay bằng / superseded by {newer.get('superseded_by')} "
            f"(phiên bản / version {newer.get('record_version')}), lúc / at {newer.get('at')}"
        ]
        if newer.get("reason"):
            details.append(f"lý do / reason: {newer['reason']}")
        return Finding(
            "status",
            Outcome.NOT_CURRENT,
            "Đã được thay thế bằng phiên bản mới",
            "Superseded by a newer version",
            (*details, as_of),
            {
                "status": "superseded",
                "superseded_by": newer.get("superseded_by"),
                "record_version": newer.get("record_version"),
                "reason": newer.get("reason"),
            },
        )
    if status == "unlogged":
        return None
    corrects = next((e.get("supersedes") for e in mine if e.get("supersedes")), None)
    return Finding(
        "status",
        Outcome.PASS,
        "Còn hiệu lực",
        "Current",
        ((f"đính chính / corrects {corrects}",) if corrects else ()) + (as_of,),
        {"status": "current", "checkpoint_size": size},
    )
