"""Runs the committed table of worked examples (tests/data/worked_examples.yaml) through the rules.

Each example names the article it comes from; together they cover every level of every rule at
both school levels. A failing id tells which rule and which article to reread."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hocba_assessment.domain import primary as p
from hocba_assessment.domain import secondary as s

pytestmark = pytest.mark.unit

EXAMPLES = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "worked_examples.yaml").read_text(encoding="utf-8")
)


def _qc(spec: Any, names: dict[str, str]) -> dict[str, str]:
    if isinstance(spec, str):
        return dict.fromkeys(names, spec)
    base = dict.fromkeys(names, spec["all"])
    return {**base, **{k: v for k, v in spec.items() if k != "all"}}


def _dec(values: dict[str, Any]) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in values.items()}


def _primary_level(g: dict[str, Any]) -> Any:
    marks = [p.SubjectMark(code, rating, score) for code, rating, score in g["subjects"]]
    return p.year_level(
        marks, _qc(g["qualities"], p.QUALITIES), _qc(g["competencies"], p.COMPETENCIES)
    )


def _term_average(g: dict[str, Any]) -> Any:
    try:
        return str(s.term_average(g["regular"], g["mid"], g["end"], g["required"]))
    except s.TooFewScores:
        return "too_few"


def _promotion(g: dict[str, Any]) -> Any:
    r = s.promotion(
        g["conduct"], g["academic"], g["absent"], _dec(g["year_averages"]), g["comment_year"]
    )
    return {"outcome": r.outcome, "retake": list(r.retake_subjects)}


def _retake(g: dict[str, Any]) -> Any:
    level, r = s.after_retake(
        _dec(g["year_averages"]), g["comment_year"], _dec(g["retake_scores"]), g["retake_comments"]
    )
    return {"academic": level, "outcome": r.outcome}


def _stated(r: s.AcademicResult) -> dict[str, Any]:
    return {"level": r.level, "unadjusted": r.unadjusted, "adjusted_for": r.adjusted_for}


def _academic_results(g: dict[str, Any]) -> Any:
    """Term I, term II and the year from each subject's two term results (averages, or Đạt)."""
    subjects = [
        s.subject_outcome(code, *(v if isinstance(v, bool) else Decimal(str(v)) for v in terms))
        for code, terms in g["subjects"].items()
    ]
    r = s.academic_results(subjects)
    return {"term1": _stated(r.term1), "term2": _stated(r.term2), "year": _stated(r.year)}


RULES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "primary.year_level": _primary_level,
    "primary.has_test": lambda g: g["period"] in p.test_periods(g["grade"], g["subject"]),
    "primary.check_mark": lambda g: sorted(
        {
            x.field
            for x in p.check_mark(g["grade"], g["subject"], g["period"], g["rating"], g["score"])
        }
    ),
    "primary.completion": lambda g: {
        "grade": p.completes_grade(g["level"]),
        "primary": p.completes_primary(g["grade"], g["level"]),
    },
    "primary.commendation": lambda g: p.commendation(g["level"], g["nominated"]),
    "secondary.required_regular": lambda g: s.required_regular_scores(g["periods_per_year"]),
    "secondary.check_score": lambda g: "ok" if s.check_score(g["score"]) is None else "error",
    "secondary.term_average": _term_average,
    "secondary.year_average": lambda g: str(
        s.year_average(Decimal(g["term1"]), Decimal(g["term2"]))
    ),
    "secondary.academic_level": lambda g: s.academic_level(_dec(g["scored"]), g["comment"]),
    "secondary.academic_result": lambda g: _stated(
        s.academic_result(_dec(g["scored"]), g["comment"])
    ),
    "secondary.academic_results": _academic_results,
    "secondary.conduct_year": lambda g: s.conduct_year(g["term1"], g["term2"]),
    "secondary.title": lambda g: s.title(g["conduct"], g["academic"], _dec(g["year_averages"])),
    "secondary.promotion": _promotion,
    "secondary.after_retake": _retake,
    "secondary.after_conduct_training": lambda g: s.after_conduct_training(g["conduct"]).outcome,
}


def test_the_table_is_complete() -> None:
    assert len(EXAMPLES) >= 40
    assert len({e["id"] for e in EXAMPLES}) == len(EXAMPLES)
    assert {e["rule"] for e in EXAMPLES} == set(RULES), (
        "every rule has examples, every example a rule"
    )
    assert all(e["article"].startswith(("TT27/2020 Art.", "TT22/2021 Art.")) for e in EXAMPLES)
    levels = {e["expect"] for e in EXAMPLES if e["rule"] == "primary.year_level"}
    assert levels == set(p.LEVEL_LABELS)
    for rule in ("secondary.academic_level", "secondary.conduct_year"):
        assert {e["expect"] for e in EXAMPLES if e["rule"] == rule} == set(s.LEVELS), rule
    adjustments = [e for e in EXAMPLES if e["rule"] == "secondary.academic_result"]
    assert {e["expect"]["adjusted_for"] is None for e in adjustments} == {True, False}, (
        "Art. 9.3: both ways"
    )
    assert any(e["expect"]["adjusted_for"] in s.COMMENT_SUBJECTS for e in adjustments), (
        "a comment subject as the one"
    )
    terms = [e["expect"] for e in EXAMPLES if e["rule"] == "secondary.academic_results"]
    assert any(
        len({tuple(t[k].values()) for k in ("term1", "term2", "year")}) == 3 for t in terms
    ), "terms and year with different adjustments"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["id"] for e in EXAMPLES])
def test_worked_example(example: dict[str, Any]) -> None:
    assert RULES[example["rule"]](example["given"]) == example["expect"], (
        f"{example['article']}: {example.get('note', '')}"
    )
