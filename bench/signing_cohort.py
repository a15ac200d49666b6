"""Sign, store and verify a city cohort of year records (issue 4's benchmark).

    .venv/bin/python bench/signing_cohort.py [--records 132000] [--workers 2]     (or: make bench-signing)

Per record: the homeroom teacher and the principal sign (CAdES-BES, ECDSA P-256, software keys
from the development PKI). Two modes:
- per document: two CMS signatures per record over its canonical bytes;
- bulk: per class of 35, one Merkle root, one teacher and one principal signature over it, and an
  inclusion proof per record.
Signed records are stored in a real SecantusDB (MongoDB protocol), read back and verified: per
document by checking both signatures; in bulk by folding each record's proof and checking each
class's two root signatures once.

Baselines measured in the same run: raw `cryptography` ECDSA P-256 sign and verify, its PKCS7
builder, pyHanko's general CMS signer, and for a key in a PKCS#11 token (SoftHSM2) a bare
C_Sign against a whole CAdES signature with that key.

Results: printed as a table, and written to bench/results/signing_cohort.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hocba_devstack import localstack
from hocba_devstack.devpki import DevPKI
from hocba_trust import merkle
from hocba_trust.cades import sign_cades
from hocba_trust.canonical import canonical_bytes
from hocba_trust.cms import (
    TrustList,
    sign_detached_pkcs7,
    verify_detached,
    verify_document_signature,
)
from pymongo import MongoClient

CLASS_SIZE = 35
CLASSES_PER_SCHOOL = 4
RESULTS = Path(__file__).parent / "results" / "signing_cohort.json"

# -- the cohort ------------------------------------------------------------------------------------

SUBJECTS = [
    ("TV", "Tiếng Việt", 9.0),
    ("TOAN", "Toán", 8.0),
    ("DD", "Đạo đức", None),
    ("TNXH", "Tự nhiên và Xã hội", None),
    ("GDTC", "Giáo dục thể chất", None),
    ("AN", "Âm nhạc", None),
    ("MT", "Mĩ thuật", None),
    ("HDTN", "Hoạt động trải nghiệm", None),
]


def document(i: int) -> dict[str, Any]:
    """A grade-1 year record of the shape signing builds (synthetic, deterministic)."""
    klass, school = i // CLASS_SIZE, i // (CLASS_SIZE * CLASSES_PER_SCHOOL)
    sid = f"HS079{i:07d}"
    return {
        "document_type": "hocba.year_record",
        "format_version": 1,
        "record_id": f"{sid}.2024-2025",
        "record_version": 1,
        "school_year": "2024-2025",
        "closed_at": "2025-05-30T08:00:00Z",
        "student": {
            "student_id": sid,
            "citizen_id": f"0792180{i:05d}"[-12:],
            "full_name": f"Nguyễn Thị Ánh Tuyết {i}",
            "date_of_birth": "2018-03-14",
            "sex": "female",
            "ethnicity": "Kinh",
            "place_of_birth": "TP. Hồ Chí Minh",
            "parents": [
                {
                    "relation": "mother",
                    "full_name": "Trần Thị Hằng",
                    "occupation": "Giáo viên",
                    "phone": None,
                }
            ],
        },
        "school": {
            "school_id": f"079-TH-{school:04d}",
            "name": f"Trường Tiểu học số {school}",
            "level": "primary",
            "province_code": "079",
            "province_name": "Thành phố Hồ Chí Minh",
            "district": "Quận 1",
            "principal": {"staff_id": f"HT-{school:04d}", "full_name": "Lê Văn Hùng"},
        },
        "class_info": {
            "class_id": f"C-{klass:05d}",
            "school_id": f"079-TH-{school:04d}",
            "school_year": "2024-2025",
            "grade": 1,
            "name": "1A",
            "homeroom_teacher": {"staff_id": f"GV-{klass:05d}", "full_name": "Phạm Thu Trang"},
        },
        "subjects": [
            {
                "subject_code": c,
                "subject_name": n,
                "rating": "T",
                "rating_label": "Hoàn thành tốt",
                "score": s,
                "comment": "Hoàn thành tốt nội dung môn học.",
            }
            for c, n, s in SUBJECTS
        ],
        "result": {
            "level": "hoan_thanh_tot",
            "level_label": "Hoàn thành tốt",
            "completed_programme": True,
            "rules": "TT27/2020",
        },
    }


def signers_of(i: int) -> tuple[str, str]:
    return f"GV-{i // CLASS_SIZE:05d}", f"HT-{i // (CLASS_SIZE * CLASSES_PER_SCHOOL):04d}"


# -- workers (forked: they share the parent's globals) ----------------------------------------------

STATE: dict[str, Any] = {}


def _identity(staff_id: str) -> Any:
    cache = STATE.setdefault("identities", {})
    if staff_id not in cache:
        cache[staff_id] = STATE["pki"].load_identity(staff_id)
    return cache[staff_id]


def _db() -> Any:
    if "db" not in STATE:
        STATE["db"] = MongoClient(STATE["mongo_uri"])["bench_signing"]
    return STATE["db"]


def prepare_chunk(bounds: tuple[int, int]) -> tuple[float, list[bytes]]:
    t = time.perf_counter()
    hashes_ = [hashlib.sha256(canonical_bytes(document(i))).digest() for i in range(*bounds)]
    return time.perf_counter() - t, hashes_


def sign_per_document(bounds: tuple[int, int]) -> tuple[float, float]:
    """Sign each record twice (teacher, principal) and store it; returns (sign seconds, store seconds)."""
    import base64

    t0 = time.perf_counter()
    rows = []
    hashes_: list[bytes] = STATE["hashes"]
    for i in range(*bounds):
        digest = hashes_[
            i
        ]  # prepared when the signing request opened (content hash of the canonical bytes)
        sigs = []
        for role, staff in zip(("homeroom_teacher", "principal"), signers_of(i), strict=True):
            ident = _identity(staff)
            sigs.append(
                {
                    "role": role,
                    "signer_id": staff,
                    "cms": base64.b64encode(
                        sign_cades(
                            b"", ident.key, ident.certificate, ident.chain, content_digest=digest
                        )
                    ).decode(),
                }
            )
        rows.append({"_id": i, "content_sha256": digest.hex(), "signatures": sigs})
    t1 = time.perf_counter()
    _db().per_document.insert_many(rows, ordered=False)
    return t1 - t0, time.perf_counter() - t1


def sign_bulk(class_range: tuple[int, int]) -> tuple[float, float]:
    """Per class: Merkle tree, one teacher and one principal signature over the root, a proof per record."""
    import base64

    t0 = time.perf_counter()
    rows, statements = [], []
    n = STATE["records"]
    for k in range(*class_range):
        members = list(range(k * CLASS_SIZE, min(n, (k + 1) * CLASS_SIZE)))
        content_hashes = [STATE["hashes"][i] for i in members]
        tree = merkle.build(content_hashes)
        sigs = []
        for role, staff in zip(
            ("homeroom_teacher", "principal"), signers_of(members[0]), strict=True
        ):
            statement = merkle.statement(tree.root, len(members), f"B-{k}-{role}", role, staff)
            ident = _identity(staff)
            cms = base64.b64encode(
                sign_cades(canonical_bytes(statement), ident.key, ident.certificate, ident.chain)
            ).decode()
            sigs.append((role, staff, statement, cms))
            statements.append({"_id": f"{k}-{role}", "statement": statement, "cms": cms})
        for i, h, proof in zip(members, content_hashes, tree.proofs, strict=True):
            rows.append(
                {
                    "_id": i,
                    "class": k,
                    "content_sha256": h.hex(),
                    "signatures": [
                        {
                            "role": role,
                            "signer_id": staff,
                            "statement_id": f"{k}-{role}",
                            "proof": proof,
                        }
                        for role, staff, _, _ in sigs
                    ],
                }
            )
    t1 = time.perf_counter()
    db = _db()
    db.bulk_documents.insert_many(rows, ordered=False)
    db.bulk_statements.insert_many(statements, ordered=False)
    return t1 - t0, time.perf_counter() - t1


def _read_pages(collection: str, size: int) -> Any:
    """Stream a collection in pages (one cursor: SecantusDB scans for range queries)."""
    page: list[dict[str, Any]] = []
    for row in MongoClient(STATE["mongo_uri"])["bench_signing"][collection].find(
        {}, batch_size=size
    ):
        page.append(row)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def verify_per_document(rows: list[dict[str, Any]]) -> tuple[float, int]:
    trust: TrustList = STATE["trust"]
    t = time.perf_counter()
    ok = 0
    for row in rows:
        content = canonical_bytes(document(row["_id"]))
        for sig in row["signatures"]:
            verify_document_signature(content, sig["cms"], None, trust)
        ok += 1
    return time.perf_counter() - t, ok


def verify_bulk(rows: list[dict[str, Any]]) -> tuple[float, int]:
    trust: TrustList = STATE["trust"]
    statements = STATE["statements"]
    t = time.perf_counter()
    verified_roots: set[str] = set()
    ok = 0
    for row in rows:
        content = canonical_bytes(document(row["_id"]))
        for sig in row["signatures"]:
            st = statements[sig["statement_id"]]
            merkle.verify_in_batch(content, {"statement": st["statement"], "proof": sig["proof"]})
            if (
                sig["statement_id"] not in verified_roots
            ):  # one root signature serves the whole class
                verify_document_signature(canonical_bytes(st["statement"]), st["cms"], None, trust)
                verified_roots.add(sig["statement_id"])
        ok += 1
    return time.perf_counter() - t, ok


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(n, i + size)) for i in range(0, n, size)]


# -- baselines --------------------------------------------------------------------------------------


def rate(fn: Any, n: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def baselines(pki: DevPKI, content: bytes, workdir: Path) -> dict[str, float]:
    ident = pki.load_identity("GV-00000")
    key = ident.key
    sig = key.sign(content, ec.ECDSA(hashes.SHA256()))
    out = {
        "cryptography ECDSA P-256 sign /s": rate(
            lambda: key.sign(content, ec.ECDSA(hashes.SHA256())), 5000
        ),
        "cryptography ECDSA P-256 verify /s": rate(
            lambda: key.public_key().verify(sig, content, ec.ECDSA(hashes.SHA256())), 5000
        ),
        "cryptography PKCS7 builder sign /s": rate(
            lambda: sign_detached_pkcs7(content, ident), 3000
        ),
        "Hocba CAdES encoder sign /s": rate(
            lambda: sign_cades(content, ident.key, ident.certificate, ident.chain), 5000
        ),
    }
    trust = TrustList.from_pem_files([str(pki.root_file)])
    cms = sign_cades(content, ident.key, ident.certificate, ident.chain)
    out["Hocba CMS verify (chain, CRL-ready) /s"] = rate(
        lambda: verify_detached(content, cms, trust), 3000
    )
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.sign import signers

    leaf, chain = workdir / "leaf.pem", workdir / "chain.pem"
    leaf.write_bytes(ident.certificate.public_bytes(Encoding.PEM))
    chain.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in ident.chain))
    signer = signers.SimpleSigner.load(
        str(pki.path("signers", "GV-00000.key.pem")), str(leaf), ca_chain_files=(str(chain),)
    )
    assert signer is not None

    async def pyhanko_sign() -> None:
        await signer.async_sign_general_data(content, "sha256", detached=True)

    loop = asyncio.new_event_loop()
    out["pyHanko general CMS sign /s"] = rate(lambda: loop.run_until_complete(pyhanko_sign()), 200)
    loop.close()
    out.update(pkcs11_baseline(pki, content, workdir))
    return out


def pkcs11_baseline(pki: DevPKI, content: bytes, workdir: Path) -> dict[str, float]:
    if not shutil.which("softhsm2-util"):
        return {}
    hsm = workdir / "hsm"
    (hsm / "tokens").mkdir(parents=True)
    conf = hsm / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {hsm / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--so-pin",
            "11112222",
            "--pin",
            "3333",
        ],
        check=True,
        capture_output=True,
    )
    from hocba_signing.adapters.pkcs11_token import Pkcs11Token, TokenSealSigner
    from pkcs11 import Mechanism

    token = Pkcs11Token("/usr/lib/softhsm/libsofthsm2.so", "bench", "3333")
    seal = TokenSealSigner(token, pki.signers, issuer=pki)
    identity = seal.identity("079-TH-SEAL", "Trường Tiểu học Benchmark")
    digest = hashlib.sha256(content).digest()
    raw_key = token.find("079-TH-SEAL")
    return {
        "PKCS#11 bare C_Sign (ECDSA P-256) /s": rate(
            lambda: raw_key.sign(digest, mechanism=Mechanism.ECDSA), 2000
        ),
        "PKCS#11 key, whole CAdES signature /s": rate(
            lambda: sign_cades(content, identity.key, identity.certificate, identity.chain), 2000
        ),
    }


# -- main -------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=132_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    n = args.records
    work = Path(tempfile.mkdtemp(prefix="hocba-bench-signing-"))
    port = localstack.free_port()
    db_proc = localstack.start_database(port, str(work / "db"), work / "secantus.log")
    report: dict[str, Any] = {
        "records": n,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "database": "SecantusDB on disk",
    }
    try:
        t = time.perf_counter()
        pki = DevPKI(work / "pki")
        pki.create()
        staff = sorted({s for i in range(0, n, CLASS_SIZE) for s in signers_of(i)})
        for s in staff:
            pki.issue(s, "Giáo viên " + s)
        report["signers"] = len(staff)
        print(
            f"{n} records, {len(staff)} signers' certificates issued in {time.perf_counter() - t:.1f}s",
            flush=True,
        )
        STATE.update(
            pki=pki,
            mongo_uri=localstack.mongo_uri(port),
            trust=TrustList.from_pem_files([str(pki.root_file)]),
            records=n,
        )

        report["baselines"] = baselines(pki, canonical_bytes(document(0)), work)
        ctx = mp.get_context("fork")
        with ctx.Pool(args.workers) as pool:
            t = time.perf_counter()
            prepared = pool.map(prepare_chunk, _chunks(n, 2000))
            report["prepare (canonical JSON + SHA-256) docs/s"] = n / (time.perf_counter() - t)
        STATE["hashes"] = [
            h for _, chunk in prepared for h in chunk
        ]  # the workers below fork with them
        with ctx.Pool(args.workers) as pool:
            t = time.perf_counter()
            timings = pool.map(sign_per_document, _chunks(n, 1000))
            wall = time.perf_counter() - t
            sign_s = sum(x[0] for x in timings) / args.workers
            report["per-document: sign docs/s"] = n / sign_s
            report["per-document: sign + store docs/s (wall)"] = n / wall

            classes = (n + CLASS_SIZE - 1) // CLASS_SIZE
            t = time.perf_counter()
            timings = pool.map(sign_bulk, _chunks(classes, 30))
            wall = time.perf_counter() - t
            report["bulk: sign docs/s"] = n / (sum(x[0] for x in timings) / args.workers)
            report["bulk: sign + store docs/s (wall)"] = n / wall

            t = time.perf_counter()
            checked = list(
                pool.imap_unordered(verify_per_document, _read_pages("per_document", 2000))
            )
            wall = time.perf_counter() - t
            assert sum(x[1] for x in checked) == n
            report["per-document: verify docs/s"] = n / (sum(x[0] for x in checked) / args.workers)
            report["per-document: read + verify docs/s (wall)"] = n / wall

        # The class statements (one per class and signer) are read once; the workers fork with them.
        t = time.perf_counter()
        STATE["statements"] = {
            s["_id"]: s
            for s in MongoClient(STATE["mongo_uri"])["bench_signing"].bulk_statements.find({})
        }
        statements_read = time.perf_counter() - t
        with ctx.Pool(args.workers) as pool:
            t = time.perf_counter()
            checked = list(pool.imap_unordered(verify_bulk, _read_pages("bulk_documents", 2000)))
            wall = time.perf_counter() - t + statements_read
            assert sum(x[1] for x in checked) == n
            report["bulk: verify docs/s"] = n / (sum(x[0] for x in checked) / args.workers)
            report["bulk: read + verify docs/s (wall)"] = n / wall
        del prepared
        report["peak RSS, parent MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report["peak RSS, largest worker MB"] = (
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        )
    except BaseException:
        log = (work / "secantus.log").read_text(errors="replace").splitlines()[-15:]
        print("database log (last lines):\n" + "\n".join(log), file=sys.stderr)
        raise
    finally:
        db_proc.terminate()
        db_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'measure':<52} {'value':>12}")
    for key, value in report.get("baselines", {}).items():
        print(f"  baseline: {key:<42} {value:>12,.0f}")
    for key, value in report.items():
        if key != "baselines":
            print(
                f"  {key:<52} {value:>12,.0f}"
                if isinstance(value, float)
                else f"  {key:<52} {value!s:>12}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
