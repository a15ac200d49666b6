"""Real signed records (the development PKI, fictional people), a real publications log (an RFC 9162
tree in memory, Ed25519-signed checkpoints) and a real HTTP lookup serving it, for the verifier's
tests."""

from __future__ import annotations

import base64
import copy
import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hocba_devstack.devpki import DevPKI
from hocba_trust import logentry, merkle, tlog
from hocba_trust.canonical import canonical_bytes, sha256_hex
from hocba_trust.cms import sign_detached
from hocba_trust.note import Checkpoint, Signer, sign_checkpoint
from hocba_verifier.cli import main

ORIGIN = "hocba.test/publishing-log"
DOCUMENT_ID = "HB-2024-ABCD-EFGH-JKMN"
NEWER_ID = "HB-2024-ABCD-EFGH-PQRS"
CITIZEN_ID = "079318004321"
STUDENT_NAME = "Nguyễn Thị Ánh Tuyết"
AT = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
SIGNERS = (
    ("homeroom_teacher", "GV-V", "Đỗ Thị Ngọc Diệp"),
    ("principal", "HT-V", "Lâm Quốc Hùng"),
)


def document(version: int = 1) -> dict[str, Any]:
    return {
        "document_type": "hocba.year_record",
        "format_version": 1,
        "record_id": "HS07900001.2024-2025",
        "record_version": version,
        "school_year": "2024-2025",
        "student": {
            "student_id": "HS07900001",
            "citizen_id": CITIZEN_ID,
            "full_name": STUDENT_NAME,
            "date_of_birth": "2018-11-20",
            "sex": "female",
            "ethnicity": "Kinh",
            "place_of_birth": "Đồng Nai",
            "parents": [
                {"relation": "mother", "full_name": "Trương Thị Hằng", "occupation": "Giáo viên"}
            ],
        },
        "school": {
            "school_id": "079-TH-V",
            "name": "Trường Tiểu học Đinh Tiên Hoàng",
            "level": "primary",
            "province_code": "079",
            "province_name": "Thành phố Hồ Chí Minh",
            "district": "Quận Bình Thạnh",
            "principal": {"staff_id": "HT-V", "full_name": "Lâm Quốc Hùng"},
        },
        "class_info": {
            "class_id": "079-TH-V-5A",
            "school_id": "079-TH-V",
            "school_year": "2024-2025",
            "grade": 5,
            "name": "5A",
            "homeroom_teacher": {"staff_id": "GV-V", "full_name": "Đỗ Thị Ngọc Diệp"},
            "subject_teachers": [],
        },
        "subjects": [
            {
                "subject_code": "TV",
                "subject_name": "Tiếng Việt",
                "rating": "T",
                "rating_label": "Hoàn thành tốt",
                "score": 10.0,
                "comment": "Đọc diễn cảm, viết đúng chính tả.",
            }
        ],
        "result": {
            "level": "hoan_thanh_xuat_sac",
            "level_label": "Hoàn thành xuất sắc",
            "completed_programme": True,
            "rules": "TT27/2020",
        },
        "closed_at": "2025-05-30T08:00:00Z",
    }


def signatures(pki: DevPKI, doc: dict[str, Any], bulk: bool = False) -> list[dict[str, Any]]:
    """Each signer's detached CMS over the canonical document; with `bulk`, the principal signs a
    batch of three documents (a Merkle root statement) as signing's bulk signature does."""
    content = canonical_bytes(doc)
    out = []
    for role, signer_id, name in SIGNERS:
        identity = pki.load_identity(signer_id) or pki.issue(signer_id, name)
        batch = None
        signed = content
        if bulk and role == "principal":
            tree = merkle.build([bytes.fromhex(sha256_hex(content)), b"\x01" * 32, b"\x02" * 32])
            statement = merkle.statement(tree.root, 3, "batch-1", role, signer_id)
            batch = {"statement": statement, "proof": tree.proofs[0]}
            signed = canonical_bytes(statement)
        out.append(
            {
                "role": role,
                "signer_id": signer_id,
                "signer_name": name,
                "signed_at": AT.isoformat(),
                "cms": base64.b64encode(sign_detached(signed, identity)).decode(),
                "batch": batch,
            }
        )
    return out


