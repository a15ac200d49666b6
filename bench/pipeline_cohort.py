"""A city's closed years from signing to the lookup, through the services as processes (issue 15).

    .venv/bin/python bench/pipeline_cohort.py [--records 132000]          (or: make bench-pipeline)

A cohort of closed year records (primary classes of 35, eight classes a school, grades 1-5; each
record computed by assessment's own year-record rules from synthetic end-of-year assessments,
qualities and competencies) is produced as YearRecordClosed events straight onto
hocba.assessment.events, as assessment announces a close, and travels on as the local stack runs it
(`hocba_devstack.stack.Stack`: tansu, SecantusDB on disk, the development issuer and CA, and the
five services as their own processes with their own environment): signing turns each into a
signing request and signs it, publishing verifies, stores and announces it, the lookup projects it.
Records and assessment run too but are not on this path: the input is what assessment would emit,
so the benchmark measures signing → publishing → lookup. (Assessment does read signing's topic, for
refusals to sign; its consumer group is watched as a side path and does not gate the end.)

How signing signs: server-side, as the local stack configures it (SERVER_SIDE_SIGNING, with
SCHOOL_SEAL), a poll of closed records at a time: in one transaction the poll's records become
signing requests, and each server-side signer (the homeroom teacher and the principal, software keys
with certificates issued on demand by the development CA, DEV_ISSUE_ON_DEMAND, at a signer's first
record; then the school's seal, its key in the SoftHSM token, SEAL_ISSUE_ON_DEMAND) signs the poll's
documents of one school that wait for them with one signature over their Merkle root (bulk signing,
each document with its inclusion proof; a document alone in its group is signed directly), each
signature verified before it is kept.
Publishing renders PDFs lazily (PDF_RENDER=lazy): no PDF is made on this path.

The database is the local stand-in, and one of its costs grows with the run rather than with the
services' work: SecantusDB 0.7.0b3 keeps the reply of every retryable write (a write outside a
transaction, with the drivers' default retryWrites=true) for 30 minutes, scans them all at each
such write and, past 10,000, sorts them all at each one (on this machine a bare insert_one falls
from about 1,600/s to 190/s after 10,000 of them; with retryWrites=false it stays at 2,400/s).
A long run therefore slows down as it goes. `--no-retryable-writes` connects the services with
retryWrites=false, which MongoDB does not need on one machine without failovers, to measure the
pipeline without that cost; the default runs the services as the local stack does.

Measured, from the first event produced until the last record is verifiable in the lookup (its
projection committed, so GET /api/documents/{id} answers 200):
- records per second end to end;
- each stage's throughput: RecordSigned produced on hocba.signing.events and RecordPublished on
  hocba.publishing.events (the messages' broker timestamps), and the lookup's projection (its
  consumer group's committed offsets); and each stage's records per second of handler time (its
  service's log times every message, or batch, its subscriber takes), what the stage could do
  under this load whatever fed it;
- how long a record took from closed to signed and to published (median, p95, max);
- each consumer group's lag (messages on its topic minus its committed offsets), every second,
  plotted in bench/results/pipeline_lag.svg with each stage's progress: the stage whose group's
  lag grows is the bottleneck;
- each process's peak RSS (VmHWM; a service's child processes apart) and CPU seconds.
The committed offsets come from the broker (OffsetFetch). The messages on each topic are counted by
a consumer in this process that reads the path's topics as they fill (it also reads the timestamps,
and watches the dead-letter topics): tansu 0.6.0 answers ListOffsets for the latest offset with the
base offset of a partition's last batch plus one, short by the rest of that batch. The end is
watched on the broker, not by polling the lookup for every id; it is confirmed by counting
hocba_lookup.published and by asking the lookup's API for a sample of documents, each of which must
answer 200 and verify. Baseline in the same run, once the services have stopped: raw aiokafka
produce and consume rates on the same broker for as many messages of the input's size
(bench/assessment_ingest.py's), so the broker's peak RSS above is the pipeline's alone.
Then, the services still running, the lookup verifying as the stack runs it (its log key set, so
each verification also proves the document's entry in publishing's log): every document verified
once (a document's first verification in the replica), then `--verify-seconds` of closed-loop
GET /api/documents/{id} over every document, against bench/lookup_load.py's bare endpoint in the
same run.
Results: printed, and written to bench/results/pipeline_cohort.json and pipeline_lag.svg.

Size it to the machine: tansu keeps every topic in memory and SecantusDB grows with the records (at
20,000 records their peak RSS was 0.9 GB and 2.9 GB on a 2-core machine, where the pipeline ran at
about 25 records/s); `--records 2000` takes two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from hocba_assessment.application import year_record
from hocba_assessment.domain.marks import SubjectAssessment, Trait
from hocba_assessment.domain.primary import COMPETENCIES, QUALITIES
from hocba_contracts import dead_letter_topic, make_envelope
from hocba_contracts.payloads.assessment import YearRecordClosed
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StaffMember, StudentProfile
from hocba_contracts.topics import ASSESSMENT_EVENTS, PUBLISHING_EVENTS, SIGNING_EVENTS
from hocba_devstack import demo
from hocba_devstack.localstack import free_port, mongo_uri
from hocba_devstack.stack import DEFAULT_PORTS, SERVICES, Stack
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).parent))
from assessment_ingest import assignments, baseline, cpu_seconds, peak_rss_mb, produce  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "pipeline_cohort.json"
PLOT = Path(__file__).parent / "results" / "pipeline_lag.svg"
CLASS_SIZE = 35
CLASSES_PER_SCHOOL = 8
SOURCE = "hocba/assessment"
"""The input is what assessment announces, so it names assessment as its source."""

STAGES = (
    # (consumer group, the topic it reads, the service it belongs to)
    ("hocba-signing-requests", ASSESSMENT_EVENTS.name, "signing"),
    ("hocba-publishing-publish", SIGNING_EVENTS.name, "publishing"),
    ("hocba-lookup-projection", PUBLISHING_EVENTS.name, "lookup"),
)
SIDE_GROUPS = (("hocba-assessment-signing-feedback", SIGNING_EVENTS.name, "assessment"),)
"""Consumer groups that read the path's topics without being on it (watched, never waited for)."""
TOPICS = (ASSESSMENT_EVENTS.name, SIGNING_EVENTS.name, PUBLISHING_EVENTS.name)
PARTITIONS = {t.name: t.partitions for t in (ASSESSMENT_EVENTS, SIGNING_EVENTS, PUBLISHING_EVENTS)}


