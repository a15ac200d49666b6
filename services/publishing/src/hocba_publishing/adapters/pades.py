"""PAdES seal on the official PDF (pyHanko): the school's organizational seal (con dấu số,
DOMAIN §7) over the whole file, so that any PDF reader shows who sealed it and whether the file
was changed since. Attachments or edits made after the seal show as modifications.

The sealed PDF carries its record: an attachment `hocba-record.json` (the document, its content
hash and signatures, and its document id: what publishing's `GET /documents/{id}` answers, less the
server's own view), added in the revision the seal signs, so that the offline verifier
(hocba-verify) checks a PDF on its own, and an attachment changed or added later breaks the seal.

The seal is visible: a stamp in Vietnamese (who sealed it, when, the document id) in the top
margin of the last page, where the template prints nothing (A4, 15 mm top margin: the box sits
2.4 mm under the page's top edge and above the body). Its font is DejaVu Sans, cut once
per process to the Latin and Vietnamese letters and rescaled to the 1000 units per em that
pyHanko's text layout assumes (DejaVu's 2048 would print letter-spaced and clipped).

Long-term validation (ETSI EN 319 142-1): PAdES B-LT, the chain and the CRLs that validate the
seal's certificate in the document security store of the seal's own revision (so that the seal
still covers the whole file); with a time-stamping authority (`tsa_url`), B-LTA: a signature
time-stamp in the seal's CMS, then a document time-stamp, with the TSA's validation data, in one
more revision. The validation data comes from the trust roots and CRL files publishing verifies
records with; pyHanko checks the seal's certificate against them before it signs (DOMAIN §7:
signing software checks the certificate's validity first), and refuses a revoked or expired one.

Keys: `SealKeys` gives the pyHanko signer of a school's seal: its key in a PKCS#11 token
(adapters.pkcs11_seal), or, in tests, a software key (`SoftwareSealKeys`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import httpx
from asn1crypto import crl as asn1_crl
from asn1crypto import pem as asn1_pem
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from fontTools import subset, ttLib
from fontTools.ttLib.scaleUpem import scale_upem
from hocba_trust.keys import load_identity
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder
from pyhanko.pdf_utils import embed, layout
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import CertificateRegistry

SEAL_FIELD = "HocbaSeal"
TIMESTAMP_FIELD = "HocbaTimestamp"
STAMP_BOX = (297, 801, 556, 835)
"""The stamp's box on the last page, in points from the bottom left of an A4 page (595 × 842):
the right half of the top margin, whose 15 mm (42.5 pt) the template leaves empty."""
VIETNAM = timezone(timedelta(hours=7), "GMT+7")
FONT_FILE = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
STAMP_TEXT = "Đã ký số bởi: %(signer)s\nThời gian ký: %(when)s\nMã tài liệu: %(document_id)s"
_LETTERS = [
    *range(0x20, 0x7F),  # Basic Latin
    *range(0xA0, 0x180),  # Latin-1 and Latin Extended-A (Đ đ Ă ă Ĩ ĩ Ũ ũ)
    *(0x1A0, 0x1A1, 0x1AF, 0x1B0),  # Ơ ơ Ư ư
    *range(0x300, 0x324),  # combining marks, for text not in NFC
    *range(0x1EA0, 0x1EFA),  # Latin Extended Additional: the Vietnamese letters with two marks
    *range(0x2010, 0x2027),  # dashes, quotes, bullets
]


class SealRefused(RuntimeError):
    """The seal would not sign: its certificate does not validate (revoked, expired, no path to
    the trust roots, or its CRLs are stale). A time-stamping authority that does not answer
    raises pyHanko's TimestampRequestError, naming its URL."""


class SealKeys(Protocol):
    """The pyHanko signer of a school's seal; LookupError (naming the school) when it has none."""

    def signer(self, school_id: str, school_name: str) -> signers.Signer: ...


class SoftwareSealKeys:
    """One seal from a certificate file (the seal's certificate, then its chain) and its key file,
    for every school: tests, and tools that seal with a software key. The service seals with
    each school's key in its token (TokenSeals)."""

    def __init__(self, certificate_file: str, key_file: str) -> None:
        self.certificate_file, self.key_file = certificate_file, key_file
        self._signer: signers.Signer | None = None
        self._lock = threading.Lock()

    def signer(self, school_id: str, school_name: str) -> signers.Signer:
        with self._lock:
            if self._signer is None:
                try:
                    load_identity(Path(self.certificate_file), Path(self.key_file))
                except (OSError, ValueError) as exc:
                    raise LookupError(f"the PDF seal's files do not load: {exc}") from None
                certs = list(load_certs_from_pemder_data(Path(self.certificate_file).read_bytes()))
                chain = CertificateRegistry()
                chain.register_multiple(certs[1:])
                self._signer = signers.SimpleSigner(
                    signing_cert=certs[0],
                    signing_key=load_private_key_from_pemder(self.key_file, None),
                    cert_registry=chain,
                )
            return self._signer


