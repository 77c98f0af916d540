"""The ACL model the IOS, Comware, VRP and EOS drivers share, and their lifecycle: a cut is a
pair of owned ACLs (CURFEW-L<id>, CURFEW6-L<id>) bound in and out on the venue's interface.

`AclDriver` writes every change from a few pieces of syntax a platform fills in (an ACL's lines,
a binding, an unbinding, a deletion, the command leaving a view); `CiscoStyleAcls` is that
syntax as IOS and EOS share it. Each platform keeps its own `Direction` (its words for in and
out) and its parser.
"""

from __future__ import annotations

import enum
import re
from abc import abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any, ClassVar, Generic, TypeVar

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
from drivers.lifecycle import Stages, Step


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


def families_of(target: LineTarget) -> list[Family]:
    """The families a cut of the target filters, in the order they are written."""
    return [f for f in FAMILIES if any(family_of(p) is f for p in target.prefixes)]


@dataclass(frozen=True)
class Entry:
    """One ACL entry (a rule, on Comware and VRP); `source`/`destination` None means any."""

    action: str
    source: Prefix | None
    destination: Prefix | None


def acl_prefixes(entries: Sequence[Entry | None]) -> frozenset[Prefix]:
    """The prefixes an ACL's deny entries name."""
    found: set[Prefix] = set()
    for entry in entries:
        if entry is not None and entry.action == "deny":
            found.update(p for p in (entry.source, entry.destination) if p is not None)
    return frozenset(found)


def acl_is_exact(entries: Sequence[Entry | None]) -> bool:
    """Exactly deny-source and deny-destination per prefix, then one trailing permit-all."""
    if len(entries) < 3 or entries[-1] != Entry("permit", None, None):
        return False
    denies = entries[:-1]
    if any(entry is None for entry in denies) or len(set(denies)) != len(denies):
        return False
    prefixes = acl_prefixes(denies)
    expected = {Entry("deny", p, None) for p in prefixes} | {
        Entry("deny", None, p) for p in prefixes
    }
    return set(denies) == expected


DirectionT = TypeVar("DirectionT", bound=enum.Enum)


@dataclass(frozen=True, order=True)
class Binding:
    """One owned ACL bound on an interface in one direction."""

    interface: str
    family: Family
    direction: Any  # the platform's Direction


@dataclass(frozen=True)
class AclOwnedLine(OwnedLine):
    """An owned line plus exactly which objects exist, so a restore removes only those."""

    acls: frozenset[Family] = frozenset()
    filters: frozenset[Any] = frozenset()  # the platform's Binding


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


def owned_lines(
    acls: Mapping[tuple[Family, int], Sequence[Entry | None]],
    filters: Mapping[str, Mapping[tuple[Family, DirectionT], str]],
    directions: Sequence[DirectionT],
) -> dict[int, OwnedLine]:
    """The owned lines of a parsed configuration: the owned ACLs (by family and line id) and
    the owned filters bound per interface, put together by line.

    A line's ACLs are exact when each is exactly as a cut renders it; the line is complete
    when they are also bound on at least one interface in every direction for every family it
    has, and on nothing else. Each line says which ACLs and bindings exist, so a restore
    removes exactly those.
    """
    owned_filters: dict[int, set[Binding]] = {}
    for interface, slots in filters.items():
        for (family, direction), name in slots.items():
            line_id = owner_of(family, name)
            if line_id is not None:
                owned_filters.setdefault(line_id, set()).add(Binding(interface, family, direction))
    lines: dict[int, OwnedLine] = {}
    for line_id in sorted({line_id for _, line_id in acls} | set(owned_filters)):
        entries = {f: acls[(f, line_id)] for f in FAMILIES if (f, line_id) in acls}
        found = frozenset(owned_filters.get(line_id, ()))
        interfaces = frozenset(b.interface for b in found)
        expected = frozenset(
            Binding(i, family, d) for i in interfaces for family in entries for d in directions
        )
        exact = bool(entries) and all(acl_is_exact(e) for e in entries.values())
        lines[line_id] = AclOwnedLine(
            line_id=line_id,
            prefixes=frozenset().union(*(acl_prefixes(e) for e in entries.values())),
            bindings=interfaces,
            complete=exact and bool(interfaces) and found == expected,
            exact=exact,
            acls=frozenset(entries),
            filters=found,
        )
    return lines