# -- the cohort ------------------------------------------------------------------------------------


def cohort(records: int) -> list[tuple[bytes, bytes]]:
    """YearRecordClosed envelopes (key, JSON) for `records` students, class by class, each record
    stated by assessment's own rules (TT27/2020) from end-of-year assessments of every subject of
    the grade, the five qualities and ten competencies."""
    rng = random.Random(15_000)
    closed_at = datetime(2025, 5, 30, 8, 0, tzinfo=UTC)
    out: list[tuple[bytes, bytes]] = []
    for k in range((records + CLASS_SIZE - 1) // CLASS_SIZE):
        grade, s = k % 5 + 1, k // CLASSES_PER_SCHOOL
        school = SchoolProfile(
            school_id=f"079-TH-P{s:04d}",
            name=f"Trường Tiểu học số {s + 1}",
            level="primary",
            province_code="079",
            province_name="Thành phố Hồ Chí Minh",
            district=f"Quận {s % 12 + 1}",
            principal=StaffMember(
                staff_id=f"079-TH-P{s:04d}-HT", full_name=demo.person_name(rng, rng.random() < 0.4)
            ),
        )
        klass = ClassProfile(
            class_id=f"{school.school_id}-{demo.SCHOOL_YEAR[:4]}-{grade}A{k % CLASSES_PER_SCHOOL}",
            school_id=school.school_id,
            school_year=demo.SCHOOL_YEAR,
            grade=grade,
            name=f"{grade}A{k % CLASSES_PER_SCHOOL}",
            homeroom_teacher=StaffMember(
                staff_id=f"{school.school_id}-GV{k:05d}",
                full_name=demo.person_name(rng, rng.random() < 0.3),
            ),
        )
        for n in range(min(CLASS_SIZE, records - k * CLASS_SIZE)):
            sid = f"HS079P{k:05d}{n:02d}"
            student = demo.student_payload(rng, sid, school.school_id, grade)
            marks: list[Any] = [
                SubjectAssessment(
                    klass.class_id,
                    demo.SCHOOL_YEAR,
                    sid,
                    a.subject_code,
                    a.period,
                    a.rating,
                    a.score,
                    a.comment,
                )
                for a in demo.assessments_for(rng, klass.class_id, sid, grade)
            ]
            marks += [
                Trait(klass.class_id, demo.SCHOOL_YEAR, sid, code, "end_of_year", level)
                for code in (*QUALITIES, *COMPETENCIES)
                for level in rng.choices("TDC", weights=(6, 5, 1))
            ]
            made = year_record.compute(grade, marks)
            assert made is not None
            record = YearRecordClosed(
                record_id=f"{sid}.{demo.SCHOOL_YEAR}",
                record_version=1,
                school_year=demo.SCHOOL_YEAR,
                student=StudentProfile.model_validate(student.model_dump(exclude={"school_id"})),
                school=school,
                class_info=klass,
                subjects=made.subjects,
                result=made.result,
                closed_at=closed_at,
            )
            env = make_envelope(record, source=SOURCE)
            out.append((env.subject.encode(), env.model_dump_json().encode()))
    return out


def signers(records: int) -> dict[str, int]:
    """How many signers the cohort has: homeroom teachers, principals, school seals."""
    classes = (records + CLASS_SIZE - 1) // CLASS_SIZE
    schools = (classes + CLASSES_PER_SCHOOL - 1) // CLASSES_PER_SCHOOL
    return {"homeroom teachers": classes, "principals": schools, "school seals": schools}


# -- watching the broker ---------------------------------------------------------------------------


@dataclass
class Sample:
    t: float  # seconds since the first event was produced
    ends: dict[str, int]  # topic -> messages on it (as the tail counted them)
    committed: dict[str, int]  # consumer group -> messages it has committed

    def lag(self, group: str, topic: str) -> int:
        """Messages on `topic` that `group` has not committed yet (never below 0: the topic's
        count comes from a fetch a moment after the committed offsets were read)."""
        return max(0, self.ends[topic] - self.committed[group])


class Tail:
    """Reads the path's topics (and their dead-letter topics) from the beginning as they fill: each
    message's broker timestamp by key (when each record went by), and how many messages each
    partition holds. The counts come from what was read and the fetches' high watermarks, not from
    ListOffsets: tansu 0.6.0 answers ListOffsets (latest) with the base offset of a partition's last
    batch plus one, short by the rest of that batch."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.partitions = [
            *(TopicPartition(t, p) for t in TOPICS for p in range(PARTITIONS[t])),
            *(TopicPartition(dead_letter_topic(t), 0) for t in TOPICS),
        ]
        self.stamps: dict[str, dict[bytes, list[float]]] = {t: {} for t in TOPICS}
        self.read: dict[TopicPartition, int] = dict.fromkeys(self.partitions, 0)
        self.consumer: AIOKafkaConsumer | None = None
        self.fetched = asyncio.Event()

    async def run(self) -> None:
        self.consumer = consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            max_poll_records=5000,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign(self.partitions)
            await consumer.seek_to_beginning(*self.partitions)
            while True:
                for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                    by_key = self.stamps.get(tp.topic)
                    if by_key is not None:
                        for m in batch:
                            by_key.setdefault(m.key or b"", []).append(m.timestamp / 1000)
                    self.read[tp] = batch[-1].offset + 1
                self.fetched.set()
        finally:
            self.consumer = None
            await consumer.stop()

    def held(self, tp: TopicPartition) -> int:
        """Messages in a partition, as far as the last fetch knew."""
        high = self.consumer.highwater(tp) if self.consumer is not None else None
        return max(self.read[tp], high or 0)

    def ends(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for tp in self.partitions:
            out[tp.topic] = out.get(tp.topic, 0) + self.held(tp)
        return out

    async def drained(self) -> None:
        """Wait until every message the fetches know of has been read."""
        while not all(self.read[tp] >= self.held(tp) for tp in self.partitions):
            self.fetched.clear()
            await self.fetched.wait()


@dataclass
class Watch:
    bootstrap: str
    records: int
    start: float = 0.0  # time.time() of the first produce
    samples: list[Sample] = field(default_factory=list)

    async def run(self, tail: Tail, stop: asyncio.Event, timeout: float, stall: float) -> float:
        """Every second, each topic's messages (from the tail) and each group's committed offsets,
        until the lookup has committed every record; returns that moment (seconds since the first
        produce). Raises on a dead letter, a stall or the deadline."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        parts = {t: [TopicPartition(t, p) for p in range(n)] for t, n in PARTITIONS.items()}
        dlts = {dead_letter_topic(t) for t in TOPICS}
        watched = [(g, t) for g, t, *_ in (*STAGES, *SIDE_GROUPS)]
        last_change, last_print, previous = time.time(), 0.0, None
        try:
            while True:
                committed = {}
                for group, topic in watched:
                    got = await admin.list_consumer_group_offsets(group, partitions=parts[topic])
                    committed[group] = sum(
                        max(got[tp].offset, 0) for tp in parts[topic] if tp in got
                    )
                tail.fetched.clear()  # counts fetched after the committed offsets were read
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(tail.fetched.wait(), 1.0)
                now = time.time()
                sample = Sample(now - self.start, tail.ends(), committed)
                self.samples.append(sample)
                state = (sample.ends, sample.committed)
                if state != previous:
                    previous, last_change = state, now
                if dead := {t: n for t, n in sample.ends.items() if t in dlts and n}:
                    raise RuntimeError(
                        f"records were dead-lettered: {dead}; see the services' logs"
                    )
                if now - last_print >= 10:
                    print("  " + progress_line(sample, self.records), flush=True)
                    last_print = now
                if sample.committed[STAGES[-1][0]] >= self.records:
                    return sample.t
                if now - last_change > stall:
                    raise TimeoutError(
                        f"no progress for {stall:.0f}s: {progress_line(sample, self.records)}"
                    )
                if sample.t > timeout:
                    raise TimeoutError(
                        f"not done after {timeout:.0f}s: {progress_line(sample, self.records)}"
                    )
                if stop.is_set():
                    raise RuntimeError("stopped")
                await asyncio.sleep(max(0.0, 1.0 - (time.time() - now)))
        finally:
            await admin.close()


def progress_line(s: Sample, records: int) -> str:
    parts = [f"{s.t:6.0f}s"]
    for group, topic, service in STAGES:
        parts.append(f"{service} {s.committed[group]}/{records} read (lag {s.lag(group, topic)})")
    parts.append(
        f"signed {s.ends[SIGNING_EVENTS.name]}, published {s.ends[PUBLISHING_EVENTS.name]}"
    )
    return "; ".join(parts)


async def wait_assigned(stack: Stack, timeout: float) -> None:
    """Wait until each stage's consumer group holds all its topic's partitions (the services log
    their assignments; tansu does not answer DescribeGroups), so that joining is not timed."""
    deadline = time.monotonic() + timeout
    while True:
        held = {
            g: assignments(stack.log_file(s)).get(g, set())
            for g, _, s, *_ in (*STAGES, *SIDE_GROUPS)
        }
        if all(len(held[g]) == PARTITIONS[t] for g, t, *_ in (*STAGES, *SIDE_GROUPS)):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"consumer groups not assigned after {timeout:.0f}s: {held}")
        await asyncio.sleep(0.5)


