"""Linux router with nftables: a cut is two drop rules per venue prefix (from it on the way in,
to it on the way out) in one owned table, `table inet curfew`, each rule tagged
`comment "CURFEW-L<id>"`; a restore deletes exactly those rules, by handle.

Why only a `forward` chain: a venue's internet traffic crosses the router, it is never
addressed to it, so the forward hook sees every packet of a cut line in both directions (after
DNAT is undone in prerouting and before SNAT in postrouting, so with the venue's own addresses).
The router's own services on the venue side (DHCP, neighbour discovery, its gateway address)
are deliberately left up: the line comes back the instant the rules go, and a cut line still
looks like a cut line, not a broken one. An `inet` chain at priority 0 takes every packet
whatever other tables do: `accept` in a foreign chain ends only that chain, our `drop` is final.

A whole batch is one nftables transaction (`nft -f -`): it applies entirely or not at all. When
nft rejects it, nothing changed; the lines its errors point at (by script line) are refused and
the rest is loaded again, at most `ATTEMPTS` times in the same session. Nothing is ever written
to /etc/nftables.conf: a rebooted router comes back open, and the next pass cuts again.

Two transports behind one driver, chosen by `Credentials.host`:
- `netns:NAME`: `ip netns exec NAME nft ...` on this machine (a router in a network namespace);
- anything else: SSH through netmiko's `linux` driver; the login user runs `nft` directly when
  its prompt ends in `#` (root), otherwise `sudo -n nft` (sudoers needs NOPASSWD for nft). A
  script goes through the shell as a quoted here-document, so nothing in it is expanded.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import (
    IPv4Interface,
    IPv6Interface,
    ip_interface,
    ip_network,
)
from typing import Any, ClassVar

from drivers.base import (
    Action,
    AuthFailed,
    Batch,
    BatchResult,
    Credentials,
    DeviceFacts,
    DriverError,
    InvalidIdentifier,
    LineOutcome,
    LineState,
    LineTarget,
    OwnedLine,
    Prefix,
    Rejected,
    StagedLine,
    StageResult,
    Timeout,
    Unreachable,
    observed_state,
)
from drivers.cli import CliSession
from drivers.identifiers import IdentifierError, check_line_id
from drivers.lifecycle import (
    DiscardPlan,
    Lifecycle,
    LinePlan,
    Progress,
    Pushed,
    Replan,
    Sendable,
    Step,
)
from drivers.outcomes import describe, outcome, rejected, validate_target
from drivers.timing import DeviceClock, DeviceZone, armed_verdicts, with_timed_evidence

PLATFORM = "linux_nftables"
TABLE = "inet curfew"
CHAIN = "forward"
CHAIN_SPEC = "{ type filter hook forward priority 0; policy accept; }"
COMMENT_PREFIX = "CURFEW-L"
# A rejected transaction changes nothing; the refused lines are dropped and the rest retried.
ATTEMPTS = 3
NETNS_SCHEME = "netns:"
HEREDOC_END = "CURFEW_NFT_END"
# the zone nft runs in, so that it prints a `meta time` in UTC
NFT_ZONE = "UTC"
# the device's clock (seconds since the epoch, UTC) and chrony's view of its synchronisation
DATE_READ = "date -u +%s.%N"
NTP_READ = "chronyc -c tracking"

_OWNED_COMMENT = re.compile(re.escape(COMMENT_PREFIX) + r"([1-9][0-9]{0,8})")
# a namespace is a file under /run/netns: the device-name alphabet, never . or ..
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
# nft's error lines name the script line they refer to: "/dev/stdin:3:40-41: Error: ..."
_NFT_ERROR = re.compile(r"(?:\S*?:(\d+):\d+(?:-\d+)?: )?Error: .*$")
_LOCATED = re.compile(r"\S*?:\d+:\d+(?:-\d+)?: Error: ")


def comment_for(line_id: int) -> str:
    return f"{COMMENT_PREFIX}{line_id}"


def owner_of(comment: object) -> int | None:
    """The line id a rule comment belongs to, or None when the rule is not ours."""
    if not isinstance(comment, str):
        return None
    match = _OWNED_COMMENT.fullmatch(comment)
    return int(match.group(1)) if match else None


def namespace_of(host: str) -> str | None:
    """The namespace named by a `netns:NAME` host, None for an SSH host; a bad name raises."""
    if not host.startswith(NETNS_SCHEME):
        return None
    name = host[len(NETNS_SCHEME) :]
    if not _NAMESPACE.fullmatch(name):
        raise InvalidIdentifier(
            f"network namespace {name!r} must be 1-63 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit"
        )
    return name


# --------------------------------------------------------------------------------------------
# What read finds


@dataclass(frozen=True, order=True)
class Drop:
    """One owned rule as this driver writes it: `iifname X ip saddr P drop` (in, from the venue)
    or `oifname X ip daddr P drop` (out, towards it)."""

    interface: str
    direction: str  # "in" | "out"
    prefix: Prefix


Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class NftOwnedLine(OwnedLine):
    """An owned line plus the handle of every rule tagged with its comment; for a
    device-timed cut, the window [start, end) every one of its rules waits on (`meta time`,
    UTC), the device clock it was read with, and what the rules' counters dropped."""

    handles: tuple[int, ...] = ()
    window: Window | None = None
    device_time: datetime | None = None
    packets: int = 0
    octets: int = 0

    def armed_for(self, target: LineTarget, window: Window) -> bool:
        """Whether the line holds exactly the target's cut waiting on this window (in force
        or not)."""
        return (
            self.window == window
            and self.complete
            and self.prefixes == frozenset(target.prefixes)
            and self.bindings == frozenset({target.interface})
        )


