"""A class's gradebook as a file a teacher fills in: what reading one gives back, whatever the
file's format (the codec is a port, `ports.GradebookCodec`; spreadsheets are one adapter)."""

from __future__ import annotations

from dataclasses import dataclass


class UnreadableGradebook(ValueError):
    """The file itself cannot be read (not the rows in it)."""


@dataclass(frozen=True)
class ParsedItem:
    """One assessment read from a row: a subject's cells, or (secondary) conduct."""

    row: int  # as the teacher sees it: the header is row 1
    student_id: str
    subject_code: str
    rating: str | None
    score: float | None
    comment: str
    kind: str | None = None  # secondary: regular | mid_term | end_term | conduct
    index: int = 1


@dataclass(frozen=True)
class RowProblem:
    """A cell that could not be read, by row and column, as the teacher can act on it."""

    row: int
    student_id: str
    subject_code: str
    field: str
    problem: str