# -- the checks at the end -------------------------------------------------------------------------


async def api_checks(lookup_url: str, ids: list[str]) -> dict[str, int]:
    """GET /api/documents/{id} for each id: how many answered 200 and verified."""
    sem = asyncio.Semaphore(8)
    ok = verified = 0

    async def one(client: httpx.AsyncClient, document_id: str) -> None:
        nonlocal ok, verified
        async with sem:
            r = await client.get(f"{lookup_url}/api/documents/{document_id}")
            if r.status_code == 200:
                ok += 1
                verified += r.json().get("verification", {}).get("valid") is True

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(one(client, i) for i in ids))
    return {"asked": len(ids), "200": ok, "verified": verified}


def _load(port: int, requests: list[str], seconds: float) -> dict[str, Any]:
    """One closed-loop load phase of bench/lookup_load.py's generator (its own process, 16
    connections, as it runs by default, a second of warm-up) against a server on `port`."""
    from lookup_load import run_load

    figures = run_load(
        {"port": port, "requests": requests, "connections": 16, "seconds": seconds, "warmup": 1.0}
    )
    return {
        k: round(v, 1) if isinstance(v, float) else v
        for k, v in figures.items()
        if k in ("requests", "errors", "rate", "p50_ms", "p95_ms", "p99_ms", "generator_cpu")
    }