class AclDriver(Stages):
    """The lifecycle of a cut made of owned ACLs: its bodies are the ACLs (staged unbound,
    they filter nothing), its bindings the interface's filters in and out.

    A platform fills in its syntax: `_acl_lines`, `_binding_lines`, `_unbinding`,
    `_deletion`, `leave`; `_held` words a slot already taken.
    """

    directions: ClassVar[tuple[Any, ...]]
    # the command leaving an ACL's or an interface's view
    leave: ClassVar[str]
    # what goes between "<interface> already filters ..." and what holds the slot
    joiner: ClassVar[str] = " with "
    # the OwnedLine this platform's parser makes (it says which objects exist)
    parsed: ClassVar[type[OwnedLine]] = AclOwnedLine

    # -- syntax a platform fills in ------------------------------------------------------------

    @abstractmethod
    def _acl_lines(self, family: Family, target: LineTarget) -> list[str]:
        """The ACL of one family for a cut: its header (entering its view) and entries."""

    @abstractmethod
    def _binding_lines(self, family: Family, target: LineTarget) -> list[str]:
        """The bindings of one family's ACL, in and out, typed in the interface's view."""

    @abstractmethod
    def _unbinding(self, binding: Any, line_id: int) -> str:
        """The removal of one owned binding read back (in the interface's view)."""

    @abstractmethod
    def _deletion(self, family: Family, line_id: int) -> str:
        """The deletion of one owned ACL."""

    @abstractmethod
    def _held(self, target: LineTarget, family: Family, direction: Any) -> str:
        """`<interface> already filters ...` for one family and direction."""

    def _family_refusal(
        self, target: LineTarget, family: Family, config: BoundFilters[Any]
    ) -> Rejected | None:
        """A platform's own reason to refuse a family of a cut, asked before its slots."""
        del target, family, config
        return None

    def _binding(self, interface: str, family: Family, direction: Any, line_id: int) -> Any:
        """The binding a cut makes, as the parser records it."""
        del line_id
        return Binding(interface, family, direction)

    # -- what a change sends -------------------------------------------------------------------

    def _render(
        self, step: Step, action: Action, target: LineTarget, found: OwnedLine | None
    ) -> list[str]:
        """A restore removes what is there; a cut already in place sends nothing. A cut
        whose bodies are there exactly and bound nowhere (staged) takes only its bindings;
        otherwise its bodies are (re)written first: deleted and written whole where they
        differ. A line bound in any other way is removed and cut afresh, by a bind only:
        its bodies cannot change while they filter an interface. A restore that keeps its
        bodies (a prepared pass's bind) only unbinds."""
        if action is Action.RESTORE:
            if found is None:
                return []
            return self._unbindings(found) if self._keeping_bodies else self._removal(found)
        if found is not None and found.state_for(target) is LineState.CUT:
            return []
        if found is not None and found.bindings:
            if step is Step.STAGE:
                return []
            return self._removal(found) + self._bodies(target) + self._bindings(target)
        bodies: list[str] = []
        if found is None or not found.staged_for(target):
            bodies = (self._removal(found) if found is not None else []) + self._bodies(target)
        return bodies if step is Step.STAGE else bodies + self._bindings(target)

    def _bodies(self, target: LineTarget) -> list[str]:
        return [
            line
            for family in families_of(target)
            for line in (*self._acl_lines(family, target), self.leave)
        ]

    def _bindings(self, target: LineTarget) -> list[str]:
        lines = [f"interface {target.interface}"]
        for family in families_of(target):
            lines += self._binding_lines(family, target)
        return [*lines, self.leave]

    def _removal(self, found: OwnedLine) -> list[str]:
        """Bindings first, interface by interface, then the ACLs: an ACL is never deleted
        while it filters an interface. Only objects read back are removed (IOS's `no ip
        access-group NAME in` removes whatever is bound inbound, whatever its name)."""
        acls, _ = self._found_objects(found)
        return self._unbindings(found) + [
            self._deletion(family, found.line_id) for family in FAMILIES if family in acls
        ]

    def _unbindings(self, found: OwnedLine) -> list[str]:
        """The line's bindings read back removed, interface by interface; its ACLs stay."""
        _, filters = self._found_objects(found)
        line_id = found.line_id
        commands: list[str] = []
        for interface in sorted({b.interface for b in filters}):
            try:
                check_interface(self.platform, interface)
            except IdentifierError as exc:
                raise InvalidIdentifier(
                    f"line {line_id} is bound on {interface!r}, which cannot be rendered: {exc}"
                ) from None
            unbind = [
                self._unbinding(b, line_id) for b in sorted(filters) if b.interface == interface
            ]
            commands += [f"interface {interface}", *unbind, self.leave]
        return commands

    def _found_objects(self, found: OwnedLine) -> tuple[frozenset[Family], frozenset[Any]]:
        """Exactly which owned objects exist, so a removal renders only those. A line the
        platform's parser made carries them; a bare OwnedLine says that much only when it is
        complete (every family of its prefixes, bound both ways on its interfaces)."""
        if isinstance(found, self.parsed):
            return found.acls, found.filters  # type: ignore[attr-defined]
        if not found.complete:
            raise ValueError(
                f"line {found.line_id}: an incomplete OwnedLine does not say which bindings "
                f"exist; render against what read() returned"
            )
        families = frozenset(family_of(p) for p in found.prefixes)
        bindings = frozenset(
            self._binding(i, f, d, found.line_id)
            for i in found.bindings
            for f in families
            for d in self.directions
        )
        return families, bindings

    # -- the filter slots of an interface ------------------------------------------------------

    def _slots(self, target: LineTarget) -> list[Hashable]:
        """The slots a cut takes on its interface: each family it blocks, both ways."""
        return [
            (family, direction) for family in families_of(target) for direction in self.directions
        ]

    def _occupied(
        self,
        target: LineTarget,
        found: Mapping[int, OwnedLine],
        restored: set[int],
        claimed: dict[Hashable, int],
    ) -> Rejected | None:
        """Why binding the target's ACLs would replace a filter that is not this line's."""
        config = found if isinstance(found, BoundFilters) else BoundFilters(found)
        for family in families_of(target):
            refusal = self._family_refusal(target, family, config)
            if refusal is not None:
                return refusal
            for direction in self.directions:
                held = self._held(target, family, direction) + self.joiner
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


