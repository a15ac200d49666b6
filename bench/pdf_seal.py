"""What sealing one official PDF costs, before and after the school's seal (issue 15).

    .venv/bin/python bench/pdf_seal.py [--seals 30]

One rendered record (WeasyPrint, once), then sealed `seals` times in one process, warm (the first
seal of each sealer, which loads the token session, the font and the validation context, is
timed apart):
- `baseline`: the seal as it was, an invisible PAdES B-B signature with one software key from
  PEM files (pyHanko's SimpleSigner), its record attached.
- `school B-LT`: the school's key in a SoftHSM2 token, the visible Vietnamese stamp, the chain
  and CRLs embedded (PadesSealer as make_renderer builds it).
- `school B-LTA`: the same with the development TSA on loopback: a signature time-stamp and a
  document time-stamp, two round trips to the TSA a seal.
Results: printed (median and 90th percentile, milliseconds), and written to
bench/results/pdf_seal.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hocba_devstack.devpki import DevPKI
from hocba_devstack.localstack import free_port
from hocba_devstack.tsa import TimeStampAuthority, serve
from hocba_publishing.adapters.pades import RECORD_ATTACHMENT, SoftwareSealKeys
from hocba_publishing.adapters.render_pool import make_sealer
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer
from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

sys.path.insert(0, str(Path(__file__).parents[1] / "services" / "publishing" / "tests"))
from publishing_fixtures import document  # noqa: E402
from seal_fixtures import provision_seal, seal_settings, softhsm_token  # noqa: E402


def baseline(keys: SoftwareSealKeys) -> Callable[[bytes, bytes], bytes]:
    """The seal before issue 15: one software key, invisible, B-B."""

    def seal(pdf: bytes, record: bytes) -> bytes:
        signer = keys.signer("", "")
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        embed.embed_file(
            writer,
            embed.FileSpec(
                file_spec_string=RECORD_ATTACHMENT,
                file_name=RECORD_ATTACHMENT,
                embedded_data=embed.EmbeddedFileObject.from_file_data(
                    writer, record, compress=False, params=embed.EmbeddedFileParams()
                ),
            ),
        )
        meta = signers.PdfSignatureMetadata(
            field_name="HocbaSeal", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
        )
        return bytes(signers.sign_pdf(writer, meta, signer=signer).getvalue())

    return seal


def timed(seal: Callable[[], bytes], n: int) -> dict[str, float]:
    start = time.perf_counter()
    seal()
    first = time.perf_counter() - start
    runs = []
    for _ in range(n):
        start = time.perf_counter()
        seal()
        runs.append(time.perf_counter() - start)
    runs.sort()
    return {
        "first_ms": round(first * 1000, 1),
        "median_ms": round(statistics.median(runs) * 1000, 1),
        "p90_ms": round(runs[int(0.9 * (len(runs) - 1))] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seals", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hocba-seal-bench-"))
    os.environ.pop("SOFTHSM2_CONF", None)
    softhsm_token(work / "hsm")
    pki = DevPKI(work / "pki")
    pki.create()
    doc = document()
    school = doc["school"]["school_id"]
    provision_seal(pki, pki.signers.dir, school, doc["school"]["name"])
    pki.issue("BASELINE-SEAL", "Hệ thống học bạ số Hocba", organization=True)
    software = SoftwareSealKeys(
        str(pki.signers.certificate_file("BASELINE-SEAL")),
        str(pki.signers.key_file("BASELINE-SEAL")),
    )
    document_id = "HB-2024-BENC-H000-0001"
    pdf = WeasyPrintRenderer("http://lookup.example").render(doc, document_id, "a" * 64, [])
    record = json.dumps(doc, ensure_ascii=False).encode()
    attachments = {RECORD_ATTACHMENT: record}

    port = free_port()
    server = serve(TimeStampAuthority(pki.tsa_identity()), port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lt = make_sealer(seal_settings(pki, pki.signers.dir))
    lta = make_sealer(seal_settings(pki, pki.signers.dir, f"http://127.0.0.1:{port}/"))
    old = baseline(software)
    results = {
        "baseline (software key, invisible, B-B)": timed(lambda: old(pdf, record), args.seals),
        "school seal in the token, stamp, B-LT": timed(
            lambda: lt.seal(pdf, document_id, attachments, school_id=school), args.seals
        ),
        "school seal in the token, stamp, B-LTA (dev TSA)": timed(
            lambda: lta.seal(pdf, document_id, attachments, school_id=school), args.seals
        ),
    }
    server.shutdown()
    for name, figures in results.items():
        print(
            f"{name:52} first {figures['first_ms']:7.1f} ms   median {figures['median_ms']:6.1f} ms"
            f"   p90 {figures['p90_ms']:6.1f} ms"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "pdf_seal.json").write_text(
        json.dumps({"seals": args.seals, "cpus": os.cpu_count(), "results": results}, indent=1)
        + "\n"
    )


if __name__ == "__main__":
    main()