def verification_load(
    stack: Stack, ids: list[str], seconds: float, pids: dict[str, int]
) -> dict[str, Any]:
    """The lookup verifying, as the local stack runs it: its transparency log key set, so that a
    verification also proves the document's entry in publishing's log (fetched from publishing's
    API, then kept for a minute once proven), and a replica's first verification of a document
    verifies its signatures (then kept). First every document once (`GET /api/documents/{id}`,
    8 at a time, each of which must verify): the cost of a document's first verification; then
    `seconds` of the closed-loop load over every document, which the lookup now keeps (as long as
    the first pass took under a minute: a proven inclusion is asked again after one). Against
    bench/lookup_load.py's bare FastAPI endpoint, served the same way in the same run. Each phase
    with the lookup's, publishing's and the database's CPU share."""
    from lookup_load import get, wait_answering

    out: dict[str, Any] = {}
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "lookup_load.py"), "--serve-bare", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_answering(port, "/ping")
        out["bare /ping (baseline)"] = _load(port, [get("/ping")], seconds)
    finally:
        bare.terminate()
        bare.wait(10)
    watched = {k: pids[k] for k in ("lookup", "publishing", "database") if k in pids}

    def shares(before: dict[str, float], wall: float) -> dict[str, float]:
        after = cpu(watched)
        return {k: round((after[k] - before[k]) / wall, 2) for k in watched}

    before, t = cpu(watched), time.perf_counter()
    checked = asyncio.run(api_checks(stack.url("lookup"), ids))
    wall = time.perf_counter() - t
    out["first verification of each document"] = {
        **checked,
        "rate": round(len(ids) / wall, 1),
        "seconds": round(wall, 1),
        "CPU share of one core": shares(before, wall),
    }
    lookup = int(stack.url("lookup").rsplit(":", 1)[1])
    before, t = cpu(watched), time.perf_counter()
    figures = _load(lookup, [get(f"/api/documents/{d}") for d in ids], seconds)
    figures["CPU share of one core"] = shares(before, time.perf_counter() - t)
    figures["of bare"] = round(figures["rate"] / out["bare /ping (baseline)"]["rate"], 3)
    out["verifications, every document kept"] = figures
    return out


