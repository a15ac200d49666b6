"""A transparency log's Merkle tree: RFC 9162 proofs, computed from stored subtrees.

The tree is the one of merkle.py (RFC 9162 §2.1.1, SHA-256): leaf = SHA-256(0x00 || entry), node =
SHA-256(0x01 || left || right), a tree of n > 1 leaves split at k, the largest power of two below n;
the empty tree's hash is SHA-256(""). This module adds what a log that only grows needs:

- inclusion proofs (§2.1.3.1 PATH) and their verification for any (index, tree size, root)
  (§2.1.3.2, whose fold merkle.root_from_path does);
- consistency proofs (§2.1.4.1 SUBPROOF) and their verification (§2.1.4.2): the tree of `old` leaves
  is a prefix of the tree of `new` leaves. Equal sizes need an empty proof and equal roots; a proof
  from the empty tree proves nothing and is refused, as transparency-dev/merkle does (the RFC
  defines proofs for 0 < first < second). When `old` is a power of two the proof leaves its root
  out, and the verifier puts it first (§2.1.4.2 step 2).

No leaf list is held: every function reads hashes through `subtree(level, index)`, the hash of the
perfect subtree over leaves [index·2^level, (index+1)·2^level), which is what a log stores (one row
a node, keyed by level and index). Every subtree RFC 9162 names starts at a multiple of the power of
two at least its size, so it is a run of at most log2(n) such perfect subtrees, folded from the
right: the root of any size costs at most 64 reads, an inclusion proof about 2·log2(n), a
consistency proof about 3·log2(n). An append of k leaves completes about 2k perfect subtrees, which
`append_nodes` computes (reading at most one stored node a level) so that a store writes them in one
batch. `MemoryStore` is such a store in a dict.

Verification raises ProofError (a ValueError) on anything that does not hold, malformed or forged:
sizes outside 0..2^64-1 or in the wrong order, hashes that are not 32 bytes, a proof too long or too
short, roots that do not match; never another exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from hocba_trust.merkle import ProofError, leaf_hash, node_hash, root_from_path, split

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryStore",
    "Node",
    "ProofError",
    "Subtree",
    "append_nodes",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "root_at",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
MAX_SIZE = 2**64 - 1
"""Tree sizes and indexes are uint64 (RFC 9162 §4.1, and every implementation)."""
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]
"""`subtree(level, index)`: the hash of the perfect subtree over leaves
[index·2^level, (index+1)·2^level); level 0 is the leaf hash itself."""


@dataclass(frozen=True)
class Node:
    """One perfect, aligned subtree: what a store keeps, keyed by (level, index)."""

    level: int
    index: int
    hash: bytes


def _check_size(size: int, what: str = "tree size") -> None:
    if not 0 <= size <= MAX_SIZE:
        raise ProofError(f"{what} {size} is outside 0..2^64-1")


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _perfect_runs(lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """(level, index) of the perfect subtrees that make up leaves [lo, hi), largest first, for lo a
    multiple of the power of two at least hi - lo."""
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        yield level, lo >> level
        lo += 1 << level


def _range_hash(lo: int, hi: int, subtree: Subtree) -> bytes:
    """MTH(D[lo:hi]) of the RFC, for a subtree that its definitions name (lo aligned as above): the
    hash of each perfect run, folded right to left, since each split point is a run boundary."""
    hashes = [subtree(level, index) for level, index in _perfect_runs(lo, hi)]
    folded = hashes[-1]
    for left in reversed(hashes[:-1]):
        folded = node_hash(left, folded)
    return folded


def root_at(size: int, subtree: Subtree) -> bytes:
    """The root hash of the first `size` leaves: at most one read per set bit of `size`."""
    _check_size(size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, subtree)


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, nearest sibling first."""
    _check_size(size)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    return _path(index, 0, size, subtree)


