"""The transparency log's RFC 9162 proofs (`hocba_trust.tlog`), checked three ways:

- against transparency-dev/merkle, the Go library of Certificate Transparency's successors: the
  golden hashes and proofs of its testonly package over its eight leaf inputs, and its 196 JSON
  probes (testdata/inclusion, testdata/consistency: happy paths and every mutation of them), copied
  unchanged into vectors/transparency-dev-merkle.json with their commit;
- against a brute-force reference written here from the RFC's recursive definitions (MTH, PATH,
  SUBPROOF over lists), for every size up to 70 and every index or old size;
- with hypothesis: a mutated proof, a forged leaf or root raises ProofError, nothing else, and
  never verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hocba_trust import merkle, tlog
from hocba_trust.tlog import MemoryStore, ProofError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

VECTORS = Path(__file__).parent / "vectors" / "transparency-dev-merkle.json"
FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


# The reference: RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 as written, over lists of entries.


def ref_mth(entries: Sequence[bytes]) -> bytes:
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < len(entries):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:])).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, entries: Sequence[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, entries[:k]) + [ref_mth(entries[k:])]
    return ref_path(m - k, entries[k:]) + [ref_mth(entries[:k])]


def ref_subproof(m: int, entries: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if b else [ref_mth(entries)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, entries[:k], b) + [ref_mth(entries[k:])]
    return ref_subproof(m - k, entries[k:], False) + [ref_mth(entries[:k])]


ENTRIES = [hashlib.sha256(b"entry %d" % i).digest()[: 1 + i % 31] for i in range(70)]
STORE = MemoryStore([tlog.leaf_hash(e) for e in ENTRIES])
ROOTS = [ref_mth(ENTRIES[:n]) for n in range(71)]
UNKNOWN = hashlib.sha256(b"a root of no tree here").digest()


def root_of(size: int) -> bytes:
    return ROOTS[size] if 0 <= size <= 70 else UNKNOWN


# transparency-dev/merkle testonly/constants.go and testonly/reference_test.go (commit 417fb0c).

GOLDEN_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
    + ["606162636465666768696a6b6c6d6e6f"]
]
GOLDEN_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
L0 = ["6e340b9c", "96a296d2", "0298d122", "07506a85", "bc1a0643", "4271a26b", "b08693ec"]
GOLDEN_INCLUSION = {
    (0, 1): [],
    (0, 2): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    (1, 2): ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
GOLDEN_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


def golden_store() -> MemoryStore:
    return MemoryStore([tlog.leaf_hash(e) for e in GOLDEN_LEAVES])


def test_the_roots_of_every_size_are_transparency_devs() -> None:
    store = golden_store()
    assert [store.root(n) for n in range(9)] == GOLDEN_ROOTS
    assert tlog.EMPTY_ROOT == GOLDEN_ROOTS[0]
    assert [store.subtree(0, i).hex()[:8] for i in range(7)] == L0


def test_the_inclusion_and_consistency_proofs_are_transparency_devs() -> None:
    store = golden_store()
    for (index, size), want in GOLDEN_INCLUSION.items():
        proof = store.inclusion_proof(index, size)
        assert [p.hex() for p in proof] == want, (index, size)
        tlog.verify_inclusion(store.subtree(0, index), index, size, proof, GOLDEN_ROOTS[size])
    for (old, new), want in GOLDEN_CONSISTENCY.items():
        proof = store.consistency_proof(old, new)
        assert [p.hex() for p in proof] == want, (old, new)
        tlog.verify_consistency(old, new, GOLDEN_ROOTS[old], GOLDEN_ROOTS[new], proof)


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


STRICTER = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}
"""Probes whose roots are not 32 bytes and which transparency-dev accepts since they are equal: we
refuse any hash that is not a SHA-256 one before comparing."""


def _probes(kind: str) -> list[Any]:
    vectors: dict[str, Any] = json.loads(VECTORS.read_text())
    return [
        pytest.param(probe["wantErr"] or name in STRICTER, probe, id=name)
        for name, probe in sorted(vectors[kind].items())
    ]


@pytest.mark.parametrize(("fails", "probe"), _probes("inclusion"))
def test_transparency_devs_inclusion_probes(fails: bool, probe: dict[str, Any]) -> None:
    proof = [_b64(p) for p in probe["proof"] or []]
    leaf, root = _b64(probe["leafHash"]), _b64(probe["root"])
    check = (tlog.verify_inclusion, leaf, probe["leafIdx"], probe["treeSize"], proof, root)
    assert _holds(*check) != fails


@pytest.mark.parametrize(("fails", "probe"), _probes("consistency"))
def test_transparency_devs_consistency_probes(fails: bool, probe: dict[str, Any]) -> None:
    proof = [_b64(p) for p in probe["proof"] or []]
    root1, root2 = _b64(probe["root1"]), _b64(probe["root2"])
    check = (tlog.verify_consistency, probe["size1"], probe["size2"], root1, root2, proof)
    assert _holds(*check) != fails


def test_the_probe_file_holds_what_it_says() -> None:
    vectors = json.loads(VECTORS.read_text())
    assert vectors["commit"] == "417fb0c314750d94e53942e9f92e79b6d35915db"
    assert len(vectors["inclusion"]) == 98 and len(vectors["consistency"]) == 98
    assert sum(not p["wantErr"] for p in vectors["consistency"].values()) >= 5


# Brute force: every size, index and old size up to 70.


def test_the_root_of_every_size_is_the_reference_and_merkle_pys() -> None:
    leaves = [tlog.leaf_hash(e) for e in ENTRIES]
    for n in range(71):
        assert STORE.root(n) == ROOTS[n] == merkle.root(leaves[:n]), n


def test_every_inclusion_proof_is_the_reference_and_verifies() -> None:
    leaves = [tlog.leaf_hash(e) for e in ENTRIES]
    for n in range(1, 71):
        for i in range(n):
            proof = STORE.inclusion_proof(i, n)
            assert proof == ref_path(i, ENTRIES[:n]) == merkle.inclusion_path(i, leaves[:n])
            tlog.verify_inclusion(leaves[i], i, n, proof, ROOTS[n])


def test_every_consistency_proof_is_the_reference_and_verifies() -> None:
    for n in range(1, 71):
        for m in range(1, n + 1):
            proof = STORE.consistency_proof(m, n)
            assert proof == ref_subproof(m, ENTRIES[:n], True), (m, n)
            tlog.verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)


def test_a_proof_verifies_only_for_what_it_proves() -> None:
    """Up to 16 leaves, every proof checked as every other claim: accepted exactly when it is the
    proof of that claim."""
    n_max = 16
    leaves = [STORE.subtree(0, i) for i in range(n_max)]
    inclusion = {(i, n): STORE.inclusion_proof(i, n) for n in range(1, n_max + 1) for i in range(n)}
    for proof in {tuple(p) for p in inclusion.values()}:
        for (i, n), right in inclusion.items():
            ok = _holds(tlog.verify_inclusion, leaves[i], i, n, proof, ROOTS[n])
            assert ok == (list(proof) == right), (proof, i, n)
    sizes = [(m, n) for n in range(1, n_max + 1) for m in range(1, n + 1)]
    consistency = {(m, n): STORE.consistency_proof(m, n) for m, n in sizes}
    for proof in {tuple(p) for p in consistency.values()}:
        for (m, n), right in consistency.items():
            ok = _holds(tlog.verify_consistency, m, n, ROOTS[m], ROOTS[n], proof)
            assert ok == (list(proof) == right), (proof, m, n)


def _holds(check: Callable[..., None], *args: Any) -> bool:
    try:
        check(*args)
    except ProofError:
        return False
    return True


# The store interface: appends in batches, reads counted.


class Counting:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.reads = 0

    def subtree(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.store.subtree(level, index)


@pytest.mark.parametrize("batch", [1, 2, 3, 5, 8, 13])
def test_appending_in_batches_stores_every_perfect_subtree_once(batch: int) -> None:
    store = MemoryStore()
    counting = Counting(store)
    for start in range(0, 70, batch):
        leaves = [tlog.leaf_hash(e) for e in ENTRIES[start : start + batch]]
        made = tlog.append_nodes(store.size, leaves, counting.subtree)
        assert len({(n.level, n.index) for n in made}) == len(made)
        assert not {(n.level, n.index) for n in made} & store.nodes.keys()
        store.nodes.update(((n.level, n.index), n.hash) for n in made)
        store.size += len(leaves)
        assert store.root() == ROOTS[store.size]
    assert store.nodes == STORE.nodes
    assert len(store.nodes) == sum(70 >> level for level in range(7))
    assert counting.reads <= 7 * len(range(0, 70, batch))


def test_a_root_and_proofs_read_a_logarithmic_number_of_nodes() -> None:
    big = MemoryStore()
    for start in range(0, 5000, 700):
        big.append([hashlib.sha256(b"%d" % i).digest() for i in range(start, start + 700)])
    counting = Counting(big)
    for size in (1, 2, 3, 4095, 4096, 4097, 4999, 5000):
        counting.reads = 0
        tlog.root_at(size, counting.subtree)
        assert counting.reads == bin(size).count("1")
        counting.reads = 0
        tlog.inclusion_proof(size - 1, size, counting.subtree)
        assert counting.reads <= 2 * size.bit_length()
        counting.reads = 0
        tlog.consistency_proof(max(1, size // 3), size, counting.subtree)
        assert counting.reads <= 3 * size.bit_length()


def test_the_store_refuses_a_size_beyond_its_leaves() -> None:
    with pytest.raises(ProofError):
        STORE.root(71)
    with pytest.raises(ProofError):
        STORE.inclusion_proof(3, 71)
    with pytest.raises(ProofError):
        STORE.consistency_proof(3, 71)
    with pytest.raises(LookupError):
        tlog.root_at(71, STORE.subtree)


# Edge cases of RFC 9162 §2.1.3.2 and §2.1.4.2, and bad input.

H = ROOTS[5]


@pytest.mark.parametrize(
    "args",
    [
        (STORE.subtree(0, 0), 0, 0, [], tlog.EMPTY_ROOT),  # nothing is in the empty tree
        (STORE.subtree(0, 5), 5, 5, STORE.inclusion_proof(4, 5), H),  # index == size
        (STORE.subtree(0, 0), -1, 5, STORE.inclusion_proof(0, 5), H),
        (STORE.subtree(0, 0), 0, 2**64, STORE.inclusion_proof(0, 5), H),
        (STORE.subtree(0, 0)[:31], 0, 5, STORE.inclusion_proof(0, 5), H),
        (STORE.subtree(0, 0), 0, 5, STORE.inclusion_proof(0, 5), H + b"\x00"),
        (STORE.subtree(0, 0), 0, 5, STORE.inclusion_proof(0, 5)[:-1], H),
        (STORE.subtree(0, 0), 0, 5, STORE.inclusion_proof(0, 5) + [H], H),
        (STORE.subtree(0, 0), 0, 5, [p[:16] for p in STORE.inclusion_proof(0, 5)], H),
        (STORE.subtree(0, 0), 0, 1, [H], STORE.subtree(0, 0)),
    ],
)
def test_an_inclusion_proof_that_does_not_hold_raises_proof_error(args: Any) -> None:
    with pytest.raises(ProofError):
        tlog.verify_inclusion(*args)


def test_a_single_leaf_tree_is_its_leaf() -> None:
    tlog.verify_inclusion(STORE.subtree(0, 0), 0, 1, [], ROOTS[1])
    assert ROOTS[1] == STORE.subtree(0, 0)


@pytest.mark.parametrize(
    ("old", "new", "proof"),
    [
        (0, 0, []),  # from the empty tree: refused, whatever the sizes
        (0, 5, []),
        (0, 5, [H]),
        (6, 5, []),
        (5, 5, [H]),  # equal sizes take an empty proof
        (4, 5, []),  # different sizes take a proof
        (4, 5, [ROOTS[4]] + STORE.consistency_proof(4, 5)),  # a power of two's root is left out
        (3, 5, STORE.consistency_proof(3, 5)[:-1]),
        (3, 5, STORE.consistency_proof(3, 5) + [H]),
        (3, 2**64, STORE.consistency_proof(3, 5)),
        (-1, 5, STORE.consistency_proof(3, 5)),
    ],
)
def test_a_consistency_proof_that_does_not_hold_raises_proof_error(
    old: int, new: int, proof: list[bytes]
) -> None:
    with pytest.raises(ProofError):
        tlog.verify_consistency(old, new, ROOTS[max(0, min(old, 70))], H, proof)


def test_equal_sizes_are_consistent_when_the_roots_are_equal() -> None:
    tlog.verify_consistency(5, 5, H, H, [])
    with pytest.raises(ProofError):
        tlog.verify_consistency(5, 5, H, ROOTS[4], [])
    with pytest.raises(ProofError):
        tlog.verify_consistency(5, 5, H[:8], H[:8], [])


def test_a_power_of_two_old_size_is_proven_without_its_root() -> None:
    for old in (1, 2, 4, 8, 16, 32, 64):
        proof = STORE.consistency_proof(old, 70)
        assert ROOTS[old] not in proof
        tlog.verify_consistency(old, 70, ROOTS[old], ROOTS[70], proof)
        with pytest.raises(ProofError):
            tlog.verify_consistency(old, 70, ROOTS[old - 1 or 2], ROOTS[70], proof)


def test_proofs_are_refused_for_impossible_requests() -> None:
    for call in (
        lambda: STORE.inclusion_proof(5, 5),
        lambda: STORE.inclusion_proof(-1, 5),
        lambda: STORE.consistency_proof(0, 5),
        lambda: STORE.consistency_proof(6, 5),
        lambda: tlog.root_at(-1, STORE.subtree),
        lambda: tlog.append_nodes(3, [b"short"], STORE.subtree),
    ):
        with pytest.raises(ProofError):
            call()
    assert STORE.consistency_proof(5, 5) == []


def test_merkle_py_keeps_its_batch_api() -> None:
    contents = [b"doc %d" % i for i in range(11)]
    batch = merkle.build([hashlib.sha256(c).digest() for c in contents])
    assert (
        batch.root
        == MemoryStore([merkle.leaf_hash(hashlib.sha256(c).digest()) for c in contents]).root()
    )
    statement = merkle.statement(batch.root, 11, "B-1", "teacher", "GV-1")
    for content, proof in zip(contents, batch.proofs, strict=True):
        assert merkle.verify_in_batch(content, {"statement": statement, "proof": proof})
    with pytest.raises(LookupError):
        merkle.verify_in_batch(b"forged", {"statement": statement, "proof": batch.proofs[0]})
    with pytest.raises(ValueError):
        merkle.root_from_proof(b"x" * 32, {**batch.proofs[0], "path": batch.proofs[0]["path"][1:]})


# Property-based: mutations raise ProofError, nothing else, and never verify.


def _mutations() -> st.SearchStrategy[tuple[str, int, int]]:
    return st.tuples(
        st.sampled_from(["flip", "drop", "insert", "swap", "truncate", "index", "size", "leaf"]),
        st.integers(0, 10**6),
        st.integers(0, 255),
    )


def _mutate(proof: list[bytes], how: tuple[str, int, int]) -> tuple[list[bytes], int, int]:
    """A changed proof, and deltas to the index (or old size) and to the size."""
    kind, at, byte = how
    proof = list(proof)
    pos = at % max(1, len(proof))
    if kind == "flip" and proof:
        p = bytearray(proof[pos])
        p[at % 32] ^= byte or 1
        proof[pos] = bytes(p)
    elif kind == "drop" and proof:
        del proof[pos]
    elif kind == "insert":
        proof.insert(pos, hashlib.sha256(bytes([byte])).digest())
    elif kind == "swap" and len(proof) > 1 and proof[0] != proof[-1]:
        proof[0], proof[-1] = proof[-1], proof[0]
    elif kind == "truncate" and proof:
        proof[pos] = proof[pos][: at % 32]
    elif kind == "index":
        return proof, 1 + at % 80 - 40 or 1, 0
    elif kind == "size":
        return proof, 0, 1 + at % 80 - 40 or 1
    else:
        return proof, 0, 0
    return proof, 0, 0


@FUZZ
@given(st.integers(1, 70), st.data(), _mutations())
def test_a_mutated_inclusion_proof_raises_proof_error_only(
    size: int, data: st.DataObject, how: tuple[str, int, int]
) -> None:
    """Checked against the root of the size claimed: accepted exactly when it is that claim's
    proof."""
    index = data.draw(st.integers(0, size - 1))
    proof, d_index, d_size = _mutate(STORE.inclusion_proof(index, size), how)
    leaf = STORE.subtree(0, index)
    if how[0] == "leaf":
        leaf = hashlib.sha256(leaf).digest()
    index, size = index + d_index, size + d_size
    holds = (
        0 <= index < size <= 70
        and leaf == STORE.subtree(0, index)
        and proof == STORE.inclusion_proof(index, size)
    )
    assert _holds(tlog.verify_inclusion, leaf, index, size, proof, root_of(size)) == holds


@FUZZ
@given(st.integers(1, 70), st.data(), _mutations())
def test_a_mutated_consistency_proof_raises_proof_error_only(
    new: int, data: st.DataObject, how: tuple[str, int, int]
) -> None:
    old = data.draw(st.integers(1, new))
    proof, d_old, d_new = _mutate(STORE.consistency_proof(old, new), how)
    old, new = old + d_old, new + d_new
    old_root = hashlib.sha256(root_of(old)).digest() if how[0] == "leaf" else root_of(old)
    holds = (
        0 < old <= new <= 70
        and old_root == ROOTS[old]
        and proof == STORE.consistency_proof(old, new)
    )
    assert _holds(tlog.verify_consistency, old, new, old_root, root_of(new), proof) == holds


@FUZZ
@given(
    st.integers(-3, 80),
    st.integers(-3, 80),
    st.lists(st.binary(min_size=0, max_size=40), max_size=12),
    st.binary(min_size=0, max_size=40),
    st.binary(min_size=0, max_size=40),
)
def test_arbitrary_input_raises_proof_error_only(
    a: int, b: int, proof: list[bytes], h1: bytes, h2: bytes
) -> None:
    _holds(tlog.verify_inclusion, h1, a, b, proof, h2)
    _holds(tlog.verify_consistency, a, b, h1, h2, proof)


@FUZZ
@given(st.integers(1, 70), st.integers(0, 69), st.binary(min_size=32, max_size=32))
def test_a_forged_root_or_entry_never_verifies(size: int, index: int, forged: bytes) -> None:
    index %= size
    proof = STORE.inclusion_proof(index, size)
    leaf = STORE.subtree(0, index)
    if forged != ROOTS[size]:
        with pytest.raises(ProofError):
            tlog.verify_inclusion(leaf, index, size, proof, forged)
    entry = tlog.leaf_hash(forged)
    if entry != leaf:
        with pytest.raises(ProofError):
            tlog.verify_inclusion(entry, index, size, proof, ROOTS[size])
