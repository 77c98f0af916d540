"""The lifecycle of a change on a device, napalm-style: open → read → stage → bind → verify →
close. A platform fills in its steps (session, read, syntax, push); this class keeps their order
and is the one place a device error becomes a result.

`stage` writes what has no effect until bound (a cut's ACL or filter bodies), `bind` the
bindings (and, for restores, unbinds before it deletes), `apply` is both in one session: one
read before, one push, one read-back after. Platforms whose bodies and bindings are one object
(nftables rules, a port shut over SNMP) keep `apply` only.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from drivers.base import (
    Action,
    Batch,
    BatchResult,
    Driver,
    DriverError,
    InvalidIdentifier,
    LineOutcome,
    LineState,
    LineTarget,
    OwnedLine,
    Rejected,
    StagedLine,
    StageResult,
)
from drivers.identifiers import IdentifierError, check_line_id
from drivers.outcomes import (
    LinePlan,
    describe,
    outcome,
    unknown_outcomes,
    validate_target,
    work,
)


class Step(enum.Enum):
    """Which half of a change a push carries."""

    STAGE = "stage"  # bodies of cuts, bound nowhere: no line changes state
    BIND = "bind"  # restores and bindings (and any body a stage did not leave): `apply`
    DISCARD = "discard"  # unbound bodies of lines no longer to be cut


class Sendable(Protocol):
    """What a push needs of a line's plan: its commands, or why none are sent."""

    @property
    def commands(self) -> tuple[str, ...]: ...
    @property
    def refusal(self) -> DriverError | None: ...


@dataclass(frozen=True)
class DiscardPlan:
    """One line's share of a discard: the deletion of its unbound bodies."""

    line_id: int
    commands: tuple[str, ...] = ()
    refusal: DriverError | None = None


@dataclass
class Progress:
    """What a change sent and the device answered so far, kept whatever happens next."""

    sent: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)


@dataclass
class Pushed:
    """What a push left: the read-back, and what the device refused.

    `rejections` maps a plan's index to why the device refused its commands; `error` is the
    batch's (a Rejected, or a VerifyFailed after a rollback); `plans` replaces the plans when
    the push made them again (under a configuration lock, or leaving refused lines out);
    `unconfirmed`, that the change will roll back by itself: no line is verified.
    """

    after: Mapping[int, OwnedLine]
    rejections: dict[int, str] = field(default_factory=dict)
    error: DriverError | None = None
    plans: Sequence[Sendable] | None = None
    unconfirmed: bool = False


Replan = Callable[[Mapping[int, OwnedLine]], Sequence[Sendable]]


