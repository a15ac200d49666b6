"""The fast canonical form must be byte for byte RFC 8785 (the reference implementation)."""

from __future__ import annotations

from typing import TypeAlias

import pytest
import rfc8785
from hocba_trust.canonical import canonical_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

# The JSON values the strategies below draw, and what rfc8785 takes.
Json: TypeAlias = None | bool | int | float | str | list["Json"] | dict[str, "Json"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=1500)
@given(documents)
def test_same_bytes_as_the_reference_implementation(document: Json) -> None:
    try:
        expected = rfc8785.dumps(document)
    except (rfc8785.IntegerDomainError, rfc8785.FloatDomainError):
        return
    assert canonical_bytes(document) == expected


def test_a_year_record_shape() -> None:
    doc: dict[str, Json] = {
        "student": {"full_name": "Nguyễn Thị Ánh Tuyết", "parents": []},
        "score": 9.0,
        "average": 7.5,
        "tiny": 0.00001,
        "big": 1e21,
        "z": None,
        "a": True,
        "emoji": "\U0001f600",
        "ctl": '\x01\n"\\',
    }
    assert canonical_bytes(doc) == rfc8785.dumps(doc)
    assert canonical_bytes({"é": 1, "e": 2, "\U0001f600": 3, "\uffff": 4}) == rfc8785.dumps(
        {"é": 1, "e": 2, "\U0001f600": 3, "\uffff": 4}
    )
