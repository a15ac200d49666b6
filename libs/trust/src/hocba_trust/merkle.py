"""Bulk signing: one signature over the Merkle root of a class's documents.

Construction (the Merkle tree hash of RFC 9162 §2.1, SHA-256):
- leaf i   = SHA-256(0x00 || SHA-256(canonical bytes of document i))
- node     = SHA-256(0x01 || left || right)
- a tree of n > 1 leaves splits at k, the largest power of two below n: MTH(D[0:k]) and MTH(D[k:n]);
  no leaf is ever duplicated, so two different lists cannot share a root (unlike the
  duplicate-last-node scheme, CVE-2012-2459). The 0x00/0x01 prefixes keep leaves and nodes apart.
- the signer signs (CAdES, detached) the canonical JSON of a root statement:
  {"type": "hocba.merkle_root", "version": 1, "hash": "sha256", "tree_size": n, "root": hex,
   "batch_id": ..., "signer_role": ..., "signer_id": ...}
- each document carries its inclusion proof: {"leaf_index": i, "tree_size": n, "path": [hex, ...]}
  (RFC 9162 §2.1.3 audit path, nearest sibling first).

Verifying one document needs only the document, its proof, the statement and the signature:
recompute the leaf, fold the path to a root (RFC 9162 §2.1.3.2), compare with the statement's
root, verify the signature over the statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STATEMENT_TYPE = "hocba.merkle_root"


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(content_sha256: bytes) -> bytes:
    return _h(b"\x00" + content_sha256)


def node_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def split(n: int) -> int:
    """k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1), where a tree of n
    leaves splits into its left and right subtrees."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf hashes (already leaf_hash'ed)."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, nearest sibling first."""
    n = len(leaves)
    if n <= 1:
        return []
    k = split(n)
    if index < k:
        return inclusion_path(index, leaves[:k]) + [root(leaves[k:])]
    return inclusion_path(index - k, leaves[k:]) + [root(leaves[:k])]


class _Tree:
    """All roots of subtrees computed once, so that n proofs cost O(n log n), not O(n²)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self.memo: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        key = (lo, hi)
        found = self.memo.get(key)
        if found is None:
            if hi - lo == 1:
                found = self.leaves[lo]
            else:
                k = split(hi - lo)
                found = node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
            self.memo[key] = found
        return found

    def path(self, index: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo <= 1:
            return []
        k = split(hi - lo)
        if index < lo + k:
            return self.path(index, lo, lo + k) + [self.mth(lo + k, hi)]
        return self.path(index, lo + k, hi) + [self.mth(lo, lo + k)]


@dataclass(frozen=True)
class Batch:
    root: bytes
    proofs: list[dict[str, Any]]


def build(content_hashes: Sequence[bytes]) -> Batch:
    """Root and every document's inclusion proof, for documents given by their content SHA-256."""
    leaves = [leaf_hash(h) for h in content_hashes]
    if not leaves:
        raise ValueError("a batch needs at least one document")
    tree = _Tree(leaves)
    n = len(leaves)
    proofs = [
        {"leaf_index": i, "tree_size": n, "path": [p.hex() for p in tree.path(i, 0, n)]}
        for i in range(n)
    ]
    return Batch(tree.mth(0, n), proofs)


class ProofError(ValueError):
    """A Merkle proof that is malformed or does not prove what it claims (RFC 9162 §2.1.3-2.1.4)."""


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that the audit path `path` gives leaf hash `leaf` at `index` of a tree of `size`
    leaves: the fold of RFC 9162 §2.1.3.2 (steps 1-4, and step 5's check that sn reached 0).
    Raises ProofError on an index outside the tree, a hash that is not 32 bytes, or a path of the
    wrong length; comparing the result with a trusted root is the caller's part."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    if len(leaf) != 32 or any(len(p) != 32 for p in path):
        raise ProofError("a hash of the inclusion proof is not 32 bytes")
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof longer than the tree")
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof shorter than the tree")
    return r


def root_from_proof(content_sha256: bytes, proof: dict[str, Any]) -> bytes:
    """Fold an inclusion proof (RFC 9162 §2.1.3.2). Raises ValueError on a malformed proof."""
    index, size = int(proof["leaf_index"]), int(proof["tree_size"])
    path = [bytes.fromhex(p) for p in proof["path"]]
    return root_from_path(leaf_hash(content_sha256), index, size, path)


def statement(
    root_hash: bytes, tree_size: int, batch_id: str, signer_role: str, signer_id: str
) -> dict[str, Any]:
    return {
        "type": STATEMENT_TYPE,
        "version": 1,
        "hash": "sha256",
        "tree_size": tree_size,
        "root": root_hash.hex(),
        "batch_id": batch_id,
        "signer_role": signer_role,
        "signer_id": signer_id,
    }


def verify_in_batch(content: bytes, batch: dict[str, Any]) -> dict[str, Any]:
    """Check that `content` is in the batch whose statement was signed; returns the statement (whose
    canonical bytes the signature covers). Raises ValueError saying what does not hold."""
    statement_ = batch.get("statement") or {}
    proof = batch.get("proof") or {}
    if statement_.get("type") != STATEMENT_TYPE or statement_.get("hash") != "sha256":
        raise ValueError("not a hocba.merkle_root statement")
    if int(proof.get("tree_size", -1)) != int(statement_.get("tree_size", -2)):
        raise ValueError("the proof is for a tree of another size")
    if root_from_proof(hashlib.sha256(content).digest(), proof).hex() != statement_.get("root"):
        raise LookupError("the document is not in the signed batch")
    return dict(statement_)
