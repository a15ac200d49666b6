"""Signed notes and checkpoints (`hocba_trust.note`) read and written byte for byte as the Go
implementations do, with their own test vectors:

- golang.org/x/mod/sumdb/note, note_test.go (github.com/golang/mod at fe2ec04f7c3c): the
  PeterNeumann key pair, the note it signs and the signature, the EnochRoot key and signature,
  the manglings of a key that must be refused, the malformed notes;
- transparency-dev/formats, log/note_test.go (0b850f1a7b4a): a sum.golang.org checkpoint signed
  by the real sum.golang.org key, and four key pairs (each signer key gives its verifier key);
- c2sp.org/signed-note and c2sp.org/tlog-checkpoint (github.com/C2SP/C2SP at 5ba5ee830903): the
  example.com/foo key and the note it signs, the example checkpoint body.

Then hypothesis: a changed note, key or checkpoint raises NoteError and nothing else, and a note
only opens with the text that was signed.
"""

from __future__ import annotations

import dataclasses

import pytest
from hocba_trust import tlog
from hocba_trust.note import (
    Checkpoint,
    InvalidSignature,
    MalformedNote,
    Note,
    NoteError,
    Signature,
    Signer,
    UnverifiedNote,
    Verifier,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
    verify_checkpoints_consistent,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

# golang.org/x/mod/sumdb/note, note_test.go

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"
PETER = Signature("PeterNeumann", 0xC74F20A3, PETER_B64)
ENOCH = Signature("EnochRoot", 0xAF0CFE78, ENOCH_B64)
SIGNED = (TEXT + "\n" + PETER_SIG).encode()

# transparency-dev/formats, log/note_test.go

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
    "\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYf"
    "vimWEPWL+o3GeoWwOoAw=\n"
).encode()
FORMATS_KEYS = [
    (
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
    ),
    (
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
    ),
    (
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
    ),
    (
        "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
        "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
    ),
]

# c2sp.org/signed-note, c2sp.org/tlog-checkpoint

C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKu"
    "wHjG1Yu72IneyaQM=\n"
).encode()
C2SP_CHECKPOINT_BODY = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

PETER_V = Verifier.from_key(PETER_VKEY)
ENOCH_V = Verifier.from_key(ENOCH_VKEY)


def test_keys_read_and_write_as_golang_writes_them() -> None:
    signer = Signer.from_key(PETER_SKEY)
    assert (signer.name, signer.key_hash) == ("PeterNeumann", 0xC74F20A3)
    assert signer.key() == PETER_SKEY
    assert signer.verifier() == PETER_V
    assert PETER_V.key() == PETER_VKEY
    assert key_id("PeterNeumann", b"\x01" + PETER_V.public_key) == 0xC74F20A3
    assert "seed" not in repr(signer) and PETER_SKEY[-20:] not in repr(signer)
    for skey, vkey in FORMATS_KEYS:
        assert Signer.from_key(skey).verifier().key() == vkey
        assert Verifier.from_key(vkey).key() == vkey


def test_signing_gives_golangs_bytes() -> None:
    signer = Signer.from_key(PETER_SKEY)
    assert sign_note(TEXT, signer) == SIGNED
    # An existing signature by the same key is replaced, whatever it was.
    stale = Note(TEXT, (Signature("PeterNeumann", 0xC74F20A3, "BADSIGN="),))
    assert sign_note(stale, signer) == SIGNED
    # Another key's signature is kept, before the new ones.
    assert sign_note(Note(TEXT, (ENOCH,)), signer) == (TEXT + "\n" + ENOCH_SIG + PETER_SIG).encode()


@pytest.mark.parametrize(
    ("note", "by_peter"),
    [
        ("abc", True),  # no final newline
        ("tab\there\n", True),
        # golang.org/x/mod signs these with no signer: the signatures carried over are checked
        (Note(TEXT, (Signature("a+b", 1, "ABCD"),)), False),
        (Note(TEXT, (Signature("PeterNeumann", 0xC74F20A3, "BADHASH="),)), False),
    ],
)
def test_signing_refuses_a_malformed_note(note: Note | str, by_peter: bool) -> None:
    signers = [Signer.from_key(PETER_SKEY)] if by_peter else []
    with pytest.raises(MalformedNote):
        sign_note(note, *signers)


