"""Escalation: which orders a venue's recorded violations call for, as data and one pure function.

The rules only *propose*: a proposal waits for a bureau user to confirm it, and nothing here
(or anywhere) turns a violation into a cut by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

VIOLATION_KINDS: tuple[str, ...] = ("minors_admitted", "after_hours")
DEFAULT_SUSPENSION_DAYS = 30


@dataclass(frozen=True)
class Step:
    """One rung of the ladder: at the `nth` recorded violation of `counts`, propose an order."""

    name: str  # suspension | revocation: also the reason of the order it proposes
    counts: str  # the kind of violation counted
    nth: int
    order_kind: str  # curfew | disconnect
    term_days: int | None  # None: open-ended

    def __post_init__(self) -> None:
        if self.counts not in VIOLATION_KINDS:
            raise ValueError(f"step {self.name!r}: unknown violation kind {self.counts!r}")
        if self.nth < 1:
            raise ValueError(f"step {self.name!r}: nth must be 1 or more")
        if self.order_kind not in ("curfew", "disconnect"):
            raise ValueError(f"step {self.name!r}: unknown order kind {self.order_kind!r}")
        if self.term_days is not None and self.term_days < 1:
            raise ValueError(f"step {self.name!r}: a term is 1 day or more, or open-ended")


@dataclass(frozen=True)
class Rules:
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("each step of the escalation rules needs its own name")

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise ValueError(f"no escalation step {name!r}")


def escalation_rules(suspension_days: int = DEFAULT_SUSPENSION_DAYS) -> Rules:
    """The bureau's ladder: a suspension at the 2nd minors violation, revocation at the 3rd."""
    return Rules(
        steps=(
            Step("suspension", "minors_admitted", 2, "disconnect", suspension_days),
            Step("revocation", "minors_admitted", 3, "disconnect", None),
        )
    )


DEFAULT_RULES = escalation_rules()


@dataclass(frozen=True)
class RecordedViolation:
    id: int
    kind: str
    observed_at: datetime


@dataclass(frozen=True)
class DueProposal:
    step: str
    order_kind: str
    term_days: int | None
    violation_ids: tuple[int, ...]  # the violations that make it due, in the order observed


def due_proposals(
    violations: Iterable[RecordedViolation],
    proposed_steps: Iterable[str],
    rules: Rules = DEFAULT_RULES,
) -> list[DueProposal]:
    """The proposals a venue's violations call for that were not proposed before.

    A step is proposed once per venue: one already proposed — pending, confirmed or rejected —
    is not proposed again (a rejection is the bureau's decision, not a gap to fill), while the
    next step still comes at its own count. Violations count in the order observed.
    """
    done = set(proposed_steps)
    ordered = sorted(violations, key=lambda v: (v.observed_at, v.id))
    due = []
    for step in rules.steps:
        if step.name in done:
            continue
        counted = [v.id for v in ordered if v.kind == step.counts]
        if len(counted) >= step.nth:
            due.append(
                DueProposal(step.name, step.order_kind, step.term_days, tuple(counted[: step.nth]))
            )
    return due