class OwnedTable(dict[int, OwnedLine]):
    """Owned lines by id (what `read()` returns), and what the owned table holds besides them:
    the table is removed on the last restore only when nothing else lives in it."""

    def __init__(
        self,
        lines: Mapping[int, OwnedLine] | None = None,
        *,
        exists: bool = False,
        chain_ok: bool = False,
        foreign: bool = False,
    ) -> None:
        super().__init__(lines or {})
        self.exists = exists
        self.chain_ok = chain_ok
        self.foreign = foreign


def _json_prefix(value: object) -> Prefix | None:
    """`"198.18.1.7"` or `{"prefix": {"addr": "198.18.1.0", "len": 24}}` as nft -j prints them."""
    try:
        if isinstance(value, str):
            return ip_network(value, strict=True)
        if isinstance(value, dict) and set(value) == {"prefix"}:
            inner = value["prefix"]
            if isinstance(inner, dict) and isinstance(inner.get("addr"), str):
                return ip_network(f"{inner['addr']}/{int(inner['len'])}", strict=True)
    except (ValueError, TypeError, KeyError):
        return None
    return None


def _match(expression: object) -> tuple[object, object] | None:
    """(left, right) of an `==` match, or None for anything else."""
    if not isinstance(expression, dict) or set(expression) != {"match"}:
        return None
    match = expression["match"]
    if not isinstance(match, dict) or match.get("op") != "==":
        return None
    return match.get("left"), match.get("right")


_DIRECTION = {("iifname", "saddr"): "in", ("oifname", "daddr"): "out"}
_PROTOCOL = {4: "ip", 6: "ip6"}


@dataclass(frozen=True)
class TimedDrop:
    """A rule as `parse_timed_rule` reads it: its Drop, the `meta time` window it waits on
    (None for a plain drop) and its counter (0 without one)."""

    drop: Drop
    window: Window | None = None
    packets: int = 0
    octets: int = 0


def _instant(value: object) -> datetime | None:
    """A `meta time` operand as `TZ=UTC nft -j` prints it (`"2026-11-24 16:00:00"`), or as
    seconds (or nanoseconds) since the epoch."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        seconds = value / 1e9 if value > 10**11 else float(value)
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - read in UTC
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC)
    return None


def _time_bound(expression: object, op: str) -> datetime | None:
    """The instant of a `meta time OP X` match, or None for anything else."""
    if not isinstance(expression, dict) or set(expression) != {"match"}:
        return None
    match = expression["match"]
    if not isinstance(match, dict) or match.get("op") != op:
        return None
    if match.get("left") != {"meta": {"key": "time"}}:
        return None
    return _instant(match.get("right"))


def parse_timed_rule(expr: object) -> TimedDrop | None:
    """A rule as this driver writes it, plain (`parse_rule`) or device-timed: the same
    matches, then `meta time >= START meta time < END`, a counter, and the drop."""
    if not isinstance(expr, list) or len(expr) not in (3, 4, 5, 6):
        return None
    counter = next((e["counter"] for e in expr if isinstance(e, dict) and "counter" in e), None)
    body = [e for e in expr if not (isinstance(e, dict) and "counter" in e)]
    if len(body) == 3:
        drop = parse_rule(body)
        if drop is None:
            return None
        return TimedDrop(drop, None, *_counted(counter))
    if len(body) != 5:
        return None
    drop = parse_rule([body[0], body[1], body[4]])
    start, end = _time_bound(body[2], ">="), _time_bound(body[3], "<")
    if drop is None or start is None or end is None or not start < end:
        return None
    return TimedDrop(drop, (start, end), *_counted(counter))


def _counted(counter: object) -> tuple[int, int]:
    if isinstance(counter, dict):
        packets, octets = counter.get("packets"), counter.get("bytes")
        if isinstance(packets, int) and isinstance(octets, int):
            return packets, octets
    return 0, 0


def parse_rule(expr: object) -> Drop | None:
    """The Drop a rule's JSON expression list is, or None if it is not exactly one."""
    if not isinstance(expr, list) or len(expr) != 3 or expr[2] != {"drop": None}:
        return None
    interface_match, address_match = _match(expr[0]), _match(expr[1])
    if interface_match is None or address_match is None:
        return None
    meta, interface = interface_match
    payload, right = address_match
    if not (isinstance(meta, dict) and isinstance(meta.get("meta"), dict)):
        return None
    if not (isinstance(payload, dict) and isinstance(payload.get("payload"), dict)):
        return None
    key = meta["meta"].get("key")
    protocol, field = payload["payload"].get("protocol"), payload["payload"].get("field")
    direction = _DIRECTION.get((key, field))
    prefix = _json_prefix(right)
    if direction is None or prefix is None or not isinstance(interface, str):
        return None
    if protocol != _PROTOCOL[prefix.version] or prefix.prefixlen == 0:
        return None
    return Drop(interface, direction, prefix)


def _expected_drops(interface: str, prefixes: frozenset[Prefix]) -> set[Drop]:
    return {Drop(interface, d, p) for p in prefixes for d in ("in", "out")}


