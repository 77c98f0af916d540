"""What every driver does with a batch around its own syntax: which targets are safe to render,
a line's plan, the order lines are worked in (restores first), and the per-line outcomes a pass
reports, read back or unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Protocol

from drivers.base import (
    Action,
    Batch,
    DriverError,
    InvalidIdentifier,
    LineOutcome,
    LineState,
    LineTarget,
    OwnedLine,
    Rejected,
    observed_state,
)
from drivers.identifiers import IdentifierError, check_interface, check_line_id


@dataclass(frozen=True)
class LinePlan:
    """One line's share of a push: its commands, or why none are sent."""

    target: LineTarget
    action: Action
    commands: tuple[str, ...] = ()
    refusal: DriverError | None = None


class Planned(Protocol):
    """What outcomes need of a plan (the SNMP driver's plan derives its commands)."""

    @property
    def target(self) -> LineTarget: ...
    @property
    def action(self) -> Action: ...
    @property
    def commands(self) -> tuple[str, ...]: ...


def validate_target(platform: str, target: LineTarget) -> None:
    """Refuse any target a command would be unsafe to render from, on `platform`."""
    try:
        check_line_id(target.line_id)
        check_interface(platform, target.interface)
    except IdentifierError as exc:
        raise InvalidIdentifier(f"line {target.line_id!r}: {exc}") from None
    for prefix in target.prefixes:
        if not isinstance(prefix, IPv4Network | IPv6Network) or prefix.prefixlen == 0:
            raise InvalidIdentifier(f"line {target.line_id}: prefix {prefix!r} cannot be cut")


def work(batch: Batch) -> list[tuple[Action, LineTarget]]:
    """The batch's lines in the order they are planned and pushed: restores first."""
    return [(Action.RESTORE, t) for t in batch.restores] + [(Action.CUT, t) for t in batch.cuts]


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def wanted_state(action: Action) -> LineState:
    return LineState.CUT if action is Action.CUT else LineState.OPEN


def unverified(line_id: int, state: LineState, wanted: LineState) -> str:
    return f"VerifyFailed: read-back shows line {line_id} {state}, expected {wanted}"


def summary(messages: Sequence[str]) -> str:
    """The first problem, and how many more there were."""
    more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
    return messages[0] + more


def rejected(messages: Sequence[str], output: str) -> Rejected | None:
    """The batch's error for the commands the device refused, if it refused any."""
    return Rejected(summary(messages), output=output) if messages else None


def outcome(plan: LinePlan, after: Mapping[int, OwnedLine], rejection: str | None) -> LineOutcome:
    """A line's outcome from read-back: verified when it shows the wanted state. A rejection
    only explains a line that read-back does not show as wanted."""
    state = observed_state(after, plan.target)
    wanted = wanted_state(plan.action)
    verified = plan.refusal is None and state is wanted
    error: str | None = None
    if plan.refusal is not None:
        error = describe(plan.refusal)
    elif not verified:
        error = (
            f"Rejected: {rejection}"
            if rejection
            else unverified(plan.target.line_id, state, wanted)
        )
    return LineOutcome(plan.target.line_id, plan.action, plan.commands, state, verified, error)


def unknown_outcomes(
    batch: Batch, plans: Sequence[Planned], error: DriverError
) -> tuple[LineOutcome, ...]:
    """Every line UNKNOWN: the session failed before the device could be read back."""
    commands = {(plan.action, plan.target.line_id): plan.commands for plan in plans}
    return tuple(
        LineOutcome(
            target.line_id,
            action,
            commands.get((action, target.line_id), ()),
            LineState.UNKNOWN,
            False,
            describe(error),
        )
        for action, target in work(batch)
    )
