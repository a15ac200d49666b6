"""hocba-verify on the official PDF: a PDF sealed by publishing's SealingRenderer verifies through
the record it carries (hocba-record.json) and its PAdES seal; a byte flipped in the attached
record, an attachment added after the seal, or a PDF without its record does not."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_publishing.adapters.pades import (  # noqa: E402
    PadesSealer,
    SealingRenderer,
    SoftwareSealKeys,
)
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer  # noqa: E402
from pyhanko.pdf_utils import embed  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from verifier_fixtures import (  # noqa: E402
    CITIZEN_ID,
    DOCUMENT_ID,
    STUDENT_NAME,
    Log,
    filler,
    outcomes,
    record,
    run,
    run_json,
    write,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("verifier-pdf-pki"))
    p.create()
    p.issue("HOCBA-SEAL", "Sở Giáo dục và Đào tạo", organization=True)
    return p


@pytest.fixture(scope="module")
def published(pki: DevPKI) -> tuple[bytes, dict[str, Any], Log]:
    """A record as publishing renders and seals it, and the log that has its publication."""
    rec = record(pki)
    renderer = SealingRenderer(
        WeasyPrintRenderer("http://lookup.example"),
        PadesSealer(
            SoftwareSealKeys(
                str(pki.signers.certificate_file("HOCBA-SEAL")),
                str(pki.signers.key_file("HOCBA-SEAL")),
            )
        ),
    )
    pdf = renderer.render(rec["document"], DOCUMENT_ID, rec["content_sha256"], rec["signatures"])
    log = Log()
    filler(log, 3)
    log.publish(rec)
    return pdf, rec, log


def verify(
    pki: DevPKI, pdf: bytes, log: Log, tmp_path: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    (tmp_path / "record.pdf").write_bytes(pdf)
    bundle = write(tmp_path / "bundle.json", log.bundle(DOCUMENT_ID))
    return run_json(
        str(tmp_path / "record.pdf"),
        "--trust-root",
        str(pki.root_file),
        "--log-key",
        log.vkey,
        "--bundle",
        bundle,
        *extra,
    )


def test_a_sealed_pdf_verifies_by_the_record_it_carries(
    pki: DevPKI, published: tuple[bytes, dict[str, Any], Log], tmp_path: Path
) -> None:
    pdf, _, log = published
    (tmp_path / "record.pdf").write_bytes(pdf)
    code, text = run(
        str(tmp_path / "record.pdf"),
        "--trust-root",
        str(pki.root_file),
        "--log-key",
        log.vkey,
        "--bundle",
        write(tmp_path / "bundle.json", log.bundle(DOCUMENT_ID)),
    )
    assert code == 0, text
    assert "✔ Dấu niêm phong PDF hợp lệ / PDF seal valid" in text
    assert "HocbaSeal: " in text and "CN=Sở Giáo dục và Đào tạo" in text
    assert "✔ Chữ ký hợp lệ / Signatures valid" in text
    assert CITIZEN_ID not in text and STUDENT_NAME not in text
    code, answer = verify(pki, pdf, log, tmp_path)
    assert outcomes(answer) == {
        "content": "pass",
        "signatures": "pass",
        "seal": "pass",
        "log": "pass",
        "status": "pass",
    }
    assert answer["record"]["source"] == "pdf" and answer["record"]["record_version"] == 1


def test_a_byte_flipped_in_the_attached_record_fails(
    pki: DevPKI, published: tuple[bytes, dict[str, Any], Log], tmp_path: Path
) -> None:
    pdf, _, log = published
    at = pdf.index(b'"score": 10.0')
    assert pdf.count(b'"score": 10.0') == 1  # in the attachment only: the page is compressed
    tampered = bytearray(pdf)
    tampered[at + len('"score": 1')] ^= 0x01  # 10.0 -> 11.0
    code, answer = verify(pki, bytes(tampered), log, tmp_path)
    assert code == 1
    assert {k for k, v in outcomes(answer).items() if v == "fail"} == {
        "content",
        "signatures",
        "seal",
        "log",
    }
    broken = bytearray(pdf)
    broken[pdf.index(b'"document_id"')] ^= 0x7F  # the attachment no longer reads as JSON
    code, answer = verify(pki, bytes(broken), log, tmp_path)
    assert code == 1 and outcomes(answer) == {"record": "fail", "seal": "fail"}


def test_an_attachment_added_after_the_seal_fails(
    pki: DevPKI, published: tuple[bytes, dict[str, Any], Log], tmp_path: Path
) -> None:
    pdf, rec, log = published
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    other = dict(rec, document_id="HB-2024-FILL-0001-XXXX")
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string="hocba-record.json",
            embedded_data=embed.EmbeddedFileObject.from_file_data(
                writer, json.dumps(other).encode(), compress=False
            ),
        ),
    )
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]  # pyHanko leaves write() unannotated
    code, answer = verify(pki, out.getvalue(), log, tmp_path)
    assert code == 1 and outcomes(answer)["seal"] == "fail"
    assert "after it was sealed" in json.dumps(answer)


def test_a_pdf_sealed_by_an_untrusted_key_fails(
    pki: DevPKI, published: tuple[bytes, dict[str, Any], Log], tmp_path: Path
) -> None:
    """The genuine record, signed under the trusted root, in a PDF sealed by a stranger."""
    _, rec, log = published
    stranger = DevPKI(tmp_path / "stranger")
    stranger.create()
    stranger.issue("FAKE-SEAL", "Sở Giáo dục và Đào tạo", organization=True)
    renderer = SealingRenderer(
        WeasyPrintRenderer("http://lookup.example"),
        PadesSealer(
            SoftwareSealKeys(
                str(stranger.signers.certificate_file("FAKE-SEAL")),
                str(stranger.signers.key_file("FAKE-SEAL")),
            )
        ),
    )
    forged = renderer.render(rec["document"], DOCUMENT_ID, rec["content_sha256"], rec["signatures"])
    code, answer = verify(pki, forged, log, tmp_path)
    assert code == 1 and outcomes(answer)["seal"] == "fail"
    assert outcomes(answer)["signatures"] == "pass"


def test_a_pdf_sealed_by_someone_else_under_the_trusted_root_fails_the_publisher_check(
    pki: DevPKI, published: tuple[bytes, dict[str, Any], Log], tmp_path: Path
) -> None:
    """A teacher's certificate chains to the same root: only --publisher tells their seal from
    the publisher's."""
    pdf, rec, log = published
    resealed = SealingRenderer(
        WeasyPrintRenderer("http://lookup.example"),
        PadesSealer(
            SoftwareSealKeys(
                str(pki.signers.certificate_file("GV-V")), str(pki.signers.key_file("GV-V"))
            )
        ),
    ).render(rec["document"], DOCUMENT_ID, rec["content_sha256"], rec["signatures"])
    code, _ = verify(pki, resealed, log, tmp_path)
    assert code == 0  # a valid seal, by whoever it is: the report names them
    code, answer = verify(pki, resealed, log, tmp_path, "--publisher", "HOCBA-SEAL")
    assert code == 1 and outcomes(answer)["seal"] == "fail"
    assert "the seal is not the publisher's" in json.dumps(answer)
    code, _ = verify(pki, pdf, log, tmp_path, "--publisher", "HOCBA-SEAL")
    assert code == 0
    code, _ = verify(pki, pdf, log, tmp_path, "--publisher", "Sở Giáo dục và Đào tạo")
    assert code == 0


