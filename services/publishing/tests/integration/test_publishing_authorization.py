"""Who may read published documents, endpoint by endpoint, as the policy table says (the matrix is
generated from the app's route table: an endpoint without a policy or an example fails it); the
scope checks behind it; the PDF's caching; the audit of every read."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    OTHER_SCHOOL_SYSTEM,
    TEST_SCHOOL_SYSTEM,
    Call,
    Identity,
    LocalInfra,
    authorization_matrix,
    eventually,
    failed_cells,
)
from hocba_publishing.bootstrap import Publishing, build  # noqa: E402
from hocba_publishing.config import PublishingSettings  # noqa: E402
from hocba_publishing.entrypoints.policies import POLICIES  # noqa: E402
from motor.motor_asyncio import AsyncIOMotorCollection  # noqa: E402
from publishing_fixtures import (  # noqa: E402
    HOMEROOM_TEACHER,
    PRINCIPAL,
    SCHOOL_ID,
    STUDENT_NAME,
    SUBJECT_TEACHER,
    serve_record_books,
    signed_record,
)

log = logging.getLogger(__name__)

pytestmark = pytest.mark.integration
OTHER_SCHOOL = "OTHER-TH-1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("publishing-auth-pki"))
    p.create()
    return p


@pytest.fixture
async def publishing(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Publishing]:
    settings = PublishingSettings(
        **local_infra.settings(mongo_database=unique_db("publishing")),
        trust_roots=[str(pki.root_file)],
        document_id_secret="integration-document-id-secret-0123",
    )
    svc = build(settings)
    serve_record_books(svc.app, settings.lookup_public_url)
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()


@pytest.fixture
async def http(publishing: Publishing) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=publishing.app), base_url="http://p"
    ) as client:
        yield client


async def test_every_endpoint_answers_each_role_of_the_own_school_another_school_and_nobody_as_its_policy_says(
    publishing: Publishing, local_infra: LocalInfra, pki: DevPKI
) -> None:
    doc = await publishing.service.publish(signed_record(pki))
    assert doc is not None

    async def checkpointed() -> bool:
        checkpoint = await publishing.log.latest_checkpoint()
        return checkpoint is not None and checkpoint.size >= 1

    await eventually(checkpointed)
    calls = {
        "GET /health/live": Call("/health/live"),
        "GET /health/ready": Call("/health/ready"),
        "GET /openapi.json": Call("/openapi.json"),
        "GET /docs": Call("/docs"),
        "GET /docs/oauth2-redirect": Call("/docs/oauth2-redirect"),
        "GET /audit/trail": Call("/audit/trail", params={"school_id": SCHOOL_ID}),
        "GET /documents/{document_id}": Call(f"/documents/{doc.document_id}"),
        "GET /documents/{document_id}/pdf": Call(f"/documents/{doc.document_id}/pdf"),
        "GET /records/{record_id}/documents": Call(f"/records/{doc.record_id}/documents"),
        "GET /students/{student_id}/book": Call(
            f"/students/{doc.student_id}/book", params={"level": "primary"}
        ),
        "POST /documents/{document_id}/revocation": Call(
            f"/documents/{doc.document_id}/revocation", json={"reason": "Cấp nhầm học bạ"}
        ),
        "GET /log/checkpoint": Call("/log/checkpoint"),
        "GET /log/key": Call("/log/key"),
        "GET /log/entries/{index}": Call("/log/entries/0"),
        "GET /log/proof/inclusion": Call("/log/proof/inclusion", params={"index": 0, "size": 1}),
        "GET /log/proof/consistency": Call("/log/proof/consistency", params={"old": 1, "new": 1}),
        "GET /log/documents/{document_id}": Call(f"/log/documents/{doc.document_id}"),
    }
    own = {
        "school_system": Identity("school_system", client_id=TEST_SCHOOL_SYSTEM),
        "teacher": Identity("teacher", SCHOOL_ID, HOMEROOM_TEACHER),
        "principal": Identity("principal", SCHOOL_ID, PRINCIPAL),
        "school_admin": Identity("school_admin", SCHOOL_ID, f"{SCHOOL_ID}-QT"),
        "operator": Identity("operator"),
        "auditor": Identity("auditor"),
        "service": Identity("service", client_id="hocba-lookup"),
    }
    other = {
        "school_system": Identity("school_system", client_id=OTHER_SCHOOL_SYSTEM),
        "teacher": Identity("teacher", OTHER_SCHOOL, HOMEROOM_TEACHER),
        "principal": Identity("principal", OTHER_SCHOOL, f"{OTHER_SCHOOL}-HT"),
        "school_admin": Identity("school_admin", OTHER_SCHOOL, f"{OTHER_SCHOOL}-QT"),
    }
    cells = await authorization_matrix(
        publishing.app, POLICIES, calls, own, other, local_infra.issuer
    )
    assert not failed_cells(cells), failed_cells(cells)
    assert {
        c.caller for c in cells if c.endpoint == "GET /documents/{document_id}" and c.status == 200
    } == {
        "teacher (own school)",
        "principal (own school)",
        "school_admin (own school)",
        "service (own school)",
    }
    revocations = {
        c.caller: c.status
        for c in cells
        if c.endpoint == "POST /documents/{document_id}/revocation"
    }
    assert revocations.pop("principal (own school)") == 200, "only the school's principal revokes"
    assert revocations == {
        "anonymous": 401,
        **{f"{role} (own school)": 403 for role in own if role != "principal"},
        **{f"{role} (other school)": 403 for role in other},
    }
    log.info(f"publishing authorization matrix: {len(cells)} calls over {len(calls)} endpoints")


async def test_anonymous_gets_401_and_another_school_403_on_every_document_endpoint(
    publishing: Publishing, http: httpx.AsyncClient, local_infra: LocalInfra, pki: DevPKI
) -> None:
    doc = await publishing.service.publish(signed_record(pki))
    assert doc is not None
    paths = [
        f"/documents/{doc.document_id}",
        f"/documents/{doc.document_id}/pdf",
        f"/records/{doc.record_id}/documents",
        f"/students/{doc.student_id}/book?level=primary",
    ]
    for path in paths:
        anonymous = await http.get(path)
        assert anonymous.status_code == 401, path
        assert (
            anonymous.headers["www-authenticate"].startswith("Bearer")
            and STUDENT_NAME not in anonymous.text
        )
        forged = await http.get(path, headers={"authorization": "Bearer not-a-token"})
        assert forged.status_code == 401, path
        for role, staff in (
            ("teacher", HOMEROOM_TEACHER),
            ("principal", PRINCIPAL),
            ("school_admin", "QT"),
        ):
            refused = await http.get(path, headers=local_infra.headers(role, OTHER_SCHOOL, staff))
            assert refused.status_code == 403, (path, role)
            assert (
                "another school" in refused.json()["error"]["message"]
                and STUDENT_NAME not in refused.text
            )
        # A teacher of the same school who does not teach the class is refused too.
        elsewhere = await http.get(
            path, headers=local_infra.headers("teacher", SCHOOL_ID, "GV-P-OTHER-CLASS")
        )
        assert (
            elsewhere.status_code == 403 and "do not teach" in elsewhere.json()["error"]["message"]
        )
        for staff in (HOMEROOM_TEACHER, SUBJECT_TEACHER):
            mine = await http.get(path, headers=local_infra.headers("teacher", SCHOOL_ID, staff))
            assert mine.status_code == 200, (path, staff)
        operator = await http.get(path, headers=local_infra.headers("operator"))
        assert operator.status_code == 403


async def test_an_unknown_document_or_record_is_404_for_an_authorized_caller(
    http: httpx.AsyncClient, local_infra: LocalInfra
) -> None:
    lookup = local_infra.headers("service")
    for path in (
        "/documents/HB-2024-0000-0000-0000",
        "/documents/HB-2024-0000-0000-0000/pdf",
        "/records/HS00000000.2024-2025/documents",
    ):
        missing = await http.get(path, headers=lookup)
        assert (
            missing.status_code == 404 and missing.json()["error"]["code"] == "document_not_found"
        ), path
    assert (await http.get("/documents/HB-2024-0000-0000-0000")).status_code == 401


async def test_the_pdf_is_not_kept_by_shared_caches_and_an_unchanged_one_costs_a_304(
    publishing: Publishing, http: httpx.AsyncClient, local_infra: LocalInfra, pki: DevPKI
) -> None:
    doc = await publishing.service.publish(signed_record(pki))
    assert doc is not None
    principal = local_infra.headers("principal", SCHOOL_ID, PRINCIPAL)
    pdf = await http.get(doc.pdf_path, headers=principal)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    cache = pdf.headers["cache-control"]
    assert (
        "public" not in cache
        and "immutable" not in cache
        and "private" in cache
        and "no-cache" in cache
    )
    kept = await publishing.rendering.pdfs.get(doc.document_id)
    assert kept is not None and pdf.content == kept.pdf
    assert pdf.headers["etag"] == f'"{kept.sha256}"'
    assert pdf.headers["content-disposition"] == f'inline; filename="{doc.document_id}.pdf"'
    again = await http.get(
        doc.pdf_path, headers={**principal, "if-none-match": pdf.headers["etag"]}
    )
    assert (
        again.status_code == 304
        and again.content == b""
        and again.headers["etag"] == pdf.headers["etag"]
    )
    assert "public" not in again.headers["cache-control"]
    # The 304 is an answer too: it needs the same right as the PDF.
    assert (
        await http.get(doc.pdf_path, headers={"if-none-match": pdf.headers["etag"]})
    ).status_code == 401
    other = local_infra.headers("principal", OTHER_SCHOOL, f"{OTHER_SCHOOL}-HT")
    assert (
        await http.get(doc.pdf_path, headers={**other, "if-none-match": pdf.headers["etag"]})
    ).status_code == 403


async def test_every_read_of_a_document_is_in_the_audit_trail_with_who_read_it(
    publishing: Publishing, http: httpx.AsyncClient, local_infra: LocalInfra, pki: DevPKI
) -> None:
    doc = await publishing.service.publish(signed_record(pki))
    assert doc is not None
    read = await http.get(
        f"/documents/{doc.document_id}",
        headers=local_infra.headers("teacher", SCHOOL_ID, SUBJECT_TEACHER),
    )
    assert read.status_code == 200
    refused = await http.get(
        f"/documents/{doc.document_id}",
        headers=local_infra.headers("teacher", OTHER_SCHOOL, "GV-X"),
    )
    assert refused.status_code == 403
    trail: AsyncIOMotorCollection[dict[str, Any]] = publishing.runtime.audit.entries

    def entry(status: int) -> Awaitable[dict[str, Any] | None]:
        return trail.find_one(
            {
                "action": "GET /documents/{document_id}",
                "outcome": status,
                "params.document_id": doc.document_id,
            }
        )

    seen = await eventually(lambda: entry(200))
    assert seen["actor"]["id"] == SUBJECT_TEACHER and seen["actor"]["roles"] == ["teacher"]
    assert seen["targets"]["school_ids"] == [SCHOOL_ID] and seen["targets"]["student_ids"] == [
        doc.student_id
    ]
    assert seen["kind"] == "read"
    denied = await eventually(lambda: entry(403))
    assert denied["actor"]["id"] == "GV-X" and denied["actor"]["school_id"] == OTHER_SCHOOL


async def test_only_the_principal_of_the_records_school_revokes_it_in_their_own_name_and_it_is_audited(
    publishing: Publishing, http: httpx.AsyncClient, local_infra: LocalInfra, pki: DevPKI
) -> None:
    doc = await publishing.service.publish(signed_record(pki))
    assert doc is not None
    path = f"/documents/{doc.document_id}/revocation"
    body = {"reason": "Cấp nhầm học bạ của học sinh khác"}
    assert (await http.post(path, json=body)).status_code == 401
    forged = await http.post(path, json=body, headers={"authorization": "Bearer not-a-token"})
    assert forged.status_code == 401
    for role, staff in (
        ("teacher", HOMEROOM_TEACHER),
        ("school_admin", f"{SCHOOL_ID}-QT"),
        ("operator", None),
        ("service", None),
    ):
        refused = await http.post(
            path, json=body, headers=local_infra.headers(role, SCHOOL_ID if staff else None, staff)
        )
        assert refused.status_code == 403, role
        assert refused.json()["error"]["message"] == "your role may not use this endpoint"
    elsewhere = await http.post(
        path,
        json=body,
        headers=local_infra.headers("principal", OTHER_SCHOOL, f"{OTHER_SCHOOL}-HT"),
    )
    assert elsewhere.status_code == 403 and "another school" in elsewhere.json()["error"]["message"]
    assert STUDENT_NAME not in elsewhere.text and doc.student_id not in elsewhere.text
    assert await publishing.service.reader.revocation(doc.document_id) is None, (
        "no refused call revoked it"
    )

    principal = local_infra.headers("principal", SCHOOL_ID, PRINCIPAL)
    missing = await http.post(
        "/documents/HB-2024-0000-0000-0000/revocation", json=body, headers=principal
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "document_not_found"
    # A principal acts as themself: the token's staff id is who revoked it, whatever the body says.
    done = await http.post(path, json={**body, "revoked_by": "HT-SOMEONE-ELSE"}, headers=principal)
    assert done.status_code == 200, done.text
    assert done.json()["revocation"]["revoked_by"] == PRINCIPAL
    assert STUDENT_NAME not in done.text, "the answer carries the revocation, not the record"

    trail: AsyncIOMotorCollection[dict[str, Any]] = publishing.runtime.audit.entries

    def entry(status: int) -> Awaitable[dict[str, Any] | None]:
        return trail.find_one(
            {
                "action": "POST /documents/{document_id}/revocation",
                "outcome": status,
                "params.document_id": doc.document_id,
            }
        )

    seen = await eventually(lambda: entry(200))
    assert seen["actor"]["id"] == PRINCIPAL and seen["actor"]["roles"] == ["principal"]
    assert seen["targets"]["school_ids"] == [SCHOOL_ID]
    assert seen["targets"]["student_ids"] == [doc.student_id]
    denied = await eventually(lambda: entry(403))
    assert denied["actor"]["school_id"] in (OTHER_SCHOOL, SCHOOL_ID)


def test_no_endpoint_changes_a_published_document() -> None:
    """A published record cannot be altered through any API: publishing serves reads, and one
    write, the revocation, which is a record of its own beside the document (tested above to leave
    the document and its PDF as they were)."""
    app = build(PublishingSettings(environment="development")).app
    endpoints = POLICIES.endpoints(app)
    assert "GET /documents/{document_id}" in endpoints
    writes = sorted(e for e in endpoints if not e.startswith(("GET ", "HEAD ", "OPTIONS ")))
    assert writes == ["POST /documents/{document_id}/revocation"], writes
