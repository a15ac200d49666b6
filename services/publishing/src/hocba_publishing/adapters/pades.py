"""PAdES seal on the official PDF (pyHanko): an invisible signature of the publishing authority
over the whole file, so that any PDF reader shows whether the file was changed since it was
published. Attachments or edits made after the seal show as modifications.

Keys: the development PKI's public-duty CA issues the publisher's organizational certificate
(development only); production points `pki_dir` at the authority's certificate and key, or an HSM.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from hocba_devstack.devpki import DevPKI
from pyhanko.keys import load_certs_from_pemder, load_private_key_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore


class PadesSealer:
    def __init__(self, pki_dir: str, seal_id: str, seal_name: str, issue_on_demand: bool) -> None:
        self.pki = DevPKI(Path(pki_dir))
        self.seal_id, self.seal_name, self.issue_on_demand = seal_id, seal_name, issue_on_demand
        self._signer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._signer is None:
                key_file = self.pki.path("signers", f"{self.seal_id}.key.pem")
                if not key_file.exists():
                    if not self.issue_on_demand:
                        raise LookupError(f"no PDF seal key for {self.seal_id} in {self.pki.dir}")
                    self.pki.create()
                    self.pki.issue(self.seal_id, self.seal_name, organization=True)
                certs = list(load_certs_from_pemder([str(self.pki.path("signers", f"{self.seal_id}.pem"))]))
                self._signer = signers.SimpleSigner(
                    signing_cert=certs[0], signing_key=load_private_key_from_pemder(str(key_file), None),
                    cert_registry=SimpleCertificateStore.from_certs(certs[1:]),
                )
            return self._signer

    def seal(self, pdf: bytes, document_id: str) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        meta = signers.PdfSignatureMetadata(
            field_name="HocbaSeal", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
            reason=f"Học bạ số {document_id} đã công bố", location="Hocba",
        )
        return bytes(signers.sign_pdf(writer, meta, signer=self._load()).getvalue())


class SealingRenderer:
    """Renders with WeasyPrint, then seals the PDF (PAdES)."""

    def __init__(self, renderer: Any, sealer: PadesSealer) -> None:
        self.renderer, self.sealer = renderer, sealer

    def render(self, document: dict[str, Any], document_id: str, content_sha256: str, signatures: list[dict[str, Any]]) -> bytes:
        return self.sealer.seal(self.renderer.render(document, document_id, content_sha256, signatures), document_id)
