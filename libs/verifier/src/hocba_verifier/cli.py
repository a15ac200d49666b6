"""hocba-verify: check a học bạ số (its PDF or its JSON record) without trusting the server.

hocba-verify RECORD --trust-root ROOT.pem --log-key VKEY [--log-origin ORIGIN] [options]
hocba-verify status DOCUMENT_ID (--bundle FILE | --lookup URL) --log-key VKEY [options]
hocba-verify consistency OLD_CHECKPOINT NEW_CHECKPOINT (--proof FILE | --lookup URL) --log-key VKEY
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import urlsplit

from hocba_trust import note
from hocba_trust.canonical import canonical_bytes
from hocba_trust.cms import TrustList

from hocba_verifier import checks
from hocba_verifier.checks import Bundle, Exit, Finding, LogKey, LogView, Outcome
from hocba_verifier.lookup import DEFAULT_TIMEOUT, Lookup, Unreachable, proof_hashes
from hocba_verifier.record import (
    DamagedAttachment,
    InputError,
    Record,
    load_record,
    read_file,
    read_json,
)
from hocba_verifier.report import describe, write_json, write_text

EXIT_CODES = """\
exit codes / mã thoát:
  0  valid and current / hợp lệ và còn hiệu lực
  1  a check failed: content changed, a signature or the PDF's seal not valid, not in the log,
     a forged log bundle or checkpoint, an inconsistent log / có kiểm tra không đạt
  2  valid, but superseded or revoked (from verified log entries) / hợp lệ nhưng đã được thay
     thế hoặc đã bị thu hồi
  3  usage or input error: a missing option, an unreadable file, a missing consistency proof /
     thiếu hoặc sai đầu vào
  4  the lookup could not be reached or did not answer / không liên lạc được máy chủ tra cứu
"""

VERIFY_EPILOG = (
    """\
The log bundle comes from the record's `log` (a JSON record may carry one), --bundle, --status
and --lookup (GET URL/log/documents/ID); every one given is verified, and the document's status is
read from all their verified entries. Two different checkpoints (or your --checkpoint) must be
proven consistent: --consistency-proof FILE, or fetched from --lookup
(GET URL/log/proof/consistency?old=N&new=M).

other commands:
  hocba-verify status DOCUMENT_ID ...       a document's standing from the log alone
  hocba-verify consistency OLD NEW ...      that a newer checkpoint extends an older one

