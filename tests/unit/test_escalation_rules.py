"""The escalation ladder as a pure function: which proposals a venue's violations make due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policies.escalation import (
    DEFAULT_RULES,
    DEFAULT_SUSPENSION_DAYS,
    RecordedViolation,
    Rules,
    Step,
    due_proposals,
    escalation_rules,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def minors(*ids: int) -> list[RecordedViolation]:
    return [RecordedViolation(i, "minors_admitted", T0 + timedelta(days=i)) for i in ids]


def after_hours(*ids: int) -> list[RecordedViolation]:
    return [RecordedViolation(i, "after_hours", T0 + timedelta(days=i)) for i in ids]


def steps(due) -> list[str]:
    return [d.step for d in due]


def test_one_minors_violation_proposes_nothing():
    assert due_proposals(minors(1), []) == []


def test_the_second_minors_violation_proposes_a_suspension_for_the_default_term():
    (due,) = due_proposals(minors(1, 2), [])
    assert (due.step, due.order_kind, due.term_days) == ("suspension", "disconnect", 30)
    assert DEFAULT_SUSPENSION_DAYS == 30
    assert due.violation_ids == (1, 2)


def test_the_third_proposes_an_open_ended_revocation_once_the_suspension_was_proposed():
    (due,) = due_proposals(minors(1, 2, 3), ["suspension"])
    assert (due.step, due.order_kind, due.term_days) == ("revocation", "disconnect", None)
    assert due.violation_ids == (1, 2, 3)


def test_three_violations_never_proposed_before_make_both_steps_due():
    assert steps(due_proposals(minors(1, 2, 3), [])) == ["suspension", "revocation"]


def test_a_step_is_proposed_once_whatever_became_of_it():
    # pending, confirmed or rejected: the step is not proposed again by later violations
    assert due_proposals(minors(1, 2, 3, 4, 5), ["suspension", "revocation"]) == []
    assert steps(due_proposals(minors(1, 2, 3), ["revocation"])) == ["suspension"]


def test_after_hours_violations_do_not_count_towards_the_minors_ladder():
    assert due_proposals(after_hours(1, 2, 3, 4), []) == []
    (due,) = due_proposals(after_hours(1, 3) + minors(2, 4), [])
    assert due.step == "suspension" and due.violation_ids == (2, 4)


def test_violations_count_in_the_order_observed_not_the_order_given():
    late, early = (
        RecordedViolation(7, "minors_admitted", T0 + timedelta(days=9)),
        RecordedViolation(8, "minors_admitted", T0),
    )
    third = RecordedViolation(9, "minors_admitted", T0 + timedelta(days=3))
    due = due_proposals([late, early, third], [])
    assert [d.violation_ids for d in due] == [(8, 9), (8, 9, 7)]


def test_the_suspension_term_is_configurable():
    (due,) = due_proposals(minors(1, 2), [], escalation_rules(suspension_days=14))
    assert due.term_days == 14
    assert DEFAULT_RULES.step("revocation").term_days is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"counts": "jaywalking"}, "unknown violation kind"),
        ({"nth": 0}, "nth must be 1 or more"),
        ({"order_kind": "throttle"}, "unknown order kind"),
        ({"term_days": 0}, "1 day or more"),
    ],
)
def test_rules_that_make_no_sense_are_refused(fields, message):
    base = {"name": "x", "counts": "minors_admitted", "nth": 2, "order_kind": "disconnect",
            "term_days": 30}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        Step(**{**base, **fields})


def test_two_steps_of_one_name_are_refused():
    step = Step("suspension", "minors_admitted", 2, "disconnect", 30)
    with pytest.raises(ValueError, match="its own name"):
        Rules((step, step))
    with pytest.raises(ValueError, match="1 day or more"):
        escalation_rules(suspension_days=0)
    with pytest.raises(ValueError, match="no escalation step"):
        DEFAULT_RULES.step("probation")
