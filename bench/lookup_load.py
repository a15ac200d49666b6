"""The lookup under load: verifications and lookups per second, with latency percentiles, against a
bare FastAPI endpoint served the same way in the same run (issue 16).

    .venv/bin/python bench/lookup_load.py [--records 2000] [--seconds 20]   (or: make bench-lookup)
    .venv/bin/python bench/lookup_load.py --quick                           (a short check)

Set-up: SecantusDB and tansu as the local stack runs them, the development PKI, and a read model of
`--records` published records, bulk-signed as signing signs a class (per class a Merkle tree, the
homeroom teacher's and the principal's CMS signatures over its root; bench/publishing_cohort.py's
cohort), projected through the lookup's own use case (`LookupService.project`, as its Kafka
subscriber does).

Served as production serves it: `python -m hocba_lookup` in its own process (hocba_runtime's
`serve`: uvicorn, one process, uvicorn's default event loop and HTTP implementation, no access log)
with its HOCBA_LOOKUP_* environment (trust roots, the read model's database). The baseline is a
bare FastAPI app with one trivial JSON endpoint, served by the same `serve` in another process.

The load: a generator process on the same machine, asyncio with `--connections` persistent
HTTP/1.1 connections (closed loop: each connection sends its next request when the answer to the
last has arrived), requests written and read by hand (an HTTP client library costs more than the
bare endpoint). Each phase warms up for a second, then runs `--seconds`:
- bare: `GET /ping` on the bare app;
- api: `GET /api/documents/{id}` (the record, its status, a fresh verification of its signatures),
  ids drawn at random from the read model;
- page: `GET /verify/{id}` (the verification page, rendered);
- records: `GET /api/session/records` (a signed-in parent's records: the session read and checked,
  the student's published years with their status), over sessions opened before the phase with the
  personal ID number, date of birth and access code (`POST /api/session`) of `--parents` students;
- sign-in: `POST /api/session` itself, which is meant to be slow (one Argon2id verification, 19 MiB,
  2 passes, whatever the outcome) and is rate limited (the limits are raised for the run).
Reported per phase: requests/s, latency p50/p95/p99 (ms), errors; the generator's CPU use (near 100%
of a core would make it the bottleneck: the bare phase shows its ceiling) and the server's; and the
ratio of each phase's rate to the bare endpoint's. `--profile` records the api phase with py-spy
(when installed: `pip install py-spy`) into bench/results/lookup_profile.txt.

Targets on a 2-core machine: 2,000 verifications/s with p99 under 50 ms, and 40 % of the bare
endpoint's rate. The generator shares the two cores with the server: figures are indicative when
other work runs on the machine. Results: printed, and written to bench/results/lookup_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "lookup_load.json"
PROFILE = Path(__file__).parent / "results" / "lookup_profile.txt"
SECRET = "bench-lookup-secret-0123456789"


# -- the bare baseline -----------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """A bare FastAPI app with one trivial JSON endpoint, served by the lookup's own `serve`."""
    from fastapi import FastAPI
    from hocba_runtime.service import serve
    from hocba_runtime.settings import ServiceSettings

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    serve(app, ServiceSettings(service_name="bare", environment="development", http_port=port))


# -- the load generator (its own process) ---------------------------------------------------------


async def _one_connection(
    port: int,
    requests: list[bytes],
    stop_at: float,
    measure_from: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter
    try:
        while True:
            now = clock()
            if now >= stop_at:
                return
            writer.write(random.choice(requests))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                    break
            else:
                raise RuntimeError("an answer without Content-Length")
            await reader.readexactly(length)
            done = clock()
            if now >= measure_from:
                if status == 200:
                    latencies.append(done - now)
                else:
                    errors.append(status)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one phase's load; its figures, as JSON-able values."""
    requests = [r.encode("latin-1") for r in spec["requests"]]
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> float:
        start = time.perf_counter()
        measure_from = start + spec["warmup"]
        stop_at = measure_from + spec["seconds"]
        await asyncio.gather(
            *(
                _one_connection(spec["port"], requests, stop_at, measure_from, latencies, errors)
                for _ in range(spec["connections"])
            )
        )
        return time.perf_counter() - measure_from

    cpu0 = time.process_time()
    wall = asyncio.run(run())
    cpu = time.process_time() - cpu0
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0
        )

    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_statuses": sorted(set(errors)),
        "rate": len(latencies) / wall,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "generator_cpu": cpu / (wall + spec["warmup"]),
    }