def parse_table(document: object, device_time: datetime | None = None) -> OwnedTable:
    """Owned lines in `nft -j list table inet curfew` output (a parsed JSON document).

    A device-timed line (every rule waiting on the same `meta time` window) is dormant while
    `device_time`, the device's clock read with the table, is outside its window; without a
    clock reading it is not complete (its state unknown)."""
    items = document.get("nftables") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError("not an nft -j document")
    exists = chain_ok = foreign = False
    rules: dict[int, list[tuple[int, TimedDrop | None]]] = {}
    family, name = TABLE.split()
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        kind, body = next(iter(item.items()))
        if kind == "metainfo" or not isinstance(body, dict):
            continue
        if (body.get("family"), body.get("table", body.get("name"))) != (family, name):
            continue
        if kind == "table":
            exists = True
        elif kind == "chain" and body.get("name") == CHAIN:
            chain_ok = (
                body.get("type"),
                body.get("hook"),
                body.get("prio"),
                body.get("policy"),
            ) == ("filter", "forward", 0, "accept")
        elif kind == "rule" and body.get("chain") == CHAIN:
            line_id = owner_of(body.get("comment"))
            handle = body.get("handle")
            if line_id is None or not isinstance(handle, int):
                foreign = True
                continue
            rules.setdefault(line_id, []).append((handle, parse_timed_rule(body.get("expr"))))
        else:
            foreign = True  # another chain, a set, a rule elsewhere: not ours to delete
    lines: dict[int, OwnedLine] = {}
    for line_id, found in sorted(rules.items()):
        timed = [rule for _, rule in found if rule is not None]
        drops = [rule.drop for rule in timed]
        windows = {rule.window for rule in timed}
        window = next(iter(windows)) if len(windows) == 1 else None
        interfaces = frozenset(drop.interface for drop in drops)
        prefixes = frozenset(drop.prefix for drop in drops)
        complete = (
            chain_ok
            and len(drops) == len(found)
            and len(interfaces) == 1
            and len(set(drops)) == len(drops)
            and set(drops) == _expected_drops(next(iter(interfaces)), prefixes)
            and len(windows) == 1
            and (window is None or device_time is not None)
        )
        dormant = (
            complete
            and window is not None
            and device_time is not None
            and not window[0] <= device_time < window[1]
        )
        lines[line_id] = NftOwnedLine(
            line_id=line_id,
            prefixes=prefixes,
            bindings=interfaces,
            complete=complete,
            dormant=dormant,
            handles=tuple(sorted(handle for handle, _ in found)),
            window=window,
            device_time=device_time if window is not None else None,
            packets=sum(rule.packets for rule in timed),
            octets=sum(rule.octets for rule in timed),
        )
    return OwnedTable(lines, exists=exists, chain_ok=chain_ok, foreign=foreign)


# --------------------------------------------------------------------------------------------
# What render sends


def check_target(target: LineTarget) -> None:
    """Refuse any target a rule would be unsafe to render from."""
    validate_target(PLATFORM, target)


def _address(prefix: Prefix) -> str:
    if prefix.prefixlen == prefix.max_prefixlen:
        return prefix.network_address.compressed
    return prefix.compressed


def _rule(drop: Drop, line_id: int) -> str:
    meta, field = ("iifname", "saddr") if drop.direction == "in" else ("oifname", "daddr")
    protocol = _PROTOCOL[drop.prefix.version]
    return (
        f'add rule {TABLE} {CHAIN} {meta} "{drop.interface}" {protocol} {field} '
        f'{_address(drop.prefix)} drop comment "{comment_for(line_id)}"'
    )


def _epoch(instant: datetime) -> int:
    """Whole seconds since the epoch: nft reads an integer `meta time` in UTC whatever its
    process's zone, where it would read a date string in that zone."""
    if instant.tzinfo is None:
        raise ValueError("a window needs aware instants")
    seconds = instant.timestamp()
    if seconds != int(seconds):
        raise ValueError(f"window edge {instant.isoformat()} is not on a whole second")
    return int(seconds)


def _timed_rule(drop: Drop, line_id: int, window: Window) -> str:
    """The drop, waiting on the window by the device's own clock, counting what it drops."""
    meta, field = ("iifname", "saddr") if drop.direction == "in" else ("oifname", "daddr")
    protocol = _PROTOCOL[drop.prefix.version]
    return (
        f'add rule {TABLE} {CHAIN} {meta} "{drop.interface}" {protocol} {field} '
        f"{_address(drop.prefix)} meta time >= {_epoch(window[0])} meta time < "
        f'{_epoch(window[1])} counter drop comment "{comment_for(line_id)}"'
    )


def render_armed(target: LineTarget, window: Window) -> list[str]:
    """A line's device-timed cut for [start, end): its drops, each bounded by `meta time` in
    UTC (whole seconds since the epoch), one transaction with the rest of the batch."""
    check_target(target)
    start, end = window
    if not start < end:
        raise ValueError("a window's start must come before its end")
    commands: list[str] = []
    for prefix in dict.fromkeys(target.prefixes):
        for direction in ("in", "out"):
            drop = Drop(target.interface, direction, prefix)
            commands.append(_timed_rule(drop, target.line_id, window))
    return commands


def _removal(found: OwnedLine | None) -> list[str]:
    """Delete every rule the line owns, by the handle read-back saw."""
    if found is None:
        return []
    if not isinstance(found, NftOwnedLine):
        raise ValueError(
            f"line {found.line_id}: an OwnedLine without rule handles cannot be removed; "
            f"render against what read() returned"
        )
    return [f"delete rule {TABLE} {CHAIN} handle {handle}" for handle in found.handles]


def _cut(target: LineTarget) -> list[str]:
    commands: list[str] = []
    for prefix in dict.fromkeys(target.prefixes):
        for direction in ("in", "out"):
            commands.append(_rule(Drop(target.interface, direction, prefix), target.line_id))
    return commands


