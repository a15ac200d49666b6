"""A published document's PDF is rendered once, whoever asks and however many ask at once; a claim
left by a worker killed mid-render lapses and the next one renders; a render that fails leaves
nothing kept and the next asker renders it (PdfRendering over the fake store)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_publishing.adapters.trust import TrustListVerifier  # noqa: E402
from hocba_publishing.application.use_cases import PdfRendering, PublishingService  # noqa: E402
from hocba_trust.cms import TrustList  # noqa: E402
from publishing_fixtures import FakeStore, signed_record  # noqa: E402

pytestmark = pytest.mark.unit


class SlowRenderer:
    """Renders once `go` is set (until then every asker overlaps the render in progress); counts
    what it rendered."""

    def __init__(self, fail: int = 0) -> None:
        self.rendered: list[str] = []
        self.fail = fail
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        self.go.set()

    async def render(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> bytes:
        self.started.set()
        await self.go.wait()
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the renderer ran out of memory")
        self.rendered.append(document_id)
        return f"%PDF {document_id} {content_sha256}".encode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("pub-render-pki"))
    p.create()
    return p


async def _published(pki: DevPKI, store: FakeStore) -> str:
    service = PublishingService(
        store,
        store,
        TrustListVerifier(TrustList.from_pem_files([str(pki.root_file)])),
        id_key=b"unit-test-document-id-secret-0123456789",
    )
    doc = await service.publish(signed_record(pki))
    assert doc is not None and store.pdfs == {}, "a publication does not wait for its PDF"
    return doc.document_id


async def test_many_askers_at_once_get_one_render(pki: DevPKI) -> None:
    store = FakeStore()
    document_id = await _published(pki, store)
    renderer = SlowRenderer()
    renderer.go.clear()
    replicas = [PdfRendering(store, store, renderer, poll_seconds=0.01) for _ in range(3)]
    asking = asyncio.gather(*(r.pdf(document_id) for r in replicas for _ in range(4)))
    await renderer.started.wait()  # one render under way, every asker waiting on it
    renderer.go.set()
    got = await asking
    assert renderer.rendered == [document_id]
    assert len({g.sha256 for g in got if g is not None}) == 1 and None not in got
    assert store.pdfs[document_id] == got[0]
    assert store.renders == {}, "the claim is released once the PDF is kept"
    assert await replicas[0].pdf(document_id) == got[0] and renderer.rendered == [document_id]
    assert await replicas[0].pdf("HB-2024-NONE-NONE-NONE") is None


async def test_a_claim_left_by_a_killed_worker_lapses_and_the_next_one_renders(
    pki: DevPKI,
) -> None:
    store = FakeStore()
    document_id = await _published(pki, store)
    assert await store.claim(document_id, "killed-mid-render", 0.2)  # and never released
    renderer = SlowRenderer()
    rendering = PdfRendering(store, store, renderer, poll_seconds=0.02)
    kept = await asyncio.wait_for(rendering.pdf(document_id), timeout=5)
    assert kept is not None and renderer.rendered == [document_id]


async def test_a_failed_render_keeps_nothing_and_the_next_asker_renders(pki: DevPKI) -> None:
    store = FakeStore()
    document_id = await _published(pki, store)
    renderer = SlowRenderer(fail=1)
    rendering = PdfRendering(store, store, renderer)
    with pytest.raises(RuntimeError):
        await rendering.pdf(document_id)
    assert store.pdfs == {} and store.renders == {}
    assert await rendering.pdf(document_id) is not None and renderer.rendered == [document_id]