def get(path: str, cookie: str | None = None) -> str:
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n{extra}\r\n"


def post_json(path: str, body: dict[str, Any]) -> str:
    data = json.dumps(body)
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data.encode())}\r\n\r\n{data}"
    )


# -- the set-up ------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def seed(
    mongo_uri: str, database: str, pki: Any, records: int, parents: int
) -> tuple[list[str], list[dict[str, str]]]:
    """The read model: `records` published records, projected through the lookup's use case; and
    access codes issued (through the lookup's own use case) for the first `parents` students. Their
    document ids, and the parents' sign-in bodies."""
    from hocba_contracts.payloads.publishing import RecordPublished
    from hocba_lookup.adapters.argon2_hasher import Argon2CodeHasher
    from hocba_lookup.adapters.mongo_access import MongoAccessStore
    from hocba_lookup.adapters.mongo_lookup import (
        MongoLookupReader,
        MongoLookupUnitOfWork,
        ensure_indexes,
    )
    from hocba_lookup.adapters.trust import TrustListRecordVerifier
    from hocba_lookup.application.access import AccessService
    from hocba_lookup.application.use_cases import LookupService
    from hocba_runtime.mongo import Mongo
    from hocba_runtime.outbox import Outbox
    from hocba_runtime.uow import MongoUnitOfWork
    from publishing_cohort import cohort

    mongo = Mongo(mongo_uri, database)
    await ensure_indexes(mongo)
    uow = MongoLookupUnitOfWork(mongo, MongoUnitOfWork(mongo, Outbox(mongo), "lookup"))
    service = LookupService(uow, MongoLookupReader(mongo), TrustListRecordVerifier(None), SECRET)
    reader = MongoLookupReader(mongo)
    access = AccessService(MongoAccessStore(mongo), reader, Argon2CodeHasher(), SECRET)
    ids: list[str] = []
    sign_ins: list[dict[str, str]] = []
    now = datetime.now(UTC)
    for i, rec in enumerate(cohort(pki, records)):
        document_id = f"HB-2024-BNCH-{i:04X}-{uuid.uuid4().hex[:4].upper()}"
        await service.project(
            RecordPublished(
                document_id=document_id,
                record_id=rec.record_id,
                record_version=rec.record_version,
                student_id=rec.student_id,
                document=rec.document,
                content_sha256=rec.content_sha256,
                signatures=rec.signatures,
                pdf_sha256="0" * 64,
                pdf_path=f"/documents/{document_id}/pdf",
                published_at=now,
            )
        )
        ids.append(document_id)
        if len(sign_ins) < parents:
            issued = await access.issue(await access.student(rec.student_id), "bench")
            student = rec.document["student"]
            sign_ins.append(
                {
                    "citizen_id": str(student["citizen_id"]),
                    "date_of_birth": str(student["date_of_birth"]),
                    "access_code": issued.code,
                }
            )
    mongo.close()
    return ids, sign_ins