"""
    + EXIT_CODES
)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise _UsageError(message)


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-key",
        required=True,
        metavar="VKEY",
        help="the publications log's verifier key (C2SP note key name+hash+key), or a file with it",
    )
    parser.add_argument(
        "--log-origin",
        metavar="ORIGIN",
        help="the log's origin, the first line of its checkpoints (default: the key's name)",
    )
    parser.add_argument(
        "--lookup",
        metavar="URL",
        help="the lookup's base URL: fetch the document's freshest log bundle and proofs",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a signed checkpoint of the log you kept (e.g. with --save-checkpoint): the log "
        "must extend it",
    )
    parser.add_argument(
        "--consistency-proof",
        action="append",
        default=[],
        metavar="FILE",
        help='a consistency proof, {"old_size": n, "new_size": m, "proof": [...]} (repeatable)',
    )
    parser.add_argument(
        "--save-checkpoint",
        metavar="FILE",
        help="after the checks pass, keep the freshest verified checkpoint here",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="for each request to the lookup",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on standard output")


def _verify_parser() -> _Parser:
    parser = _Parser(
        prog="hocba-verify",
        description="Kiểm tra học bạ số ngoại tuyến / Verify a học bạ số offline: its content, "
        "signatures and certificate paths, the PDF's seal, its entry in the publications log, "
        "and whether it is current, superseded or revoked.",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("record", metavar="RECORD", help="the PDF, or the JSON record")
    parser.add_argument(
        "--trust-root",
        action="append",
        default=[],
        required=True,
        metavar="PEM",
        help="a trusted root certificate (PEM, repeatable): the national root or a trust list",
    )
    parser.add_argument(
        "--crl", action="append", default=[], metavar="FILE", help="a CRL, PEM or DER (repeatable)"
    )
    parser.add_argument(
        "--bundle",
        action="append",
        default=[],
        metavar="FILE",
        help="a log bundle of the document (when the record carries none)",
    )
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="FILE",
        help="a freshly downloaded log bundle of the document, for its status",
    )
    parser.add_argument(
        "--publisher",
        action="append",
        default=[],
        metavar="NAME",
        help="for a PDF: its seal must be this publisher's (the seal certificate's UID, common "
        "or organization name; repeatable)",
    )
    _log_options(parser)
    return parser


def _status_parser() -> _Parser:
    parser = _Parser(
        prog="hocba-verify status",
        description="A document's standing from the publications log alone: its publication is "
        "in the log, and whether it was superseded or revoked. Without the record, this says "
        "nothing of its content or signatures.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("document_id", metavar="DOCUMENT_ID")
    parser.add_argument("--bundle", action="append", default=[], metavar="FILE")
    _log_options(parser)
    return parser


def _consistency_parser() -> _Parser:
    parser = _Parser(
        prog="hocba-verify consistency",
        description="Check that the newer of two signed checkpoints of the log extends the older "
        "(RFC 9162 consistency): the log was only appended to, not rewritten or forked.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("old", metavar="OLD_CHECKPOINT")
    parser.add_argument("new", metavar="NEW_CHECKPOINT")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--proof", metavar="FILE", help="the consistency proof (JSON)")
    source.add_argument("--lookup", metavar="URL", help="fetch the proof from the lookup")
    parser.add_argument("--log-key", required=True, metavar="VKEY")
    parser.add_argument("--log-origin", metavar="ORIGIN")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    parser.add_argument("--json", action="store_true")
    return parser


# -- inputs ------------------------------------------------------------------------------


def _log_key(value: str, origin: str | None) -> LogKey:
    text = value
    if os.path.isfile(value):
        text = read_file(value, "khóa của sổ", "the log key file").decode("utf-8", "replace")
        text = next((line.strip() for line in text.splitlines() if line.strip()), "")
    try:
        verifier = note.Verifier.from_key(text.strip())
    except note.NoteError as exc:
        raise InputError(
            "Khóa của sổ công khai không đúng định dạng", f"--log-key is not a C2SP key: {exc}"
        ) from None
    return LogKey(verifier, origin or verifier.name)


def _trust(roots: Sequence[str], crls: Sequence[str]) -> TrustList:
    try:
        return TrustList.from_pem_files(roots, crls)
    except (OSError, ValueError) as exc:
        raise InputError(
            "Không đọc được chứng thư gốc hoặc CRL", f"cannot read the trust roots or CRLs: {exc}"
        ) from None


def _checkpoint(path: str, key: LogKey) -> tuple[note.Checkpoint | None, Finding | None]:
    """Your kept checkpoint, opened with the log's key; a finding if it does not verify."""
    data = read_file(path, "mốc đã lưu", "the checkpoint file")
    try:
        checkpoint, _ = note.open_checkpoint(data, key.origin, key.verifier)
    except note.NoteError as exc:
        return None, Finding(
            "checkpoint",
            Outcome.FAIL,
            "Mốc của sổ công khai bị giả mạo hoặc không phải của sổ này",
            "The checkpoint is forged or not this log's",
            (f"{path}: {exc}",),
        )
    return checkpoint, None


def _lookup(url: str | None, timeout: float) -> Lookup | None:
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        raise InputError(
            f"--lookup {url} không phải địa chỉ http(s)", f"--lookup {url} is not an http(s) URL"
        )
    return Lookup(url, timeout)


class _Proofs:
    """Consistency proofs from files first, then from the lookup."""

    def __init__(self, files: Sequence[str], lookup: Lookup | None) -> None:
        self.answers = [
            read_json(f, "bằng chứng nhất quán", "the consistency proof") for f in files
        ]
        self.lookup = lookup

    def __call__(self, old_size: int, new_size: int) -> list[bytes] | None:
        for answer in self.answers:
            if isinstance(answer, dict) and (answer.get("old_size"), answer.get("new_size")) == (
                old_size,
                new_size,
            ):
                return proof_hashes(answer, old_size, new_size)
        if self.lookup is not None:
            return self.lookup.consistency(old_size, new_size)
        return None


# -- the log, shared by verify and status ------------------------------------------------