class Lifecycle(Driver):
    """A driver whose change runs open → read → (stage, bind) → verify → close.

    Steps to fill in: `_opened` (the session), `_read` (owned objects and what a cut must not
    disturb, in as few exchanges as the platform allows), `_render` (a line's commands for a
    step), `_removal` (delete what a line owns), `_push` (send a step's commands, commit where
    the platform commits, read back once). `_occupied` and `_slots` guard the filter slots of
    an interface; `_outcomes` judges read-back.
    """

    # how the device's answers are joined in a result
    output_separator: ClassVar[str] = ""
    # whether the change under way unbinds restores only, leaving their bodies bound nowhere
    # (`Stages.bind(..., keep_bodies=True)`); a platform whose `_render` knows no such thing
    # removes them whole
    _keeping_bodies = False
    # what to call before the change under way sends its first command (`announcing`)
    _before_send: Callable[[], None] | None = None

    # -- steps a platform fills in -------------------------------------------------------------

    @abstractmethod
    def _opened(self) -> AbstractContextManager[object]:
        """The session: opened here and closed after, unless it was open already."""

    @abstractmethod
    def _read(self) -> Mapping[int, OwnedLine]:
        """Owned lines by id, carrying whatever else a cut must not disturb."""

    @abstractmethod
    def _render(
        self, step: Step, action: Action, target: LineTarget, found: OwnedLine | None
    ) -> list[str]:
        """One line's commands for `step`, from what the device holds (`found`)."""

    @abstractmethod
    def _removal(self, found: OwnedLine) -> list[str]:
        """Everything the line owns removed: its bindings first, then its bodies."""

    @abstractmethod
    def _push(
        self,
        step: Step,
        plans: Sequence[Sendable],
        found: Mapping[int, OwnedLine],
        replan: Replan,
        progress: Progress,
    ) -> Pushed:
        """Send the plans' commands in one session, committed where the platform commits, and
        read the device back once. `found` is the read they were planned from, `replan` plans
        again from a fresher one (taken under a lock); what is sent and answered goes to
        `progress` as it happens."""

    def _occupied(
        self,
        target: LineTarget,
        found: Mapping[int, OwnedLine],
        restored: set[int],
        claimed: dict[Hashable, int],
    ) -> Rejected | None:
        """Why binding the target's cut would replace a filter that is not this line's, if so:
        `restored` are the lines the batch unbinds before any cut, `claimed` the interface's
        slots taken by earlier cuts of the batch."""
        del target, found, restored, claimed
        return None

    def _slots(self, target: LineTarget) -> Iterable[Hashable]:
        """The filter slots a cut takes on its interface."""
        del target
        return ()

    def _before_change(self) -> None:
        """Called in the session before the read that starts a change (not before a plain
        `read()`): a platform settles what an interrupted pass left (EOS aborts its own
        pending configure session, whose commit would otherwise revert later)."""

    def _pending(self, found: Mapping[int, OwnedLine]) -> bool:
        """Whether the device holds a change of ours to settle even when nothing is sent."""
        del found
        return False

    def _outcomes(self, plans: Sequence[LinePlan], pushed: Pushed) -> tuple[LineOutcome, ...]:
        """Each line's outcome from read-back (a rejection explains a line not as wanted)."""
        found = tuple(
            outcome(plan, pushed.after, pushed.rejections.get(i)) for i, plan in enumerate(plans)
        )
        if pushed.unconfirmed and pushed.error is not None:
            found = tuple(_unconfirmed(line, pushed.error) for line in found)
        return found

    # -- the contract ------------------------------------------------------------------------

    @classmethod
    def check_target(cls, target: LineTarget) -> None:
        validate_target(cls.platform, target)

    def read(self) -> Mapping[int, OwnedLine]:  # type: ignore[override]
        """Owned lines by id; the answer also carries what a cut must not disturb."""
        with self._opened():
            return self._read()

    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        """All commands `apply` would send for the batch, restores first; refused lines
        contribute none. Pass what `read()` returned: it also knows the foreign filters a cut
        must not replace. Raises InvalidIdentifier if any target fails validation."""
        for target in (*batch.restores, *batch.cuts):
            self.check_target(target)
        return [c for plan in self.plan(batch, owned) for c in plan.commands]

    def plan(self, batch: Batch, owned: Mapping[int, OwnedLine]) -> tuple[LinePlan, ...]:
        """What `apply` would send, line by line, against what `read()` returned (pure)."""
        return self._plan(Step.BIND, batch, self._as_found(owned))

    def render_line(self, action: Action, target: LineTarget, found: OwnedLine | None) -> list[str]:
        """One line's commands taking it from what the device holds (`found`) to `action`."""
        self.check_target(target)
        return self._render(Step.BIND, action, target, found)

    def _as_found(self, owned: Mapping[int, OwnedLine]) -> Mapping[int, OwnedLine]:
        """What `_plan` takes, from a plain mapping of owned lines (what `_read` returns
        passes unchanged)."""
        return owned

    def apply(self, batch: Batch) -> BatchResult:
        """Stage and bind in one session: read, push the difference, read back, verify."""
        if not len(batch):
            return BatchResult(self.name, ())
        progress = Progress()
        plans: list[LinePlan] = []
        try:
            with self._opened():
                self._before_change()
                found = self._read()
                plans[:] = self._plan(Step.BIND, batch, found)
                if not any(plan.commands for plan in plans) and not self._pending(found):
                    pushed = Pushed(found)
                else:
                    self._announce_send()
                    pushed = self._push(
                        Step.BIND,
                        plans,
                        found,
                        lambda fresh: self._replan(plans, Step.BIND, batch, fresh),
                        progress,
                    )
        except DriverError as exc:
            return BatchResult(
                device=self.name,
                outcomes=unknown_outcomes(batch, plans, exc),
                commands=tuple(progress.sent),
                device_output=self._failed_output(progress, exc),
                error=exc,
            )
        final = _line_plans(pushed.plans) if pushed.plans is not None else tuple(plans)
        outcomes = self._outcomes(final, pushed)
        return BatchResult(
            self.name,
            outcomes,
            tuple(progress.sent),
            self._joined(progress.output),
            pushed.error,
            released=tuple(
                line.line_id
                for line in outcomes
                if line.action is Action.RESTORE and line.verified and line.line_id in pushed.after
            ),
        )

    @contextmanager
    def announcing(self, before_send: Callable[[], None]) -> Iterator[None]:
        """`WritesAhead`: `before_send` is called once, before the change under way sends
        its first command; never when it finds nothing to send."""
        self._before_send = before_send
        try:
            yield
        finally:
            self._before_send = None

    def _announce_send(self) -> None:
        before_send, self._before_send = self._before_send, None
        if before_send is not None:
            before_send()

    # -- the halves (public on platforms that offer `Staging`) -------------------------------

    def _stage(self, batch: Batch) -> StageResult:
        """Write the bodies of the batch's cuts, bound nowhere; read back; say which are
        staged. Restores are only read: the slots they hold count as free for the cuts."""
        if not batch.cuts:
            return StageResult(self.name, ())
        progress = Progress()
        plans: list[LinePlan] = []
        try:
            with self._opened():
                self._before_change()
                found = self._read()
                plans[:] = self._plan(Step.STAGE, batch, found)
                if any(plan.commands for plan in plans):
                    pushed = self._push(
                        Step.STAGE,
                        plans,
                        found,
                        lambda fresh: self._replan(plans, Step.STAGE, batch, fresh),
                        progress,
                    )
                else:
                    pushed = Pushed(found)
        except DriverError as exc:
            lines = tuple(
                StagedLine(plan.target.line_id, plan.commands, False, describe(exc))
                for plan in plans
            ) or tuple(StagedLine(t.line_id, (), False, describe(exc)) for t in batch.cuts)
            output = self._failed_output(progress, exc)
            return StageResult(self.name, lines, tuple(progress.sent), output, exc)
        final = _line_plans(pushed.plans) if pushed.plans is not None else tuple(plans)
        lines = tuple(
            _staged(plan, pushed.after, pushed.rejections.get(i)) for i, plan in enumerate(final)
        )
        error = pushed.error
        return StageResult(
            self.name, lines, tuple(progress.sent), self._joined(progress.output), error
        )

    def _planned_stage(
        self,
        targets: Sequence[LineTarget],
        plan: Callable[[Mapping[int, OwnedLine]], list[LinePlan]],
        judge: Callable[[Sequence[LinePlan], Pushed], tuple[StagedLine, ...]],
    ) -> StageResult:
        """A step that, like a stage, changes no line's state: open, read, `plan` from what was
        read, push what the plans send (planned again from a fresher read where the push asks),
        and `judge` each line from the read-back; a session that fails fails every target.
        Device timing's arming is one (`drivers.timing`, `drivers.linux_nftables`)."""
        progress = Progress()
        try:
            with self._opened():
                found = self._read()
                plans = plan(found)
                if any(line.commands for line in plans):
                    pushed = self._push(Step.STAGE, plans, found, plan, progress)
                else:
                    pushed = Pushed(found)
        except DriverError as exc:
            return self._failed_stage((t.line_id for t in targets), progress, exc)
        lines = judge(plans, pushed)
        output = self._joined(progress.output)
        return StageResult(self.name, lines, tuple(progress.sent), output, pushed.error)

    def _discard(self, line_ids: Iterable[int]) -> StageResult:
        """Delete the unbound bodies of these lines; a line bound anywhere is refused."""
        wanted = list(dict.fromkeys(line_ids))
        if not wanted:
            return StageResult(self.name, ())
        progress = Progress()
        plans: list[DiscardPlan] = []
        try:
            with self._opened():
                self._before_change()
                found = self._read()
                plans[:] = self._discard_plans(wanted, found)
                if any(plan.commands for plan in plans):
                    pushed = self._push(
                        Step.DISCARD,
                        plans,
                        found,
                        lambda fresh: self._discard_plans(wanted, fresh),
                        progress,
                    )
                else:
                    pushed = Pushed(found)
        except DriverError as exc:
            return self._failed_stage(wanted, progress, exc)
        final = plans
        if pushed.plans is not None:
            final = [plan for plan in pushed.plans if isinstance(plan, DiscardPlan)]
        lines = tuple(
            _discarded(plan, pushed.after, pushed.rejections.get(i)) for i, plan in enumerate(final)
        )
        return StageResult(
            self.name, lines, tuple(progress.sent), self._joined(progress.output), pushed.error
        )

    # -- planning ------------------------------------------------------------------------------

    def _plan(
        self, step: Step, batch: Batch, found: Mapping[int, OwnedLine]
    ) -> tuple[LinePlan, ...]:
        """Restores first, then cuts (a stage plans cuts only); a line with an invalid
        identifier or an occupied interface is refused on its own and the rest goes ahead."""
        restored: set[int] = set()
        if step is Step.STAGE:
            # the bind to come restores these first: the slots they hold are free for cuts
            restored = {t.line_id for t in batch.restores if t.line_id in found}
        claimed: dict[str, dict[Hashable, int]] = {}
        plans: list[LinePlan] = []
        for action, target in work(batch):
            if step is Step.STAGE and action is Action.RESTORE:
                continue
            line = found.get(target.line_id)
            try:
                self.check_target(target)
                if action is Action.CUT and not (
                    line is not None and line.state_for(target) is LineState.CUT
                ):
                    taken = claimed.setdefault(target.interface, {})
                    conflict = self._occupied(target, found, restored, taken)
                    if conflict is not None:
                        raise conflict
                    for slot in self._slots(target):
                        taken[slot] = target.line_id
                commands = self._render(step, action, target, line)
            except DriverError as refusal:
                plans.append(LinePlan(target, action, refusal=refusal))
                continue
            if action is Action.RESTORE and commands:
                restored.add(target.line_id)
            plans.append(LinePlan(target, action, tuple(commands)))
        return tuple(plans)

    def _replan(
        self, plans: list[LinePlan], step: Step, batch: Batch, found: Mapping[int, OwnedLine]
    ) -> tuple[LinePlan, ...]:
        """Plan again from a fresher read; the caller's plans follow (for its error path)."""
        plans[:] = self._plan(step, batch, found)
        return tuple(plans)

    def _discard_plans(
        self, line_ids: Sequence[int], found: Mapping[int, OwnedLine]
    ) -> list[DiscardPlan]:
        plans: list[DiscardPlan] = []
        for line_id in line_ids:
            try:
                check_line_id(line_id)
            except IdentifierError as exc:
                plans.append(DiscardPlan(line_id, refusal=InvalidIdentifier(str(exc))))
                continue
            line = found.get(line_id)
            if line is None:
                plans.append(DiscardPlan(line_id))
            elif line.bindings:
                where = ", ".join(sorted(line.bindings))
                refusal = Rejected(f"line {line_id} is bound on {where}: not discarding its bodies")
                plans.append(DiscardPlan(line_id, refusal=refusal))
            else:
                plans.append(DiscardPlan(line_id, tuple(self._removal(line))))
        return plans

    def _joined(self, output: Iterable[str]) -> str:
        return self.output_separator.join(output)

    def _failed_output(self, progress: Progress, error: DriverError) -> str:
        """What the device answered before `error`, and what the error carries of it."""
        return self._joined([*progress.output, error.output] if error.output else progress.output)

    def _failed_stage(
        self, line_ids: Iterable[int], progress: Progress, error: DriverError
    ) -> StageResult:
        """A stage-like step (stage, discard, arm, disarm) the session failed: every line
        failed with the error, and what was sent and answered before it."""
        lines = tuple(StagedLine(i, (), False, describe(error)) for i in line_ids)
        output = self._failed_output(progress, error)
        return StageResult(self.name, lines, tuple(progress.sent), output, error)