def test_a_lone_surrogate_is_no_note_text_nor_key_name() -> None:
    with pytest.raises(MalformedNote):
        sign_note("\ud800\n", Signer.from_key(PETER_SKEY))
    with pytest.raises(MalformedNote):
        Signer.generate("log\udfff")
    with pytest.raises(MalformedNote):
        Checkpoint("log\ud800", 1, bytes(32)).text()


def test_signing_refuses_a_note_left_without_signature() -> None:
    with pytest.raises(MalformedNote):
        sign_note(TEXT)


def test_opening_golangs_note_verifies_the_known_key_and_keeps_the_other_aside() -> None:
    message = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    note = open_note(message, [PETER_V])
    assert note == Note(TEXT, (PETER,), (ENOCH,))
    assert open_note(message, [PETER_V, ENOCH_V]) == Note(TEXT, (PETER, ENOCH), ())
    with pytest.raises(UnverifiedNote) as unverified:
        open_note(message, [])
    assert unverified.value.note == Note(TEXT, (), (PETER, ENOCH))


def test_opening_counts_a_repeated_signature_once() -> None:
    enoch_abcd = Signature("EnochRoot", 0xAF0CFE78, ENOCH_B64[:46] + "ABCD" + ENOCH_B64[46:])
    message = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd.line()
    assert open_note(message.encode(), [PETER_V]) == Note(TEXT, (PETER,), (ENOCH, enoch_abcd))


def test_a_bad_signature_by_a_known_key_refuses_the_whole_note() -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignature, match="PeterNeumann\\+c74f20a3"):
        open_note((TEXT + "\n" + bad).encode(), [PETER_V])
    with pytest.raises(InvalidSignature):
        open_note((TEXT + "\n" + ENOCH_SIG + bad).encode(), [PETER_V, ENOCH_V])


def test_two_different_keys_with_one_name_and_id_are_ambiguous() -> None:
    impostor = dataclasses.replace(ENOCH_V, public_key=PETER_V.public_key)
    with pytest.raises(NoteError, match="ambiguous key EnochRoot\\+af0cfe78"):
        open_note((TEXT + "\n" + ENOCH_SIG).encode(), [ENOCH_V, PETER_V, impostor])
    # Unused, the ambiguity does not matter; the same key given twice is no ambiguity.
    open_note(SIGNED, [ENOCH_V, PETER_V, impostor])
    open_note((TEXT + "\n" + ENOCH_SIG).encode(), [ENOCH_V, PETER_V, ENOCH_V])


def test_more_than_a_hundred_signatures_are_refused() -> None:
    open_note((TEXT + "\n" + PETER_SIG * 100).encode(), [PETER_V])
    for known in ([PETER_V], []):
        with pytest.raises(MalformedNote):
            open_note((TEXT + "\n" + PETER_SIG * 101).encode(), known)


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        b"\xff" + SIGNED,  # the byte 0xff, not UTF-8
        TEXT + "\n" + "— Bad Name " + PETER_B64,
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + "— PeterNeumann\n",
        TEXT + "\n" + "— PeterNeumann AAAA\n",  # shorter than a key ID and one byte
        TEXT + "\n" + "-- PeterNeumann " + PETER_B64 + "\n",
        TEXT + "\n" + "— PeterNeumann " + PETER_B64[:-1] + "\n",
    ],
)
def test_golangs_malformed_notes_are_refused(message: str | bytes) -> None:
    raw = message if isinstance(message, bytes) else message.encode()
    with pytest.raises(MalformedNote):
        open_note(raw, [PETER_V])


def test_the_c2sp_example_note_opens() -> None:
    note = open_note(C2SP_NOTE, [Verifier.from_key(C2SP_VKEY)])
    assert note.text == "This is an example message.\n"
    assert note.signatures[0].name == "example.com/foo"


