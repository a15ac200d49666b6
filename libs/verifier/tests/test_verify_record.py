"""hocba-verify on a JSON record: a genuine record in the log verifies (exit 0); a changed document,
signature, log entry or checkpoint fails (exit 1); a superseded or revoked one is valid but not
current (exit 2); a missing option or file is a usage error (exit 3). Records are signed with a
real development PKI and logged in a real RFC 9162 tree under an Ed25519-signed checkpoint."""

from __future__ import annotations

import base64
import copy
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from hocba_devstack.devpki import PERSONAL_CA, DevPKI  # noqa: E402
from hocba_trust import logentry  # noqa: E402
from hocba_trust.canonical import canonical_bytes, sha256_hex  # noqa: E402
from hocba_trust.cms import sign_detached  # noqa: E402
from hocba_trust.note import Signer  # noqa: E402
from verifier_fixtures import (  # noqa: E402
    AT,
    CITIZEN_ID,
    DOCUMENT_ID,
    NEWER_ID,
    ORIGIN,
    STUDENT_NAME,
    Log,
    filler,
    outcomes,
    record,
    run,
    run_json,
    signatures,
    write,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("verifier-pki"))
    p.create()
    return p


@pytest.fixture
def logged(pki: DevPKI) -> tuple[dict[str, Any], Log]:
    """A record published among others, carrying its log bundle as the lookup would attach it."""
    rec = record(pki)
    log = Log()
    filler(log, 6)
    log.publish(rec)
    filler(log, 4)
    rec["log"] = log.bundle(DOCUMENT_ID)
    return rec, log