def _pem_or_der(data: bytes) -> list[bytes]:
    if asn1_pem.detect(data):
        return [der for _, _, der in asn1_pem.unarmor(data, multiple=True)]
    return [data]


class ValidationData:
    """The validation context of the seal's validation data: the trust roots and CRL files,
    read once per process and read again when a CRL file changes. A context fixes its
    validation time when it is made, so one is used for `max_age` seconds at most; within that
    it keeps the certificate paths and revocation checks it has done."""

    def __init__(
        self, trust_roots: Sequence[str], crl_files: Sequence[str], max_age: float = 300.0
    ) -> None:
        self.trust_roots, self.crl_files, self.max_age = (
            tuple(trust_roots),
            tuple(crl_files),
            max_age,
        )
        self._context: ValidationContext | None = None
        self._made = 0.0
        self._stamp: tuple[float, ...] = ()
        self._lock = threading.Lock()

    def _files_stamp(self) -> tuple[float, ...]:
        return tuple(
            os.stat(f).st_mtime if os.path.exists(f) else -1.0
            for f in (*self.trust_roots, *self.crl_files)
        )

    def context(self) -> ValidationContext:
        with self._lock:
            stamp = self._files_stamp()
            now = time.monotonic()
            if self._context is None or stamp != self._stamp or now - self._made > self.max_age:
                roots = [
                    asn1_x509.Certificate.load(der)
                    for f in self.trust_roots
                    for der in _pem_or_der(Path(f).read_bytes())
                ]
                crls = [
                    asn1_crl.CertificateList.load(der)
                    for f in self.crl_files
                    if os.path.exists(f)
                    for der in _pem_or_der(Path(f).read_bytes())
                ]
                self._context = ValidationContext(
                    trust_roots=roots,
                    crls=crls,
                    allow_fetching=False,
                    revocation_mode="hard-fail",
                )
                self._stamp, self._made = stamp, now
            return self._context


class VietnameseFont(FontEngineFactory):
    """pyHanko's TrueType font engine over DejaVu Sans, prepared once per process: cut to the
    letters a stamp prints (Latin and Vietnamese) and rescaled to 1000 units per em."""

    def __init__(self, font_file: str = FONT_FILE, font_size: int = 7) -> None:
        self.font_file, self.font_size = font_file, font_size
        self._font: bytes | None = None
        self._lock = threading.Lock()

    def font(self) -> bytes:
        with self._lock:
            if self._font is None:
                tt = ttLib.TTFont(self.font_file)
                options = subset.Options()
                options.layout_features = []
                options.drop_tables += ["GPOS", "GSUB", "GDEF", "FFTM"]
                options.notdef_outline = True
                options.name_IDs = ["*"]
                cut = subset.Subsetter(options)
                cut.populate(unicodes=_LETTERS)
                cut.subset(tt)
                if tt["head"].unitsPerEm != 1000:
                    scale_upem(tt, 1000)
                out = io.BytesIO()
                tt.save(out)
                self._font = out.getvalue()
            return self._font

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: Any = None
    ) -> GlyphAccumulator:
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(self.font()),
            font_size=self.font_size,
            obj_stream=obj_stream,
        )


def stamp_style(font: FontEngineFactory) -> TextStampStyle:
    return TextStampStyle(
        stamp_text=STAMP_TEXT,
        text_box_style=TextBoxStyle(font=font, font_size=7, leading=9),
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins(left=5, right=5, top=3, bottom=3),
        ),
        border_width=1,
        border_color=(0.6, 0.1, 0.1),
        background=None,
    )


class HttpTimeStamper(TimeStamper):
    """An RFC 3161 client over one HTTP client per process. pyHanko's HTTPTimeStamper opens an
    aiohttp session for each request, and with it a TLS context that reads the system's CA
    store: 40 ms a request, two requests a B-LTA seal. The request is made in the seal's own
    event loop (sign_pdf runs one per seal), where nothing else waits."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # pyHanko's has no annotations
        self.url = url
        self._client = httpx.Client(timeout=timeout)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            response = self._client.post(
                self.url,
                content=req.dump(),
                headers={"Content-Type": "application/timestamp-query"},
            )
        except httpx.HTTPError as exc:
            raise TimestampRequestError(
                f"the time-stamping authority at {self.url} does not answer ({type(exc).__name__})"
            ) from None
        kind = response.headers.get("Content-Type", "").split(";")[0].strip()
        if response.status_code != 200 or kind != "application/timestamp-reply":
            raise TimestampRequestError(
                f"the time-stamping authority at {self.url} answered HTTP "
                f"{response.status_code} {kind or 'without a content type'}"
            )
        return tsp.TimeStampResp.load(response.content)


class _QuietFetching(logging.Filter):
    """pyHanko warns at each seal that nothing is fetched: that is on purpose here (the
    validation data is the configured roots and CRLs), so the warning says nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fetching is not allowed" not in record.getMessage()


_QUIET_FETCHING = _QuietFetching()


def _signer_name(signer: signers.Signer, fallback: str) -> str:
    cert = signer.signing_cert
    if cert is None:
        return fallback
    subject = cert.subject.native
    return str(subject.get("common_name") or subject.get("organization_name") or fallback)