def test_a_pdf_without_its_record_is_an_input_error(
    pki: DevPKI, published: tuple[bytes, dict[str, Any], Log], tmp_path: Path
) -> None:
    _, rec, log = published
    unsealed = WeasyPrintRenderer("http://lookup.example").render(
        rec["document"], DOCUMENT_ID, rec["content_sha256"], rec["signatures"]
    )
    code, answer = verify(pki, unsealed, log, tmp_path)
    assert code == 3 and "hocba-record.json" in answer["checks"][0]["message_en"]
    code, answer = verify(pki, b"%PDF-1.7\nnot really a pdf", log, tmp_path)
    assert code == 3 and answer["verdict"] == "input_error"


@pytest.fixture(scope="module")
def published_lta(pki: DevPKI, published: tuple[bytes, dict[str, Any], Log]) -> Iterator[bytes]:
    """The same record sealed PAdES B-LTA, as the local stack seals it: the validation data in
    the seal's revision, then a document time-stamp of the development TSA."""
    import threading

    from hocba_devstack.localstack import free_port
    from hocba_devstack.tsa import TimeStampAuthority, serve
    from hocba_publishing.adapters.pades import ValidationData

    _, rec, _ = published
    port = free_port()
    server = serve(TimeStampAuthority(pki.tsa_identity()), port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    crls = [str(p) for p in sorted((pki.dir / "crl").glob("*.crl.pem"))]
    try:
        yield SealingRenderer(
            WeasyPrintRenderer("http://lookup.example"),
            PadesSealer(
                SoftwareSealKeys(
                    str(pki.signers.certificate_file("HOCBA-SEAL")),
                    str(pki.signers.key_file("HOCBA-SEAL")),
                ),
                ValidationData([str(pki.root_file)], crls),
                f"http://127.0.0.1:{port}/",
            ),
        ).render(rec["document"], DOCUMENT_ID, rec["content_sha256"], rec["signatures"])
    finally:
        server.shutdown()
        server.server_close()


def test_a_b_lta_pdf_verifies_with_its_document_time_stamp_and_a_flipped_byte_fails(
    pki: DevPKI,
    published: tuple[bytes, dict[str, Any], Log],
    published_lta: bytes,
    tmp_path: Path,
) -> None:
    _, _, log = published
    code, answer = verify(pki, published_lta, log, tmp_path, "--publisher", "HOCBA-SEAL")
    assert code == 0, answer
    assert outcomes(answer)["seal"] == "pass"
    details = json.dumps(answer, ensure_ascii=False)
    assert "HocbaTimestamp: dấu thời gian / document time-stamp" in details
    assert "Hocba Dev Time-Stamping Authority" in details
    flipped = bytearray(published_lta)
    flipped[300] ^= 0x01
    code, answer = verify(pki, bytes(flipped), log, tmp_path)
    assert code == 1 and outcomes(answer)["seal"] == "fail"


def test_a_revision_added_after_the_document_time_stamp_fails(
    pki: DevPKI,
    published: tuple[bytes, dict[str, Any], Log],
    published_lta: bytes,
    tmp_path: Path,
) -> None:
    _, _, log = published
    writer = IncrementalPdfFileWriter(io.BytesIO(published_lta))
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string="note.json",
            embedded_data=embed.EmbeddedFileObject.from_file_data(writer, b"{}", compress=False),
        ),
    )
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]  # pyHanko leaves write() unannotated
    code, answer = verify(pki, out.getvalue(), log, tmp_path)
    assert code == 1 and outcomes(answer)["seal"] == "fail"
    assert "after it was sealed" in json.dumps(answer)