def render_line(action: Action, target: LineTarget, found: OwnedLine | None) -> list[str]:
    """Script lines taking one line from what the device holds (`found`) to `action`."""
    check_target(target)
    if action is Action.RESTORE:
        return _removal(found)
    if found is not None and found.state_for(target) is LineState.CUT:
        return []
    return _removal(found) + _cut(target)


def frame(plans: Sequence[LinePlan], owned: Mapping[int, OwnedLine]) -> list[str]:
    """The whole transaction: the table and chain made sure of before any rule is added, and
    the table deleted when the batch removes its last owned rule and nothing else lives there."""
    body = [c for plan in plans for c in plan.commands]
    if not body:
        return []
    table = owned if isinstance(owned, OwnedTable) else OwnedTable(owned, exists=bool(owned))
    if any(c.startswith("add ") for c in body):
        return [f"add table {TABLE}", f"add chain {TABLE} {CHAIN} {CHAIN_SPEC}", *body]
    removed = {p.target.line_id for p in plans if p.action is Action.RESTORE and p.commands}
    remaining = (set(table) - removed) | {
        p.target.line_id for p in plans if p.action is Action.CUT and p.refusal is None
    }
    if table.exists and not table.foreign and not remaining:
        return [*body, f"delete table {TABLE}"]
    return body


def find_errors(script: Sequence[str], output: str) -> list[tuple[int | None, str]]:
    """(index into `script`, message) for every error nft printed; None where it names no
    script line. nft prints each error, the offending line, then a line of carets."""
    found: list[tuple[int | None, str]] = []
    for raw in output.splitlines():
        match = _NFT_ERROR.search(raw.strip())
        if match is None:
            continue
        number = int(match.group(1)) if match.group(1) else None
        index = number - 1 if number is not None and 0 < number <= len(script) else None
        found.append((index, match.group(0)))
    return found


# --------------------------------------------------------------------------------------------
# The device's clock

_EPOCH_ANSWER = re.compile(r"(?m)^\s*(\d{9,11})(?:\.(\d{1,9}))?\s*$")
# chrony's leap status when it synchronises the clock (`chronyc -c tracking`, last field)
_SYNCHRONISED = ("Normal", "Insert second", "Delete second")
# reference ids that are no server: none yet, or the local clock
_NO_REFERENCE = ("00000000", "7F7F0101")


def parse_date(text: str) -> datetime:
    """The instant in the answer to `date -u +%s.%N` (`1795564799.982113047`)."""
    match = _EPOCH_ANSWER.search(text)
    if match is None:
        raise ValueError(f"no time in the answer to `{DATE_READ}`: {text.strip()[:80]!r}")
    whole, fraction = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime.fromtimestamp(int(whole), UTC).replace(microsecond=micro)


def parse_chrony_tracking(text: str) -> tuple[bool, float | None, str | None]:
    """(synchronised, offset in ms, problem) from `chronyc -c tracking`: reference id, name,
    stratum, reference time, system time offset (s), ..., leap status; a problem when the
    answer is not that line (chrony missing, or not running)."""
    rows = [row for row in text.splitlines() if row.count(",") >= 13]
    if not rows:
        answer = text.strip().splitlines()[-1:] or ["no answer"]
        return False, None, f"NTP state not read: {answer[0][:120]}"
    fields = rows[-1].strip().split(",")
    try:
        stratum = int(fields[2])
        offset_ms = float(fields[4]) * 1000.0
    except ValueError:
        return False, None, f"NTP state not read: {rows[-1].strip()[:120]!r}"
    synchronised = (
        fields[-1] in _SYNCHRONISED and 0 < stratum < 16 and fields[0].upper() not in _NO_REFERENCE
    )
    return synchronised, offset_ms, None


def read_linux_clock(date_answer: str, ntp_answer: str) -> DeviceClock:
    """A Linux router's clock from `date -u +%s.%N` and `chronyc -c tracking`. Its zone plays
    no part: the rules carry their window as UTC instants (`utc_bounds`)."""
    text = "\n".join((date_answer.strip(), ntp_answer.strip()))
    synchronised, offset, problem = parse_chrony_tracking(ntp_answer)
    try:
        instant = parse_date(date_answer)
    except ValueError as exc:
        return DeviceClock(None, False, DeviceZone(), offset, f"device clock: {exc}", text, True)
    return DeviceClock(instant, synchronised, DeviceZone(), offset, problem, text, True)


# --------------------------------------------------------------------------------------------
# Transports: run one nft command (optionally fed a script) and return what it printed


_NOT_ALLOWED = (
    "sudo: a password is required",
    "is not in the sudoers file",
    "is not allowed to execute",
    "Operation not permitted",
    "Permission denied",
)


def _not_allowed(text: str) -> str | None:
    """Why the login may not run nft, when that is what the answer says: a refusal by sudo or
    the kernel, not an error nft located in a script line."""
    if _LOCATED.search(text):
        return None
    return next((marker for marker in _NOT_ALLOWED if marker in text), None)