class PadesSealer:
    def __init__(
        self,
        keys: SealKeys,
        validation: ValidationData | None = None,
        tsa_url: str | None = None,
        font: FontEngineFactory | None = None,
    ) -> None:
        """Without `validation`, the seal is PAdES B-B (no validation data): tests only."""
        self.keys = keys
        self.validation = validation
        self.timestamper = HttpTimeStamper(tsa_url) if tsa_url else None
        if self.timestamper is not None and validation is None:
            raise ValueError("a document time-stamp (B-LTA) needs the validation data (B-LT)")
        self.style = stamp_style(font or VietnameseFont())
        self._lock = threading.Lock()
        logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_QUIET_FETCHING)

    def seal(
        self,
        pdf: bytes,
        document_id: str,
        attachments: Mapping[str, bytes] | None = None,
        *,
        school_id: str,
        school_name: str = "",
        at: datetime | None = None,
    ) -> bytes:
        """The PDF sealed with the school's seal; `attachments` (file name -> bytes) are embedded
        in the revision the seal covers, uncompressed, so that they read as they are (they are
        small JSON). LookupError when the school has no seal."""
        signer = self.keys.signer(school_id, school_name)
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        for name, data in (attachments or {}).items():
            embed.embed_file(
                writer,
                embed.FileSpec(
                    file_spec_string=name,
                    file_name=name,
                    embedded_data=embed.EmbeddedFileObject.from_file_data(
                        writer,
                        data,
                        compress=False,
                        params=embed.EmbeddedFileParams(),
                        mime_type="application/json",
                    ),
                    description="Học bạ số: the signed record / hồ sơ đã ký",
                ),
            )
        context = self.validation.context() if self.validation is not None else None
        meta = signers.PdfSignatureMetadata(
            field_name=SEAL_FIELD,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason=f"Học bạ số {document_id} đã công bố",
            location="Hocba",
            embed_validation_info=context is not None,
            validation_context=context,
            signer_key_usage={"digital_signature"},
            use_pades_lta=self.timestamper is not None,
            timestamp_field_name=TIMESTAMP_FIELD,
            # the DSS in the seal's own revision: B-LT that still covers the whole file
            dss_settings=DSSContentSettings(
                include_vri=False, placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE
            ),
        )
        when = (at or datetime.now(UTC)).astimezone(VIETNAM)
        pdf_signer = signers.PdfSigner(
            meta,
            signer=signer,
            timestamper=self.timestamper,
            stamp_style=self.style,
            new_field_spec=fields.SigFieldSpec(SEAL_FIELD, on_page=-1, box=STAMP_BOX),
        )
        text = {
            "signer": unicodedata.normalize("NFC", _signer_name(signer, school_name)),
            "when": when.strftime("%d/%m/%Y %H:%M:%S (GMT+7)"),
            "document_id": document_id,
        }
        try:
            with self._lock:
                out = pdf_signer.sign_pdf(writer, appearance_text_params=text)
        except SigningError as exc:
            cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
            raise SealRefused(
                f"the seal of school {school_id} did not sign document {document_id}: {exc}{cause}"
            ) from exc
        return bytes(out.getvalue())


RECORD_ATTACHMENT = "hocba-record.json"


def record_attachment(
    document: dict[str, Any],
    document_id: str,
    content_sha256: str,
    signatures: list[dict[str, Any]],
) -> bytes:
    """The record a sealed PDF carries, in the shape of publishing's document answer: its
    `record_version` and `school_year` are the signed document's own (the renderer is not told
    them otherwise), and left out when the document has none."""
    record: dict[str, Any] = {"document_id": document_id}
    version = document.get("record_version")
    if isinstance(version, int) and not isinstance(version, bool):
        record["record_version"] = version
    year = document.get("school_year")
    if isinstance(year, str):
        record["school_year"] = year
    record |= {
        "content_sha256": content_sha256,
        "signatures": signatures,
        "document": document,
    }
    return json.dumps(record, ensure_ascii=False, indent=1).encode()


class SealingRenderer:
    """Renders with WeasyPrint, then seals the PDF (PAdES) with the seal of the record's school
    (`document["school"]["school_id"]`), its record attached."""

    def __init__(self, renderer: Any, sealer: PadesSealer) -> None:
        self.renderer, self.sealer = renderer, sealer

    def render(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> bytes:
        school = document.get("school")
        school_id = school.get("school_id") if isinstance(school, dict) else None
        if not isinstance(school_id, str) or not school_id:
            raise LookupError(f"document {document_id} names no school: it cannot be sealed")
        name = school.get("name") if isinstance(school, dict) else None
        return self.sealer.seal(
            self.renderer.render(document, document_id, content_sha256, signatures),
            document_id,
            {
                RECORD_ATTACHMENT: record_attachment(
                    document, document_id, content_sha256, signatures
                )
            },
            school_id=school_id,
            school_name=name if isinstance(name, str) else "",
        )
