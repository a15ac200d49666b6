"""The lookup's two log endpoints, read over HTTP(S). Nothing they answer is believed: a bundle is
verified against the log's key, a consistency proof against both checkpoints.

- `GET {url}/log/documents/{document_id}`: the document's log bundle (hocba_trust.logentry);
- `GET {url}/log/proof/consistency?old=<size>&new=<size>`:
  `{"old_size": n, "new_size": m, "proof": ["<base64>", ...]}`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from hocba_trust import logentry

DEFAULT_TIMEOUT = 15.0
MAX_ANSWER = 8 * 1024 * 1024


class Unreachable(Exception):
    """The lookup did not answer, or not with what was asked: exit code 4."""


class ProofMismatch(ValueError):
    """A consistency proof for other tree sizes than asked, or not a list of hashes."""


def proof_hashes(answer: Any, old_size: int, new_size: int) -> list[bytes]:
    """The hashes of a consistency proof answer (or file), checked to be for these sizes."""
    if not isinstance(answer, dict):
        raise ProofMismatch("a consistency proof is a JSON object")
    if (answer.get("old_size"), answer.get("new_size")) != (old_size, new_size):
        raise ProofMismatch(
            f"the proof is for sizes {answer.get('old_size')!r} → {answer.get('new_size')!r}, "
            f"not {old_size} → {new_size}"
        )
    proof = answer.get("proof")
    if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
        raise ProofMismatch("a consistency proof's `proof` is a list of base64 hashes")
    try:
        return [logentry.unb64(h) for h in proof]
    except logentry.BundleError as exc:
        raise ProofMismatch(str(exc)) from None


class Lookup:
    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            headers={"Accept": "application/json", "User-Agent": "hocba-verify"},
        )

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: dict[str, int] | None = None) -> Any:
        """The JSON at `path`; None for a 404."""
        try:
            response = self._client.get(self.url + path, params=params)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Unreachable(f"{self.url}{path}: HTTP {response.status_code}")
        if len(response.content) > MAX_ANSWER:
            raise Unreachable(f"{self.url}{path}: the answer is too large")
        try:
            return response.json()
        except ValueError:
            raise Unreachable(f"{self.url}{path}: the answer is not JSON") from None

    def bundle(self, document_id: str) -> dict[str, Any] | None:
        """The document's log bundle, or None when the lookup has none (404)."""
        answer = self._get(f"/log/documents/{quote(document_id, safe='')}")
        if answer is not None and not isinstance(answer, dict):
            raise Unreachable(f"{self.url}: the log bundle is not a JSON object")
        return answer

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """The proof that the tree of `old_size` leaves is a prefix of that of `new_size`.
        ProofMismatch when the answer is for other sizes or not hashes (the verifier fails it)."""
        answer = self._get("/log/proof/consistency", {"old": old_size, "new": new_size})
        if answer is None:
            raise Unreachable(
                f"{self.url}: no consistency proof from {old_size} to {new_size} (HTTP 404)"
            )
        return proof_hashes(answer, old_size, new_size)