class CiscoDirection(enum.StrEnum):
    IN = "in"
    OUT = "out"


class CiscoStyleAcls(AclDriver):
    """IOS and EOS syntax: `<header> NAME`, `deny FAMILY SRC any`, `deny FAMILY any DST`,
    `permit FAMILY any any`, `exit`; bound with `<binding> NAME in|out`, removed with `no`."""

    directions = (CiscoDirection.IN, CiscoDirection.OUT)
    leave = "exit"
    # per family: the ACL header and the interface's binding command
    acl_header: ClassVar[dict[Family, str]]
    binding_word: ClassVar[dict[Family, str]]

    @abstractmethod
    def _address(self, prefix: Prefix) -> str:
        """A prefix as an entry names it."""

    def _acl_lines(self, family: Family, target: LineTarget) -> list[str]:
        lines = [f"{self.acl_header[family]} {acl_name(family, target.line_id)}"]
        for prefix in dict.fromkeys(p for p in target.prefixes if family_of(p) is family):
            lines.append(f"deny {family} {self._address(prefix)} any")
            lines.append(f"deny {family} any {self._address(prefix)}")
        return [*lines, f"permit {family} any any"]

    def _binding_lines(self, family: Family, target: LineTarget) -> list[str]:
        name = acl_name(family, target.line_id)
        return [f"{self.binding_word[family]} {name} {d}" for d in self.directions]

    def _unbinding(self, binding: Binding, line_id: int) -> str:
        name = acl_name(binding.family, line_id)
        return f"no {self.binding_word[binding.family]} {name} {binding.direction}"

    def _deletion(self, family: Family, line_id: int) -> str:
        return f"no {self.acl_header[family]} {acl_name(family, line_id)}"