class _LocalNamespace:
    """`ip netns exec NAME nft ...` on this machine."""

    def __init__(self, where: str, namespace: str, timeout: float) -> None:
        self.where = where
        self.namespace = namespace
        self.timeout = timeout

    def open(self) -> None:
        self.run(["list", "tables"])

    def close(self) -> None:
        pass

    def run(self, args: Sequence[str], script: str | None = None) -> str:
        # nft prints a `meta time` in its process's zone: UTC, always
        argv = ["ip", "netns", "exec", self.namespace, "env", f"TZ={NFT_ZONE}", "nft", *args]
        return self._exec(argv, script)

    def ip(self, args: Sequence[str]) -> str:
        return self._exec(["ip", "-n", self.namespace, *args], None)

    def shell(self, command: str) -> str:
        """One of the clock's read-only commands (`CLOCK_READ`), in the namespace."""
        return self._exec(["ip", "netns", "exec", self.namespace, *command.split()], None)

    def _exec(self, argv: list[str], script: str | None) -> str:
        try:
            done = subprocess.run(
                argv,
                input=script if script is not None else "",
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise Timeout(f"{self.where}: no answer to {' '.join(argv)!r}") from exc
        except OSError as exc:
            raise Unreachable(f"{self.where}: cannot run {argv[0]}: {exc}") from exc
        text = done.stdout + done.stderr
        if done.returncode != 0:
            problem = _not_allowed(text)
            if problem is not None:
                raise AuthFailed(f"{self.where}: {problem}", output=text)
            if "Cannot open network namespace" in text:
                raise Unreachable(f"{self.where}: {text.strip()}", output=text)
        return text


class _Ssh:
    """A login shell over SSH through netmiko's `linux` driver (wrapped, not subclassed)."""

    def __init__(self, where: str, credentials: Credentials) -> None:
        self.where = where
        self._cli = CliSession(where, credentials, "linux")
        self.nft = "nft"

    def open(self) -> None:
        self._cli.open()
        # netmiko found the prompt while logging in; its last character says root or not
        self.nft = "nft" if self._prompt_char() == "#" else "sudo -n nft"

    def _prompt_char(self) -> str:
        connection = self._cli.connection
        with self._cli.exchange("the prompt"):
            connection.write_channel(connection.RETURN)
            text = self._cli.read_until(self._prompted, [])
        return text.rstrip()[-1:]

    def close(self) -> None:
        self._cli.close()

    @property
    def connection(self) -> Any:
        return self._cli.connection

    def run(self, args: Sequence[str], script: str | None = None) -> str:
        if script is None:
            # nft prints a `meta time` in its process's zone: reads in UTC (sudo keeps a plain
            # TZ); a script needs none, its `meta time` bounds are seconds since the epoch
            return self._command(" ".join([f"TZ={NFT_ZONE}", self.nft, *args]))
        command = " ".join([self.nft, *args])
        # a quoted here-document: the shell expands nothing in it
        return self._command(f"{command} <<'{HEREDOC_END}'", [*script.splitlines(), HEREDOC_END])

    def ip(self, args: Sequence[str]) -> str:
        return self._command(" ".join(["ip", *args]))

    def shell(self, command: str) -> str:
        """One of the clock's read-only commands (`CLOCK_READ`)."""
        return self._command(command)

    def _command(self, command: str, more: Sequence[str] = ()) -> str:
        """Write one command line (and its here-document) and read up to the next prompt."""
        answer: list[str] = []
        try:
            with self._cli.exchange(command.split("<<")[0].strip()):
                self._cli.write((command, *more))
                output = self._cli.read_until(self._prompted, answer)
        except DriverError as exc:
            exc.output = "".join(answer) + exc.output
            raise
        answer_text = _answer_only(output, (command, *more)[-1])
        problem = _not_allowed(answer_text)
        if problem is not None:
            raise AuthFailed(f"{self.where}: {problem}", output=answer_text)
        return answer_text

    def _prompted(self, text: str) -> bool:
        base = re.escape(self._cli.connection.base_prompt)
        return re.search(rf"(?:^|\n){base}[^\n]*[#$][ \t]*$", text) is not None


def _answer_only(transcript: str, last_written: str) -> str:
    """What a command printed: the transcript after the echo of the last line written (the
    command, or a here-document's end), without the closing prompt."""
    lines = transcript.replace("\r\n", "\n").replace("\r", "").split("\n")
    lines = lines[:-1]  # the prompt the read stopped at
    echo = next((i for i, line in enumerate(lines) if line.rstrip().endswith(last_written)), None)
    kept = lines if echo is None else lines[echo + 1 :]
    return "".join(line + "\n" for line in kept)


# --------------------------------------------------------------------------------------------
# The driver


@dataclass
class _Load:
    """What one `nft -f -` run sent and answered."""

    script: list[str]
    output: str


class LinuxNftablesDriver(Lifecycle):
    """One Linux router: nft in a local network namespace, or over SSH.

    No `Staging`: a rule is body and binding at once (it acts the moment it is loaded), and a
    whole batch is already one atomic transaction. No cut is refused for a foreign table
    filtering the same interface: nftables has no single filter slot per interface, so that
    table neither blocks our rules nor is replaced by them.
    """

    platform: ClassVar[str] = PLATFORM
    ssh: ClassVar[bool] = True

    def __init__(self, name: str, credentials: Credentials) -> None:
        super().__init__(name, credentials)
        self._transport: _LocalNamespace | _Ssh | None = None
        # the last read, for the evidence of a device-timed cut found in force (see `apply`)
        self._last_read: OwnedTable | None = None

    @classmethod
    def has_host_key(cls, host: str) -> bool:
        """A router in a local namespace is reached without SSH: no host key."""
        return not host.startswith(NETNS_SCHEME)

    @property
    def _where(self) -> str:
        creds = self.credentials
        if creds.host.startswith(NETNS_SCHEME):
            return f"{self.name} ({creds.host})"
        return f"{self.name} ({creds.host}:{creds.port})"

    # -- session lifecycle -----------------------------------------------------------------

    def open(self) -> None:
        if self._transport is not None:
            return
        creds = self.credentials
        namespace = namespace_of(creds.host)
        transport: _LocalNamespace | _Ssh
        if namespace is not None:
            transport = _LocalNamespace(self._where, namespace, creds.timeout)
        else:
            transport = _Ssh(self._where, creds)
        transport.open()
        self._transport = transport

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def _opened(self) -> AbstractContextManager[object]:
        return self._session()

    @contextmanager
    def _session(self) -> Iterator[_LocalNamespace | _Ssh]:
        opened_here = self._transport is None
        self.open()
        assert self._transport is not None
        try:
            yield self._transport
        finally:
            if opened_here:
                self.close()
            elif isinstance(self._transport, _Ssh) and self._transport.connection is None:
                self._transport = None  # the session broke: the next call opens a new one

    # -- device exchanges ------------------------------------------------------------------

    def _read(self) -> OwnedTable:
        """The owned table alone (`nft -j list table inet curfew`): nothing else is read."""
        assert self._transport is not None
        output = self._transport.run(["-j", "list", "table", *TABLE.split()])
        start = output.find('{"nftables"')
        if start < 0:
            if "No such file or directory" in output:
                return OwnedTable()
            raise Rejected(f"{self._where}: unexpected answer to nft list: {output.strip()!r}")
        end = output.rfind("}") + 1
        try:
            document = json.loads(output[start:end])
            table = parse_table(document)
        except ValueError as exc:
            raise Rejected(f"{self._where}: unreadable nft -j answer: {exc}", output) from exc
        if any(isinstance(line, NftOwnedLine) and line.window for line in table.values()):
            # device-timed rules: in force or dormant by the device's own clock, read now
            answer = self._transport.shell(DATE_READ)
            try:
                table = parse_table(document, parse_date(answer))
            except ValueError as exc:
                raise Rejected(f"{self._where}: device clock not read: {exc}", answer) from exc
        self._last_read = table
        return table

    def _load(self, script: list[str]) -> _Load:
        assert self._transport is not None
        return _Load(script, self._transport.run(["-f", "-"], "\n".join(script) + "\n"))

    # -- the lifecycle's steps ---------------------------------------------------------------

    def _render(
        self, step: Step, action: Action, target: LineTarget, found: OwnedLine | None
    ) -> list[str]:
        del step
        return render_line(action, target, found)

    def _removal(self, found: OwnedLine) -> list[str]:
        return _removal(found)

    def render(self, batch: Batch, owned: dict[int, OwnedLine]) -> list[str]:
        """The whole nft script for the batch, restores first; refused lines contribute none.

        Pass what `read()` returned (restores delete rules by the handles it found). Raises
        InvalidIdentifier if any target fails validation, before rendering anything.
        """
        for target in (*batch.restores, *batch.cuts):
            check_target(target)
        return frame(self.plan(batch, owned), owned)

    def _push(
        self,
        step: Step,
        plans: Sequence[Sendable],
        found: Mapping[int, OwnedLine],
        replan: Replan,
        progress: Progress,
    ) -> Pushed:
        """One `nft -f` transaction, read back. When nft rejects it nothing changed: the lines
        its errors point at are left out and the rest is loaded again, `ATTEMPTS` times at
        most."""
        del step
        attempt = self._plans(plans)
        merged = attempt
        after: Mapping[int, OwnedLine] = found
        refused: dict[int, str] = {}
        error: DriverError | None = None
        for _ in range(ATTEMPTS):
            script = frame(attempt, after)
            if not script:
                break
            progress.sent.extend(script)
            load = self._load(script)
            progress.output.append(load.output)
            after = self._read()
            faults, failure = self._errors(attempt, load)
            if failure is None:
                break
            error = error or failure
            if not faults:
                # nothing to leave out: every line of this transaction shares its fate
                for plan in attempt:
                    if plan.commands:
                        refused.setdefault(plan.target.line_id, str(failure))
                break
            refused.update(faults)
            attempt = tuple(
                p for p in self._plans(replan(after)) if p.target.line_id not in refused
            )
            merged = _merge(merged, attempt)
        else:
            for plan in attempt:
                if plan.commands:
                    refused.setdefault(
                        plan.target.line_id,
                        f"not loaded: nft rejected {ATTEMPTS} transactions in a row",
                    )
        rejections = {
            i: refused[p.target.line_id]
            for i, p in enumerate(merged)
            if p.target.line_id in refused
        }
        return Pushed(after, rejections, error, merged)

    @staticmethod
    def _plans(plans: Sequence[Sendable]) -> tuple[LinePlan, ...]:
        """The line plans of an apply (nftables plans nothing else)."""
        return tuple(plan for plan in plans if isinstance(plan, LinePlan))

    def _outcomes(self, plans: Sequence[LinePlan], pushed: Pushed) -> tuple[LineOutcome, ...]:
        return tuple(
            _outcome(plan, pushed.after, pushed.rejections.get(i)) for i, plan in enumerate(plans)
        )

    def _errors(
        self, plans: Sequence[LinePlan], load: _Load
    ) -> tuple[dict[int, str], Rejected | None]:
        """The line each of nft's errors belongs to, and the load's Rejected error if any."""
        owner: dict[str, int] = {c: p.target.line_id for p in plans for c in p.commands}
        faults: dict[int, str] = {}
        messages: list[str] = []
        for index, problem in find_errors(load.script, load.output):
            command = load.script[index] if index is not None else None
            message = (
                f"device rejected {command!r}: {problem}"
                if command is not None
                else f"device rejected the transaction: {problem}"
            )
            messages.append(message)
            line_id = owner.get(command) if command is not None else None
            if line_id is not None:
                faults.setdefault(line_id, message)
        if not messages and load.output.strip():
            messages.append(f"unexpected answer to nft -f: {load.output.strip()[:200]!r}")
        return faults, rejected(messages, load.output)

    # -- device-timed windows (drivers.timing.DeviceTimed) ----------------------------------

    def read_clock(self) -> DeviceClock:
        """The device's clock (`date -u +%s.%N`) and chrony's word on its synchronisation
        (`chronyc -c tracking`), in one session."""
        with self._session() as transport:
            ntp = transport.shell(NTP_READ)
            now = transport.shell(DATE_READ)
        return read_linux_clock(now, ntp)

    def arm(
        self, targets: Sequence[LineTarget], start: datetime, end: datetime, zone: DeviceZone
    ) -> StageResult:
        """For each target, its drops bounded by `meta time` in [start, end) (UTC: the device
        zone plays no part), in one nft transaction; read back. A line armed so already sends
        nothing; a line cut already is left to the passes; whatever else of a line is there
        (another night's rules) is deleted in the same transaction."""
        del zone
        if not targets:
            return StageResult(self.name, ())
        window = (start, end)
        try:
            _epoch(start), _epoch(end)
            if not start < end:
                raise ValueError("a window's start must come before its end")
        except ValueError as exc:
            lines = tuple(StagedLine(t.line_id, (), False, str(exc)) for t in targets)
            return StageResult(self.name, lines)
        return self._planned_stage(
            targets,
            lambda found: _arm_plans(targets, window, found),
            lambda plans, pushed: armed_verdicts(
                plans,
                pushed,
                lambda after, target: (
                    isinstance(after, NftOwnedLine) and after.armed_for(target, window)
                ),
            ),
        )

    def disarm(self, line_ids: Iterable[int]) -> StageResult:
        """Delete every rule of these lines, in force or not, in one transaction (by handle:
        a rule goes whole, never its `meta time` alone). A line cut without a window is
        refused (the passes own it)."""
        wanted = list(dict.fromkeys(line_ids))
        if not wanted:
            return StageResult(self.name, ())
        progress = Progress()
        try:
            with self._session():
                found = self._read()
                plans = _disarm_plans(wanted, found)
                script = _disarm_script(plans, found)
                failure: DriverError | None = None
                after: Mapping[int, OwnedLine] = found
                if script:
                    progress.sent.extend(script)
                    load = self._load(script)
                    progress.output.append(load.output)
                    after = self._read()
                    failure = self._errors((), load)[1]
        except DriverError as exc:
            return self._failed_stage(wanted, progress, exc)
        done = []
        for plan in plans:
            if plan.refusal is not None:
                done.append(StagedLine(plan.line_id, (), False, describe(plan.refusal)))
            elif failure is not None and plan.commands:
                # one transaction: when nft refused it, nothing of it was done
                done.append(StagedLine(plan.line_id, plan.commands, False, f"Rejected: {failure}"))
            elif plan.line_id in after:
                problem = f"VerifyFailed: read-back still shows rules of line {plan.line_id}"
                done.append(StagedLine(plan.line_id, plan.commands, False, problem))
            else:
                done.append(StagedLine(plan.line_id, plan.commands, True))
        output = self._joined(progress.output)
        return StageResult(self.name, tuple(done), tuple(progress.sent), output, failure)

    def apply(self, batch: Batch) -> BatchResult:
        """`apply`, and for a cut found in force by the device's own clock (nothing sent),
        the evidence of it in the result's device output: the device's clock inside the
        window, the line's rules as nft lists them, with their counters."""
        self._last_read = None
        result = super().apply(batch)
        found = self._last_read
        if found is None:
            return result
        return with_timed_evidence(
            result,
            batch,
            found,
            lambda line: isinstance(line, NftOwnedLine) and line.window is not None,
            lambda line_ids: self._evidence_read(line_ids, batch, found),
        )

    def _evidence_read(
        self, line_ids: Sequence[int], batch: Batch, found: Mapping[int, OwnedLine]
    ) -> str:
        """The device's word on these lines cut by its clock (see `_timed_evidence`)."""
        targets = {t.line_id: t for t in batch.cuts}
        with self._session():
            return _timed_evidence(line_ids, targets, found, self._listing())

    def _listing(self) -> str:
        """The owned chain as nft lists it (rules with their counters and handles)."""
        assert self._transport is not None
        return self._transport.run(["-a", "list", "chain", *TABLE.split(), CHAIN])

    # -- Inspects ----------------------------------------------------------------------------

    def facts(self) -> DeviceFacts:
        """Interfaces with their addresses, and static routes, from `ip -j`."""
        with self._session() as transport:
            addresses = transport.ip(["-j", "address", "show"])
            routes4 = transport.ip(["-j", "-4", "route", "show"])
            routes6 = transport.ip(["-j", "-6", "route", "show"])
        try:
            return parse_facts(_json_list(addresses), _json_list(routes4) + _json_list(routes6))
        except ValueError as exc:
            raise Rejected(f"{self._where}: unreadable ip -j answer: {exc}") from exc


def _arm_plans(
    targets: Sequence[LineTarget], window: Window, found: Mapping[int, OwnedLine]
) -> list[LinePlan]:
    """Each target's share of the arming transaction (refusals carried, not raised)."""
    plans: list[LinePlan] = []
    for target in targets:
        line = found.get(target.line_id)
        try:
            check_target(target)
            if isinstance(line, NftOwnedLine) and line.armed_for(target, window):
                plans.append(LinePlan(target, Action.CUT))  # armed already: idempotent
                continue
            if line is not None and line.state_for(target) is LineState.CUT:
                raise Rejected(f"line {target.line_id} is cut already: left to the passes")
            commands = _removal(line) + render_armed(target, window)
        except DriverError as refusal:
            plans.append(LinePlan(target, Action.CUT, refusal=refusal))
            continue
        plans.append(LinePlan(target, Action.CUT, tuple(commands)))
    return plans


def _disarm_plans(line_ids: Sequence[int], found: Mapping[int, OwnedLine]) -> list[DiscardPlan]:
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
        elif isinstance(line, NftOwnedLine) and line.complete and line.window is None:
            refusal = Rejected(f"line {line_id} is cut without a window: not disarming")
            plans.append(DiscardPlan(line_id, refusal=refusal))
        else:
            plans.append(DiscardPlan(line_id, tuple(_removal(line))))
    return plans


def _disarm_script(plans: Sequence[DiscardPlan], found: Mapping[int, OwnedLine]) -> list[str]:
    """One transaction deleting the disarmed lines' rules, and the owned table with the last
    of them when nothing else lives in it."""
    body = [c for plan in plans for c in plan.commands]
    if not body:
        return []
    table = found if isinstance(found, OwnedTable) else OwnedTable(found, exists=bool(found))
    remaining = set(table) - {plan.line_id for plan in plans if plan.commands}
    if table.exists and not table.foreign and not remaining:
        return [*body, f"delete table {TABLE}"]
    return body


def _timed_evidence(
    line_ids: Sequence[int],
    targets: Mapping[int, LineTarget],
    found: Mapping[int, OwnedLine],
    listing: str,
) -> str:
    """What shows a line cut by the device's clock: its window, the clock inside it, the
    rules with their counters. Empty for lines cut without a window."""
    parts: list[str] = []
    comments: list[str] = []
    for line_id in line_ids:
        line = found.get(line_id)
        if not isinstance(line, NftOwnedLine) or line.window is None or line.device_time is None:
            continue
        if line.state_for(targets[line_id]) is not LineState.CUT:
            continue
        start, end = line.window
        parts.append(
            f"line {line_id}: cut by the device's clock, {len(line.handles)} rules in force "
            f"from {start.isoformat()} to {end.isoformat()} (meta time, UTC); device clock "
            f"{line.device_time.isoformat()}; on {', '.join(sorted(line.bindings))} in and "
            f"out; counters: {line.packets} packets, {line.octets} bytes dropped"
        )
        comments.append(f'comment "{comment_for(line_id)}"')
    if not parts:
        return ""
    rules = [row.strip() for row in listing.splitlines() if any(c in row for c in comments)]
    return "\n".join([*parts, *rules])


def _merge(earlier: tuple[LinePlan, ...], latest: tuple[LinePlan, ...]) -> tuple[LinePlan, ...]:
    """Every line's latest plan, in the batch's order (a refused line keeps its last one)."""
    newest = {(p.action, p.target.line_id): p for p in latest}
    kept = [newest.pop((p.action, p.target.line_id), p) for p in earlier]
    return (*kept, *newest.values())


def _outcome(plan: LinePlan, after: Mapping[int, OwnedLine], rejection: str | None) -> LineOutcome:
    """A line nft rejected is not verified, whatever read-back shows."""
    if plan.refusal is None and rejection is not None:
        state = observed_state(after, plan.target)
        error = f"Rejected: {rejection}"
        return LineOutcome(plan.target.line_id, plan.action, plan.commands, state, False, error)
    return outcome(plan, after, None)


# --------------------------------------------------------------------------------------------
# Facts


def _json_list(text: str) -> list[Any]:
    start = text.find("[")
    end = text.rfind("]") + 1
    if start < 0 or end <= start:
        raise ValueError(f"no JSON list in {text.strip()[:120]!r}")
    value = json.loads(text[start:end])
    if not isinstance(value, list):
        raise ValueError("not a JSON list")
    return value


def parse_facts(addresses: Sequence[Any], routes: Sequence[Any]) -> DeviceFacts:
    """DeviceFacts from `ip -j address show` and `ip -j route show` (both families).

    Loopback is left out; routes the kernel made for connected networks are implied by the
    addresses, so only the others (static, by any protocol but `kernel`) are listed.
    """
    interfaces: dict[str, tuple[IPv4Interface | IPv6Interface, ...]] = {}
    for link in addresses:
        if not isinstance(link, dict) or not isinstance(link.get("ifname"), str):
            continue
        if "LOOPBACK" in link.get("flags", ()):
            continue
        found: list[IPv4Interface | IPv6Interface] = []
        for info in link.get("addr_info", ()):
            if info.get("family") in ("inet", "inet6") and info.get("scope") == "global":
                found.append(ip_interface(f"{info['local']}/{info['prefixlen']}"))
        interfaces[link["ifname"]] = tuple(found)
    table: dict[Prefix, str] = {}
    for route in routes:
        if not isinstance(route, dict) or route.get("protocol") == "kernel":
            continue
        destination, device = route.get("dst"), route.get("dev")
        if not isinstance(destination, str) or not isinstance(device, str):
            continue
        if destination == "default" or route.get("type", "unicast") != "unicast":
            continue
        table[ip_network(destination, strict=False)] = device
    return DeviceFacts(interfaces=interfaces, routes=table)
