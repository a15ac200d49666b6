"""The demo data's citizen ids: records refuses a second student with a citizen id already taken, so
the students of one run (the demo, or the tests sharing one stack) never share one."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hocba_devstack import demo

pytestmark = pytest.mark.unit


def test_students_drawn_from_the_same_seed_get_different_citizen_ids() -> None:
    """Two tests seeding their generators alike would otherwise draw the same serials."""
    born = date(2019, 3, 4)
    first = [demo.citizen_id(random.Random("run-1"), "079", born, male=True) for _ in range(3)]
    again = [demo.citizen_id(random.Random("run-1"), "079", born, male=True) for _ in range(3)]
    assert len(set(first + again)) == 6


def test_a_cohort_of_one_sex_and_year_has_no_repeated_citizen_id() -> None:
    """4,000 serials out of a million repeat with near certainty (the birthday problem) unless
    redrawn."""
    rng, born = random.Random(7), date(2018, 1, 1)
    ids = [demo.citizen_id(rng, "079", born, male=False) for _ in range(4000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 12 and i.startswith("079318") and i.isdigit() for i in ids)


def test_a_student_payload_carries_a_fresh_citizen_id() -> None:
    students = [
        demo.student_payload(random.Random("same"), f"HS-{n}", "079-TH-01", 1) for n in range(5)
    ]
    assert len({s.citizen_id for s in students}) == 5