def record(
    pki: DevPKI, version: int = 1, document_id: str = DOCUMENT_ID, **kw: Any
) -> dict[str, Any]:
    """Publishing's `GET /documents/{id}` answer for a freshly signed document."""
    doc = document(version)
    return {
        "document_id": document_id,
        "record_id": doc["record_id"],
        "record_version": version,
        "school_year": doc["school_year"],
        "status": "published",
        "content_sha256": sha256_hex(canonical_bytes(doc)),
        "signatures": signatures(pki, doc, **kw),
        "document": doc,
    }


class Log:
    """A publications log: entries, their tree and the log's signing key."""

    def __init__(self, signer: Signer | None = None) -> None:
        self.signer = signer or Signer.generate(ORIGIN)
        self.store = tlog.MemoryStore()
        self.entries: list[dict[str, Any]] = []

    @property
    def vkey(self) -> str:
        return self.signer.verifier().key()

    def append(self, *entries: dict[str, Any]) -> None:
        self.entries += entries
        self.store.append([logentry.entry_leaf_hash(e) for e in entries])

    def publish(self, rec: dict[str, Any]) -> None:
        self.append(
            logentry.published(rec["document_id"], rec["record_version"], rec["content_sha256"], AT)
        )

    def checkpoint(self, size: int | None = None) -> str:
        size = self.store.size if size is None else size
        return sign_checkpoint(
            Checkpoint(ORIGIN, size, self.store.root(size)), self.signer
        ).decode()

    def bundle(self, document_id: str, size: int | None = None) -> dict[str, Any]:
        """Every entry naming `document_id` among the first `size` leaves, proven at that size."""
        size = self.store.size if size is None else size
        return {
            "checkpoint": self.checkpoint(size),
            "entries": [
                {
                    "index": i,
                    "entry": copy.deepcopy(e),
                    "proof": [logentry.b64(h) for h in self.store.inclusion_proof(i, size)],
                }
                for i, e in enumerate(self.entries[:size])
                if e["document_id"] == document_id
            ],
        }

    def consistency(self, old: int, new: int | None = None) -> dict[str, Any]:
        new = self.store.size if new is None else new
        return {
            "old_size": old,
            "new_size": new,
            "proof": [logentry.b64(h) for h in self.store.consistency_proof(old, new)],
        }


def filler(log: Log, n: int) -> None:
    """Other documents' publications, so that proofs have some depth."""
    for i in range(n):
        log.append(logentry.published(f"HB-2024-FILL-{i:04d}-XXXX", 1, f"{i:064x}", AT))


def write(path: Path, value: Any) -> str:
    path.write_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return str(path)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue()


def run_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, text = run(*argv, "--json")
    return code, json.loads(text)


def outcomes(answer: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["outcome"] for c in answer["checks"]}


Route = Callable[[str, dict[str, list[str]]], tuple[int, bytes]]


def log_routes(log: Log) -> Route:
    """The lookup's two log endpoints over `log`, as the service answers them."""

    def answer(path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        if path.startswith("/log/documents/"):
            document_id = path.removeprefix("/log/documents/")
            bundle = log.bundle(document_id)
            if not bundle["entries"]:
                return 404, b'{"detail": "unknown document"}'
            return 200, json.dumps(bundle).encode()
        if path == "/log/proof/consistency":
            old, new = int(query["old"][0]), int(query["new"][0])
            return 200, json.dumps(log.consistency(old, new)).encode()
        return 404, b"{}"

    return answer


def fixed(status: int, body: bytes) -> Route:
    """A lookup that answers every request the same."""
    return lambda _path, _query: (status, body)


@contextmanager
def lookup_server(route: Route) -> Iterator[str]:
    """A real HTTP server on a free local port, answering with `route`; its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            status, body = route(url.path, parse_qs(url.query))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
