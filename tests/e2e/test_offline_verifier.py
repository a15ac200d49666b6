"""End to end, as a receiving school checks a học bạ it was handed: the official PDF from the
running stack verifies with the offline verifier alone (its embedded record, signatures, seal and
transparency-log entries, against the development root and the log's key); one flipped byte makes
it fail; once the school revokes it, the verifier says revoked from the log, not from the server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from hocba_devstack import smoke
from hocba_devstack.stack import Stack
from hocba_devstack.testing import eventually

pytestmark = pytest.mark.e2e


async def verify(stack: Stack, pdf: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    run = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "hocba_verifier",
            str(pdf),
            "--trust-root",
            str(stack.pki.root_file),
            "--log-key",
            str(stack.state_dir / "log-key.pub"),
            "--publisher",
            smoke.SMOKE_SCHOOL,  # the PDF is sealed by its school's seal
            "--json",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run.returncode, json.loads(run.stdout) if run.stdout.strip() else {"stderr": run.stderr}


async def test_the_official_pdf_verifies_offline_a_flipped_byte_fails_and_a_revocation_shows(
    stack: Stack, tmp_path: Path
) -> None:
    result = await smoke.run_smoke(stack.kafka_bootstrap, stack.url("lookup"), timeout=180)
    document_id = result.document_id
    publishing, lookup = stack.url("publishing"), stack.url("lookup")
    principal = stack.headers("principal", smoke.SMOKE_SCHOOL, f"{smoke.SMOKE_SCHOOL}-HT")
    async with httpx.AsyncClient(timeout=30, headers=principal) as staff:
        pdf = (await staff.get(f"{publishing}/documents/{document_id}/pdf")).content
    good = tmp_path / "hocba.pdf"
    good.write_bytes(pdf)

    async def logged() -> bool:
        async with httpx.AsyncClient(timeout=10) as anybody:
            return (await anybody.get(f"{lookup}/log/documents/{document_id}")).status_code == 200

    await eventually(logged, timeout=30)
    code, report = await verify(stack, good, "--lookup", lookup)
    assert code == 0, report

    # one byte of the embedded record (its content hash), then one of the page itself
    at = pdf.index(b'"content_sha256": "') + len(b'"content_sha256": "')
    for where in (at, len(pdf) // 3):
        flipped = bytearray(pdf)
        flipped[where] ^= 0x01
        bad = tmp_path / f"flipped-{where}.pdf"
        bad.write_bytes(bytes(flipped))
        code, report = await verify(stack, bad, "--lookup", lookup)
        assert code == 1, (where, report)

    async with httpx.AsyncClient(timeout=10, headers=principal) as staff:
        done = await staff.post(
            f"{publishing}/documents/{document_id}/revocation",
            json={"reason": "Cấp nhầm học bạ"},
        )
        assert done.status_code == 200, done.text

    async def revoked() -> tuple[int, dict[str, Any]] | None:
        code, report = await verify(stack, good, "--lookup", lookup)
        return (code, report) if code == 2 else None

    code, report = await eventually(revoked, timeout=30, interval=0.5)
    assert code == 2
