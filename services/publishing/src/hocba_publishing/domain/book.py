"""A student's record book (học bạ) of one school level: the years of primary school (Thông tư
27/2020), of lower or of upper secondary school (Thông tư 22/2021), each level a book of its own.

Rules:
- a record is one school year of one student (its id is `{student_id}.{school_year}`); the book
  holds each record once, as its latest published version (a correction supersedes what it
  corrects), in the order of the school years;
- a year whose latest version is revoked (thu hồi) is left out, and the book says which years it
  leaves out; an older version of that year does not stand in for it, since it was superseded;
- a year belongs to the level its school states, else to the level of the rules it was assessed
  under (Thông tư 22/2021 is secondary school's, so lower secondary);
- a book with no year to print is not found, saying why.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hocba_runtime.errors import NotFound

from hocba_publishing.domain.model import PublishedDocument

SCHOOL_LEVELS = ("primary", "lower_secondary", "upper_secondary")
_IN_WORDS = {
    "primary": "tiểu học",
    "lower_secondary": "trung học cơ sở",
    "upper_secondary": "trung học phổ thông",
}


def school_level(document: Mapping[str, Any]) -> str:
    """The school level a year's document is of: its school's, else the level its rules are of."""
    school = document.get("school")
    level = school.get("level") if isinstance(school, Mapping) else None
    if level in SCHOOL_LEVELS:
        return str(level)
    result = document.get("result")
    rules = result.get("rules") if isinstance(result, Mapping) else None
    return "lower_secondary" if str(rules or "").startswith("TT22") else "primary"


def latest_versions(documents: Iterable[PublishedDocument]) -> dict[str, PublishedDocument]:
    """The latest published version of each record, by record id."""
    latest: dict[str, PublishedDocument] = {}
    for d in documents:
        kept = latest.get(d.record_id)
        if kept is None or d.record_version > kept.record_version:
            latest[d.record_id] = d
    return latest


class NoRecordBook(NotFound):
    code = "book_not_found"


@dataclass(frozen=True)
class RecordBook:
    student_id: str
    level: str
    years: tuple[PublishedDocument, ...]
    """The latest version of each year of the level, in the order of the school years."""
    revoked: tuple[PublishedDocument, ...]
    """The years left out: their latest version is revoked."""


def record_book(
    student_id: str,
    level: str,
    documents: Iterable[PublishedDocument],
    revoked: Collection[str],
) -> RecordBook:
    """The book of `level` from every published version of the student's records (`documents`)
    and the ids of the revoked ones (`revoked`, of the latest versions at least). Raises
    NoRecordBook when no year of the level is left to print."""
    latest = latest_versions(d for d in documents if d.student_id == student_id)
    of_level = sorted(
        (d for d in latest.values() if school_level(d.document) == level),
        key=lambda d: (d.school_year, d.record_id),
    )
    book = RecordBook(
        student_id=student_id,
        level=level,
        years=tuple(d for d in of_level if d.document_id not in revoked),
        revoked=tuple(d for d in of_level if d.document_id in revoked),
    )
    name = _IN_WORDS.get(level, level)
    if not latest:
        raise NoRecordBook(
            f"student {student_id} has no published record; a year is published once it is "
            "signed, so check the student id, or the signing of the student's years"
        )
    if not of_level:
        raise NoRecordBook(
            f"student {student_id} has no published year of {name} ({level}); the student's "
            "published years are of another school level"
        )
    if not book.years:
        raise NoRecordBook(
            f"every published year of {name} ({level}) of student {student_id} is revoked ("
            + ", ".join(d.school_year for d in book.revoked)
            + "); the book is printed again once the school publishes a corrected version"
        )
    return book