def _path(m: int, lo: int, hi: int, subtree: Subtree) -> list[bytes]:
    """PATH(m - lo, D[lo:hi])."""
    if hi - lo == 1:
        return []
    k = split(hi - lo)
    if m < lo + k:
        return _path(m, lo, lo + k, subtree) + [_range_hash(lo + k, hi, subtree)]
    return _path(m, lo + k, hi, subtree) + [_range_hash(lo, lo + k, subtree)]


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) = SUBPROOF(old_size, D[0:new_size], true) of RFC 9162
    §2.1.4.1; empty for equal sizes. Refused from the empty tree (see the module's docstring)."""
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    return _subproof(old_size, 0, new_size, True, subtree)


def _subproof(m: int, lo: int, hi: int, known: bool, subtree: Subtree) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], known): `known` says MTH(D[lo:lo+m]) is the old root itself, which the
    verifier has."""
    if m == hi - lo:
        return [] if known else [_range_hash(lo, hi, subtree)]
    k = split(hi - lo)
    if m <= k:
        return _subproof(m, lo, lo + k, known, subtree) + [_range_hash(lo + k, hi, subtree)]
    return _subproof(m - k, lo + k, hi, False, subtree) + [_range_hash(lo, lo + k, subtree)]


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` gives leaf hash `leaf` at `index` (RFC 9162 §2.1.3.2, steps 1-4)."""
    _check_size(size)
    return root_from_path(leaf, index, size, proof)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf hash `leaf` is leaf `index` of the tree of `size` leaves whose root is
    `root` (RFC 9162 §2.1.3.2). Raises ProofError otherwise."""
    _check_hash(root, "the root")
    if root_from_inclusion(leaf, index, size, proof) != root:
        raise ProofError("the inclusion proof leads to another root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
    `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2). Raises ProofError otherwise."""
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    _check_hash(old_root, "the old root")
    _check_hash(new_root, "the new root")
    for c in proof:
        _check_hash(c, "a hash of the consistency proof")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("two different roots for the same tree size")
        return
    if not proof:
        raise ProofError("empty consistency proof between different sizes")
    old, new = _fold_consistency(old_size, new_size, old_root, proof)
    if old != old_root:
        raise ProofError("the consistency proof does not lead to the old root")
    if new != new_root:
        raise ProofError("the consistency proof does not lead to the new root")


def _fold_consistency(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Steps 2-7 of RFC 9162 §2.1.4.2 for 0 < old_size < new_size: the old and new roots the proof
    leads to (fr, sr)."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof longer than the trees")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof shorter than the trees")
    return fr, sr


def append_nodes(size: int, leaf_hashes: Sequence[bytes], subtree: Subtree) -> list[Node]:
    """The perfect subtrees that appending `leaf_hashes` (already leaf_hash'ed) to a tree of `size`
    leaves completes, level by level from the leaves: those whose last leaf is new. A store that
    writes them all has every node `root_at` and the proofs read, for every size up to the new one.
    Reads at most one stored node a level (a left sibling on the old tree's right edge)."""
    new_size = size + len(leaf_hashes)
    _check_size(size)
    _check_size(new_size, "new tree size")
    for h in leaf_hashes:
        _check_hash(h, "a leaf hash")
    made = [Node(0, size + i, h) for i, h in enumerate(leaf_hashes)]
    below = {n.index: n.hash for n in made}
    level = 1
    while new_size >> level > size >> level:
        here: dict[int, bytes] = {}
        for index in range(size >> level, new_size >> level):
            left = below.get(2 * index)
            if left is None:
                left = subtree(level - 1, 2 * index)
            here[index] = node_hash(left, below[2 * index + 1])
            made.append(Node(level, index, here[index]))
        below = here
        level += 1
    return made


class MemoryStore:
    """A log's nodes in a dict keyed (level, index), as a database keeps them in a table: for tests,
    and for trees small enough to hold."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.size = 0
        self.nodes: dict[tuple[int, int], bytes] = {}
        if leaf_hashes:
            self.append(leaf_hashes)

    def subtree(self, level: int, index: int) -> bytes:
        try:
            return self.nodes[(level, index)]
        except KeyError:
            raise LookupError(f"no stored subtree at level {level}, index {index}") from None

    def append(self, leaf_hashes: Sequence[bytes]) -> list[Node]:
        made = append_nodes(self.size, leaf_hashes, self.subtree)
        self.nodes.update(((n.level, n.index), n.hash) for n in made)
        self.size += len(leaf_hashes)
        return made

    def _within(self, size: int | None) -> int:
        size = self.size if size is None else size
        if size > self.size:
            raise ProofError(f"tree size {size} is beyond the log's {self.size} leaves")
        return size

    def root(self, size: int | None = None) -> bytes:
        return root_at(self._within(size), self.subtree)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self._within(size), self.subtree)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return consistency_proof(old_size, self._within(new_size), self.subtree)