def wait_answering(port: int, path: str, timeout: float = 60.0) -> None:
    """Until the server answers `path` with 200 (listening is not yet serving: the lookup's
    start hooks run first), or fail after `timeout` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the server on port {port} did not answer {path} in {timeout:.0f} s")
        time.sleep(0.1)


def open_sessions(port: int, sign_ins: list[dict[str, str]]) -> list[str]:
    """Sign each parent in once; their session cookies (`name=value`)."""
    import httpx

    cookies = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for body in sign_ins:
            answer = client.post("/api/session", json=body)
            answer.raise_for_status()
            cookies.append("; ".join(f"{k}={v}" for k, v in answer.cookies.items()))
    return cookies


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    out.close()
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """One phase's load (`generate`'s spec: port, requests, connections, seconds, warmup), from a
    generator process of its own; its figures."""
    done = subprocess.run(
        [sys.executable, __file__, "--generate"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def phase(
    name: str,
    port: int,
    server: subprocess.Popen[bytes],
    requests: list[str],
    args: Any,
    database: subprocess.Popen[bytes],
) -> dict[str, Any]:
    spec = {
        "port": port,
        "requests": requests,
        "connections": args.connections,
        "seconds": args.seconds,
        "warmup": 1.0,
    }
    cpu0, db0 = cpu_seconds(server.pid), cpu_seconds(database.pid)
    t0 = time.monotonic()
    profiler = None
    if args.profile and name == "api" and shutil.which("py-spy"):
        profiler = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(server.pid),
                "--format",
                "raw",
                "--output",
                str(PROFILE.with_suffix(".raw")),
                "--duration",
                str(int(args.seconds)),
                "--rate",
                "200",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    result = run_load(spec)
    wall = time.monotonic() - t0
    if profiler is not None:
        profiler.wait()
        summarize_profile(PROFILE.with_suffix(".raw"), PROFILE)
    result["server_cpu"] = (cpu_seconds(server.pid) - cpu0) / wall
    result["database_cpu"] = (cpu_seconds(database.pid) - db0) / wall
    result["phase"] = name
    return result


def summarize_profile(raw: Path, out: Path) -> None:
    """py-spy's raw stacks as the functions most time is spent in (self and total)."""
    if not raw.exists():
        return
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            total[f] = total.get(f, 0) + n
    lines = [f"{samples} samples of the lookup serving GET /api/documents/{{id}}", "", "self:"]
    lines += [
        f"{100 * n / samples:5.1f}%  {f}" for f, n in sorted(own.items(), key=lambda x: -x[1])[:30]
    ]
    lines += ["", "total (with callees):"]
    lines += [
        f"{100 * n / samples:5.1f}%  {f}"
        for f, n in sorted(total.items(), key=lambda x: -x[1])[:50]
    ]
    out.write_text("\n".join(lines) + "\n")


