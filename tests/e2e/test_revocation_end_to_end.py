"""End to end, as a school's principal revokes a published record and a verifier then checks it:
the revocation, made over publishing's HTTP API, reaches the lookup's verification through the
outbox and the publishing topic within seconds, while the published document and its PDF stay
exactly as they were published."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from hocba_devstack import smoke
from hocba_devstack.stack import Stack
from hocba_devstack.testing import eventually

log = logging.getLogger(__name__)

pytestmark = pytest.mark.e2e

REASON = "Cấp nhầm học bạ; nhà trường đã cấp lại bản đúng"
SHOWN_WITHIN = 15.0
"""Seconds the lookup has to show a revocation (the relay polls and is notified on commit; the
lookup consumes the topic as it comes)."""


async def test_a_revocation_over_publishings_api_shows_in_the_lookups_verification_within_seconds(
    stack: Stack,
) -> None:
    result = await smoke.run_smoke(stack.kafka_bootstrap, stack.url("lookup"), timeout=180)
    document_id = result.document_id
    assert result.document["status"] == "published"
    assert result.document["verification"]["valid"] is True
    publishing, lookup = stack.url("publishing"), stack.url("lookup")
    principal = stack.headers("principal", smoke.SMOKE_SCHOOL, f"{smoke.SMOKE_SCHOOL}-HT")

    async with httpx.AsyncClient(timeout=10, headers=principal) as staff:
        pdf_before = (await staff.get(f"{publishing}/documents/{document_id}/pdf")).content

        async def settled() -> dict[str, Any] | None:
            """The document's view once its PDF is rendered and its publication logged."""
            view: dict[str, Any] = (await staff.get(f"{publishing}/documents/{document_id}")).json()
            return view if view["pdf_sha256"] and view["log_index"] is not None else None

        before = await eventually(settled, timeout=30)
        assert before["status"] == "published" and pdf_before.startswith(b"%PDF")
        # Another school's principal may not revoke it.
        foreign = stack.headers("principal", "079-TH-NBK", "079-TH-NBK-HT")
        refused = await staff.post(
            f"{publishing}/documents/{document_id}/revocation",
            json={"reason": REASON},
            headers=foreign,
        )
        assert refused.status_code == 403

        started = time.monotonic()
        done = await staff.post(
            f"{publishing}/documents/{document_id}/revocation", json={"reason": REASON}
        )
        assert done.status_code == 200, done.text
        revocation = done.json()["revocation"]
        assert revocation["revoked_by"] == f"{smoke.SMOKE_SCHOOL}-HT"

        async with httpx.AsyncClient(timeout=10) as verifier:

            async def shown() -> dict[str, Any] | None:
                r = await verifier.get(f"{lookup}/api/documents/{document_id}")
                body: dict[str, Any] = r.json()
                return body if body.get("status") == "revoked" else None

            seen = await eventually(shown, timeout=SHOWN_WITHIN, interval=0.05)
            took = time.monotonic() - started
            log.info(f"revocation shown by the lookup {took:.2f} s after the principal's request")
            assert seen["verification"]["valid"] is False and seen["verification"]["revoked"]
            assert seen["revocation"]["reason"] == REASON
            assert seen["revocation"]["revoked_at"] == revocation["revoked_at"]
            page = await verifier.get(f"{lookup}/verify/{document_id}")
            assert page.status_code == 200
            for expected in ("✘ Đã bị thu hồi", REASON, seen["revocation"]["revoked_on"]):
                assert expected in page.text, expected
            assert "✔ Hợp lệ" not in page.text

        twice = await staff.post(
            f"{publishing}/documents/{document_id}/revocation", json={"reason": "Lần hai"}
        )
        assert twice.status_code == 409 and f"by {smoke.SMOKE_SCHOOL}-HT" in twice.text

        after = (await staff.get(f"{publishing}/documents/{document_id}")).json()
        assert after["status"] == "revoked" and after["revocation"] == revocation
        changed = {"status", "revocation"}
        assert {k: v for k, v in after.items() if k not in changed} == {
            k: v for k, v in before.items() if k not in changed
        }, "the published document is as it was published"
        assert (await staff.get(f"{publishing}{after['pdf_path']}")).content == pdf_before
