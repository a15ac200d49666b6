"""After everything else the end-to-end run did: no log line, no trace attribute, no dead-letter
header and no answer of a public endpoint carries a student's personal ID number, date of birth or
parent's name. Runs last (pytest takes the files in name order; this one sorts after the others).

The personal data looked for is every student the run sent, read back from the records ingest topic.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from hocba_contracts import TOPICS
from hocba_contracts.topics import RECORDS_INGEST
from hocba_devstack.stack import Stack
from hocba_devstack.testing import read_all

pytestmark = pytest.mark.e2e
SIGNED_IN = 5
"""Parents who sign in and read the portal (every record is checked on the public pages)."""


def personal_data(messages: list[Any]) -> dict[str, set[str]]:
    """What the run sent that no public answer may show. A parent whose synthetic name is also a
    student's, a teacher's or a principal's (names are drawn from short lists) is left out: that name
    is shown for the student or the signer."""
    found: dict[str, set[str]] = {
        "citizen ids": set(),
        "dates of birth": set(),
        "parents' names": set(),
    }
    shown_names: set[str] = set()
    for m in messages:
        try:
            body = json.loads(m.value)
        except ValueError:
            continue
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            continue
        for person in (
            data,
            data.get("principal"),
            data.get("homeroom_teacher"),
            *data.get("subject_teachers", ()),
        ):
            if isinstance(person, dict) and person.get("full_name"):
                shown_names.add(person["full_name"])
        if "citizen_id" not in data:
            continue
        if isinstance(data.get("citizen_id"), str) and len(data["citizen_id"]) == 12:
            found["citizen ids"].add(data["citizen_id"])
        born = str(data.get("date_of_birth", ""))
        if len(born) == 10:
            found["dates of birth"] |= {born, f"{born[8:10]}/{born[5:7]}/{born[0:4]}"}
        found["parents' names"] |= {
            p["full_name"] for p in data.get("parents", []) if p.get("full_name")
        }
    found["parents' names"] -= shown_names
    assert found["parents' names"], "the run sent parents to look for"
    return found


def leaks(text: str, secrets: dict[str, set[str]]) -> list[str]:
    return [
        f"{kind}: {value[:4]}…"
        for kind, values in secrets.items()
        for value in values
        if value in text
    ]


async def test_no_log_trace_dead_letter_or_public_answer_holds_a_personal_id_a_date_of_birth_or_a_parent(
    stack: Stack,
) -> None:
    sent = await read_all(stack.kafka_bootstrap, RECORDS_INGEST.name)
    secrets = personal_data(sent)
    assert len(secrets["citizen ids"]) >= 40, "the run must have sent students to look for"
    problems: list[str] = []

    log_dir = Path(stack.state_dir) / "log"
    for path in sorted(log_dir.iterdir()):
        if path.name in ("broker.log", "database.log"):
            continue  # the stand-ins' own output (memory-only broker, database server), not Hocba's
        for found in leaks(path.read_text(errors="replace"), secrets):
            problems.append(f"{path.name}: {found}")

    spans = [json.loads(line) for line in stack.spans_file.read_text().splitlines() if line.strip()]
    assert spans, "the run traced its requests"
    attributes = json.dumps(
        [{"name": s["name"], "attributes": s["attributes"]} for s in spans], ensure_ascii=False
    )
    problems += [f"trace: {f}" for f in leaks(attributes, secrets)]

    for spec in TOPICS:
        for message in await read_all(stack.kafka_bootstrap, spec.dead_letter):
            headers = " ".join(v.decode(errors="replace") for _, v in message.headers or [])
            problems += [f"{spec.dead_letter} header: {f}" for f in leaks(headers, secrets)]

    # The public side, for every student whose record the run published.
    published = [
        body["data"]
        for m in await read_all(stack.kafka_bootstrap, "hocba.publishing.events")
        if (body := json.loads(m.value))["type"] == "hocba.publishing.record_published"
    ]
    assert published, "the run published records"
    lookup = stack.url("lookup")
    async with httpx.AsyncClient(timeout=30) as http:
        pages = [await http.get(lookup + "/")]
        for i, record in enumerate(published):
            student = record["document"]["student"]
            document_id = record["document_id"]
            school = record["document"]["school"]["school_id"]
            pages += [
                await http.get(f"{lookup}/api/documents/{document_id}"),
                await http.get(f"{lookup}/verify/{document_id}"),
            ]
            if i >= SIGNED_IN:  # the sign-in's rate limit counts per client: a few parents do
                continue
            issued = await http.post(
                f"{lookup}/api/students/{record['student_id']}/access-code",
                params={"format": "notice"},
                headers=stack.headers("school_admin", school, f"{school}-QT"),
            )
            assert issued.status_code == 200
            code = re.findall(r'<p class="code">([^<]+)</p>', issued.text)[0]
            async with httpx.AsyncClient(timeout=30) as parent:
                signed_in = await parent.post(
                    lookup + "/api/session",
                    json={
                        "citizen_id": student["citizen_id"],
                        "date_of_birth": student["date_of_birth"],
                        "access_code": code,
                    },
                )
                assert signed_in.status_code == 200
                pages += [
                    issued,
                    signed_in,
                    await parent.get(lookup + "/api/session/records"),
                    await parent.get(lookup + "/hoc-ba"),
                ]
        for response in pages:
            problems += [
                f"{response.request.method} {response.request.url.path}: {f}"
                for f in leaks(response.text, secrets)
            ]
    assert not problems, "personal data leaked:\n" + "\n".join(sorted(set(problems))[:50])