def verify(
    pki: DevPKI, rec: dict[str, Any], log: Log, tmp_path: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    path = write(tmp_path / "record.json", rec)
    return run_json(path, "--trust-root", str(pki.root_file), "--log-key", log.vkey, *extra)


def test_a_genuine_logged_record_is_valid_and_current(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    path = write(tmp_path / "record.json", rec)
    code, text = run(
        path, "--trust-root", str(pki.root_file), "--log-key", log.vkey, "--log-origin", ORIGIN
    )
    assert code == 0, text
    for line in (
        "✔ Nội dung toàn vẹn / Content intact",
        "✔ Chữ ký hợp lệ / Signatures valid",
        "✔ Giáo viên chủ nhiệm / homeroom teacher: Đỗ Thị Ngọc Diệp",
        "✔ Hiệu trưởng / principal: Lâm Quốc Hùng",
        "✔ Có trong sổ công khai / In the transparency log",
        "mục / entry #6",
        "✔ Còn hiệu lực / Current",
        "HỢP LỆ VÀ CÒN HIỆU LỰC / VALID AND CURRENT (mã thoát / exit 0)",
        f"Học bạ / Record {DOCUMENT_ID} · năm học / school year 2024-2025",
    ):
        assert line in text, line
    assert CITIZEN_ID not in text and STUDENT_NAME not in text and "HS07900001" not in text


def test_the_json_answer_says_each_check_and_no_personal_data(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    code, answer = verify(pki, rec, log, tmp_path)
    assert (code, answer["verdict"], answer["exit_code"]) == (0, "valid", 0)
    assert outcomes(answer) == {
        "content": "pass",
        "signatures": "pass",
        "log": "pass",
        "status": "pass",
    }
    assert answer["record"] == {
        "document_id": DOCUMENT_ID,
        "record_version": 1,
        "school_year": "2024-2025",
        "school": "Trường Tiểu học Đinh Tiên Hoàng",
        "source": "json",
    }
    [signatures] = [c for c in answer["checks"] if c["check"] == "signatures"]
    assert [s["role"] for s in signatures["data"]["signatures"]] == [
        "homeroom_teacher",
        "principal",
    ]
    dumped = json.dumps(answer, ensure_ascii=False)
    assert CITIZEN_ID not in dumped and STUDENT_NAME not in dumped


def test_a_bulk_signature_verifies_through_its_signed_batch(pki: DevPKI, tmp_path: Path) -> None:
    rec = record(pki, bulk=True)
    log = Log()
    log.publish(rec)
    rec["log"] = log.bundle(DOCUMENT_ID)
    code, answer = verify(pki, rec, log, tmp_path)
    assert code == 0, answer
    statement = rec["signatures"][1]["batch"]["statement"]
    statement["signer_role"] = "homeroom_teacher"  # a batch signed for another role
    code, answer = verify(pki, rec, log, tmp_path)
    assert code == 1 and outcomes(answer)["signatures"] == "fail"


def _flip_in_string(rec: dict[str, Any]) -> None:
    subject = rec["document"]["subjects"][0]
    subject["score"] = 9.0


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        (_flip_in_string, {"content", "signatures", "log"}),
        (
            lambda r: r["document"]["school"].update(name="Trường Tiểu học Đinh Tiên Hoàng."),
            {"content", "signatures", "log"},
        ),
        (lambda r: r.update(content_sha256="0" * 64), {"content"}),
    ],
    ids=["score", "one-character", "stated-hash"],
)
def test_a_changed_document_fails(
    pki: DevPKI,
    logged: tuple[dict[str, Any], Log],
    tmp_path: Path,
    change: Any,
    failed: set[str],
) -> None:
    rec, log = logged
    change(rec)
    code, answer = verify(pki, rec, log, tmp_path)
    assert code == 1 and answer["verdict"] == "invalid"
    assert {k for k, v in outcomes(answer).items() if v == "fail"} == failed


def test_one_flipped_byte_of_a_signature_fails(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    der = bytearray(base64.b64decode(rec["signatures"][1]["cms"]))
    der[-1] ^= 0x01  # the last byte of the ECDSA signature value
    rec["signatures"][1]["cms"] = base64.b64encode(bytes(der)).decode()
    code, answer = verify(pki, rec, log, tmp_path)
    assert code == 1
    assert outcomes(answer) == {
        "content": "pass",
        "signatures": "fail",
        "log": "pass",
        "status": "pass",
    }
    [signatures] = [c for c in answer["checks"] if c["check"] == "signatures"]
    assert (
        "✘ Hiệu trưởng / principal: Chữ ký không khớp với chứng thư số" in signatures["details"][0]
    )


def test_signatures_of_an_untrusted_root_or_a_revoked_certificate_fail(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    other = DevPKI(tmp_path / "other-pki")
    other.create()
    code, text = run(
        write(tmp_path / "r.json", rec), "--trust-root", str(other.root_file), "--log-key", log.vkey
    )
    assert code == 1 and "Chứng thư số không do tổ chức được tin cậy cấp" in text
    teacher = pki.load_identity("GV-V")
    assert teacher is not None
    crl = pki.write_crl(
        PERSONAL_CA, [(teacher.certificate.serial_number, datetime.now(UTC) - timedelta(days=1))]
    )
    try:
        code, answer = verify(pki, rec, log, tmp_path, "--crl", str(crl))
    finally:
        pki.write_crl(PERSONAL_CA, [])
    assert code == 1 and outcomes(answer)["signatures"] == "fail"
    assert "đã bị thu hồi" in json.dumps(answer, ensure_ascii=False)
    code, _ = verify(pki, rec, log, tmp_path, "--crl", str(pki.crl_file(PERSONAL_CA)))
    assert code == 0


def test_a_missing_or_relabelled_signature_fails(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    only_teacher = copy.deepcopy(rec)
    only_teacher["signatures"] = only_teacher["signatures"][:1]
    code, text = run(
        write(tmp_path / "r.json", only_teacher),
        "--trust-root",
        str(pki.root_file),
        "--log-key",
        log.vkey,
    )
    assert code == 1 and "Thiếu chữ ký của Hiệu trưởng / missing the principal's signature" in text
    relabelled = copy.deepcopy(rec)
    relabelled["signatures"][1] = dict(
        relabelled["signatures"][0], role="principal", signer_id="HT-V"
    )
    code, text = run(
        write(tmp_path / "r.json", relabelled),
        "--trust-root",
        str(pki.root_file),
        "--log-key",
        log.vkey,
    )
    assert code == 1 and "the certificate belongs to another signer than HT-V" in text


@pytest.mark.parametrize(
    "forge",
    [
        lambda b: b["entries"][0]["entry"].update(content_sha256="d" * 64),
        lambda b: b["entries"][0]["entry"].update(record_version=2),
        lambda b: b["entries"][0].update(index=b["entries"][0]["index"] + 1),
        lambda b: b["entries"][0]["proof"].reverse(),
        lambda b: b.update(checkpoint=b["checkpoint"].replace("\n11\n", "\n12\n")),
    ],
    ids=["entry-content", "entry-version", "index", "proof", "checkpoint-size"],
)
def test_a_forged_log_bundle_fails(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path, forge: Any
) -> None:
    rec, log = logged
    forge(rec["log"])
    code, answer = verify(pki, rec, log, tmp_path)
    assert code == 1
    assert outcomes(answer)["bundle"] == "fail" and "log" not in outcomes(answer)
    assert "Gói sổ công khai bị giả mạo hoặc hỏng" in json.dumps(answer, ensure_ascii=False)


def test_a_checkpoint_signed_by_another_key_or_for_another_log_fails(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    impostor = Log(Signer.generate(ORIGIN))
    impostor.entries, impostor.store = log.entries, log.store
    rec["log"] = impostor.bundle(DOCUMENT_ID)
    code, answer = verify(pki, rec, log, tmp_path)
    assert code == 1 and outcomes(answer)["bundle"] == "fail"
    rec["log"] = log.bundle(DOCUMENT_ID)
    code, answer = verify(pki, rec, log, tmp_path, "--log-origin", "hocba.test/another-log")
    assert code == 1 and outcomes(answer)["bundle"] == "fail"


def test_a_bundle_of_another_document_or_other_content_fails(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    rec["log"] = log.bundle("HB-2024-FILL-0002-XXXX")
    code, text = run(
        write(tmp_path / "r.json", rec), "--trust-root", str(pki.root_file), "--log-key", log.vkey
    )
    assert code == 1
    assert "✘ Không có trong sổ công khai / Not in the transparency log" in text
    assert "HB-2024-FILL-0002-XXXX" in text
    other = Log(log.signer)
    other.append(logentry.published(DOCUMENT_ID, 1, "e" * 64, AT))  # the id, with other content
    rec["log"] = other.bundle(DOCUMENT_ID)
    code, text = run(
        write(tmp_path / "r.json", rec), "--trust-root", str(pki.root_file), "--log-key", log.vkey
    )
    assert code == 1 and "The log records other content for this document" in text
    assert "Còn hiệu lực" not in text


def test_a_superseded_or_revoked_record_is_valid_but_not_current(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    newer = record(pki, version=2, document_id=NEWER_ID)
    log.append(
        logentry.published(NEWER_ID, 2, newer["content_sha256"], AT, supersedes=DOCUMENT_ID),
        logentry.superseded(DOCUMENT_ID, NEWER_ID, 2, AT, reason="Sửa điểm Tiếng Việt"),
    )
    status = write(tmp_path / "status.json", log.bundle(DOCUMENT_ID))
    proof = write(tmp_path / "proof.json", log.consistency(11))
    code, answer = verify(pki, rec, log, tmp_path, "--status", status, "--consistency-proof", proof)
    assert code == 2 and answer["verdict"] == "not_current", answer
    [st] = [c for c in answer["checks"] if c["check"] == "status"]
    assert st["data"] == {
        "status": "superseded",
        "superseded_by": NEWER_ID,
        "record_version": 2,
        "reason": "Sửa điểm Tiếng Việt",
    }
    assert outcomes(answer)["consistency"] == "pass"
    log.append(logentry.revoked(DOCUMENT_ID, "Cấp nhầm học bạ", AT))
    status = write(tmp_path / "status.json", log.bundle(DOCUMENT_ID))
    proof = write(tmp_path / "proof.json", log.consistency(11))
    code, text = run(
        write(tmp_path / "r.json", rec),
        "--trust-root",
        str(pki.root_file),
        "--log-key",
        log.vkey,
        "--status",
        status,
        "--consistency-proof",
        proof,
    )
    assert code == 2, text
    assert "⚠ Đã bị thu hồi / Revoked" in text and "lý do / reason: Cấp nhầm học bạ" in text
    assert "HỢP LỆ NHƯNG KHÔNG CÒN HIỆU LỰC / VALID BUT NOT CURRENT (mã thoát / exit 2)" in text
    # the newer version, verified on its own, is current and says what it corrects
    newer["log"] = log.bundle(NEWER_ID)
    code, text = run(
        write(tmp_path / "n.json", newer), "--trust-root", str(pki.root_file), "--log-key", log.vkey
    )
    assert code == 0 and f"đính chính / corrects {DOCUMENT_ID}" in text


def test_the_server_s_own_status_is_not_believed(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    rec["status"], rec["revocation"] = "revoked", {"reason": "x"}
    code, _ = verify(pki, rec, log, tmp_path)
    assert code == 0
    log.append(logentry.revoked(DOCUMENT_ID, "Cấp nhầm học bạ", AT))
    rec["status"], rec["revocation"] = "published", None
    rec["log"] = log.bundle(DOCUMENT_ID)
    code, _ = verify(pki, rec, log, tmp_path)
    assert code == 2


def test_a_status_bundle_with_a_revocation_dropped_is_still_revoked_by_the_other(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    """Every verified bundle counts: a fresher one that leaves the revocation out does not undo it."""
    rec, log = logged
    log.append(logentry.revoked(DOCUMENT_ID, "Cấp nhầm học bạ", AT))
    rec["log"] = log.bundle(DOCUMENT_ID)
    filler(log, 2)
    fresher = log.bundle(DOCUMENT_ID)
    fresher["entries"] = [e for e in fresher["entries"] if e["entry"]["kind"] != "revoked"]
    code, answer = verify(
        pki,
        rec,
        log,
        tmp_path,
        "--status",
        write(tmp_path / "s.json", fresher),
        "--consistency-proof",
        write(tmp_path / "p.json", log.consistency(12)),
    )
    assert code == 2 and outcomes(answer)["status"] == "not_current"


def test_a_kept_checkpoint_must_be_extended_by_the_log(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    kept = write(tmp_path / "kept.checkpoint", log.checkpoint(8))
    good = write(tmp_path / "proof.json", log.consistency(8, 11))
    code, answer = verify(
        pki, rec, log, tmp_path, "--checkpoint", kept, "--consistency-proof", good
    )
    assert code == 0 and outcomes(answer)["consistency"] == "pass", answer
    forged = log.consistency(8, 11)
    forged["proof"][0] = logentry.b64(b"\x00" * 32)
    code, answer = verify(
        pki,
        rec,
        log,
        tmp_path,
        "--checkpoint",
        kept,
        "--consistency-proof",
        write(tmp_path / "f.json", forged),
    )
    assert code == 1 and outcomes(answer)["consistency"] == "fail"
    code, answer = verify(pki, rec, log, tmp_path, "--checkpoint", kept)
    assert code == 3 and outcomes(answer)["consistency"] == "input_error"
    # a kept checkpoint of a forked log (same size, another root) fails without any proof
    fork = Log(log.signer)
    filler(fork, 11)
    code, answer = verify(
        pki, rec, log, tmp_path, "--checkpoint", write(tmp_path / "k.txt", fork.checkpoint())
    )
    assert code == 1 and outcomes(answer)["consistency"] == "fail"
    # and one the log did not sign is refused as forged
    impostor = Log(Signer.generate(ORIGIN))
    filler(impostor, 8)
    code, answer = verify(
        pki, rec, log, tmp_path, "--checkpoint", write(tmp_path / "i.txt", impostor.checkpoint())
    )
    assert code == 1 and outcomes(answer)["checkpoint"] == "fail"


def test_a_saved_checkpoint_is_the_freshest_verified_one_and_serves_next_time(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    saved = tmp_path / "saved.checkpoint"
    code, _ = verify(pki, rec, log, tmp_path, "--save-checkpoint", str(saved))
    assert code == 0 and saved.read_text() == rec["log"]["checkpoint"]
    filler(log, 3)
    status = write(tmp_path / "status.json", log.bundle(DOCUMENT_ID))
    proof = write(tmp_path / "proof.json", log.consistency(11, 14))
    code, _ = verify(
        pki,
        rec,
        log,
        tmp_path,
        "--checkpoint",
        str(saved),
        "--status",
        status,
        "--consistency-proof",
        proof,
        "--save-checkpoint",
        str(saved),
    )
    assert code == 0 and saved.read_text() == log.checkpoint()
    rec["document"]["subjects"][0]["score"] = 1.0
    before = saved.read_text()
    code, _ = verify(pki, rec, log, tmp_path, "--save-checkpoint", str(saved))
    assert code == 1 and saved.read_text() == before


def test_the_status_command_reads_a_documents_standing_from_the_log_alone(
    logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    _, log = logged
    bundle = write(tmp_path / "b.json", log.bundle(DOCUMENT_ID))
    code, text = run("status", DOCUMENT_ID, "--bundle", bundle, "--log-key", log.vkey)
    assert code == 0 and "✔ Còn hiệu lực / Current" in text, text
    log.append(logentry.revoked(DOCUMENT_ID, "Cấp nhầm học bạ", AT))
    bundle = write(tmp_path / "b.json", log.bundle(DOCUMENT_ID))
    code, _ = run("status", DOCUMENT_ID, "--bundle", bundle, "--log-key", log.vkey)
    assert code == 2
    code, _ = run("status", "HB-2024-NOT-LOGGED", "--bundle", bundle, "--log-key", log.vkey)
    assert code == 1


def test_usage_and_input_errors_exit_3(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    path = write(tmp_path / "r.json", rec)
    root = str(pki.root_file)
    assert run(path, "--log-key", log.vkey)[0] == 3  # no trust root
    assert run(path, "--trust-root", root)[0] == 3  # no log key
    assert run(path, "--trust-root", root, "--log-key", "not-a-key")[0] == 3
    assert run(path, "--trust-root", root, "--log-key", log.vkey, "--lookup", "tra-cuu.vn")[0] == 3
    assert run(path, "--trust-root", root, "--log-key", log.vkey, "--lookup", "http://[::1")[0] == 3
    assert run(str(tmp_path / "missing.json"), "--trust-root", root, "--log-key", log.vkey)[0] == 3
    assert run(path, "--trust-root", str(tmp_path / "none.pem"), "--log-key", log.vkey)[0] == 3
    assert (
        run(write(tmp_path / "x.json", "{not json"), "--trust-root", root, "--log-key", log.vkey)[0]
        == 3
    )
    assert (
        run(write(tmp_path / "y.json", {"a": 1}), "--trust-root", root, "--log-key", log.vkey)[0]
        == 3
    )
    del rec["log"]
    code, answer = run_json(
        write(tmp_path / "no-log.json", rec), "--trust-root", root, "--log-key", log.vkey
    )
    assert code == 3 and outcomes(answer)["log"] == "input_error"
    assert outcomes(answer)["signatures"] == "pass"
    key_file = write(tmp_path / "log.vkey", log.vkey + "\n")
    code, _ = run(path, "--trust-root", root, "--log-key", key_file)
    assert code == 0


def test_help_names_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--help")[0] == 0
    out = capsys.readouterr().out
    for code in (
        "0  valid and current",
        "1  a check failed",
        "2  valid, but superseded",
        "3  usage",
        "4  the lookup",
    ):
        assert code in out


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, as the keys and indexes that lead to it."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_changed_part_of_a_record_or_its_bundle_fails_and_nothing_crashes(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path, data: st.DataObject
) -> None:
    """Hostile input: any value of the record or its bundle replaced by any JSON value (NaN
    included) gives an answer, never a traceback, and never `valid` unless nothing that counts
    changed."""
    original, log = logged
    rec = copy.deepcopy(original)
    places = [p for p in _paths(rec) if p]
    where = data.draw(st.sampled_from(places))
    value = data.draw(JSON_VALUES)
    node: Any = rec
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    code, _ = verify(pki, rec, log, tmp_path)
    assert code in (0, 1, 3)
    if code == 0:  # only what nothing relies on may differ: the server's own view, or what the
        # report takes from the verified certificate and signature instead (name, signing time)
        unchecked = where[0] in ("record_id", "status", "school_year") or (
            where[0] == "signatures" and where[-1] in ("signer_name", "signed_at")
        )
        ignored_version = where == ("record_version",) and type(value) is not int
        assert unchecked or ignored_version or rec == original, (where, value)


def test_a_subject_teachers_signature_is_checked_against_the_subjects_teachers(
    pki: DevPKI, tmp_path: Path
) -> None:
    """Secondary school (TT22/2021 Art. 16): each subject's teacher signs; a signer the record
    does not name as a subject's teacher fails, and a malformed subject list cannot crash it."""
    teacher = pki.load_identity("GV-V-TOAN") or pki.issue("GV-V-TOAN", "Phạm Minh Khôi")

    def signed(subjects: Any) -> tuple[int, str]:
        rec = record(pki)
        rec["document"]["subjects"] = subjects
        content = canonical_bytes(rec["document"])
        rec["content_sha256"] = sha256_hex(content)
        rec["signatures"] = signatures(pki, rec["document"])
        rec["signatures"].insert(
            0,
            {
                "role": "subject_teacher",
                "signer_id": "GV-V-TOAN",
                "signer_name": "Phạm Minh Khôi",
                "signed_at": AT.isoformat(),
                "cms": base64.b64encode(sign_detached(content, teacher)).decode(),
                "batch": None,
            },
        )
        log = Log()
        log.publish(rec)
        rec["log"] = log.bundle(DOCUMENT_ID)
        path = write(tmp_path / "r.json", rec)
        return run(path, "--trust-root", str(pki.root_file), "--log-key", log.vkey)

    code, text = signed([{"subject_code": "TOAN", "teacher_id": "GV-V-TOAN"}])
    assert code == 0 and "✔ Giáo viên bộ môn / subject teacher: Phạm Minh Khôi" in text, text
    code, text = signed([{"subject_code": "TOAN", "teacher_id": "GV-OTHER"}])
    assert code == 1 and "signer GV-V-TOAN is not the one the record names (GV-OTHER)" in text
    code, _ = signed(5)  # names no subject teacher: a valid extra signature does no harm
    assert code == 0
