"""Helpers of the drivers not yet on the lifecycle (`drivers.lifecycle`), kept only until the
last of them moves: do not use in new code."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol, TypeVar

from drivers.acl import FAMILIES, BoundFilters, Family, acl_name, family_of, owner_of
from drivers.base import (
    Action,
    Batch,
    BatchResult,
    DriverError,
    InvalidIdentifier,
    LineState,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
)
from drivers.cli import PUSH_WINDOW, CliSession, echoed_rejections
from drivers.identifiers import IdentifierError, check_interface
from drivers.outcomes import LinePlan, outcome, unknown_outcomes

DirectionT = TypeVar("DirectionT", bound=enum.Enum)


def filter_slots(
    target: LineTarget, directions: Sequence[DirectionT]
) -> list[tuple[Family, DirectionT]]:
    """The filter slots a cut takes on its interface: each family it blocks, both ways."""
    return [(family_of(p), direction) for p in target.prefixes for direction in directions]


def occupied(
    target: LineTarget,
    config: BoundFilters[DirectionT],
    restored: set[int],
    claimed: Mapping[tuple[Family, DirectionT], int],
    *,
    directions: Sequence[DirectionT],
    where: Callable[[Family, DirectionT], str],
    joiner: str = " with ",
    family_refusal: Callable[[Family], Rejected | None] = lambda family: None,
) -> Rejected | None:
    """Why binding the target's ACLs would replace a filter that is not this line's, if so.

    `where` words the platform's "<interface> already filters ..." for a family and direction,
    and `joiner` goes between it and what holds the slot; `family_refusal` is a platform's own
    reason to refuse a family, asked before that family's slots.
    """
    families = {family_of(p) for p in target.prefixes}
    for family in FAMILIES:
        if family not in families:
            continue
        refusal = family_refusal(family)
        if refusal is not None:
            return refusal
        for direction in directions:
            held = where(family, direction) + joiner
            other = claimed.get((family, direction))
            if other is not None and other != target.line_id:
                name = acl_name(family, other)
                return Rejected(f"{held}{name} (line {other}, cut in this batch)")
            holder = config.holder(target.interface, family, direction)
            if holder is None:
                continue
            owner = owner_of(family, holder)
            if owner == target.line_id or owner in restored:
                continue
            if owner is None:
                return Rejected(f"{held}{holder}; not replacing a foreign ACL")
            return Rejected(f"{held}{holder} (line {owner}); not replacing another line's ACL")
    return None


def render_change(
    action: Action,
    target: LineTarget,
    found: OwnedLine | None,
    *,
    removal: Callable[[OwnedLine | None], list[str]],
    cut: Callable[[LineTarget], list[str]],
) -> list[str]:
    """One line's commands: a restore removes what is there; a cut already in place sends
    nothing; anything else is removed and cut afresh (a partial or mismatched cut)."""
    if action is Action.RESTORE:
        return removal(found)
    if found is not None and found.state_for(target) is LineState.CUT:
        return []
    return removal(found) + cut(target)


def removal_commands(
    line_id: int,
    acls: frozenset[Family],
    bound_on: Collection[str],
    *,
    platform: str,
    unbind: Callable[[str], list[str]],
    delete: Callable[[Family], str],
    leave: str,
) -> list[str]:
    """Bindings first, interface by interface, then the ACLs: an ACL is never deleted while it
    filters an interface. `unbind(interface)` words the platform's removals of the bindings read
    back on that interface, `delete(family)` the removal of an ACL, `leave` the exit of a view."""
    commands: list[str] = []
    for interface in sorted(bound_on):
        try:
            check_interface(platform, interface)
        except IdentifierError as exc:
            raise InvalidIdentifier(
                f"line {line_id} is bound on {interface!r}, which cannot be rendered: {exc}"
            ) from None
        commands += [f"interface {interface}", *unbind(interface), leave]
    commands += [delete(family) for family in FAMILIES if family in acls]
    return commands


class _Bound(Protocol):
    interface: str


BindingT = TypeVar("BindingT", bound=_Bound)
EntriesT = TypeVar("EntriesT")


def owned_lines(
    acls: Mapping[tuple[Family, int], EntriesT],
    filters: Mapping[str, Mapping[tuple[Family, DirectionT], str]],
    *,
    directions: Sequence[DirectionT],
    binding: Callable[[str, Family, DirectionT], BindingT],
    exact: Callable[[EntriesT], bool],
    prefixes: Callable[[EntriesT], frozenset[Prefix]],
    make: Callable[..., OwnedLine],
) -> dict[int, OwnedLine]:
    """The owned lines of a parsed configuration: the owned ACLs (by family and line id) and
    the owned filters bound per interface, put together by line.

    A line is complete when it has ACLs, each exactly as a cut renders it, bound on at least
    one interface in every direction for every family it has, and on nothing else. `make`
    builds the platform's OwnedLine, given also `acls` (the families found) and `filters`
    (the bindings found), so a restore removes exactly what exists.
    """
    owned_filters: dict[int, set[BindingT]] = {}
    for interface, slots in filters.items():
        for (family, direction), name in slots.items():
            line_id = owner_of(family, name)
            if line_id is not None:
                owned_filters.setdefault(line_id, set()).add(binding(interface, family, direction))
    lines: dict[int, OwnedLine] = {}
    for line_id in sorted({line_id for _, line_id in acls} | set(owned_filters)):
        entries = {f: acls[(f, line_id)] for f in FAMILIES if (f, line_id) in acls}
        found = frozenset(owned_filters.get(line_id, ()))
        interfaces = frozenset(b.interface for b in found)
        expected = frozenset(
            binding(i, family, d) for i in interfaces for family in entries for d in directions
        )
        complete = (
            bool(entries)
            and all(exact(e) for e in entries.values())
            and bool(interfaces)
            and found == expected
        )
        lines[line_id] = make(
            line_id=line_id,
            prefixes=frozenset().union(*(prefixes(e) for e in entries.values())),
            bindings=interfaces,
            complete=complete,
            acls=frozenset(entries),
            filters=found,
        )
    return lines


def found_objects(
    found: OwnedLine,
    parsed: type[OwnedLine],
    directions: Sequence[DirectionT],
    binding: Callable[[str, Family, DirectionT], BindingT],
) -> tuple[frozenset[Family], frozenset[BindingT]]:
    """Exactly which owned objects exist, so a restore renders a removal only for those.

    A line the platform's parser made (`parsed`) carries them; a bare OwnedLine says that much
    only when it is complete (every family of its prefixes, bound both ways on its interfaces).
    """
    if isinstance(found, parsed):
        return found.acls, found.filters  # type: ignore[attr-defined]
    if not found.complete:
        raise ValueError(
            f"line {found.line_id}: an incomplete OwnedLine does not say which bindings exist; "
            f"render against what read() returned"
        )
    families = frozenset(family_of(p) for p in found.prefixes)
    bindings = frozenset(
        binding(i, f, d) for i in found.bindings for f in families for d in directions
    )
    return families, bindings


def legacy_push(
    session: CliSession,
    commands: Sequence[str],
    answered: Callable[[Sequence[str]], Callable[[str], bool]],
    window: int = PUSH_WINDOW,
) -> str:
    """Send config commands in windows, each read until `answered(window)` says it is whole."""
    answer: list[str] = []
    try:
        with session.exchange("configuration commands"):
            for start in range(0, len(commands), window):
                chunk = commands[start : start + window]
                session.write(chunk)
                answer.append(session.read_until(answered(chunk), answer))
    except DriverError as exc:
        exc.output = "".join(answer) + exc.output
        raise
    return "".join(answer)


Config = TypeVar("Config", bound=Mapping[int, OwnedLine])


def apply_echoed(
    device: str,
    batch: Batch,
    session: CliSession,
    *,
    read: Callable[[], Config],
    plan: Callable[[Batch, Config], tuple[LinePlan, ...]],
    frame: tuple[str, str],
    push: Callable[[tuple[str, ...]], str],
    find_rejections: Callable[[Sequence[str], str], list[tuple[int | None, str]]],
) -> BatchResult:
    """Read, plan, push the lines' commands as one block between `frame`'s entering and leaving
    commands, read back: the one place a device error becomes a result, for the drivers whose
    errors are found in the device's echo of what was sent (`find_rejections`)."""
    if not len(batch):
        return BatchResult(device, ())
    plans: tuple[LinePlan, ...] = ()
    sent: tuple[str, ...] = ()
    output = ""
    try:
        with session.opened():
            before = read()
            plans = plan(batch, before)
            line_commands = [c for line_plan in plans for c in line_plan.commands]
            rejections: dict[int, str] = {}
            error: DriverError | None = None
            if line_commands:
                sent = (frame[0], *line_commands, frame[1])
                output = push(sent)
                rejections, error = echoed_rejections(
                    plans, sent, find_rejections(sent, output), output
                )
                after: Mapping[int, OwnedLine] = read()
            else:
                after = before
    except DriverError as exc:
        return BatchResult(
            device=device,
            outcomes=unknown_outcomes(batch, plans, exc),
            commands=sent,
            device_output=output or exc.output,
            error=exc,
        )
    outcomes = tuple(outcome(p, after, rejections.get(i)) for i, p in enumerate(plans))
    return BatchResult(device, outcomes, sent, output, error)
