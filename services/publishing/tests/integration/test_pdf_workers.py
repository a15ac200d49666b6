"""PDFs rendered after publication, on the local broker and database: eagerly by the render worker
over a pool of processes, every PDF once; lazily at the first download; and a worker killed
mid-render (a real process, SIGKILLed while it holds the render) loses nothing: once its claim
lapses, the next asker renders the PDF, once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually  # noqa: E402
from hocba_publishing.bootstrap import Publishing, build  # noqa: E402
from hocba_publishing.config import PublishingSettings  # noqa: E402
from publishing_fixtures import SCHOOL_ID, STUDENT_NAME, signed_record  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("publishing-render-pki"))
    p.create()
    return p


@pytest.fixture
async def stopped(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Callable[..., Any]]:
    """Start publishing with these settings; stopped after the test."""
    made: list[Publishing] = []

    async def make(**extra: Any) -> Publishing:
        svc = build(
            PublishingSettings(
                **local_infra.settings(mongo_database=unique_db("publishing"), **extra),
                trust_roots=[str(pki.root_file)],
            )
        )
        await svc.runtime.start()
        made.append(svc)
        return svc

    yield make
    for svc in made:
        await svc.runtime.stop()


async def test_eager_workers_render_every_pdf_once_over_a_pool_of_processes(
    stopped: Callable[..., Any], pki: DevPKI
) -> None:
    publishing: Publishing = await stopped(pdf_render="eager", pdf_render_processes=2)
    docs = [await publishing.service.publish(signed_record(pki)) for _ in range(6)]
    ids = [d.document_id for d in docs if d is not None]
    db = publishing.runtime.mongo.db

    async def all_rendered() -> bool:
        return await db.pdfs.count_documents({"_id": {"$in": ids}}) == len(ids)

    await eventually(all_rendered, timeout=90)
    assert publishing.rendering.rendered == len(ids), "each PDF rendered once"
    for document_id in ids:
        kept = await publishing.rendering.pdfs.get(document_id)
        assert kept is not None and kept.pdf.startswith(b"%PDF")
    assert await db.pdf_renders.count_documents({}) == 0, "every claim released"


async def test_lazy_rendering_waits_for_the_first_download_and_keeps_it(
    stopped: Callable[..., Any], pki: DevPKI, local_infra: LocalInfra
) -> None:
    publishing: Publishing = await stopped(pdf_render="lazy")
    doc = await publishing.service.publish(signed_record(pki))
    assert doc is not None

    # the service has moved on (its publication is logged), and no PDF was rendered for it
    async def logged() -> bool:
        return await publishing.log.log_index(doc.document_id) is not None

    await eventually(logged, timeout=30)
    assert await publishing.rendering.pdfs.get(doc.document_id) is None
    assert await publishing.runtime.mongo.db.pdf_renders.count_documents({}) == 0
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=publishing.app),
        base_url="http://p",
        headers=local_infra.headers("principal", SCHOOL_ID, "HT-P"),
    ) as http:
        first = await http.get(doc.pdf_path)
        second = await http.get(doc.pdf_path)
    assert first.status_code == second.status_code == 200 and first.content == second.content
    pdftotext = await asyncio.to_thread(
        subprocess.run,
        ["pdftotext", "-", "-"],
        input=first.content,
        capture_output=True,
        check=True,
    )
    text = pdftotext.stdout.decode()
    assert STUDENT_NAME in text
    assert publishing.rendering.rendered == 1


KILLED_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from hocba_runtime.mongo import Mongo
    from hocba_publishing.adapters.mongo_publishing import MongoPdfStore, MongoPublishingReader
    from hocba_publishing.application.use_cases import PdfRendering

    class Stuck:
        async def render(self, *args):
            print("rendering", flush=True)
            await asyncio.Event().wait()  # never done: killed first

    async def main():
        mongo = Mongo(sys.argv[1], sys.argv[2])
        rendering = PdfRendering(
            MongoPublishingReader(mongo), MongoPdfStore(mongo), Stuck(), claim_seconds=1.0
        )
        await rendering.pdf(sys.argv[3])

    asyncio.run(main())
    """
)


async def test_a_worker_killed_mid_render_loses_nothing_and_the_pdf_is_rendered_once(
    stopped: Callable[..., Any], pki: DevPKI, local_infra: LocalInfra
) -> None:
    publishing: Publishing = await stopped(pdf_render="lazy")
    doc = await publishing.service.publish(signed_record(pki))
    assert doc is not None
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_WORKER,
        local_infra.mongo_uri,
        publishing.runtime.mongo.db.name,
        doc.document_id,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
        assert line.strip() == b"rendering"
        claim = await publishing.runtime.mongo.db.pdf_renders.find_one({"_id": doc.document_id})
        assert claim is not None, "the killed worker held the render"
        os.kill(worker.pid, signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), timeout=10)
    finally:
        if worker.returncode is None:
            worker.kill()
    kept = await asyncio.wait_for(publishing.rendering.pdf(doc.document_id), timeout=30)
    assert kept is not None and kept.pdf.startswith(b"%PDF")
    assert publishing.rendering.rendered == 1
    assert await publishing.runtime.mongo.db.pdfs.count_documents({"_id": doc.document_id}) == 1
