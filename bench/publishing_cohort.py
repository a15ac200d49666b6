"""Publication of a city's cohort, and the rendering of its PDFs (issue 15's figures).

    .venv/bin/python bench/publishing_cohort.py [--records 20000] [--pdfs 200]   (or: make bench-publishing)

1. Publication without PDF: bulk-signed year records (a class of 35 under one teacher's and one
   principal's signature over a Merkle root, as signing's bulk mode makes them) published by the
   real use case on the local database (SecantusDB, MongoDB protocol): verified, stored, queued for
   the transparency log and announced through the outbox, as the Kafka subscriber does it, a batch
   of 500 at a time (`publish_many`); and, for comparison, one record a transaction (`publish`) on a
   sample. Baseline in the same run: the database's raw insert rate for documents of the same
   size (`insert_many` of 500, no transaction, no index but _id).
2. PDF rendering: the official template rendered for `--pdfs` records of both levels by a naive
   single-process WeasyPrint loop (a fresh HTML document each time, as the renderer did before),
   against the render pool (`PooledRenderer`, one process per core) with the same template; then
   the whole document (render, record attachment and PAdES seal) the same two ways. Peak memory:
   the largest render process's maximum RSS.

Results: printed, and written to bench/results/publishing_cohort.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hocba_contracts.payloads.signing import DocumentSignature, RecordSigned
from hocba_devstack.devpki import DevPKI
from hocba_devstack.localstack import free_port
from hocba_devstack.stack import DEFAULT_PORTS, Stack
from hocba_publishing.adapters.mongo_publishing import (
    MongoPublishingReader,
    MongoPublishingUnitOfWork,
    ensure_indexes,
)
from hocba_publishing.adapters.render_pool import PooledRenderer, SealSettings, make_renderer
from hocba_publishing.adapters.trust import TrustListVerifier
from hocba_publishing.adapters.weasyprint_renderer import PDF_VARIANT
from hocba_publishing.application.use_cases import PublishingService
from hocba_runtime.mongo import Mongo
from hocba_runtime.outbox import Outbox
from hocba_runtime.uow import MongoUnitOfWork
from hocba_trust import merkle
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import TrustList, sign_detached

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "services" / "publishing" / "tests"))
from pdf_fixtures import primary_document, secondary_document, signatures_for  # noqa: E402
from seal_fixtures import provision_seal, seal_settings, softhsm_token  # noqa: E402
from signing_cohort import CLASS_SIZE, document, signers_of  # noqa: E402

BATCH = 500
RESULTS = Path(__file__).parent / "results" / "publishing_cohort.json"


def cohort(pki: DevPKI, records: int) -> list[RecordSigned]:
    """Bulk-signed year records: per class one Merkle tree, and the homeroom teacher's and the
    principal's CMS signature over its root statement."""
    out: list[RecordSigned] = []
    identities: dict[str, Any] = {}
    at = datetime(2025, 5, 30, 8, 0, tzinfo=UTC)
    for first in range(0, records, CLASS_SIZE):
        members = list(range(first, min(records, first + CLASS_SIZE)))
        docs = [document(i) for i in members]
        hashes = [bytes.fromhex(sha256_hex(canonical_bytes(d))) for d in docs]
        tree = merkle.build(hashes)
        signed_by = []
        for role, staff in zip(("homeroom_teacher", "principal"), signers_of(first), strict=True):
            if staff not in identities:
                identities[staff] = pki.load_identity(staff) or pki.issue(staff, f"Cán bộ {staff}")
            statement = merkle.statement(tree.root, len(members), f"B-{first}-{role}", role, staff)
            cms = base64.b64encode(
                sign_detached(canonical_bytes(statement), identities[staff])
            ).decode()
            signed_by.append((role, staff, statement, cms))
        for doc, digest, proof in zip(docs, hashes, tree.proofs, strict=True):
            out.append(
                RecordSigned(
                    record_id=doc["record_id"],
                    record_version=1,
                    student_id=doc["student"]["student_id"],
                    document=doc,
                    content_sha256=digest.hex(),
                    signatures=tuple(
                        DocumentSignature(
                            role=role,
                            signer_id=staff,
                            signer_name=f"Cán bộ {staff}",
                            signed_at=at,
                            cms=cms,
                            batch={"statement": statement, "proof": proof},
                        )
                        for role, staff, statement, cms in signed_by
                    ),
                )
            )
    return out


async def raw_inserts(mongo: Mongo, signed: list[RecordSigned]) -> float:
    """Documents of the published size, inserted as fast as the database takes them."""
    rows = [
        {"_id": uuid.uuid4().hex, "record_id": s.record_id, "document": s.document} for s in signed
    ]
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        await mongo.db.raw_baseline.insert_many(rows[i : i + BATCH], ordered=False)
    return len(rows) / (time.perf_counter() - start)


def service(mongo: Mongo, trust: TrustList) -> PublishingService:
    outbox = Outbox(mongo)
    return PublishingService(
        MongoPublishingUnitOfWork(mongo, MongoUnitOfWork(mongo, outbox, "publishing")),
        MongoPublishingReader(mongo),
        TrustListVerifier(trust),
        id_key=b"bench-document-id-secret-0123456789",
    )


