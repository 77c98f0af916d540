"""The ACL model the IOS, Comware, VRP and EOS drivers share: the two families, the ACL names a
line owns (CURFEW-L<id>, CURFEW6-L<id>), an ACL's entries, and the filters bound per interface.

Each platform keeps its own `Direction` (its words for in and out) and its own command syntax.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Generic, Protocol, TypeVar

from drivers.base import (
    Action,
    InvalidIdentifier,
    LineState,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
)
from drivers.identifiers import IdentifierError, check_interface


class Family(enum.StrEnum):
    IPV4 = "ip"
    IPV6 = "ipv6"


FAMILIES = (Family.IPV4, Family.IPV6)

_ACL_PREFIX = {Family.IPV4: "CURFEW-L", Family.IPV6: "CURFEW6-L"}
# Only canonical ids are ours: CURFEW-L042 or CURFEW-L0 were not written by a driver.
_OWNED_NAME = {
    family: re.compile(re.escape(prefix) + r"([1-9][0-9]{0,8})")
    for family, prefix in _ACL_PREFIX.items()
}


def acl_name(family: Family, line_id: int) -> str:
    return f"{_ACL_PREFIX[family]}{line_id}"


def owner_of(family: Family, name: str) -> int | None:
    """The line id an ACL name belongs to, or None when the ACL is not ours."""
    match = _OWNED_NAME[family].fullmatch(name)
    return int(match.group(1)) if match else None


def family_of(prefix: Prefix) -> Family:
    return Family.IPV4 if isinstance(prefix, IPv4Network) else Family.IPV6


@dataclass(frozen=True)
class Entry:
    """One ACL entry (a rule, on Comware and VRP); `source`/`destination` None means any."""

    action: str
    source: Prefix | None
    destination: Prefix | None


DirectionT = TypeVar("DirectionT", bound=enum.Enum)


class BoundFilters(dict[int, OwnedLine], Generic[DirectionT]):
    """Owned lines by id (what `read()` returns), plus every filter bound on each interface.

    These platforms hold one filter per family and direction on an interface, and binding
    another replaces it: rendering a cut needs to see the foreign ones too.
    """

    def __init__(
        self,
        lines: Mapping[int, OwnedLine] | None = None,
        filters: Mapping[str, Mapping[tuple[Family, DirectionT], str]] | None = None,
    ) -> None:
        super().__init__(lines or {})
        self.filters: dict[str, dict[tuple[Family, DirectionT], str]] = {
            interface: dict(slots) for interface, slots in (filters or {}).items()
        }

    def holder(self, interface: str, family: Family, direction: DirectionT) -> str | None:
        """What is bound on `interface` for that family and direction (an ACL's name, or its
        number as the platform prints it), if anything."""
        return self.filters.get(interface, {}).get((family, direction))


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
