"""Signed notes and transparency-log checkpoints in the C2SP formats, which witnesses and verifiers
written for other logs read (golang.org/x/mod/sumdb/note, transparency-dev/formats).

Signed note (c2sp.org/signed-note, v1.0.0):
- UTF-8 text ending in a newline, with no control character (below U+0020) but the newline; then a
  blank line; then one or more signature lines `— <key name> <base64(key ID || signature)>\\n`
  (U+2014 em dash, space). The text ends before the last blank line of the note.
- a key name is non-empty, without Unicode spaces or '+'; the key ID is 4 bytes, big-endian.
- Ed25519, signature type 0x01 (the only type here): key ID = SHA-256(name || 0x0A || 0x01 ||
  32-byte public key)[:4]; the signature is RFC 8032 Ed25519 over the note text, its final newline
  included.
- verifier key `<name>+<hex8 key ID>+<base64(0x01 || public key)>`; signer key, as
  golang.org/x/mod/sumdb/note encodes it, `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || seed)>`.
- opening a note: signatures by unknown keys (name and ID not both known) are kept aside,
  unverified; a signature by a known key must verify, or the whole note is refused; at least one
  must. As golang.org/x/mod/sumdb/note does: at most 100 signature lines, a signature repeated
  counts once, two different known keys with one name and ID are ambiguous and refused.
- stricter than that implementation: base64 and hex must be canonical (standard alphabet, padded,
  zero trailing bits; lowercase hex), so that one note or key has one spelling.

Checkpoint (c2sp.org/tlog-checkpoint): a note whose text is
    <origin>\\n<tree size: decimal, no leading zero>\\n<base64 root hash>\\n[<extension line>\\n ...]
the root being the RFC 9162 Merkle tree hash (tlog.py) of the first `tree size` leaves. The log's
signature must be among those that verify; witnesses' cosignatures may follow.

Errors are NoteError (a ValueError) and its subclasses, whatever the input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature as _BadEd25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hocba_trust import tlog

__all__ = [
    "Checkpoint",
    "InvalidSignature",
    "MalformedNote",
    "Note",
    "NoteError",
    "Signature",
    "Signer",
    "UnverifiedNote",
    "Verifier",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoints_consistent",
]

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
_DASH = "\u2014 "
_HEX8 = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify."""


class MalformedNote(NoteError):
    """Not a note, key or checkpoint of the C2SP formats."""


class InvalidSignature(NoteError):
    """A signature by a known key that does not verify: the whole note is refused."""


class UnverifiedNote(NoteError):
    """A well-formed note with no signature by a known key; `note` holds its text and signatures,
    none of them to be trusted."""

    def __init__(self, note: Note) -> None:
        super().__init__("the note has no signature by a known key")
        self.note = note


def _is_space(c: str) -> bool:
    """Go's unicode.IsSpace, which golang.org/x/mod/sumdb/note refuses in key names."""
    return c in "\t\n\v\f\r \x85\xa0" or unicodedata.category(c) in ("Zs", "Zl", "Zp")


def _is_utf8(text: str) -> bool:
    """Whether `text` has a UTF-8 encoding: no lone surrogate, which a str may hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _valid_name(name: str) -> bool:
    return name != "" and "+" not in name and not any(_is_space(c) for c in name) and _is_utf8(name)


def _b64decode(text: str) -> bytes | None:
    """Standard base64, canonical only (the encoding of the result gives `text` back)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def key_id(name: str, key: bytes) -> int:
    """The 32-bit key ID: SHA-256(name || 0x0A || key)[:4], big-endian; `key` is the type byte and
    the public key."""
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + key).digest()[:4], "big")