def _log_findings(
    args: argparse.Namespace,
    key: LogKey,
    document_id: str,
    bundles: list[Bundle],
    record_version: int | None,
    content_sha256: str | None,
) -> tuple[list[Finding], LogView | None, note.Checkpoint | None]:
    findings: list[Finding] = []
    trusted = None
    if args.checkpoint:
        trusted, forged = _checkpoint(args.checkpoint, key)
        if forged is not None:
            findings.append(forged)
    lookup = _lookup(args.lookup, args.timeout)
    try:
        proofs = _Proofs(args.consistency_proof, lookup)
        if lookup is not None:
            try:
                fetched = lookup.bundle(document_id)
            except Unreachable as exc:
                findings.append(
                    Finding(
                        "lookup",
                        Outcome.UNREACHABLE,
                        "Không liên lạc được máy chủ tra cứu",
                        "Could not reach the lookup",
                        (str(exc),),
                    )
                )
            else:
                if fetched is None:
                    findings.append(
                        Finding(
                            "lookup",
                            Outcome.FAIL if not bundles else Outcome.UNREACHABLE,
                            "Máy chủ tra cứu không có mục nào của học bạ này trong sổ",
                            "The lookup has no log entry for this document",
                            (f"{lookup.url}/log/documents/{document_id}: HTTP 404",),
                        )
                    )
                else:
                    bundles.append(Bundle(f"{lookup.url}", fetched, fresh=True))
        if not bundles:
            if lookup is None:
                findings.append(
                    Finding(
                        "log",
                        Outcome.INPUT,
                        "Không có gói sổ công khai để kiểm tra",
                        "No log bundle to check",
                        ("--bundle FILE, --status FILE hoặc / or --lookup URL",),
                    )
                )
            return findings, None, trusted
        view, failures = checks.verify_bundles(bundles, key)
        findings += failures
        if not view.checkpoints:
            return findings, view, trusted
        included = checks.check_inclusion(view, document_id, record_version, content_sha256)
        findings.append(included)
        consistent = checks.check_consistency(view, trusted, proofs)
        if consistent is not None:
            findings.append(consistent)
        # The standing is the logged document's: said only of a record that is the one logged.
        status = checks.check_status(view, document_id, _freshness(view, trusted))
        if status is not None and included.outcome is Outcome.PASS:
            findings.append(status)
        return findings, view, trusted
    finally:
        if lookup is not None:
            lookup.close()


def _freshness(view: LogView, trusted: note.Checkpoint | None) -> str:
    freshest = view.freshest
    assert freshest is not None
    if view.fresh_size == freshest.size:
        text = "từ sổ lúc kiểm tra / from the log now (--lookup, --status)"
    else:
        text = (
            "từ gói đi kèm, có thể đã cũ: dùng --lookup hoặc --status / from the bundle at hand, "
            "possibly old: pass --lookup or --status"
        )
    if trusted is not None and trusted.size > freshest.size:
        text += (
            f"; mốc bạn lưu mới hơn ({trusted.size}) / your checkpoint is newer ({trusted.size})"
        )
    return text


def _save_checkpoint(path: str, view: LogView | None, trusted: note.Checkpoint | None) -> None:
    if view is None or view.freshest is None:
        return
    if trusted is not None and trusted.size >= view.freshest.size:
        return  # what you kept is as fresh already
    Path(path).write_text(view.notes[view.freshest.size], encoding="utf-8")


# -- commands ----------------------------------------------------------------------------


def _bundle_file(path: str, fresh: bool) -> Bundle:
    data = read_json(path, "gói sổ công khai", "the log bundle")
    if not isinstance(data, dict):
        raise InputError(
            f"{path} không phải gói sổ công khai", f"{path} is not a log bundle (a JSON object)"
        )
    return Bundle(path, data, fresh=fresh)


def _bundles(record: Record | None, args: argparse.Namespace) -> list[Bundle]:
    bundles = []
    if record is not None and record.log is not None:
        bundles.append(Bundle("hồ sơ / the record", record.log))
    bundles += [_bundle_file(path, fresh=False) for path in args.bundle]
    bundles += [_bundle_file(path, fresh=True) for path in getattr(args, "status", [])]
    return bundles