def table(results: list[dict[str, Any]]) -> str:
    bare = next(r for r in results if r["phase"] == "bare")["rate"]
    rows = [
        f"{'phase':<8} {'req/s':>8} {'of bare':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'server cpu':>10} {'db cpu':>7} {'gen cpu':>8}"
    ]
    for r in results:
        rows.append(
            f"{r['phase']:<8} {r['rate']:>8.0f} {r['rate'] / bare:>7.0%} {r['p50_ms']:>8.1f} "
            f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['errors']:>7} {r['server_cpu']:>10.0%} "
            f"{r['database_cpu']:>7.0%} "
            f"{r['generator_cpu']:>8.0%}"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0, help="each phase's measured time")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--parents", type=int, default=200, help="students given an access code and a session"
    )
    parser.add_argument("--quick", action="store_true", help="350 records, 4 s a phase")
    parser.add_argument("--profile", action="store_true", help="py-spy on the api phase")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if args.generate:
        sys.stdout.write(json.dumps(generate(json.loads(sys.stdin.read()))))
        return 0
    if args.quick:
        args.records, args.seconds = min(args.records, 350), min(args.seconds, 4.0)
        args.parents = min(args.parents, 40)

    sys.path.insert(0, str(Path(__file__).parent))
    from hocba_devstack import localstack
    from hocba_devstack.devpki import DevPKI
    from hocba_runtime.kafka import ensure_topics

    work = Path(tempfile.mkdtemp(prefix="bench-lookup-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        kport, mport = localstack.free_port(), localstack.free_port()
        procs.append(localstack.start_broker(kport, work / "tansu.log"))
        db = localstack.start_database(mport, str(work / "db"), work / "secantus.log")
        procs.append(db)
        bootstrap, mongo_uri = f"127.0.0.1:{kport}", localstack.mongo_uri(mport)
        asyncio.run(ensure_topics(bootstrap))
        pki = DevPKI(work / "pki")
        pki.create()
        t0 = time.monotonic()
        ids, sign_ins = asyncio.run(
            seed(mongo_uri, "bench_lookup", pki, args.records, args.parents)
        )
        print(
            f"read model: {len(ids)} records projected and {len(sign_ins)} access codes issued "
            f"in {time.monotonic() - t0:.1f} s",
            flush=True,
        )

        lport, bport = localstack.free_port(), localstack.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOCBA_LOOKUP_")}
        env |= {
            "HOCBA_LOOKUP_ENVIRONMENT": "development",
            "HOCBA_LOOKUP_KAFKA_BOOTSTRAP": bootstrap,
            "HOCBA_LOOKUP_MONGO_URI": mongo_uri,
            "HOCBA_LOOKUP_MONGO_DATABASE": "bench_lookup",
            "HOCBA_LOOKUP_HTTP_PORT": str(lport),
            "HOCBA_LOOKUP_TRUST_ROOTS": json.dumps([str(pki.root_file)]),
            "HOCBA_LOOKUP_LOOKUP_SECRET": SECRET,
            "HOCBA_LOOKUP_LOG_LEVEL": "WARNING",
            # the generator is one client signing many parents in, over and over
            "HOCBA_LOOKUP_SIGN_IN_ATTEMPTS_PER_CLIENT": "100000000",
            "HOCBA_LOOKUP_SIGN_IN_ATTEMPTS_PER_STUDENT": "100000000",
        }
        lookup = start([sys.executable, "-m", "hocba_lookup"], env, work / "lookup.log")
        procs.append(lookup)
        bare = start([sys.executable, __file__, "--serve-bare", str(bport)], env, work / "bare.log")
        procs.append(bare)
        localstack.wait_for_port("127.0.0.1", lport, timeout=90, proc=lookup)
        localstack.wait_for_port("127.0.0.1", bport, timeout=90, proc=bare)
        wait_answering(lport, "/health/ready")
        wait_answering(bport, "/ping")

        cookies = open_sessions(lport, sign_ins)
        results = [
            phase("bare", bport, bare, [get("/ping")], args, db),
            phase("api", lport, lookup, [get(f"/api/documents/{d}") for d in ids], args, db),
            phase("page", lport, lookup, [get(f"/verify/{d}") for d in ids], args, db),
            phase(
                "records",
                lport,
                lookup,
                [get("/api/session/records", cookie) for cookie in cookies],
                args,
                db,
            ),
            phase(
                "sign-in",
                lport,
                lookup,
                [post_json("/api/session", body) for body in sign_ins],
                args,
                db,
            ),
        ]
        print(table(results))
        api = next(r for r in results if r["phase"] == "api")
        bare_rate = results[0]["rate"]
        verdict = {
            "verifications_per_s_at_least_2000": api["rate"] >= 2000,
            "p99_under_50_ms": api["p99_ms"] < 50,
            "at_least_40_percent_of_bare": api["rate"] >= 0.4 * bare_rate,
        }
        print("targets: " + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in verdict.items()))
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "records": len(ids),
                    "seconds": args.seconds,
                    "connections": args.connections,
                    "cpus": os.cpu_count(),
                    "phases": results,
                    "targets": verdict,
                },
                indent=2,
            )
            + "\n"
        )
        if args.profile and PROFILE.exists():
            print(f"profile: {PROFILE}")
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