def _parse_key(parts: str, private: bool) -> tuple[str, int, bytes]:
    """name, key ID and key material of `<name>+<hex8>+<base64(0x01 || 32 bytes)>`."""
    kind = "signer" if private else "verifier"
    name, _, rest = parts.partition("+")
    hex8, _, key64 = rest.partition("+")
    key = _b64decode(key64)
    if not _valid_name(name) or not _HEX8.fullmatch(hex8) or key is None or len(key) == 0:
        raise MalformedNote(f"malformed {kind} key")
    if key[0] != ALG_ED25519:
        raise MalformedNote(f"unknown {kind} key algorithm {key[0]:#04x}")
    if len(key) != 33:
        raise MalformedNote(f"malformed {kind} key: an Ed25519 key is 32 bytes")
    return name, int(hex8, 16), key[1:]


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 verifier key: checks signatures of the named key."""

    name: str
    key_hash: int
    public_key: bytes

    @classmethod
    def from_key(cls, vkey: str) -> Verifier:
        """Read `<name>+<hex8 key ID>+<base64(0x01 || public key)>`."""
        name, hash_, public = _parse_key(vkey, private=False)
        if key_id(name, bytes([ALG_ED25519]) + public) != hash_:
            raise MalformedNote("the verifier key's ID is not its key's")
        return cls(name, hash_, public)

    @classmethod
    def for_public_key(cls, name: str, public_key: bytes) -> Verifier:
        if not _valid_name(name) or len(public_key) != 32:
            raise MalformedNote("a verifier needs a valid name and a 32-byte Ed25519 key")
        return cls(name, key_id(name, bytes([ALG_ED25519]) + public_key), public_key)

    def key(self) -> str:
        return f"{self.name}+{self.key_hash:08x}+{_b64(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (_BadEd25519, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """An Ed25519 signer key (its seed is never in its repr)."""

    name: str
    key_hash: int
    seed: bytes = field(repr=False)

    @classmethod
    def from_key(cls, skey: str) -> Signer:
        """Read `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || seed)>`."""
        if not skey.startswith("PRIVATE+KEY+"):
            raise MalformedNote("malformed signer key")
        name, hash_, seed = _parse_key(skey.removeprefix("PRIVATE+KEY+"), private=True)
        signer = cls(name, hash_, seed)
        if signer.verifier().key_hash != hash_:
            raise MalformedNote("the signer key's ID is not its key's")
        return signer

    @classmethod
    def generate(cls, name: str) -> Signer:
        if not _valid_name(name):
            raise MalformedNote(f"invalid key name {name!r}")
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, Verifier.for_public_key(name, _public(seed)).key_hash, seed)

    def key(self) -> str:
        return (
            f"PRIVATE+KEY+{self.name}+{self.key_hash:08x}+{_b64(bytes([ALG_ED25519]) + self.seed)}"
        )

    def verifier(self) -> Verifier:
        return Verifier.for_public_key(self.name, _public(self.seed))

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def _public(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


@dataclass(frozen=True)
class Signature:
    """One signature line: `— <name> <base64>`, base64 of the key ID and the signature."""

    name: str
    key_hash: int
    base64: str

    def line(self) -> str:
        return f"{_DASH}{self.name} {self.base64}\n"


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[Signature, ...] = ()
    """Verified by a known key (when the note was opened)."""
    unverified: tuple[Signature, ...] = ()
    """By keys the opener did not know: carried along, not trusted."""


def _check_text(text: str) -> None:
    if not text.endswith("\n") or any(c < " " and c != "\n" for c in text):
        raise MalformedNote("a note's text ends in a newline and has no other control character")
    if not _is_utf8(text):
        raise MalformedNote("a note's text is UTF-8")


def sign_note(note: Note | str, *signers: Signer) -> bytes:
    """The note with a signature by each signer, after the note's own signatures (those by the same
    keys are replaced)."""
    note = Note(note) if isinstance(note, str) else note
    _check_text(note.text)
    message = note.text.encode()
    mine = {(s.name, s.key_hash) for s in signers}
    kept: list[str] = []
    for sig in note.signatures + note.unverified:
        if (sig.name, sig.key_hash) in mine:
            continue  # replaced by the new signature, whatever it was
        raw = _b64decode(sig.base64)
        if not _valid_name(sig.name) or raw is None or len(raw) < 5:
            raise MalformedNote("malformed signature in the note to sign")
        if int.from_bytes(raw[:4], "big") != sig.key_hash:
            raise MalformedNote("a signature's key ID is not its key's")
        kept.append(sig.line())
    for signer in signers:
        if not _valid_name(signer.name):
            raise MalformedNote(f"invalid key name {signer.name!r}")
        signed = signer.key_hash.to_bytes(4, "big") + signer.sign(message)
        kept.append(Signature(signer.name, signer.key_hash, _b64(signed)).line())
    if not kept:
        raise MalformedNote("a signed note has at least one signature")
    return message + b"\n" + "".join(kept).encode()


def _verifier_map(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier | None]:
    """(name, key ID) -> verifier; None for two different keys with the same name and ID."""
    known: dict[tuple[str, int], Verifier | None] = {}
    for v in verifiers:
        k = (v.name, v.key_hash)
        known[k] = v if known.get(k, v) == v else None
    return known


def _split(message: bytes) -> tuple[bytes, list[str]]:
    """The text and the signature lines (without their newline) of a well-formed note."""
    try:
        decoded = message.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNote("a note is UTF-8") from None
    if any(c < " " and c != "\n" for c in decoded):
        raise MalformedNote("a note has no control character but the newline")
    split = message.rfind(b"\n\n")
    if split < 0:
        raise MalformedNote("a note has a blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :].decode("utf-8")
    if not block.endswith("\n"):
        raise MalformedNote("a note's signatures end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"more than {MAX_SIGNATURES} signatures")
    return text, lines


def _parse_line(line: str) -> tuple[Signature, bytes]:
    if not line.startswith(_DASH):
        raise MalformedNote("a signature line starts with an em dash and a space")
    name, _, b64 = line.removeprefix(_DASH).partition(" ")
    raw = _b64decode(b64)
    if not _valid_name(name) or raw is None or len(raw) < 5:
        raise MalformedNote("malformed signature line")
    return Signature(name, int.from_bytes(raw[:4], "big"), b64), raw[4:]


def open_note(message: bytes, verifiers: Iterable[Verifier]) -> Note:
    """Read a signed note and verify it against the known keys `verifiers`. Raises MalformedNote,
    InvalidSignature (a known key's signature fails), UnverifiedNote (no known key signed)."""
    text, lines = _split(message)
    known = _verifier_map(verifiers)
    verified: dict[tuple[str, int], Signature] = {}
    unverified: dict[str, Signature] = {}
    for line in lines:
        sig, raw = _parse_line(line)
        key = (sig.name, sig.key_hash)
        if key not in known:
            unverified.setdefault(line, sig)
            continue
        verifier = known[key]
        if verifier is None:
            raise NoteError(f"ambiguous key {sig.name}+{sig.key_hash:08x}")
        if key in verified:
            continue
        if not verifier.verify(text, raw):
            raise InvalidSignature(f"invalid signature for key {sig.name}+{sig.key_hash:08x}")
        verified[key] = sig
    note = Note(text.decode(), tuple(verified.values()), tuple(unverified.values()))
    if not verified:
        raise UnverifiedNote(note)
    return note


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: its origin, a tree size and the root hash of that size."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The note text of c2sp.org/tlog-checkpoint."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        if any(line == "" or "\n" in line for line in lines):
            raise MalformedNote("a checkpoint's lines are non-empty, one line each")
        if not 0 <= self.size <= tlog.MAX_SIZE or len(self.root) != tlog.HASH_SIZE:
            raise MalformedNote("a checkpoint has a uint64 size and a 32-byte root")
        text = "".join(line + "\n" for line in lines)
        _check_text(text)
        return text

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Read a checkpoint's note text (c2sp.org/tlog-checkpoint)."""
        if not text.endswith("\n"):
            raise MalformedNote("a checkpoint's text ends in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or any(line == "" for line in lines):
            raise MalformedNote("a checkpoint has at least three lines, none empty")
        origin, size, root64, *extensions = lines
        root = _b64decode(root64)
        if len(size) > 20 or not _DECIMAL.fullmatch(size) or int(size) > tlog.MAX_SIZE:
            raise MalformedNote("a checkpoint's size is a uint64 in decimal, no leading zero")
        if root is None or len(root) != tlog.HASH_SIZE:
            raise MalformedNote("a checkpoint's root is the base64 of 32 bytes")
        checkpoint = cls(origin, int(size), root, tuple(extensions))
        checkpoint.text()  # the same checks as for writing one: no control character
        return checkpoint


def sign_checkpoint(checkpoint: Checkpoint, *signers: Signer) -> bytes:
    return sign_note(checkpoint.text(), *signers)


def open_checkpoint(
    message: bytes, origin: str, log: Verifier, witnesses: Iterable[Verifier] = ()
) -> tuple[Checkpoint, Note]:
    """Read a signed checkpoint of the log `origin`: the log's key must have signed it (and any
    known witness's signature must verify). Raises NoteError."""
    note = open_note(message, [log, *witnesses])
    if not any((s.name, s.key_hash) == (log.name, log.key_hash) for s in note.signatures):
        raise UnverifiedNote(note)
    checkpoint = Checkpoint.parse(note.text)
    if checkpoint.origin != origin:
        raise NoteError(f"a checkpoint of {checkpoint.origin!r}, not of {origin!r}")
    return checkpoint, note


def verify_checkpoints_consistent(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that `new` extends `old` (one log, RFC 9162 §2.1.4.2). Raises tlog.ProofError."""
    if old.origin != new.origin:
        raise tlog.ProofError("checkpoints of two different logs")
    tlog.verify_consistency(old.size, new.size, old.root, new.root, proof)
