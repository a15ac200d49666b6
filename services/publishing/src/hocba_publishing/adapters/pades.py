"""PAdES seal on the official PDF (pyHanko): an invisible signature of the publishing authority
over the whole file, so that any PDF reader shows whether the file was changed since it was
published. Attachments or edits made after the seal show as modifications.

Keys: a certificate file (the seal's certificate, then its chain) and its key file; in the local
stack the development PKI's public-duty CA issues them (hocba_devstack), in production they are
the publishing authority's.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from hocba_trust.keys import load_identity
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder
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

    def seal(self, pdf: bytes, document_id: str) -> bytes:
        signer = self._load()
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        meta = signers.PdfSignatureMetadata(
            field_name="HocbaSeal",
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason=f"Học bạ số {document_id} đã công bố",
            location="Hocba",
        )
        return bytes(signers.sign_pdf(writer, meta, signer=signer).getvalue())


class SealingRenderer:
    """Renders with WeasyPrint, then seals the PDF (PAdES)."""

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
            self.renderer.render(document, document_id, content_sha256, signatures), document_id
        )
