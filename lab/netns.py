"""Real routers in Linux network namespaces: the real-packet lab, and the helpers the nftables
twin uses to make and remove its own namespace.

`PacketLab` builds an "internet" host (`upstream`), a Linux access router (`router`, forwarding
on) and two venue hosts (`venue1`, `venue2`), joined by veth links with real IPv4 and IPv6
routing. Every name carries a per-run prefix, and teardown deletes exactly the namespaces it
made, by name, also when building fails half-way. Needs root, `ip`, `nft` and `ping`.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import secrets
import select
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface, IPv6Network, ip_address
from types import TracebackType

# Unique per process: parallel runs and leftovers of killed runs never share a name.
RUN_PREFIX = f"cf{os.getpid() % 100000}{secrets.token_hex(2)}"
COMMAND_SECONDS = 20.0

_counter = itertools.count(1)
_created: set[str] = set()  # namespaces this process made and has not deleted yet
_created_lock = threading.Lock()


class NetnsError(RuntimeError):
    """A namespace command failed; carries what it printed."""


def run(
    argv: Sequence[str], stdin: str | None = None, timeout: float = COMMAND_SECONDS
) -> subprocess.CompletedProcess[str]:
    """Run one command (no shell); a non-zero exit raises NetnsError with its output."""
    try:
        done = subprocess.run(
            list(argv),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"{' '.join(argv)}: no answer in {timeout} s") from exc
    except OSError as exc:
        raise NetnsError(f"{' '.join(argv)}: {exc}") from exc
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done


@functools.cache
def unavailable(tools: tuple[str, ...] = ("ip", "nft")) -> str | None:
    """Why namespaces with these tools cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return f"needs root and {', '.join(tools)}: running as uid {os.geteuid()}"
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return f"needs root and {', '.join(tools)}: {', '.join(missing)} not installed"
    probe = unique_name("probe")
    try:
        add_namespace(probe)
    except NetnsError as exc:
        return f"needs root and {', '.join(tools)}: ip netns add failed: {exc}"
    delete_namespace(probe)
    return None


@functools.cache
def stand_alone_link_kind() -> str:
    """The link type for an interface with nothing behind it: `dummy`, or where the kernel
    lacks that module (some container kernels), a bridge without ports, which holds addresses
    just the same."""
    probe = unique_name("probe")
    add_namespace(probe)
    try:
        for kind in ("dummy", "bridge"):
            try:
                ip_batch(probe, [f"link add x0 type {kind}"])
            except NetnsError:
                continue
            return kind
        raise NetnsError("neither dummy nor bridge links can be made here")
    finally:
        delete_namespace(probe)


def unique_name(label: str) -> str:
    """A namespace name no other run uses: the run's prefix, a counter, a label."""
    return f"{RUN_PREFIX}-{next(_counter)}-{label}"


def add_namespace(name: str) -> None:
    run(["ip", "netns", "add", name])
    with _created_lock:
        _created.add(name)


def delete_namespace(name: str) -> None:
    """Delete one namespace this process made (its interfaces go with it); gone is fine."""
    try:
        run(["ip", "netns", "delete", name])
    except NetnsError as exc:
        if "No such file" not in str(exc):
            raise
    finally:
        with _created_lock:
            _created.discard(name)


@atexit.register
def _delete_leftovers() -> None:
    """A process that exits without stopping its labs still removes its own namespaces."""
    with _created_lock:
        names = sorted(_created)
    for name in names:
        try:
            delete_namespace(name)
        except NetnsError:
            pass


def ip_batch(namespace: str | None, commands: Sequence[str]) -> None:
    """Several `ip` commands in one process (`ip -batch`), inside a namespace or at the root."""
    if not commands:
        return
    where = ["-n", namespace] if namespace else []
    run(["ip", *where, "-batch", "-"], stdin="\n".join(commands) + "\n")


def sysctl(namespace: str, settings: Sequence[str]) -> None:
    run(["ip", "netns", "exec", namespace, "sysctl", "-qw", *settings])


# --------------------------------------------------------------------------------------------
# The packet lab


@dataclass(frozen=True)
class Host:
    """One end of a link: a namespace, its interface there, and its addresses."""

    role: str
    namespace: str
    interface: str
    ipv4: IPv4Interface
    ipv6: IPv6Interface