def _verify(args: argparse.Namespace) -> tuple[list[Finding], Record | None, LogView | None]:
    trust = _trust(args.trust_root, args.crl)
    key = _log_key(args.log_key, args.log_origin)
    try:
        record = load_record(args.record)
    except DamagedAttachment as exc:
        seal = checks.check_seals(exc.seals, trust, args.publisher)
        unreadable = Finding(
            "record",
            Outcome.FAIL if seal.outcome is Outcome.FAIL else Outcome.INPUT,
            exc.message_vi,
            exc.message_en,
        )
        return [unreadable, seal], None, None
    findings: list[Finding] = []
    if record.version_conflict is not None:
        stated, signed = record.version_conflict
        findings.append(
            Finding(
                "record",
                Outcome.FAIL,
                "Phiên bản ghi trong hồ sơ khác phiên bản đã ký",
                "The record's version is not the signed document's",
                (f"hồ sơ / record {stated}, văn bản đã ký / signed document {signed}",),
            )
        )
    computed = checks.content_hash(record)
    findings.append(checks.check_content(record, computed))
    content = canonical_bytes(record.document) if computed is not None else None
    findings.append(checks.check_signatures(record, content, trust))
    if record.source == "pdf":
        findings.append(checks.check_seals(record.seals, trust, args.publisher))
    logged, view, trusted = _log_findings(
        args, key, record.document_id, _bundles(record, args), record.record_version, computed
    )
    findings += logged
    if args.save_checkpoint and checks.exit_code(findings) in (Exit.VALID, Exit.NOT_CURRENT):
        _save_checkpoint(args.save_checkpoint, view, trusted)
    return findings, record, view


def _status(args: argparse.Namespace) -> tuple[list[Finding], dict[str, Any]]:
    key = _log_key(args.log_key, args.log_origin)
    findings, view, trusted = _log_findings(
        args, key, args.document_id, _bundles(None, args), None, None
    )
    if args.save_checkpoint and checks.exit_code(findings) in (Exit.VALID, Exit.NOT_CURRENT):
        _save_checkpoint(args.save_checkpoint, view, trusted)
    return findings, {"document_id": args.document_id}


def _consistency(args: argparse.Namespace) -> list[Finding]:
    key = _log_key(args.log_key, args.log_origin)
    opened: list[note.Checkpoint] = []
    for path in (args.old, args.new):
        checkpoint, forged = _checkpoint(path, key)
        if forged is not None:
            return [forged]
        assert checkpoint is not None
        opened.append(checkpoint)
    old, new = sorted(opened, key=lambda c: c.size)
    view = LogView(checkpoints=[(args.old, opened[0]), (args.new, opened[1])])
    lookup = _lookup(args.lookup, args.timeout)
    try:
        proofs = _Proofs([args.proof] if args.proof else [], lookup)
        if args.proof and not any(
            isinstance(a, dict) and (a.get("old_size"), a.get("new_size")) == (old.size, new.size)
            for a in proofs.answers
        ):
            raise InputError(
                f"Bằng chứng {args.proof} không phải cho mốc {old.size} → {new.size}",
                f"the proof {args.proof} is not for sizes {old.size} → {new.size}",
            )
        found = checks.check_consistency(view, None, proofs)
    finally:
        if lookup is not None:
            lookup.close()
    if found is None:  # the same checkpoint twice
        found = Finding(
            "consistency",
            Outcome.PASS,
            "Hai mốc là một",
            "The two checkpoints are the same",
            (f"{old.size}",),
        )
    return [found]


def _stream(out: TextIO | None) -> TextIO:
    if out is not None:
        return out
    stream = sys.stdout
    if (stream.encoding or "").lower().replace("-", "") != "utf8":
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    return stream


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    stream = _stream(out)
    command = argv[0] if argv and argv[0] in ("status", "consistency") else "verify"
    parser = {"status": _status_parser, "consistency": _consistency_parser}.get(
        command, _verify_parser
    )()
    try:
        args = parser.parse_args(argv[1:] if command != "verify" else argv)
    except _UsageError as exc:
        sys.stderr.write(f"{parser.prog}: lỗi / error: {exc}\n")
        return Exit.USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    record: Record | None = None
    about: dict[str, Any] = {}
    try:
        if command == "verify":
            findings, record, _ = _verify(args)
            about = describe(record) if record is not None else {"source": "pdf"}
        elif command == "status":
            findings, about = _status(args)
        else:
            findings = _consistency(args)
    except InputError as exc:
        findings = [Finding("input", Outcome.INPUT, exc.message_vi, exc.message_en)]
    code = checks.exit_code(findings)
    title = {
        "verify": "kiểm tra học bạ số / verifying a học bạ số",
        "status": "tình trạng trong sổ công khai / standing in the publications log",
        "consistency": "tính nhất quán của sổ công khai / consistency of the log",
    }[command]
    if args.json:
        write_json(stream, findings, code, about, command)
    else:
        write_text(stream, findings, code, about if record or command == "status" else {}, title)
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
