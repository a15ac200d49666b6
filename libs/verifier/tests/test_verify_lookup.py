"""hocba-verify --lookup against a real HTTP server: the freshest bundle and the consistency
proofs are fetched and verified, never believed; an unreachable lookup exits 4."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_trust import logentry  # noqa: E402
from verifier_fixtures import (  # noqa: E402
    AT,
    DOCUMENT_ID,
    Log,
    filler,
    fixed,
    log_routes,
    lookup_server,
    outcomes,
    record,
    run,
    run_json,
    write,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("verifier-lookup-pki"))
    p.create()
    return p


@pytest.fixture
def logged(pki: DevPKI) -> tuple[dict[str, Any], Log]:
    rec = record(pki)
    log = Log()
    filler(log, 4)
    log.publish(rec)
    rec["log"] = log.bundle(DOCUMENT_ID)  # at size 5, as published
    filler(log, 7)
    return rec, log


def verify(
    pki: DevPKI, rec: dict[str, Any], log: Log, tmp_path: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    path = write(tmp_path / "record.json", rec)
    return run_json(path, "--trust-root", str(pki.root_file), "--log-key", log.vkey, *extra)


def test_the_lookup_gives_the_fresh_status_with_its_proof_of_consistency(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    with lookup_server(log_routes(log)) as url:
        code, answer = verify(pki, rec, log, tmp_path, "--lookup", url)
        assert code == 0, answer
        assert outcomes(answer)["consistency"] == "pass"
        log.append(logentry.revoked(DOCUMENT_ID, "Cấp nhầm học bạ", AT))
        kept = write(tmp_path / "kept.checkpoint", log.checkpoint(3))
        code, text = run(
            write(tmp_path / "r.json", rec),
            "--trust-root",
            str(pki.root_file),
            "--log-key",
            log.vkey,
            "--lookup",
            url,
            "--checkpoint",
            kept,
        )
    assert code == 2, text
    assert "⚠ Đã bị thu hồi / Revoked" in text and "from the log now" in text
    assert "--checkpoint (3) → hồ sơ / the record (5)" in text


def test_a_forged_answer_of_the_lookup_fails(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    honest = log_routes(log)

    def hides_nothing_but_lies(path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        status, body = honest(path, query)
        answer = json.loads(body)
        if path.startswith("/log/documents/"):
            answer["entries"][0]["entry"]["content_sha256"] = "f" * 64
        return status, json.dumps(answer).encode()

    def forged_proof(path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        status, body = honest(path, query)
        answer = json.loads(body)
        if "proof" in answer:
            answer["proof"][0] = logentry.b64(b"\x01" * 32)
        return status, json.dumps(answer).encode()

    def other_sizes(path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        status, body = honest(path, query)
        answer = json.loads(body)
        if "proof" in answer:
            answer["old_size"] = 1
        return status, json.dumps(answer).encode()

    for route, check in (
        (hides_nothing_but_lies, "bundle"),
        (forged_proof, "consistency"),
        (other_sizes, "consistency"),
    ):
        with lookup_server(route) as url:
            code, answer = verify(pki, rec, log, tmp_path, "--lookup", url)
        assert code == 1 and outcomes(answer)[check] == "fail", (route.__name__, answer)


def test_a_lookup_that_does_not_answer_exits_4(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        code, answer = verify(pki, rec, log, tmp_path, "--lookup", closed, "--timeout", "5")
    assert code == 4 and answer["verdict"] == "unreachable"
    assert outcomes(answer)["lookup"] == "unreachable"
    assert outcomes(answer)["signatures"] == "pass"

    for route in (fixed(503, b"{}"), fixed(200, b"<html>maintenance</html>"), fixed(200, b"[]")):
        with lookup_server(route) as url:
            code, _ = verify(pki, rec, log, tmp_path, "--lookup", url)
        assert code == 4


def test_a_revocation_outweighs_an_unreachable_lookup(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    """The log only grows: a verified revocation stands even when fresher news cannot be had."""
    rec, log = logged
    log.append(logentry.revoked(DOCUMENT_ID, "Cấp nhầm học bạ", AT))
    rec["log"] = log.bundle(DOCUMENT_ID)

    with lookup_server(fixed(503, b"{}")) as url:
        code, _ = verify(pki, rec, log, tmp_path, "--lookup", url)
    assert code == 2


def test_a_document_the_lookup_does_not_know_is_not_in_the_log(
    pki: DevPKI, logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    rec, log = logged
    stranger = Log(log.signer)
    filler(stranger, 3)
    with lookup_server(log_routes(stranger)) as url:
        carried = rec.pop("log")
        code, answer = verify(pki, rec, log, tmp_path, "--lookup", url)
        assert code == 1 and outcomes(answer)["lookup"] == "fail"
        rec["log"] = carried  # its own bundle proves inclusion; the status cannot be refreshed
        code, answer = verify(pki, rec, log, tmp_path, "--lookup", url)
    assert code == 4 and outcomes(answer)["log"] == "pass"


def test_the_consistency_command_fetches_its_proof_from_the_lookup(
    logged: tuple[dict[str, Any], Log], tmp_path: Path
) -> None:
    _, log = logged
    with lookup_server(log_routes(log)) as url:
        code, text = run(
            "consistency",
            write(tmp_path / "old", log.checkpoint(4)),
            write(tmp_path / "new", log.checkpoint()),
            "--lookup",
            url,
            "--log-key",
            log.vkey,
        )
    assert code == 0, text
    other = Log(log.signer)  # the same first leaves, then others: its proofs are not this log's
    filler(other, 12)
    with lookup_server(log_routes(other)) as url:
        code, _ = run(
            "consistency",
            write(tmp_path / "old", log.checkpoint(4)),
            write(tmp_path / "new", log.checkpoint()),
            "--lookup",
            url,
            "--log-key",
            log.vkey,
        )
    assert code == 1