@pytest.mark.parametrize("key", [PETER_VKEY, PETER_SKEY])
def test_every_mangling_of_a_key_is_refused(key: str) -> None:
    """golang.org/x/mod's TestNewVerifier and TestNewSigner: every strict substring, and every
    character incremented by one."""
    read = Verifier.from_key if not key.startswith("PRIVATE") else Signer.from_key
    read(key)
    manglings = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)} - {key}
    manglings |= {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    for mangled in manglings:
        with pytest.raises(NoteError):
            read(mangled)


@pytest.mark.parametrize(
    "vkey",
    [
        # golang.org/x/mod: a key of the wrong length, an unknown algorithm (key IDs adjusted)
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # hex is lowercase
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(MalformedNote):
        Verifier.from_key(vkey)


def test_a_generated_key_signs_what_its_verifier_opens() -> None:
    signer = Signer.generate("hocba.example/log")
    again = Signer.from_key(signer.key())
    assert again == signer
    verifier = Verifier.from_key(signer.verifier().key())
    note = open_note(sign_note("một ghi chú\n", signer), [verifier])
    assert note.text == "một ghi chú\n"
    with pytest.raises(MalformedNote):
        Signer.generate("two words")


# Checkpoints


def test_the_sum_golang_org_checkpoint_opens_with_its_key() -> None:
    checkpoint, note = open_checkpoint(
        SUMDB_CHECKPOINT, "go.sum database tree", Verifier.from_key(SUMDB_VKEY)
    )
    assert (checkpoint.origin, checkpoint.size) == ("go.sum database tree", 6476701)
    assert checkpoint.root.hex().startswith("99bf102d022cd19d")
    assert note.signatures[0].name == "sum.golang.org"
    with pytest.raises(NoteError):
        open_checkpoint(
            SUMDB_CHECKPOINT,
            "Go rocks but I might have the wrong ID",
            Verifier.from_key(SUMDB_VKEY),
        )
    with pytest.raises(UnverifiedNote):
        open_checkpoint(SUMDB_CHECKPOINT, "go.sum database tree", PETER_V)


def test_the_c2sp_example_checkpoint_body_parses_and_formats_back() -> None:
    checkpoint = Checkpoint.parse(C2SP_CHECKPOINT_BODY)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.text() == C2SP_CHECKPOINT_BODY
    extended = dataclasses.replace(checkpoint, extensions=("a line", "another"))
    assert Checkpoint.parse(extended.text()) == extended


R = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    "text",
    [
        f"Log\n123\n{R}",  # no final newline
        "Head\n9944\n",
        f"\n9944\n{R}\n",
        f"Log\nbananas\n{R}\n",
        f"Log\n-34\n{R}\n",
        f"Log\n+34\n{R}\n",
        f"Log\n034\n{R}\n",
        f"Log\n1_000\n{R}\n",
        f"Log\n٣٤\n{R}\n",  # Arabic-Indic digits, which int() would read
        f"Log\n3438945738945739845734895735\n{R}\n",
        f"Log\n{2**64}\n{R}\n",
        "Log\n123\nThisIsn'tBase64\n",
        "Log\n123\nYmFuYW5hcw==\n",  # a root of 7 bytes
        f"Log\n123\n{R}\n\n",  # an empty extension line
        f"Log\n123\n{R}\next\n\nmore\n",
        f"Log\x01\n123\n{R}\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(MalformedNote):
        Checkpoint.parse(text)


def test_the_largest_tree_size_is_a_uint64() -> None:
    assert Checkpoint.parse(f"Log\n{2**64 - 1}\n{R}\n").size == 2**64 - 1
    assert Checkpoint.parse(f"Log\n0\n{R}\n").size == 0


LOG = Signer.from_key(FORMATS_KEYS[0][0])
WITNESS = Signer.from_key(FORMATS_KEYS[1][0])
STORE = tlog.MemoryStore([tlog.leaf_hash(b"entry %d" % i) for i in range(40)])


def _checkpoint(size: int) -> Checkpoint:
    return Checkpoint("hocba.example/log", size, STORE.root(size))


def test_a_log_and_its_witness_sign_a_checkpoint_that_opens() -> None:
    message = sign_checkpoint(_checkpoint(40), LOG, WITNESS)
    checkpoint, note = open_checkpoint(
        message, "hocba.example/log", LOG.verifier(), [WITNESS.verifier()]
    )
    assert checkpoint == _checkpoint(40)
    assert [s.name for s in note.signatures] == ["Log", "Known"]
    # Signed by the witness alone, it is not the log's checkpoint.
    only_witness = sign_checkpoint(_checkpoint(40), WITNESS)
    with pytest.raises(UnverifiedNote):
        open_checkpoint(only_witness, "hocba.example/log", LOG.verifier(), [WITNESS.verifier()])


def test_two_checkpoints_of_a_log_are_consistent_by_proof() -> None:
    old, new = _checkpoint(13), _checkpoint(40)
    verify_checkpoints_consistent(old, new, STORE.consistency_proof(13, 40))
    with pytest.raises(tlog.ProofError):
        verify_checkpoints_consistent(old, new, STORE.consistency_proof(12, 40))
    with pytest.raises(tlog.ProofError):
        verify_checkpoints_consistent(
            dataclasses.replace(old, origin="other"), new, STORE.consistency_proof(13, 40)
        )
    with pytest.raises(tlog.ProofError):
        verify_checkpoints_consistent(
            dataclasses.replace(old, root=STORE.root(12)), new, STORE.consistency_proof(13, 40)
        )


# Property-based


SIGNED_CHECKPOINT = sign_checkpoint(_checkpoint(40), LOG, WITNESS)


def _edit(message: bytes, how: tuple[str, int, int]) -> bytes:
    kind, at, byte = how
    pos = at % (len(message) + 1)
    if kind == "flip" and pos < len(message):
        return message[:pos] + bytes([message[pos] ^ (byte or 1)]) + message[pos + 1 :]
    if kind == "insert":
        return message[:pos] + bytes([byte]) + message[pos:]
    if kind == "delete":
        return message[:pos] + message[pos + 1 :]
    return message[:pos]


EDITS = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate"]),
    st.integers(0, 10**6),
    st.integers(0, 255),
)


@FUZZ
@given(st.lists(EDITS, min_size=1, max_size=4))
def test_an_edited_note_raises_note_error_only_or_opens_with_the_signed_text(
    edits: list[tuple[str, int, int]],
) -> None:
    message = SIGNED_CHECKPOINT
    for how in edits:
        message = _edit(message, how)
    try:
        note = open_note(message, [LOG.verifier(), WITNESS.verifier()])
    except NoteError:
        return
    assert note.text == _checkpoint(40).text()


@FUZZ
@given(
    st.sampled_from(["origin", "size", "root", "extension"]),
    st.integers(1, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_a_modified_checkpoint_fails_its_signature(field: str, size: int, root: bytes) -> None:
    original = _checkpoint(40)
    changed = {
        "origin": dataclasses.replace(original, origin="hocba.example/other"),
        "size": dataclasses.replace(original, size=size if size != 40 else 41),
        "root": dataclasses.replace(original, root=root if root != original.root else bytes(32)),
        "extension": dataclasses.replace(original, extensions=("added",)),
    }[field]
    signatures = SIGNED_CHECKPOINT[len(original.text()) :]
    with pytest.raises(InvalidSignature):
        open_checkpoint(changed.text().encode() + signatures, changed.origin, LOG.verifier(), [])


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_note_error_only(message: bytes) -> None:
    try:
        open_note(message, [PETER_V])
    except NoteError:
        pass


@FUZZ
@given(st.text(max_size=120))
def test_arbitrary_keys_and_checkpoints_raise_note_error_only(text: str) -> None:
    for read in (Verifier.from_key, Signer.from_key, Checkpoint.parse):
        try:
            read(text)
        except NoteError:
            pass


LINE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30)
"""A line of a note: no control character, no lone surrogate (which has no UTF-8)."""


@FUZZ
@given(
    LINE, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), st.lists(LINE, max_size=3)
)
def test_a_checkpoint_formats_and_parses_back(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.parse(checkpoint.text()) == checkpoint
    message = sign_checkpoint(checkpoint, LOG)
    assert open_checkpoint(message, origin, LOG.verifier())[0] == checkpoint