async def publication(stack: Stack, pki: DevPKI, records: int, sample: int) -> dict[str, Any]:
    signed = cohort(pki, records)
    trust = TrustList.from_pem_files([str(pki.root_file)])
    mongo = Mongo(stack.mongo_uri, f"bench_publishing_{uuid.uuid4().hex[:6]}")
    try:
        await Outbox(mongo).ensure_indexes()
        await ensure_indexes(mongo)
        baseline = await raw_inserts(mongo, signed)
        publishing = service(mongo, trust)
        start = time.perf_counter()
        published = 0
        for i in range(0, len(signed), BATCH):
            done = await publishing.publish_many([(s, None) for s in signed[i : i + BATCH]])
            assert not done.refused, done.refused
            published += len(done.published)
        batched = published / (time.perf_counter() - start)
        assert published == records
        await mongo.client.drop_database(mongo.db.name)  # the same records, on an empty database
        await Outbox(mongo).ensure_indexes()
        await ensure_indexes(mongo)
        start = time.perf_counter()
        for s in signed[:sample]:
            await publishing.publish(s)
        single = sample / (time.perf_counter() - start)
        return {
            "records": records,
            "raw insert_many (baseline) records/s": round(baseline),
            "publish_many (batches of 500) records/s": round(batched),
            "publish, one a transaction, records/s": round(single),
            "sample for one a transaction": sample,
        }
    finally:
        await mongo.client.drop_database(mongo.db.name)
        mongo.close()


def pdf_records(n: int) -> list[tuple[dict[str, Any], str, str, list[dict[str, Any]]]]:
    """Half primary (grade 5), half lower secondary (grade 7) years, with their signatures."""
    out = []
    for i in range(n):
        doc = primary_document() if i % 2 == 0 else secondary_document()
        digest = sha256_hex(canonical_bytes(doc))
        out.append((doc, f"HB-2024-BNCH-{i:04d}-PDFS", digest, signatures_for(doc)))
    return out


URL = "http://127.0.0.1:8105"


def naive_loop(items: list[Any], seal: SealSettings | None) -> float:
    """A fresh WeasyPrint document per record, one process: the renderer as it was (with the
    seal: render, QR, record attachment and the school's PAdES seal, one after the other)."""
    from weasyprint import HTML

    renderer = make_renderer(URL)
    sealer = make_renderer(URL, seal) if seal else None
    for args in items[:2]:  # warm, as the pool is
        (sealer or renderer).render(*args)
    start = time.perf_counter()
    for args in items:
        if sealer is not None:
            sealer.render(*args)
        else:
            html = renderer.html(*args)  # type: ignore[attr-defined]
            HTML(string=html).write_pdf(pdf_variant=PDF_VARIANT)  # the same PDF/A-3b file
    return len(items) / (time.perf_counter() - start)


async def pooled(items: list[Any], seal: SealSettings | None) -> float:
    pool = PooledRenderer(functools.partial(make_renderer, URL, seal))
    try:
        await asyncio.gather(*(pool.render(*items[0]) for _ in range(pool.processes)))  # warm
        start = time.perf_counter()
        await asyncio.gather(*(pool.render(*args) for args in items))
        rate = len(items) / (time.perf_counter() - start)
        PEAKS.extend(peak_rss_mb(pid) for pid in pool.pids())
        return rate
    finally:
        await pool.close()


PEAKS: list[float] = []
"""The render processes' peak resident memory (VmHWM), read before their pool closes."""


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rendering(pki: DevPKI, work: Path, n: int) -> dict[str, Any]:
    items = pdf_records(n)
    os.environ.pop("SOFTHSM2_CONF", None)
    softhsm_token(work / "hsm")
    for doc in {d["school"]["school_id"]: d for d, *_ in items}.values():
        provision_seal(pki, pki.signers.dir, doc["school"]["school_id"], doc["school"]["name"])
    seal = seal_settings(pki, pki.signers.dir)  # B-LT: the seal, its chain and CRLs
    report: dict[str, Any] = {"pdfs": n, "processes": os.cpu_count(), "seal": "school, B-LT"}
    report["render, naive loop, PDFs/s"] = round(naive_loop(items, None), 2)
    report["render, pool, PDFs/s"] = round(asyncio.run(pooled(items, None)), 2)
    report["render speed-up"] = round(
        report["render, pool, PDFs/s"] / report["render, naive loop, PDFs/s"], 2
    )
    report["whole document, naive loop, PDFs/s"] = round(naive_loop(items, seal), 2)
    report["whole document, pool, PDFs/s"] = round(asyncio.run(pooled(items, seal)), 2)
    report["whole document speed-up"] = round(
        report["whole document, pool, PDFs/s"] / report["whole document, naive loop, PDFs/s"], 2
    )
    report["peak RSS of a render process, MB"] = round(max(PEAKS, default=0.0))
    report["peak RSS of the naive loop's process, MB"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=1_000)
    parser.add_argument("--pdfs", type=int, default=200)
    parser.add_argument("--skip-publication", action="store_true")
    parser.add_argument("--skip-pdfs", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hocba-bench-publishing-"))
    pki = DevPKI(work / "pki")
    pki.create()
    report: dict[str, Any] = {"database": "SecantusDB on disk", "cores": os.cpu_count()}
    if not args.skip_publication:
        stack = Stack(work / "stack", {name: free_port() for name in DEFAULT_PORTS})
        try:
            stack.start_infra()
            report["publication"] = asyncio.run(publication(stack, pki, args.records, args.sample))
        finally:
            stack.stop()
        print(json.dumps(report["publication"], indent=1, ensure_ascii=False))
    if not args.skip_pdfs:
        report["rendering"] = rendering(pki, work, args.pdfs)
        print(json.dumps(report["rendering"], indent=1, ensure_ascii=False))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