# Addressing: venue k has 198.18.k.0/24 and 2001:db8:k::/48, the router's uplink a /30 and a
# /64 of its own; the upstream host also holds an "internet" address on its loopback.
UPLINK_V4 = IPv4Network("198.18.0.0/30")
UPLINK_V6 = IPv6Network("2001:db8:ffff::/64")
INTERNET_V4 = IPv4Interface("198.19.255.1/32")
INTERNET_V6 = IPv6Interface("2001:db8:fffe::1/128")
ROUTER_UPLINK = "eth0"


def venue_prefixes(k: int) -> tuple[IPv4Network, IPv6Network]:
    return IPv4Network(f"198.18.{k}.0/24"), IPv6Network(f"2001:db8:{k:x}::/48")


_LISTENER = """
import socket, sys, time
sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("::", int(sys.argv[1])))
sock.listen(16)
sock.settimeout(0.5)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        conn, _ = sock.accept()
    except socket.timeout:
        continue
    conn.close()
"""

_CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except OSError:
    sys.exit(1)
"""


class PacketLab:
    """upstream — router — venue1, venue2 in network namespaces. A context manager.

    Router interfaces: `eth0` towards upstream, `eth1` towards venue1, `eth2` towards venue2;
    each other host reaches the router over its own `eth0`.
    """

    def __init__(self, venues: int = 2) -> None:
        if not 1 <= venues <= 9:
            raise ValueError("between 1 and 9 venues")
        self.venues = venues
        self.namespaces: dict[str, str] = {
            role: unique_name(role)
            for role in ("upstream", "router", *(f"venue{k}" for k in range(1, venues + 1)))
        }
        self._made: list[str] = []
        self._listeners: list[subprocess.Popen[str]] = []

    # ------------------------------------------------------------------ shape

    @property
    def router(self) -> str:
        """The router's namespace (the nftables driver's `netns:NAME` host)."""
        return self.namespaces["router"]

    def venue_port(self, k: int) -> str:
        """The router's interface towards venue k."""
        return f"eth{k}"

    def host(self, role: str) -> Host:
        """The far end of a router link: `upstream` or `venueK`."""
        if role == "upstream":
            return Host(
                role,
                self.namespaces[role],
                "eth0",
                IPv4Interface((UPLINK_V4.network_address + 2, UPLINK_V4.prefixlen)),
                IPv6Interface((UPLINK_V6.network_address + 2, UPLINK_V6.prefixlen)),
            )
        k = int(role.removeprefix("venue"))
        v4, v6 = venue_prefixes(k)
        return Host(
            role,
            self.namespaces[role],
            "eth0",
            IPv4Interface((v4.network_address + 2, v4.prefixlen)),
            IPv6Interface((v6.network_address + 2, v6.prefixlen)),
        )

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> PacketLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _build(self) -> None:
        for name in self.namespaces.values():
            add_namespace(name)
            self._made.append(name)
            # no duplicate-address detection: addresses are usable at once
            sysctl(
                name,
                ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"],
            )
        router = self.router
        sysctl(router, ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])
        up = self.host("upstream")
        links = [
            f"link add {ROUTER_UPLINK} netns {router} type veth peer name eth0 netns {up.namespace}"
        ]
        for k in range(1, self.venues + 1):
            venue = self.host(f"venue{k}")
            links.append(
                f"link add {self.venue_port(k)} netns {router} type veth peer name eth0 "
                f"netns {venue.namespace}"
            )
        ip_batch(None, links)

        router_commands = ["link set lo up"]
        gateway4 = UPLINK_V4.network_address + 1
        gateway6 = UPLINK_V6.network_address + 1
        router_commands += [
            f"address add {gateway4}/{UPLINK_V4.prefixlen} dev {ROUTER_UPLINK}",
            f"address add {gateway6}/{UPLINK_V6.prefixlen} dev {ROUTER_UPLINK} nodad",
            f"link set {ROUTER_UPLINK} up",
            f"route add default via {up.ipv4.ip}",
            f"route add default via {up.ipv6.ip}",
        ]
        for k in range(1, self.venues + 1):
            v4, v6 = venue_prefixes(k)
            port = self.venue_port(k)
            router_commands += [
                f"address add {v4.network_address + 1}/{v4.prefixlen} dev {port}",
                f"address add {v6.network_address + 1}/{v6.prefixlen} dev {port} nodad",
                f"link set {port} up",
            ]
            venue = self.host(f"venue{k}")
            ip_batch(
                venue.namespace,
                [
                    "link set lo up",
                    f"address add {venue.ipv4} dev eth0",
                    f"address add {venue.ipv6} dev eth0 nodad",
                    "link set eth0 up",
                    f"route add default via {v4.network_address + 1}",
                    f"route add default via {v6.network_address + 1}",
                ],
            )
        ip_batch(router, router_commands)
        ip_batch(
            up.namespace,
            [
                "link set lo up",
                f"address add {INTERNET_V4} dev lo",
                f"address add {INTERNET_V6} dev lo",
                f"address add {up.ipv4} dev eth0",
                f"address add {up.ipv6} dev eth0 nodad",
                "link set eth0 up",
                f"route add 198.18.0.0/15 via {gateway4}",
                f"route add 2001:db8::/32 via {gateway6}",
            ],
        )

        self._settle()

    def _settle(self, seconds: int = 5) -> None:
        """Wait, bounded, until every venue reaches the internet both ways.

        IPv6 on a new veth link forwards nothing for about a second; probing until the first
        answer (a ping repeated every 0.1 s under a deadline) starts the tests on a working
        network instead of on a first lost packet.
        """
        probes = [
            (f"venue{k}", address)
            for k in range(1, self.venues + 1)
            for address in (INTERNET_V4.ip, INTERNET_V6.ip)
        ]
        argv = ["ping", "-n", "-q", "-c", "1", "-i", "0.1", "-w", str(seconds)]
        with ThreadPoolExecutor(len(probes)) as pool:
            results = list(
                pool.map(
                    lambda probe: self.exec(probe[0], [*argv, str(probe[1])], seconds + 2),
                    probes,
                )
            )
        failed = [
            f"{role} -> {address}"
            for (role, address), rc in zip(probes, results, strict=True)
            if rc
        ]
        if failed:
            raise NetnsError(f"the packet lab never carried traffic: {', '.join(failed)}")

    def close(self) -> None:
        """Stop the listeners (by PID) and delete exactly the namespaces made, by name."""
        for listener in self._listeners:
            _stop(listener)
        self._listeners.clear()
        problems = []
        for name in reversed(self._made):
            try:
                delete_namespace(name)
            except NetnsError as exc:
                problems.append(str(exc))
        self._made.clear()
        if problems:
            raise NetnsError("; ".join(problems))

    # ------------------------------------------------------------------ traffic

    def exec(self, role: str, argv: Sequence[str], timeout: float = 5.0) -> int:
        """Run a command inside a role's namespace; its exit status (bounded in time)."""
        try:
            done = subprocess.run(
                ["ip", "netns", "exec", self.namespaces[role], *argv],
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return -1
        return done.returncode

    def ping(self, role: str, address: object, wait: int = 1) -> bool:
        """One echo request from a role to an address; True when the reply came back."""
        target = str(ip_address(str(address)))
        return self.exec(role, ["ping", "-n", "-q", "-c", "1", "-W", str(wait), target]) == 0

    def connect(self, role: str, address: object, port: int, timeout: float = 1.0) -> bool:
        """A TCP connection from a role to an address; True when the handshake completed."""
        target = str(ip_address(str(address)))
        argv = [sys.executable, "-c", _CONNECT, target, str(port), str(timeout)]
        return self.exec(role, argv, timeout=timeout + 5) == 0

    @contextmanager
    def listener(self, role: str, port: int, lifetime: float = 60.0) -> Iterator[int]:
        """A TCP listener on every address of a role (IPv4 and IPv6); its PID while it runs.

        It accepts and closes connections, ends by itself after `lifetime` seconds at the
        latest, and is stopped by PID when the block ends.
        """
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.namespaces[role],
                sys.executable,
                "-c",
                _LISTENER,
                str(port),
                str(lifetime),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._listeners.append(process)
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 5.0)
            if not ready or process.stdout.readline().strip() != "ready":
                raise NetnsError(f"listener in {role} did not start")
            yield process.pid
        finally:
            _stop(process)
            if process in self._listeners:
                self._listeners.remove(process)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=2)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


__all__ = [
    "Host",
    "NetnsError",
    "PacketLab",
    "RUN_PREFIX",
    "add_namespace",
    "delete_namespace",
    "ip_batch",
    "run",
    "stand_alone_link_kind",
    "sysctl",
    "unavailable",
    "unique_name",
    "venue_prefixes",
]