# -- processes -------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """A process's descendants (the publishing render pool's workers, for one)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *children(kid)]
    return found


def processes(stack: Stack) -> dict[str, int]:
    names = ("broker", "database", "issuer", *SERVICES)
    return {n: pid for n in names if (pid := stack.pid(n)) is not None}


def memory(pids: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, pid in pids.items():
        kids = [k for k in children(pid) if Path(f"/proc/{k}/status").exists()]
        out[name] = {"peak RSS MB": round(peak_rss_mb(pid), 1)}
        if kids:
            out[name]["children"] = len(kids)
            out[name]["children's peak RSS MB (largest)"] = round(
                max(peak_rss_mb(k) for k in kids), 1
            )
    return out


def cpu(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = cpu_seconds(pid, *children(pid))
        except OSError:
            out[name] = float("nan")
    return out


# -- figures ---------------------------------------------------------------------------------------


def stage_figures(stamps: dict[str, dict[bytes, list[float]]], start: float) -> dict[str, Any]:
    """First and last time each record went by each topic, and the throughput in between."""
    out: dict[str, Any] = {}
    for topic, by_key in stamps.items():
        first = sorted(min(v) for v in by_key.values())
        out[topic] = {
            "records": len(by_key),
            "messages": sum(map(len, by_key.values())),
            "first at s": round(first[0] - start, 2) if first else None,
            "last at s": round(first[-1] - start, 2) if first else None,
            "records/s while it ran": round((len(first) - 1) / (first[-1] - first[0]), 1)
            if len(first) > 1 and first[-1] > first[0]
            else None,
        }
    return out


def latencies(stamps: dict[str, dict[bytes, list[float]]]) -> dict[str, Any]:
    """How long a record took from closed to signed and to published, over the cohort."""
    closed = {k: min(v) for k, v in stamps[ASSESSMENT_EVENTS.name].items()}
    out = {}
    for topic, label in (
        (SIGNING_EVENTS.name, "closed → signed"),
        (PUBLISHING_EVENTS.name, "closed → published"),
    ):
        d = sorted(min(v) - closed[k] for k, v in stamps[topic].items() if k in closed)
        if d:
            out[label] = {
                "median s": round(statistics.median(d), 2),
                "p95 s": round(d[int(0.95 * (len(d) - 1))], 2),
                "max s": round(d[-1], 2),
            }
    return out


def projection_figures(samples: list[Sample], records: int) -> dict[str, Any]:
    group = STAGES[-1][0]
    begun = next((s.t for s in samples if s.committed[group] > 0), None)
    done = next((s.t for s in samples if s.committed[group] >= records), None)
    return {
        "first commit at s (±1)": None if begun is None else round(begun, 1),
        "all committed at s (±1)": None if done is None else round(done, 1),
        "records/s while it ran": round(records / (done - begun), 1)
        if begun is not None and done and done > begun
        else None,
    }


def handler_time(log: Path, group: str, since: float, records: int) -> dict[str, Any]:
    """How long a stage's handler was busy, from its service's log (FastStream logs `Received` and
    `Processed` for each message, or each batch, a group's subscriber takes, one at a time), and
    so how many records a second the stage handles while busy: its capacity under this load,
    whatever the stage before it fed it. On a shared 2-core machine the busy time includes
    waiting for a core and for the database."""
    busy, calls, received = 0.0, 0, None
    for line in log.read_text(errors="replace").splitlines() if log.exists() else ():
        if '"Received"' not in line and '"Processed"' not in line:
            continue
        entry = json.loads(line)
        if entry.get("group_id") != group:
            continue
        at = datetime.fromisoformat(entry["ts"]).timestamp()
        if at < since:
            continue
        if entry["msg"] == "Received":
            received = at
        elif entry["msg"] == "Processed" and received is not None:
            busy, calls, received = busy + at - received, calls + 1, None
    return {
        "handler calls": calls,
        "busy seconds": round(busy, 1),
        "records per busy second": round(records / busy, 1) if busy else None,
    }


def lag_figures(samples: list[Sample]) -> dict[str, Any]:
    out = {}
    for group, topic, *_ in (*STAGES, *SIDE_GROUPS):
        lags = [s.lag(group, topic) for s in samples]
        peak = max(range(len(lags)), key=lags.__getitem__)
        out[group] = {
            "peak lag": lags[peak],
            "peak at s": round(samples[peak].t, 1),
            "mean lag": round(statistics.fmean(lags), 1),
        }
    return out


def bottleneck(samples: list[Sample], stages: dict[str, Any]) -> str:
    """The stage whose consumer group carried the largest backlog on average (records waited on
    it), with each stage's records per busy second beside it (the next bottleneck)."""
    means = {
        service: statistics.fmean(s.lag(group, topic) for s in samples)
        for group, topic, service in STAGES
    }
    worst = max(means, key=means.__getitem__)
    lags = ", ".join(f"{k} {v:,.0f}" for k, v in means.items())
    rates = ", ".join(
        f"{service} {stages[f'{service} handler']['records per busy second']}"
        for _, _, service in STAGES
    )
    return f"{worst} (mean consumer lag: {lags}; records per busy second: {rates})"


# -- the plot --------------------------------------------------------------------------------------

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def nice_step(span: float, ticks: int = 6) -> float:
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** int(f"{raw:e}".split("e")[1])
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def panel(
    title: str,
    series: list[tuple[str, list[tuple[float, float]]]],
    top: float,
    x_max: float,
    y_label: str,
) -> str:
    """One chart: lines of (t, value) in a 900 x 300 box whose top edge is at `top`."""
    left, width, height = 80.0, 660.0, 220.0
    y_top = top + 40
    y_max = max((v for _, pts in series for _, v in pts), default=1) or 1
    xs, ys = nice_step(x_max), nice_step(y_max, 5)
    x_max = xs * -(-x_max // xs)
    y_max = ys * -(-y_max // ys)

    def px(t: float) -> float:
        return left + width * t / x_max

    def py(v: float) -> float:
        return y_top + height * (1 - v / y_max)

    out = [f'<text x="{left}" y="{top + 22}" font-size="15" font-weight="bold">{title}</text>']
    k = 0.0
    while k <= y_max + 1e-9:
        out.append(
            f'<line x1="{left}" x2="{left + width}" y1="{py(k):.1f}" y2="{py(k):.1f}" stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{py(k) + 4:.1f}" font-size="11" text-anchor="end">{k:,.0f}</text>'
        )
        k += ys
    k = 0.0
    while k <= x_max + 1e-9:
        out.append(
            f'<line x1="{px(k):.1f}" x2="{px(k):.1f}" y1="{y_top + height}" y2="{y_top + height + 4}" stroke="#333"/>'
        )
        out.append(
            f'<text x="{px(k):.1f}" y="{y_top + height + 17}" font-size="11" text-anchor="middle">{k:,.0f}</text>'
        )
        k += xs
    out.append(
        f'<rect x="{left}" y="{y_top}" width="{width}" height="{height}" fill="none" stroke="#333"/>'
    )
    out.append(
        f'<text x="{left + width / 2}" y="{y_top + height + 34}" font-size="12" text-anchor="middle">seconds since the first event was produced</text>'
    )
    out.append(
        f'<text x="18" y="{y_top + height / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 18 {y_top + height / 2})">{y_label}</text>'
    )
    for i, (name, pts) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        ly = y_top + 14 + 18 * i
        out.append(
            f'<line x1="{left + width + 14}" x2="{left + width + 38}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/>'
        )
        out.append(f'<text x="{left + width + 44}" y="{ly + 4}" font-size="11">{name}</text>')
    return "\n".join(out)


def plot(samples: list[Sample], records: int, heading: str) -> str:
    """The consumer lag of every group over time, and each stage's progress, as one SVG."""
    x_max = max((s.t for s in samples), default=1.0)
    lag = []
    for group, topic, service, *_ in (*STAGES, *SIDE_GROUPS):
        points = [(s.t, float(s.lag(group, topic))) for s in samples]
        peak = max((v for _, v in points), default=0)
        lag.append((f"{group} ({service}), peak {peak:,.0f}", points))
    done = [
        ("closed (input produced)", [(s.t, s.ends[ASSESSMENT_EVENTS.name]) for s in samples]),
        ("signed (signing.events)", [(s.t, s.ends[SIGNING_EVENTS.name]) for s in samples]),
        ("published (publishing.events)", [(s.t, s.ends[PUBLISHING_EVENTS.name]) for s in samples]),
        ("projected (lookup committed)", [(s.t, s.committed[STAGES[-1][0]]) for s in samples]),
    ]
    body = "\n".join(
        (
            f'<text x="80" y="24" font-size="17" font-weight="bold">{heading}</text>',
            panel("Consumer lag per group (messages)", lag, 36, x_max, "messages behind"),
            panel(f"Records through each stage (of {records:,})", done, 346, x_max, "records"),
        )
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="1120" height="660" viewBox="0 0 1120 660" '
        'font-family="DejaVu Sans, Arial, sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
        f"{body}\n</svg>\n"
    )


# -- main ------------------------------------------------------------------------------------------


async def run(
    stack: Stack, input_: list[tuple[bytes, bytes]], args: argparse.Namespace
) -> tuple[Watch, Tail, float]:
    await wait_assigned(stack, timeout=120)
    tail = Tail(stack.kafka_bootstrap)
    reading = asyncio.create_task(tail.run())
    watch = Watch(stack.kafka_bootstrap, len(input_))
    stop = asyncio.Event()
    watch.start = time.time()
    watcher = asyncio.create_task(watch.run(tail, stop, args.timeout, args.stall))
    try:
        try:
            seconds, _ = await produce(stack.kafka_bootstrap, ASSESSMENT_EVENTS.name, input_)
        except BaseException:
            stop.set()
            raise
        print(f"  {len(input_)} YearRecordClosed produced in {seconds:.1f}s", flush=True)
        done_at = await watcher
        await asyncio.wait_for(tail.drained(), 120)  # the last messages' timestamps
        return watch, tail, done_at
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=132_000)
    parser.add_argument(
        "--sample", type=int, default=200, help="documents asked of the lookup's API at the end"
    )
    parser.add_argument(
        "--timeout", type=float, default=12 * 3600, help="seconds for the whole cohort"
    )
    parser.add_argument(
        "--stall", type=float, default=600, help="give up after this long without progress"
    )
    parser.add_argument(
        "--verify-seconds",
        type=float,
        default=10,
        help="seconds of verification load on the full lookup at the end (0: none)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack's state directory")
    parser.add_argument(
        "--no-retryable-writes",
        action="store_true",
        help="the services connect with retryWrites=false (see the docstring: SecantusDB's "
        "bookkeeping of retryable writes slows every write once it holds 10,000)",
    )
    args = parser.parse_args()
    n = args.records
    work = Path(tempfile.mkdtemp(prefix="hocba-bench-pipeline-"))
    ports = {name: free_port() for name in DEFAULT_PORTS}
    env: dict[str, dict[str, str]] = {name: {} for name in SERVICES}
    env["publishing"]["PDF_RENDER"] = "lazy"
    if args.no_retryable_writes:
        for name in SERVICES:
            env[name]["MONGO_URI"] = mongo_uri(ports["database"]) + "&retryWrites=false"
    stack = Stack(work, ports, extra_env=env)
    report: dict[str, Any] = {
        "records": n,
        "classes": (n + CLASS_SIZE - 1) // CLASS_SIZE,
        "signers": signers(n),
        "cores": os.cpu_count(),
        "database": "SecantusDB on disk",
        "signing": "server-side, in bulk per poll, signer and school (one signature over the documents' Merkle root): homeroom teacher, principal, school seal (PKCS#11)",
        "PDFs": "lazy (none rendered on this path)",
        "retryable writes": not args.no_retryable_writes,
    }
    failed = True
    try:
        t = time.perf_counter()
        input_ = cohort(n)
        size = sum(len(v) for _, v in input_) // n
        report["input message bytes (mean)"] = size
        print(
            f"{n} closed year records in {report['classes']} classes, {size} bytes each "
            f"(made in {time.perf_counter() - t:.0f}s)",
            flush=True,
        )
        stack.start_infra()
        for name in SERVICES:
            stack.start_service(name)
        stack.wait_ready()
        pids = processes(stack)
        cpu_before = cpu(pids)
        watch, tail, done_at = asyncio.run(run(stack, input_, args))
        cpu_after = cpu(pids)
        report["end to end seconds (±1)"] = round(done_at, 1)
        report["end to end records/s"] = round(n / done_at, 1)
        report["memory"] = memory(pids)
        report["CPU seconds during the run"] = {
            k: round(cpu_after[k] - cpu_before[k], 1) for k in pids
        }
        report["CPU share of one core"] = {
            k: round((cpu_after[k] - cpu_before[k]) / done_at, 2) for k in pids
        }

        mongo = MongoClient(stack.mongo_uri)
        stored = mongo["hocba_lookup"].published.count_documents({})
        report["hocba_lookup.published"] = stored
        report["hocba_publishing.documents"] = mongo["hocba_publishing"].documents.count_documents(
            {}
        )
        ids = [d["_id"] for d in mongo["hocba_lookup"].published.find({}, {"_id": 1})]
        report["lookup API checks"] = checks = asyncio.run(
            api_checks(
                stack.url("lookup"), random.Random(1).sample(ids, min(args.sample, len(ids)))
            )
        )
        stamps = tail.stamps
        report["stages"] = stage_figures(stamps, watch.start)
        report["stages"]["lookup projection"] = projection_figures(watch.samples, n)
        report["latency"] = latencies(stamps)
        for group, _, service in STAGES:
            report["stages"][f"{service} handler"] = handler_time(
                stack.log_file(service), group, watch.start, n
            )
        report["consumer lag"] = lag_figures(watch.samples)
        report["bottleneck"] = bottleneck(watch.samples, report["stages"])
        report["lag samples"] = [[round(s.t, 2), s.ends, s.committed] for s in watch.samples]
        PLOT.parent.mkdir(parents=True, exist_ok=True)
        PLOT.write_text(
            plot(
                watch.samples,
                n,
                f"Hocba pipeline: {n:,} closed year records, signing → publishing → lookup "
                f"({n / done_at:,.0f} records/s)",
            )
        )
        if stored != n or checks["verified"] != checks["asked"]:
            raise RuntimeError(f"{stored} of {n} records in the lookup; API checks {checks}")
        if args.verify_seconds > 0:
            report["verification load"] = verification_load(stack, ids, args.verify_seconds, pids)
        # The baseline last, on the same broker with the services stopped: the broker's peak RSS
        # above is the pipeline's alone, and the raw rates do not share the cores with anyone.
        for name in reversed(SERVICES):
            stack.kill(name)
        report["baseline"] = asyncio.run(baseline(stack.kafka_bootstrap, n, size))
        failed = False
    except BaseException:
        print(f"\nfailed; the stack's logs are in {work / 'log'}", file=sys.stderr)
        for name in SERVICES:
            print(f"--- {name} (last lines)\n{stack.tail(name, 8)}", file=sys.stderr)
        raise
    finally:
        stack.stop()
        if not failed and not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    samples = report.pop("lag samples")
    print(json.dumps(report, indent=1, ensure_ascii=False))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({**report, "lag samples": samples}, indent=1, ensure_ascii=False) + "\n"
    )
    print(f"\nwritten to {RESULTS} and {PLOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