class Stages(Lifecycle):
    """A lifecycle whose halves are offered apart: the `Staging` ability."""

    def stage(self, batch: Batch) -> StageResult:
        """The bodies of the batch's cuts, bound nowhere (see `drivers.base.Staging`)."""
        return self._stage(batch)

    def bind(self, batch: Batch, *, keep_bodies: bool = False) -> BatchResult:
        """Restores and bindings, bodies a stage did not leave written first: `apply`. With
        `keep_bodies`, restores unbind only where the platform can (the instant's work is the
        bindings); the result's `released` names the lines whose bodies are left, bound
        nowhere, for `discard_staged`."""
        self._keeping_bodies = keep_bodies
        try:
            return self.apply(batch)
        finally:
            self._keeping_bodies = False

    def discard_staged(self, line_ids: Iterable[int]) -> StageResult:
        """Delete the owned bodies of these lines that are bound nowhere."""
        return self._discard(line_ids)


def _line_plans(plans: Sequence[Sendable]) -> tuple[LinePlan, ...]:
    """The plans of a stage or an apply, as a push made them again."""
    return tuple(plan for plan in plans if isinstance(plan, LinePlan))


def _staged(plan: LinePlan, after: Mapping[int, OwnedLine], rejection: str | None) -> StagedLine:
    target = plan.target
    found = after.get(target.line_id)
    if plan.refusal is not None:
        return StagedLine(target.line_id, plan.commands, False, describe(plan.refusal))
    if rejection is not None:
        return StagedLine(target.line_id, plan.commands, False, f"Rejected: {rejection}")
    if found is not None and found.state_for(target) is LineState.CUT:
        return StagedLine(target.line_id, plan.commands, True)
    if found is not None and found.staged_for(target):
        return StagedLine(target.line_id, plan.commands, True)
    if found is not None and found.bindings:
        where = ", ".join(sorted(found.bindings))
        problem = f"line {target.line_id} is bound on {where}, not as its cut: left to bind"
    else:
        problem = f"VerifyFailed: read-back does not show line {target.line_id}'s bodies staged"
    return StagedLine(target.line_id, plan.commands, False, problem)


def _discarded(
    plan: DiscardPlan, after: Mapping[int, OwnedLine], rejection: str | None
) -> StagedLine:
    if plan.refusal is not None:
        return StagedLine(plan.line_id, plan.commands, False, describe(plan.refusal))
    if rejection is not None:
        return StagedLine(plan.line_id, plan.commands, False, f"Rejected: {rejection}")
    if plan.line_id in after:
        problem = f"VerifyFailed: read-back still shows objects of line {plan.line_id}"
        return StagedLine(plan.line_id, plan.commands, False, problem)
    return StagedLine(plan.line_id, plan.commands, True)


def _unconfirmed(line: LineOutcome, error: DriverError) -> LineOutcome:
    """A line whose change was not confirmed: it rolls back by itself, so it is not verified."""
    return LineOutcome(
        line.line_id,
        line.action,
        line.commands,
        line.state_after,
        False,
        line.error or describe(error),
    )
