"""A Linux router twin: a real network namespace whose nftables ruleset is its running
configuration, behind an SSH login shell that runs only `nft` (and read-only `ip`) in it.

Nothing is simulated below the shell: every `nft` command is executed for real with
`ip netns exec <the twin's namespace> nft ...`, so rules, errors and `nft list ruleset` are the
kernel's. The namespace is made when the lab starts the twin and deleted when it stops.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from lab import netns
from lab.ssh import DeviceServer, Faults, Terminal, host_key
from lab.twin import Prefix, Reply, SpecLike, TwinKind, venue_networks

UPLINK = "eth0"
CONTINUATION = "> "  # bash's PS2, shown while a here-document is read
# what the reject fault makes nft answer for a refused script line (a kernel EINVAL)
REFUSED = "Error: Could not process rule: Invalid argument"
NFT_SECONDS = 30.0
# the NTP server of the foreign configuration (its rule lets chrony's answers in)
NTP_SERVER = "192.0.2.123"
# the clock commands the shell answers: the twin's clock, and chrony's view of it
_DATE = re.compile(r"date(?: -u| --utc)* \+%s(?:\.%N)?")
_CHRONY = ("chronyc", "-c", "tracking")

# Start-up config lines that are not nft: interface descriptions, addresses and static routes.
_IP_LINE = re.compile(
    r"ip (?:link set (?:dev )?[A-Za-z0-9_.-]{1,15} alias \"[^\"\\\n]{1,200}\""
    r"|address add [0-9A-Fa-f:.]+/\d{1,3} dev [A-Za-z0-9_.-]{1,15}(?: nodad)?"
    r"|route add [0-9A-Fa-f:.]+/\d{1,3} (?:via [0-9A-Fa-f:.]+|dev [A-Za-z0-9_.-]{1,15}))"
)
# read-only ip commands the shell runs: `ip [-j] [-4|-6] address|route|link [show]`
_IP_READ = re.compile(r"ip(?: -j)?(?: -[46])?(?: -j)? (?:a|addr|address|r|route|l|link)(?: show)?")
_HEREDOC = re.compile(r"\s<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2\s*$")
# nft options the shell passes on; -f only as `-f -` (the here-document), no include paths
_NFT_FLAGS = {
    "-j", "--json", "-a", "--handle", "-n", "--numeric", "-s", "--stateless",
    "-c", "--check", "-e", "--echo", "-t", "--terse", "-y", "--numeric-priority",
}  # fmt: skip


def split_config(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """(ip commands without the leading `ip`, nft script lines) of a start-up config."""
    ip_lines: list[str] = []
    nft_lines: list[str] = []
    for line in lines:
        if not isinstance(line, str) or "\n" in line or "\r" in line:
            raise ValueError(f"config line {line!r} must be one line of text")
        text = line.strip()
        if text.startswith("ip "):
            if not _IP_LINE.fullmatch(text):
                raise ValueError(f"{text!r}: only `ip link set X alias`, `ip address add` and "
                                 f"`ip route add` are start-up config")  # fmt: skip
            ip_lines.append(text[3:])
        elif text.split(" ", 1)[0] == "include":
            raise ValueError(f"{text!r}: include reads the host's files")
        elif text:
            nft_lines.append(text)
    return ip_lines, nft_lines


class NftRouter:
    """One twin: its namespace (made by `create()`), its interfaces and start-up config."""

    def __init__(
        self,
        hostname: str,
        username: str,
        interfaces: Sequence[str],
        config: Iterable[str] = (),
    ) -> None:
        self.hostname = hostname
        self.username = username
        self.interfaces = tuple(dict.fromkeys(interfaces))
        self._ip_config, self._nft_config = split_config(config)
        self.namespace = netns.unique_name(hostname)
        self.startup_config = ""
        self.created = False
        self._lock = threading.Lock()
        # The router's clock as its shell shows it (`date`). By default the kernel's own,
        # read with `date` in the namespace: the clock `meta time` compares with. A test may
        # give it a clock (the store's SimulatedClock) and an offset; the kernel does not
        # follow such a clock (it evaluates `meta time` on the host's real time), so that is
        # a stand-in for the shell's answers only. chrony's view: synchronised to NTP_SERVER
        # with `ntp_offset_ms`, unless a test breaks it (`ntp_lost`).
        self.clock: Callable[[], datetime] | None = None
        self.clock_offset = timedelta(0)
        self.ntp_lost = False
        self.ntp_offset_ms = 0.25

    # ------------------------------------------------------------------ life cycle

    def create(self) -> None:
        """Make the namespace, its dummy interfaces and apply the start-up config."""
        with self._lock:
            if self.created:
                return
            reason = netns.unavailable()
            if reason is not None:
                raise RuntimeError(f"{self.hostname}: the linux_nftables twin {reason}")
            netns.add_namespace(self.namespace)
            self.created = True
        try:
            links = ["link set lo up"]
            kind = netns.stand_alone_link_kind()
            for name in self.interfaces:
                links += [f"link add {name} type {kind}", f"link set {name} up"]
            netns.ip_batch(self.namespace, links)
            netns.sysctl(self.namespace, ["net.ipv4.ip_forward=1"])
            netns.ip_batch(self.namespace, self._ip_config)
            if self._nft_config:
                done = self.nft(["-f", "-"], "\n".join(self._nft_config) + "\n")
                if done.returncode != 0:
                    raise ValueError(f"start-up config rejected: {done.stderr.strip()}")
            self.startup_config = self.running_config()
        except BaseException:
            self.destroy()
            raise

    def destroy(self) -> None:
        """Delete the namespace (and every interface and rule in it), if it was made."""
        with self._lock:
            if self.created:
                netns.delete_namespace(self.namespace)
                self.created = False

    def __enter__(self) -> NftRouter:
        self.create()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.destroy()

    # ------------------------------------------------------------------ the real thing

    def nft(
        self, args: Sequence[str], script: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run nft inside the namespace (in UTC: it shows a `meta time` in its zone); never
        raises for nft's own errors."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, "env", "TZ=UTC", "nft", *args],
            input=script if script is not None else "",
            capture_output=True,
            text=True,
            timeout=NFT_SECONDS,
            check=False,
        )

    def ip(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "-n", self.namespace, *args],
            capture_output=True,
            text=True,
            timeout=NFT_SECONDS,
            check=False,
        )

    # ------------------------------------------------------------------ the clock

    def now(self) -> datetime:
        """The router's clock (UTC): the kernel's (`date` in the namespace), or the clock a
        test gave it; off by `clock_offset` either way."""
        if self.clock is not None:
            return self.clock().astimezone(UTC) + self.clock_offset
        done = subprocess.run(
            ["ip", "netns", "exec", self.namespace, "date", "-u", "+%s.%N"],
            capture_output=True,
            text=True,
            timeout=NFT_SECONDS,
            check=True,
        )
        whole, _, fraction = done.stdout.strip().partition(".")
        real = datetime.fromtimestamp(int(whole), UTC)
        return real + timedelta(microseconds=int(fraction[:6].ljust(6, "0") or 0))

    def date_answer(self) -> str:
        """`date -u +%s.%N` on this router."""
        instant = self.now()
        seconds = int(instant.timestamp())
        return f"{seconds}.{instant.microsecond:06d}000\n"

    def chrony_tracking(self) -> str:
        """`chronyc -c tracking`: reference id, name, stratum, reference time, system time
        offset (s), last offset, RMS offset, frequency, residual frequency, skew, root delay,
        root dispersion, update interval, leap status."""
        reference = self.now().timestamp() - 32
        if self.ntp_lost:
            return (
                f"00000000,,0,{reference:.9f},0.000000000,0.000000000,0.000000000,0.000,"
                "0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n"
            )
        offset = self.ntp_offset_ms / 1000.0
        ref_id = "".join(f"{int(part):02X}" for part in NTP_SERVER.split("."))
        return (
            f"{ref_id},{NTP_SERVER},2,{reference:.9f},{offset:.9f},{offset:.9f},{offset:.9f},"
            f"-1.234,0.001,0.020,0.001000000,0.000500000,64.2,Normal\n"
        )

    def running_config(self) -> str:
        """`nft list ruleset` inside the namespace."""
        done = self.nft(["list", "ruleset"])
        if done.returncode != 0:
            raise RuntimeError(f"{self.hostname}: nft list ruleset: {done.stderr.strip()}")
        return done.stdout

    def configure(self, lines: Iterable[str]) -> None:
        """Apply config lines (nft script lines, or start-up `ip` lines); an error raises."""
        ip_lines, nft_lines = split_config(lines)
        try:
            netns.ip_batch(self.namespace, ip_lines)
        except netns.NetnsError as exc:
            raise ValueError(f"{self.hostname}: {exc}") from None
        if nft_lines:
            done = self.nft(["-f", "-"], "\n".join(nft_lines) + "\n")
            if done.returncode != 0:
                raise ValueError(f"{self.hostname}: nft rejected: {done.stderr.strip()}")

    def open_session(self) -> NftShell:
        return NftShell(self)


# --------------------------------------------------------------------------------------------
# The login shell


@dataclass
class _HereDocument:
    args: list[str]
    end: str
    strip_tabs: bool
    lines: list[str] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)  # 1-based script lines the fault refused


class NftShell:
    """One login: a bash-like prompt that runs nft (directly as root, or through `sudo`),
    read-only `ip`, and here-documents feeding `nft -f -`."""

    def __init__(self, router: NftRouter) -> None:
        self.router = router
        self.root = router.username == "root"
        self.heredoc: _HereDocument | None = None

    @property
    def prompt(self) -> str:
        if self.heredoc is not None:
            return CONTINUATION
        sign = "#" if self.root else "$"
        return f"{self.router.username}@{self.router.hostname}:~{sign} "

    @property
    def echo(self) -> bool:
        return True

    @property
    def in_config(self) -> bool:
        """Lines of an nft script are the config lines the reject fault applies to."""
        return self.heredoc is not None

    def runs_something(self, line: str) -> bool:
        """Whether answering this line starts a process (the server runs it off its loop)."""
        if self.heredoc is not None:
            return self._ends_heredoc(line)
        return bool(line.strip())

    def reject(self, line: str) -> Reply:
        """The reject fault: the script line is kept but nft will refuse it."""
        if self.heredoc is None or self._ends_heredoc(line):
            return self.execute(line)
        self.heredoc.lines.append(line)
        self.heredoc.refused.append(len(self.heredoc.lines))
        return Reply("", self.prompt)

    def execute(self, line: str) -> Reply:
        if line in ("\x03", "\x1a"):  # Ctrl-C abandons a half-typed here-document
            self.heredoc = None
            return Reply("", self.prompt)
        if self.heredoc is not None:
            return self._heredoc_line(line)
        text = line.strip()
        if not text:
            return Reply("", self.prompt)
        if text in ("exit", "logout"):
            return Reply("logout\n", "", close=True)
        return Reply(self._command(text), self.prompt)

    # ------------------------------------------------------------------ here-documents

    def _ends_heredoc(self, line: str) -> bool:
        assert self.heredoc is not None
        text = line.lstrip("\t") if self.heredoc.strip_tabs else line
        return text == self.heredoc.end

    def _heredoc_line(self, line: str) -> Reply:
        document = self.heredoc
        assert document is not None
        if not self._ends_heredoc(line):
            document.lines.append(line.lstrip("\t") if document.strip_tabs else line)
            return Reply("", self.prompt)
        self.heredoc = None
        script = "".join(f"{text}\n" for text in document.lines)
        if document.refused:
            # nft loads a script as one transaction: a refused line means nothing changes
            return Reply(_refusals(document), self.prompt)
        return Reply(self._nft(document.args, script), self.prompt)

    # ------------------------------------------------------------------ commands

    def _command(self, text: str) -> str:
        heredoc = _HEREDOC.search(text)
        head = text[: heredoc.start()] if heredoc else text
        try:
            lexer = shlex.shlex(head, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            words = list(lexer)
        except ValueError:
            return "-bash: syntax error: unexpected end of file\n"
        operators = [w for w in words if w and set(w) <= set("();<>|&")]
        if operators:
            return f"-bash: {operators[0]}: this lab shell runs one command per line\n"
        if words[:1] and words[0].startswith("TZ="):
            if words[0] != "TZ=UTC":
                return f"-bash: {words[0]}: this lab shell sets TZ=UTC only\n"
            words = words[1:]  # nft below runs in UTC, as the lab's nft always does
        if not heredoc and tuple(words) == _CHRONY:
            return self.router.chrony_tracking()
        if not heredoc and _DATE.fullmatch(" ".join(words)):
            return self.router.date_answer()
        sudo = False
        if words[:1] == ["sudo"]:
            sudo = True
            words = words[1:]
            while words and words[0] in ("-n", "--non-interactive"):
                words = words[1:]
        if not words:
            return "usage: sudo -n command\n"
        if words[0] == "ip" and _IP_READ.fullmatch(" ".join(words)) and not heredoc:
            try:
                done = self.router.ip(words[1:])
            except subprocess.TimeoutExpired:
                return "ip: no answer\n"
            return done.stdout + done.stderr
        if words[0] != "nft":
            return f"-bash: {words[0]}: command not found\n"
        if not (self.root or sudo):
            return "netlink: Error: cache initialization failed: Operation not permitted\n"
        args = words[1:]
        problem = _check_nft_args(args, heredoc is not None)
        if problem:
            return problem
        if heredoc is not None:
            self.heredoc = _HereDocument(args, heredoc.group(3), heredoc.group(1) == "-")
            return ""
        return self._nft(args, None)

    def _nft(self, args: list[str], script: str | None) -> str:
        if script is not None and any(
            line.strip().split(" ", 1)[0] == "include" for line in script.splitlines()
        ):
            return "Error: include is not available in this lab shell\n"
        try:
            done = self.router.nft(args, script)
        except subprocess.TimeoutExpired:
            return "nft: no answer\n"
        return done.stdout + done.stderr


def _check_nft_args(args: list[str], heredoc: bool) -> str:
    """An error text for options the lab shell will not pass to nft, '' when all is well."""
    index = 0
    while index < len(args):
        word = args[index]
        if word in ("-f", "--file"):
            if args[index + 1 : index + 2] != ["-"] or not heredoc:
                return "nft: this lab shell takes a script only as `nft -f - <<'END'`\n"
            index += 2
            continue
        if word.startswith("-") and word not in _NFT_FLAGS:
            return f"nft: option {word} is not available in this lab shell\n"
        if not word.startswith("-"):
            return ""  # the rest is nft's command
        index += 1
    return ""


def _refusals(document: _HereDocument) -> str:
    out = []
    for number in document.refused:
        text = document.lines[number - 1]
        width = max(len(text), 1)
        out.append(f"/dev/stdin:{number}:1-{width}: {REFUSED}\n{text}\n{'^' * width}\n")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Serving it


class NftServer(DeviceServer):
    """The generic SSH front, plus the namespace's life: made on start, deleted on stop.

    Commands that start a process run in a worker thread, so one twin's nft never holds up
    the lab's event loop (and every other router in it).
    """

    async def start(self) -> int:
        await asyncio.to_thread(self.router.create)
        try:
            return await super().start()
        except BaseException:
            await asyncio.to_thread(self.router.destroy)
            raise

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            await asyncio.to_thread(self.router.destroy)

    def _echo(self, session: Any, line: str) -> str:
        return line + "\r\n"  # the shell shows what was typed, control characters too

    def _counts(self, session: Any, line: str) -> bool:
        return bool(line.strip())

    async def _run_line(self, terminal: Terminal, session: Any, line: str) -> Reply:
        """Run it; off the loop when it starts a process (the echo goes out first)."""
        if session.in_config and self.faults.rejects(line):
            answer = session.reject
        else:
            answer = session.execute
        if session.runs_something(line):
            terminal.flush()
            return await asyncio.to_thread(answer, line)
        return answer(line)


def _serve(router: NftRouter, spec: SpecLike, host: str) -> NftServer:
    return NftServer(
        router,
        username=spec.username,
        password=spec.password,
        faults=spec.faults() if callable(getattr(spec, "faults", None)) else Faults(),
        host=host,
        port=spec.port,
        ssh_key=host_key(spec.name, getattr(spec, "host_key_seed", "")),
    )


def _build(spec: SpecLike) -> NftRouter:
    """The twin's model; its namespace is made when the lab starts it (so that building a spec
    to check it, as topology files do, leaves nothing behind)."""
    return NftRouter(spec.name, spec.username, spec.interfaces, spec.config)


# The foreign configuration the controller must never touch: a management filter on the
# uplink with an NTP exception, and NAT towards the uplink.
FOREIGN_CONFIG = (
    "add table inet filter",
    "add chain inet filter input { type filter hook input priority 0; policy accept; }",
    "add set inet filter mgmt { type ipv4_addr; flags interval; elements = { 192.0.2.0/24 } }",
    f'add rule inet filter input iifname "{UPLINK}" tcp dport 22 ip saddr != @mgmt drop '
    f'comment "MGMT-ACCESS"',
    f'add rule inet filter input iifname "{UPLINK}" ip saddr 192.0.2.123 udp sport 123 accept '
    f'comment "ntp"',
    "add table ip nat",
    "add chain ip nat postrouting { type nat hook postrouting priority 100; policy accept; }",
    f'add rule ip nat postrouting oifname "{UPLINK}" masquerade',
)


def _base_config(uplink_address: str) -> list[str]:
    return [
        f'ip link set {UPLINK} alias "uplink"',
        f"ip address add {uplink_address}/30 dev {UPLINK}",
        *FOREIGN_CONFIG,
    ]


def line_interface_config(interface: str, line_name: str, prefixes: Sequence[Prefix]) -> list[str]:
    """A venue interface: description (ifalias), and the first host of its first v4 and v6."""
    config = [f'ip link set {interface} alias "line {line_name}"']
    v4, v6 = venue_networks(prefixes)
    if v4 is not None:
        config.append(f"ip address add {v4.network_address + 1}/{v4.prefixlen} dev {interface}")
    if v6 is not None:
        config.append(
            f"ip address add {v6.network_address + 1}/{v6.prefixlen} dev {interface} nodad"
        )
    return config


TWIN = TwinKind(
    platform="linux_nftables",
    build=_build,
    uplink=UPLINK,
    venue_interface=lambda k: f"eth{k}",
    base_config=_base_config,
    line_config=line_interface_config,
    serve=_serve,
    netmiko_device_type="linux",
)
