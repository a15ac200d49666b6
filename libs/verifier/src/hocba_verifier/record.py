"""What the verifier is given: a published record, as publishing's JSON answer or as the official
PDF that carries it (the attachment `hocba-record.json`), and what it reads from the PDF's seal.

The record's fields are the server's word until the checks have run: `document` and
`content_sha256` are checked against each other, the signatures against the trust list, and the
`document_id` and `record_version` against the log. The server's own view of the record (`status`,
`superseded_by`, `revocation`) is not read at all: the standing comes from verified log entries.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

RECORD_ATTACHMENT = "hocba-record.json"
MAX_INPUT = 64 * 1024 * 1024
"""The largest file read (a year record's PDF is a few hundred KB)."""


@dataclass(frozen=True)
class Seal:
    """One signature of a PDF: the bytes its byte range covers, its CMS, whether it covers the
    whole file (nothing was appended after it) and, when it does not, whether what was appended
    is long-term validation data only (PAdES B-LT/B-LTA: a document security store's chain and
    CRLs, document time-stamps), as pyHanko's difference analysis of the later revisions finds.
    A document time-stamp's CMS is an RFC 3161 token over the bytes it covers."""

    field_name: str
    signed_content: bytes
    cms_der: bytes
    covers_whole_file: bool
    document_timestamp: bool = False
    only_validation_data_after: bool = False


class InputError(Exception):
    """A file that cannot be read as what it should be: exit code 3."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(en)
        self.message_vi, self.message_en = vi, en


class DamagedAttachment(InputError):
    """A PDF whose attached record does not read as JSON: changed inside the PDF, or not Hocba's.
    Its seals are read, so that the verifier can tell a broken seal (exit 1) from a foreign file."""

    def __init__(self, vi: str, en: str, seals: tuple[Seal, ...]) -> None:
        super().__init__(vi, en)
        self.seals = seals


@dataclass(frozen=True)
class Record:
    document_id: str
    record_version: int | None
    """The signed document's own when it names one, else the record's (unsigned) field."""
    school_year: str | None
    document: dict[str, Any]
    content_sha256: str
    signatures: tuple[dict[str, Any], ...]
    log: dict[str, Any] | None = None
    source: str = "json"
    seals: tuple[Seal, ...] = field(default=())
    """For a PDF: its signatures (the publisher's seal)."""
    version_conflict: tuple[int, int] | None = None
    """(the record's field, the signed document's) when they differ."""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def record_from_json(data: Any, source: str = "json") -> Record:
    """A record from publishing's `GET /documents/{id}` answer (or a PDF's attachment)."""
    if not isinstance(data, Mapping):
        raise InputError("Không phải hồ sơ học bạ số", "not a học bạ số record (a JSON object)")
    document, signatures = data.get("document"), data.get("signatures")
    document_id, content_sha256 = data.get("document_id"), data.get("content_sha256")
    if not isinstance(document_id, str) or not document_id:
        raise InputError("Hồ sơ thiếu mã học bạ", "the record has no document_id")
    if not isinstance(document, dict):
        raise InputError("Hồ sơ thiếu nội dung học bạ", "the record has no `document` object")
    if not isinstance(content_sha256, str):
        raise InputError("Hồ sơ thiếu mã băm nội dung", "the record has no content_sha256")
    if not isinstance(signatures, list) or not all(isinstance(s, dict) for s in signatures):
        raise InputError("Hồ sơ thiếu danh sách chữ ký", "the record's `signatures` is not a list")
    log = data.get("log")
    if log is not None and not isinstance(log, dict):
        raise InputError(
            "Gói sổ công khai không đúng định dạng", "the record's `log` is not an object"
        )
    stated, signed = _int(data.get("record_version")), _int(document.get("record_version"))
    year = document.get("school_year", data.get("school_year"))
    return Record(
        document_id=document_id,
        record_version=signed if signed is not None else stated,
        school_year=year if isinstance(year, str) else None,
        document=document,
        content_sha256=content_sha256,
        signatures=tuple(signatures),
        log=log,
        source=source,
        version_conflict=(stated, signed)
        if stated is not None and signed is not None and stated != signed
        else None,
    )


def read_file(path: str, what_vi: str, what_en: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INPUT + 1)
    except OSError as exc:
        raise InputError(
            f"Không đọc được {what_vi} {path}: {exc.strerror}",
            f"cannot read {what_en} {path}: {exc.strerror}",
        ) from None
    if len(data) > MAX_INPUT:
        raise InputError(f"{what_vi} {path} quá lớn", f"{what_en} {path} is too large")
    return data


def read_json(path: str, what_vi: str, what_en: str) -> Any:
    data = read_file(path, what_vi, what_en)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InputError(
            f"{what_vi} {path} không phải JSON", f"{what_en} {path} is not JSON"
        ) from None


def load_record(path: str) -> Record:
    """The record in a file: a PDF (by its `%PDF-` header) or publishing's JSON answer."""
    data = read_file(path, "tệp", "the file")
    if data.lstrip()[:5] == b"%PDF-":
        return record_from_pdf(data)
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InputError(
            f"{Path(path).name} không phải PDF hay JSON của học bạ số",
            f"{Path(path).name} is neither a học bạ số PDF nor its JSON record",
        ) from None
    return record_from_json(parsed)


def _der_length(der: bytes) -> int:
    """The length of the DER value at the start of `der` (a PDF pads /Contents with zeros)."""
    if len(der) < 2 or der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    if der[1] < 0x80:
        return 2 + der[1]
    n = der[1] & 0x7F
    if not 0 < n <= 4 or len(der) < 2 + n:
        raise ValueError("bad DER length")
    return 2 + n + int.from_bytes(der[2 : 2 + n], "big")


def _seal(data: bytes, signature: Any) -> Seal:
    """A PDF signature's evidence. It covers the whole file when its byte range is [0, a, b, c]
    with b + c the file's length and [a, b) exactly its /Contents as a hex string."""
    contents = bytes(signature.pkcs7_content)
    byte_range = [int(x) for x in signature.byte_range]
    if len(byte_range) != 4 or byte_range[0] != 0 or min(byte_range) < 0:
        raise ValueError("a non-standard byte range")
    _, a, b, c = byte_range
    if not a <= b <= len(data) or b + c > len(data):
        raise ValueError("a byte range outside the file")
    hole = data[a:b]
    covers = (
        b + c == len(data)
        and hole[:1] == b"<"
        and hole[-1:] == b">"
        and hole[1:-1].lower() == contents.hex().encode()
    )
    return Seal(
        field_name=str(signature.field_name),
        signed_content=data[:a] + data[b : b + c],
        cms_der=contents[: _der_length(contents)],
        covers_whole_file=covers,
        document_timestamp=str(signature.sig_object_type) == "/DocTimeStamp",
        only_validation_data_after=not covers and _only_validation_data_after(signature),
    )


def _only_validation_data_after(signature: Any) -> bool:
    """Whether every revision after the signature's only adds validation data (a DSS, document
    time-stamps): pyHanko's default difference policy, at most LTA_UPDATES."""
    from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel

    try:
        signature.compute_integrity_info()
    except Exception:  # a damaged or hostile file: nothing after the seal is vouched for
        return False
    result = signature.diff_result
    return isinstance(result, DiffResult) and bool(
        result.modification_level <= ModificationLevel.LTA_UPDATES
    )


def _get(pdf_dict: Any, key: str) -> Any:
    """A PDF dictionary's value, its indirect reference followed; None when absent."""
    value = pdf_dict.get(key) if pdf_dict is not None else None
    return value.get_object() if value is not None else None


def _embedded_files(names: Any, depth: int = 0) -> list[tuple[str, Any]]:
    """(name, file specification) pairs of a PDF name tree."""
    if depth > 8:
        raise ValueError("name tree too deep")
    pairs: list[tuple[str, Any]] = []
    flat = _get(names, "/Names")
    if flat is not None:
        items = [item.get_object() for item in flat]
        pairs += [(str(items[i]), items[i + 1]) for i in range(0, len(items) - 1, 2)]
    for kid in _get(names, "/Kids") or []:
        pairs += _embedded_files(kid.get_object(), depth + 1)
    return pairs


def record_from_pdf(data: bytes) -> Record:
    """The record a sealed Hocba PDF carries, with the PDF's signatures to check."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        tree = _get(_get(reader.root, "/Names"), "/EmbeddedFiles")
        files = _embedded_files(tree) if tree is not None else []
        specs = [spec for name, spec in files if name == RECORD_ATTACHMENT]
        attached = bytes(_get(_get(specs[0], "/EF"), "/F").data) if specs else None
    except Exception as exc:  # pyHanko raises many kinds on a damaged or hostile PDF
        raise InputError(
            f"Tệp PDF bị hỏng, không đọc được ({type(exc).__name__})",
            f"the PDF is damaged and does not read ({type(exc).__name__}: {exc})",
        ) from None
    if attached is None:
        raise InputError(
            f"Tệp PDF không kèm hồ sơ {RECORD_ATTACHMENT} (chỉ bản PDF có dấu niêm phong mới kèm)",
            f"the PDF carries no {RECORD_ATTACHMENT} (a sealed Hocba PDF does); "
            "verify its JSON record instead",
        )
    try:
        seals = tuple(_seal(data, s) for s in reader.embedded_signatures)
    except Exception as exc:  # a signature dictionary or CMS that does not parse
        seals = (Seal(f"unreadable ({type(exc).__name__})", b"", b"", False),)
    try:
        parsed = json.loads(attached)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict):
        raise DamagedAttachment(
            f"Hồ sơ {RECORD_ATTACHMENT} kèm trong PDF không đọc được (đã bị thay đổi?)",
            f"the PDF's {RECORD_ATTACHMENT} is not a JSON object (was it changed?)",
            seals,
        )
    return replace(record_from_json(parsed, source="pdf"), seals=seals)
