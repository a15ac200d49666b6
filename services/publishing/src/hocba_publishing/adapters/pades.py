"""PAdES seal on the official PDF (pyHanko): an invisible signature of the publishing authority
over the whole file, so that any PDF reader shows whether the file was changed since it was
published. Attachments or edits made after the seal show as modifications.

The sealed PDF carries its record: an attachment `hocba-record.json` (the document, its content
hash and signatures, and its document id: what publishing's `GET /documents/{id}` answers, less the
server's own view), added in the revision the seal signs, so that the offline verifier
(hocba-verify) checks a PDF on its own, and an attachment changed or added later breaks the seal.

Keys: a certificate file (the seal's certificate, then its chain) and its key file; in the local
stack the development PKI's public-duty CA issues them (hocba_devstack), in production they are
the publishing authority's.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hocba_trust.keys import load_identity
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder
from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import CertificateRegistry


class PadesSealer:
    def __init__(self, certificate_file: str, key_file: str) -> None:
        self.certificate_file, self.key_file = certificate_file, key_file
        self._signer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._signer is None:
                try:
                    load_identity(
                        Path(self.certificate_file), Path(self.key_file)
                    )  # the key is the certificate's
                except (OSError, ValueError) as exc:
                    raise LookupError(f"the PDF seal's files do not load: {exc}") from None
                # pyHanko's annotated entry points: the file's bytes, and a registry (a certificate
                # store; no fetcher, so it fetches nothing) filled by register_multiple, where
                # load_certs_from_pemder and SimpleCertificateStore have no annotations
                certs = list(load_certs_from_pemder_data(Path(self.certificate_file).read_bytes()))
                chain = CertificateRegistry()
                chain.register_multiple(certs[1:])
                self._signer = signers.SimpleSigner(
                    signing_cert=certs[0],
                    signing_key=load_private_key_from_pemder(self.key_file, None),
                    cert_registry=chain,
                )
            return self._signer

    def seal(
        self, pdf: bytes, document_id: str, attachments: Mapping[str, bytes] | None = None
    ) -> bytes:
        """The PDF sealed; `attachments` (file name -> bytes) are embedded in the revision the seal
        covers, uncompressed, so that they read as they are (they are small JSON)."""
        signer = self._load()
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
        meta = signers.PdfSignatureMetadata(
            field_name="HocbaSeal",
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason=f"Học bạ số {document_id} đã công bố",
            location="Hocba",
        )
        return bytes(signers.sign_pdf(writer, meta, signer=signer).getvalue())


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
    """Renders with WeasyPrint, then seals the PDF (PAdES) with its record attached."""

    def __init__(self, renderer: Any, sealer: PadesSealer) -> None:
        self.renderer, self.sealer = renderer, sealer

    def render(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> bytes:
        return self.sealer.seal(
            self.renderer.render(document, document_id, content_sha256, signatures),
            document_id,
            {
                RECORD_ATTACHMENT: record_attachment(
                    document, document_id, content_sha256, signatures
                )
            },
        )
