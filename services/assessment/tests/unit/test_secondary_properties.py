"""Invariants of the TT22/2021 rules, checked on generated inputs (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hocba_assessment.domain import secondary as s
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

score = st.integers(0, 100).map(lambda n: Decimal(n) / 10)
scored = st.dictionaries(st.sampled_from(sorted(s.SCORED_SUBJECTS)), score, min_size=6, max_size=12)
comments = st.dictionaries(st.sampled_from(sorted(s.COMMENT_SUBJECTS)), st.booleans(), max_size=4)
level = st.sampled_from(s.LEVELS)


@settings(max_examples=300)
@given(scored, comments, st.data())
def test_raising_one_score_never_lowers_the_academic_result(
    scores: dict[str, Decimal], notes: dict[str, bool], data: st.DataObject
) -> None:
    code = data.draw(st.sampled_from(sorted(scores)))
    raised = {**scores, code: min(Decimal(10), scores[code] + data.draw(score))}
    assert s.level_index(s.academic_level(raised, notes)) >= s.level_index(
        s.academic_level(scores, notes)
    )


@settings(max_examples=200)
@given(scored, comments, st.data())
def test_passing_one_comment_subject_never_lowers_the_academic_result(
    scores: dict[str, Decimal], notes: dict[str, bool], data: st.DataObject
) -> None:
    if not notes:
        return
    code = data.draw(st.sampled_from(sorted(notes)))
    assert s.level_index(s.academic_level(scores, {**notes, code: True})) >= s.level_index(
        s.academic_level(scores, notes)
    )


# Scores gathered at the bounds of Art. 9.2, so that generated records reach every level.
bound_score = st.sampled_from(["3.4", "3.5", "4.9", "5.0", "6.4", "6.5", "7.9", "8.0", "9.0"]).map(
    Decimal
)
near_bounds = st.dictionaries(
    st.sampled_from(sorted(s.SCORED_SUBJECTS)),
    st.one_of(bound_score, score),
    min_size=6,
    max_size=12,
)


def _art_9_2(scores: dict[str, Decimal], notes: dict[str, bool]) -> str:
    """Art. 9.2 read from ../shared/DOMAIN.md §6, written out again for the test."""
    failed = [c for c, ok in notes.items() if not ok]
    values = list(scores.values())
    if (
        not failed
        and min(values) >= Decimal("6.5")
        and sum(v >= Decimal("8.0") for v in values) >= 6
    ):
        return "tot"
    if (
        not failed
        and min(values) >= Decimal("5.0")
        and sum(v >= Decimal("6.5") for v in values) >= 6
    ):
        return "kha"
    if (
        len(failed) <= 1
        and sum(v >= Decimal("5.0") for v in values) >= 6
        and min(values) >= Decimal("3.5")
    ):
        return "dat"
    return "chua_dat"


def _the_one(scores: dict[str, Decimal], notes: dict[str, bool], level: str) -> str | None:
    """DOMAIN §6 on Art. 9.3, word for word: every other subject meets every condition of the level,
    the count of six included (counted without the one), and the one fails only the level's floor."""
    floor, bound = {
        "tot": (Decimal("6.5"), Decimal("8.0")),
        "kha": (Decimal("5.0"), Decimal("6.5")),
    }[level]
    below = [c for c, v in scores.items() if v < floor] + [c for c, ok in notes.items() if not ok]
    if len(below) != 1:
        return None
    others = [v for c, v in scores.items() if c != below[0]]
    return below[0] if sum(v >= bound for v in others) >= 6 else None


@settings(max_examples=600)
@given(near_bounds, comments)
def test_the_adjustment_is_art_9_3_as_worded(
    scores: dict[str, Decimal], notes: dict[str, bool]
) -> None:
    result = s.academic_result(scores, notes)
    base = _art_9_2(scores, notes)
    assert result.unadjusted == base
    ones = [
        (level, one)
        for level in ("tot", "kha")
        if s.level_index(level) - s.level_index(base) >= 2
        and (one := _the_one(scores, notes, level))
    ]
    if ones:
        assert (result.level, result.adjusted_for) == (
            s.LEVELS[s.level_index(base) + 1],
            ones[0][1],
        )
    else:
        assert (result.level, result.adjusted_for) == (base, None)


@given(st.lists(score, min_size=4, max_size=4), score, score, st.data())
def test_term_average_lies_between_the_scores_and_grows_with_each(
    regular: list[Decimal], mid: Decimal, end: Decimal, data: st.DataObject
) -> None:
    avg = s.term_average(regular, mid, end, 4)
    values = [*regular, mid, end]
    assert min(values) - Decimal("0.05") <= avg <= max(values) + Decimal("0.05")
    assert avg == avg.quantize(Decimal("0.1"))
    bumped = s.term_average(regular, mid, min(Decimal(10), end + data.draw(score)), 4)
    assert bumped >= avg


@given(score, score)
def test_year_average_lies_between_the_terms_nearer_term_two(t1: Decimal, t2: Decimal) -> None:
    y = s.year_average(t1, t2)
    assert min(t1, t2) - Decimal("0.05") <= y <= max(t1, t2) + Decimal("0.05")
    assert abs(y - t2) <= abs(y - t1) + Decimal("0.05")


@given(level, level, level)
def test_better_conduct_in_either_term_never_lowers_the_year(t1: str, t2: str, other: str) -> None:
    year = s.level_index(s.conduct_year(t1, t2))
    if s.level_index(other) >= s.level_index(t1):
        assert s.level_index(s.conduct_year(other, t2)) >= year
    if s.level_index(other) >= s.level_index(t2):
        assert s.level_index(s.conduct_year(t1, other)) >= year
