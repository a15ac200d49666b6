"""The bytes a signature covers: RFC 8785 (JSON Canonicalization Scheme) of the document.

The reference implementation (`rfc8785`, pure Python) takes ~120 µs for a year record, more than
signing it. For the documents Hocba signs — ASCII keys, strings, integers, booleans, null and
ordinary decimals — RFC 8785 output equals `json.dumps` with sorted keys, no whitespace and no
ASCII escaping, once integral floats are written as integers; the C encoder does that in a few
microseconds. Anything outside that subset (non-ASCII keys, which RFC 8785 sorts by UTF-16 code
units, or numbers whose ECMAScript form differs from Python's repr) goes to the reference
implementation. A property test holds the two to the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import rfc8785

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


class _Unsupported(Exception):
    pass


def _normalize(value: Any) -> Any:
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        if abs(value) > 2**53:
            raise _Unsupported  # beyond IEEE 754 exactness: ECMAScript formatting differs
        return value
    if t is float:
        if not math.isfinite(value):
            raise _Unsupported
        if value.is_integer() and abs(value) < 1e16:
            return int(value)
        if not 1e-4 <= abs(value) < 1e16:
            raise _Unsupported  # repr switches to exponent notation where ECMAScript does not
        return value
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                raise _Unsupported
            out[k] = _normalize(v)
        return out
    if t is list or t is tuple:
        return [_normalize(v) for v in value]
    raise _Unsupported


def canonical_bytes(document: Any) -> bytes:
    try:
        return _ENCODER.encode(_normalize(document)).encode("utf-8")
    except _Unsupported:
        return rfc8785.dumps(document)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
