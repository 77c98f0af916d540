"""Starting many simulated routers on loopback ports, and the inventory that points at them.

A `Lab` runs every device in one background thread with its own event loop, so synchronous
tests and netmiko's threads can use it, or spreads them over worker processes for a lab bigger
than one core serves; `city()` and `load_topology()` say what to start. Subscribers are an
addition (`Subscribers`: BNG twins and their subscriber lines, `subscriber_city()`,
`load_subscribers()`): a lab with them also runs a real FreeRADIUS (lab/freeradius.py).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from drivers.identifiers import (
    IdentifierError,
    check_device_name,
    check_interface,
    check_username,
    parse_prefix,
)
from lab.platforms import TWINS
from lab.ssh import Faults, public_host_key
from lab.twin import Server, TwinKind
from lab.workers import RemoteRouter, Worker

if TYPE_CHECKING:  # started only in a lab with subscribers (imports pyrad)
    from lab.bng import BngTwin, Session
    from lab.freeradius import RadiusServer

HOST = "127.0.0.1"
PLATFORMS = tuple(TWINS)
UPLINK = TWINS["cisco_ios"].uplink  # the default platform's uplink
DEFAULT_AUTHORITIES = ({"name": "city-bureau", "regions": ["620100"]},)

_V4_POOL = IPv4Network("198.18.0.0/15")
_V6_POOL = IPv6Network("2001:db8::/32")
_UPLINK_POOL = IPv4Network("100.64.0.0/10")
_BNG_POOLS = IPv4Network("10.64.0.0/16")  # BNG n hands out 10.64.n.0/24
_FIRST_BNG_ADDRESS = IPv4Address("127.0.0.21")  # BNG n listens on 127.0.0.(20+n)
_LAB_SECRET = re.compile(r"[A-Za-z0-9._~+=@-]{1,128}")


@dataclass(frozen=True)
class DeviceSpec:
    """One simulated device: identity, credentials, hardware, start-up config and faults.

    `config` is applied at start as config-mode lines, like a startup-config. An SSH twin's
    host key is derived from its name and `host_key_seed`: the same in every run, and another
    one when a test restarts the device with another seed (its keys regenerated).
    """

    name: str
    platform: str = "cisco_ios"
    port: int = 0
    username: str = "curfew"
    password: str = "lab-password"
    secret: str = "lab-enable"
    interfaces: tuple[str, ...] = ()  # empty: the twin's uplink and one venue interface
    config: tuple[str, ...] = ()
    latency_ms: int = 0
    refuse_connections: bool = False
    auth_fail: bool = False
    drop_after: int | None = None
    hang_up_on: int | None = None
    reject: tuple[str, ...] = ()
    host_key_seed: str = ""

    def __post_init__(self) -> None:
        for sequence in ("interfaces", "config", "reject"):
            object.__setattr__(self, sequence, tuple(getattr(self, sequence)))
        check_device_name(self.name)
        if self.platform not in PLATFORMS:
            raise ValueError(f"device {self.name}: platform {self.platform!r} not in {PLATFORMS}")
        if not self.interfaces:
            kind = self.twin
            object.__setattr__(self, "interfaces", (kind.uplink, kind.venue_interface(1)))
        if not 0 <= self.port <= 65535:
            raise ValueError(f"device {self.name}: port {self.port} out of range")
        for interface in self.interfaces:
            check_interface(self.platform, interface)
        self.faults()

    def faults(self) -> Faults:
        return Faults(
            latency_ms=self.latency_ms,
            refuse_connections=self.refuse_connections,
            auth_fail=self.auth_fail,
            drop_after=self.drop_after,
            hang_up_on=self.hang_up_on,
            reject=tuple(self.reject),
        )

    @property
    def twin(self) -> TwinKind:
        return TWINS[self.platform]

    @property
    def host_key(self) -> str | None:
        """The SSH host key the device offers (an OpenSSH public-key line); None without SSH."""
        return public_host_key(self.name, self.host_key_seed) if self.twin.ssh else None

    def build_router(self) -> Any:
        try:
            return self.twin.build(self)
        except ValueError as exc:
            raise ValueError(f"device {self.name}: start-up config: {exc}") from None


@dataclass(frozen=True)
class BngSpec:
    """One BNG twin (a NAS): its loopback address (its NAS-IP-Address), the address pool it
    hands out, its DAE (Disconnect/CoA) port and secrets, and a fault ("nak", "silent",
    "wrong_secret") to start with. Empty address or pool: the n-th BNG's defaults, 127.0.0.(20+n)
    and 10.64.n.0/24."""

    name: str
    address: str = ""
    pool: str = ""
    dae_port: int = 0
    radius_secret: str = "lab-radius-secret"  # shared with the RADIUS server
    dae_secret: str = "lab-dae-secret"  # shared with curfew, the Disconnect/CoA client
    fault: str | None = None
    error_cause: int = 506  # what the "nak" fault answers with

    def __post_init__(self) -> None:
        check_device_name(self.name)
        if self.address and not IPv4Address(self.address).is_loopback:
            raise ValueError(f"BNG {self.name}: {self.address} is not on 127.0.0.0/8")
        if self.pool:
            IPv4Network(self.pool)
        if not 0 <= self.dae_port <= 65535:
            raise ValueError(f"BNG {self.name}: dae_port {self.dae_port} out of range")
        for key in ("radius_secret", "dae_secret"):
            if not _LAB_SECRET.fullmatch(getattr(self, key)):
                raise ValueError(
                    f"BNG {self.name}: {key} must be 1-128 of A-Z a-z 0-9 . _ ~ + = @ -"
                )
        if self.fault not in (None, "nak", "silent", "wrong_secret"):
            raise ValueError(f"BNG {self.name}: fault {self.fault!r} not nak, silent, wrong_secret")

    def placed(self, index: int) -> BngSpec:
        """With the defaults of the `index`-th BNG (from 1) filled in."""
        return dataclasses.replace(
            self,
            address=self.address or str(_FIRST_BNG_ADDRESS + index - 1),
            pool=self.pool or str(IPv4Network((int(_BNG_POOLS.network_address) + 256 * index, 24))),
        )


@dataclass(frozen=True)
class SubscriberSpec:
    """A subscriber line: the inventory's {name, venue, kind: subscriber, username, nas}, plus
    what only the carrier knows (its password, written in the RADIUS server's radcheck) and
    whether it is dialled in, on its first NAS, when the lab starts."""

    name: str
    venue: str
    username: str
    nas: tuple[str, ...]
    password: str = "lab-subscriber"
    online: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "nas", tuple(self.nas))
        try:
            check_username(self.username)
        except IdentifierError as exc:
            raise ValueError(f"subscriber {self.name}: {exc}") from None
        if not self.nas:
            raise ValueError(f"subscriber {self.name}: names no NAS")
        if not self.password or not self.password.isprintable():
            raise ValueError(f"subscriber {self.name}: password must be printable text")

    def inventory_line(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "venue": self.venue,
            "kind": "subscriber",
            "username": self.username,
            "nas": list(self.nas),
        }


@dataclass(frozen=True)
class Subscribers:
    """BNG twins and the subscriber lines on them; `venues` are inventory venue entries to add
    (a generated city's; a topology file lists its venues itself)."""

    bngs: tuple[BngSpec, ...] = ()
    lines: tuple[SubscriberSpec, ...] = ()
    venues: tuple[dict[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        placed = tuple(spec.placed(i) for i, spec in enumerate(self.bngs, 1))
        object.__setattr__(self, "bngs", placed)
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "venues", tuple(self.venues))
        names = [b.name for b in placed]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate BNG names: {', '.join(names)}")
        addresses = [b.address for b in placed]
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"two BNGs share an address: {', '.join(addresses)}")
        seen: set[str] = set()
        line_names = [line.name for line in self.lines]
        if len(set(line_names)) != len(line_names):
            raise ValueError("two subscriber lines share a name")
        for line in self.lines:
            unknown = [n for n in line.nas if n not in names]
            if unknown:
                raise ValueError(f"subscriber {line.name}: no BNG named {', '.join(unknown)}")
            if line.username in seen:
                raise ValueError(f"subscriber {line.name}: username {line.username} used twice")
            seen.add(line.username)
        if self.lines and not self.bngs:
            raise ValueError("subscriber lines need at least one BNG")

    def __bool__(self) -> bool:
        return bool(self.bngs)

    def add_to(
        self, inventory: Mapping[str, Any], radius_db: str, dae_ports: Mapping[str, int]
    ) -> dict[str, Any]:
        """Copy of a filled inventory with the BNGs as radius_nas devices (host: the BNG's
        address, port: its DAE port, password: the DAE secret, options.radius_db: the RADIUS
        server's SQL database) and the subscriber venues and lines."""
        result = copy.deepcopy(dict(inventory))
        result["devices"] = list(result.get("devices") or []) + [
            {
                "name": bng.name,
                "platform": "radius_nas",
                "host": bng.address,
                "port": dae_ports[bng.name],
                "username": "curfew",  # a NAS's DAE port knows no user; the secret signs
                "password": bng.dae_secret,
                "options": {"radius_db": radius_db},
            }
            for bng in self.bngs
        ]
        known_venues = {v["name"] for v in result.get("venues") or []}
        result["venues"] = list(result.get("venues") or []) + [
            dict(v) for v in self.venues if v["name"] not in known_venues
        ]
        result["lines"] = list(result.get("lines") or []) + [
            line.inventory_line() for line in self.lines
        ]
        return result


def subscriber_city(
    bngs: int,
    per_bng: int,
    *,
    zone: str = "Asia/Shanghai",
    region: str = "620100",
    first_licence: int = 9001,
) -> Subscribers:
    """BNG1..BNGn (127.0.0.21…, pools 10.64.n.0/24), each with K subscribers `sub-n-k`
    (line `BNGn-S{k}`, venue `Cafe BNGn-k`), every one dialled in when the lab starts."""
    if bngs < 1 or per_bng < 1:
        raise ValueError("a subscriber city needs at least one BNG and one subscriber each")
    if bngs > 200 or per_bng > 250:
        raise ValueError("at most 200 BNGs (127.0.0.21-220) and 250 subscribers each")
    specs, lines, venues = [], [], []
    for n in range(1, bngs + 1):
        name = f"BNG{n}"
        specs.append(BngSpec(name))
        for k in range(1, per_bng + 1):
            venue = f"Cafe {name}-{k}"
            venues.append(
                {
                    "name": venue,
                    "licence": f"LIC-{first_licence + len(venues):04d}",
                    "zone": zone,
                    "region": region,
                }
            )
            lines.append(
                SubscriberSpec(
                    name=f"{name}-S{k}",
                    venue=venue,
                    username=f"sub-{n}-{k}",
                    nas=(name,),
                    password=f"pw-{n}-{k}",
                )
            )
    return Subscribers(tuple(specs), tuple(lines), tuple(venues))


class Lab:
    """Simulated devices on 127.0.0.1. Use as a context manager, or call `start()` and `stop()`.

    With `processes=0` (the default) every device runs in one background event loop of this
    process, and `router(name)` is the live model tests read and edit. With `processes=N` the
    devices are dealt over N worker processes (lab/workers.py), each with its own loop, so the
    lab's CPU is not one core's; `router(name)` then forwards `running_config()`,
    `startup_config`, `configure()` and `execute()` to the worker, as `set_fault()` and
    `faults()` are forwarded.

    With `subscribers`, the lab also starts a real FreeRADIUS (`radius`) and the BNG twins
    (`bng(name)`, in this process), writes every subscriber's password in the server's radcheck
    and dials the online ones in; the BNGs stamp their accounting with `clock` (required then).
    """

    def __init__(
        self,
        specs: Iterable[DeviceSpec],
        host: str = HOST,
        processes: int = 0,
        *,
        subscribers: Subscribers | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.host = host
        self.subscribers = subscribers or Subscribers()
        if self.subscribers and clock is None:
            raise ValueError("a lab with BNGs needs a clock for their accounting instants")
        self.clock = clock
        self._radius: RadiusServer | None = None
        self._bngs: dict[str, BngTwin] = {}
        listed = list(specs)
        names = [spec.name for spec in listed]
        names += [bng.name for bng in self.subscribers.bngs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate device names: {', '.join(duplicates)}")
        if processes < 0:
            raise ValueError(f"processes must be >= 0, got {processes}")
        self._specs = {spec.name: spec for spec in listed}
        self.processes = min(processes, len(listed))  # no worker without a device
        self._servers: dict[str, Server] = {}
        if not self.processes:
            self._servers = {
                spec.name: spec.twin.serve(spec.build_router(), spec, host) for spec in listed
            }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._workers: list[Worker] = []
        self._owner: dict[str, Worker] = {}
        self._ports: dict[str, int] = {}  # learnt from the workers, kept for a restart

    # ------------------------------------------------------------------ life cycle

    def start(self, timeout: float = 30.0) -> Lab:
        if self.running:
            raise RuntimeError("lab already started")
        try:
            if self.processes:
                self._start_workers(timeout)
            else:
                loop = asyncio.new_event_loop()
                self._loop = loop
                self._thread = threading.Thread(
                    target=_run_loop, args=(loop,), name="curfew-lab", daemon=True
                )
                self._thread.start()
                self._call(self._start_all(), timeout)
            if self.subscribers:
                self._start_subscribers(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every listener and session, then end the loop thread or every worker process
        by its PID (bounded wait). BNG twins and the RADIUS server stop first."""
        self._stop_subscribers()
        if self._workers:
            workers, self._workers, self._owner = self._workers, [], {}
            for worker in workers:
                worker.request_stop()
            deadline = time.monotonic() + timeout
            for worker in workers:
                worker.stop(deadline)
            return
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._stop_all(), timeout)
        except (TimeoutError, RuntimeError):
            pass
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._loop = self._thread = None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_subscribers(self, timeout: float) -> None:
        from lab.bng import BngTwin, Session
        from lab.freeradius import RadiusServer

        assert self.clock is not None
        specs = self.subscribers
        server = RadiusServer({bng.address: bng.radius_secret for bng in specs.bngs})
        self._radius = server
        server.start(timeout)
        endpoint = (server.host, server.auth_port, server.acct_port)
        for bng in specs.bngs:
            twin = BngTwin(
                bng.name, bng.address, endpoint, bng.radius_secret, bng.dae_secret, bng.pool,
                self.clock, dae_port=bng.dae_port,
            )  # fmt: skip
            self._bngs[bng.name] = twin
            twin.start()
            if bng.fault:
                twin.set_fault(bng.fault, bng.error_cause)
        for line in specs.lines:
            server.add_subscriber(line.username, line.password)
        for line in specs.lines:
            if line.online:
                dialled = self._bngs[line.nas[0]].dial(line.username, line.password)
                if not isinstance(dialled, Session):
                    raise RuntimeError(f"subscriber {line.name} did not dial in: {dialled.reason}")

    def _stop_subscribers(self) -> None:
        twins, self._bngs = list(self._bngs.values()), {}
        for twin in twins:
            twin.close()
        server, self._radius = self._radius, None
        if server is not None:
            server.close()

    def _start_workers(self, timeout: float) -> None:
        """Deal the devices round robin (platforms spread evenly) and start every worker."""
        specs = self.specs  # with the ports of an earlier run: a restart keeps them
        count = self.processes
        self._workers = [Worker(specs[i::count], self.host, i) for i in range(count)]
        self._owner = {name: worker for worker in self._workers for name in worker.names}
        for worker in self._workers:
            worker.start()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.wait_started(deadline)
            self._ports.update(worker.ports)

    async def _start_all(self) -> None:
        for server in self._servers.values():
            await server.start()

    async def _stop_all(self) -> None:
        await asyncio.gather(*(s.stop() for s in self._servers.values()), return_exceptions=True)

    def _call(self, coroutine: Any, timeout: float) -> Any:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("lab is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # ------------------------------------------------------------------ devices

    @property
    def radius(self) -> RadiusServer:
        """The lab's FreeRADIUS (a lab with subscribers, started)."""
        if self._radius is None:
            raise RuntimeError("this lab runs no RADIUS server (no subscribers, or not started)")
        return self._radius

    def bng(self, name: str) -> BngTwin:
        """A running BNG twin: tests dial, hang up and set faults on it."""
        try:
            return self._bngs[name]
        except KeyError:
            raise KeyError(f"no running BNG {name!r} in this lab") from None

    @property
    def running(self) -> bool:
        return self._thread is not None or bool(self._workers)

    @property
    def pids(self) -> list[int]:
        """The worker processes' PIDs (none when the lab runs in this process)."""
        return [worker.pid for worker in self._workers if worker.pid is not None]

    @property
    def specs(self) -> list[DeviceSpec]:
        """The device specs with the ports actually bound (after `start()`)."""
        return [dataclasses.replace(s, port=self.port(name)) for name, s in self._specs.items()]

    def _spec(self, name: str) -> DeviceSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"no device {name!r} in this lab") from None

    def _server(self, name: str) -> Server:
        self._spec(name)
        return self._servers[name]

    def _worker(self, name: str) -> Worker:
        self._spec(name)
        if name not in self._owner:
            raise RuntimeError("lab is not running")
        return self._owner[name]

    def sessions_opened(self, name: str) -> int | None:
        """How many CLI sessions the device has opened so far (None: it has no sessions)."""
        if self.processes:
            return self._worker(name).ask(("sessions_opened", name))
        return getattr(self._server(name), "sessions_opened", None)

    def passwords_offered(self, name: str) -> int | None:
        """How many passwords an SSH device has been offered so far (None: not SSH)."""
        if self.processes:
            return self._worker(name).ask(("passwords_offered", name))
        return getattr(self._server(name), "passwords_offered", None)

    def keepalives(self, name: str) -> int | None:
        """How many SSH keepalive requests the device's sessions have received (None: not SSH)."""
        if self.processes:
            return self._worker(name).ask(("keepalives", name))
        return getattr(self._server(name), "keepalives", None)

    def router(self, name: str) -> Any:
        """The live router model: tests read and edit its state (it has its own lock). In a
        lab of worker processes, a stand-in forwarding what the worker answers."""
        if self.processes:
            return RemoteRouter(self._worker(name), name)
        return self._server(name).router

    def port(self, name: str) -> int:
        if self.processes:
            return self._ports.get(name, self._spec(name).port)
        return self._server(name).port

    def host_key(self, name: str) -> str | None:
        """The SSH host key a device offers (OpenSSH public-key line); None without SSH."""
        return self._spec(name).host_key

    def faults(self, name: str) -> Faults:
        if self.processes:
            if not self.running:
                return self._spec(name).faults()
            return self._worker(name).ask(("faults", name))
        return self._server(name).faults

    def set_fault(self, name: str, **changes: Any) -> None:
        """Change a device's faults while it runs, e.g. `set_fault("R1", latency_ms=200)`."""
        if self.processes:
            if self.running:
                self._worker(name).ask(("set_fault", name, changes))
                return
            spec = self._spec(name)
            spec.faults().update(**changes)  # unknown or bad faults raise here
            self._specs[name] = dataclasses.replace(spec, **changes)
            return
        server = self._server(name)
        if self._loop is None:
            server.faults.update(**changes)
        else:
            self._call(server.set_faults(**changes), 10.0)

    def connection(self, name: str) -> dict[str, Any]:
        """Keyword arguments for netmiko's `ConnectHandler` to reach a device."""
        spec = self._spec(name)
        return {
            "device_type": spec.twin.netmiko_device_type or spec.platform,
            "host": self.host,
            "port": self.port(name),
            "username": spec.username,
            "password": spec.password,
            "secret": spec.secret,
        }

    # ------------------------------------------------------------------ inventory

    def inventory(self, inventory: Mapping[str, Any]) -> dict[str, Any]:
        """The inventory with each device's host, real port and credentials filled in (and,
        with subscribers, the BNGs as radius_nas devices and the subscriber lines)."""
        filled = fill_inventory(self.specs, inventory, self.host)
        if not self.subscribers:
            return filled
        dae_ports = {name: twin.dae_port for name, twin in self._bngs.items()}
        if len(dae_ports) != len(self.subscribers.bngs):
            raise RuntimeError("start the lab first: the BNGs' DAE ports are not bound yet")
        return self.subscribers.add_to(filled, self.radius.db_url, dae_ports)

    def write_inventory(self, inventory: Mapping[str, Any], path: str | Path) -> Path:
        return _write_yaml(self.inventory(inventory), Path(path))


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=2))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def fill_inventory(
    specs: Iterable[DeviceSpec], inventory: Mapping[str, Any], host: str = HOST
) -> dict[str, Any]:
    """Copy of `inventory` whose `devices` say how to reach each spec (and, for SSH twins,
    which host key to pin)."""
    result = copy.deepcopy(dict(inventory))
    devices = []
    for spec in specs:
        if spec.port == 0:
            raise ValueError(f"device {spec.name}: no port yet (start the lab first)")
        device = {
            "name": spec.name,
            "platform": spec.platform,
            "host": host,
            "port": spec.port,
            "username": spec.username,
            "password": spec.password,
            "secret": spec.secret,
        }
        if spec.host_key is not None:
            device["host_key"] = spec.host_key
        devices.append(device)
    result["devices"] = devices
    return result


def write_inventory(
    lab_or_specs: Lab | Iterable[DeviceSpec], inventory: Mapping[str, Any], path: str | Path
) -> Path:
    """Write the inventory YAML the controller imports, with real ports."""
    if isinstance(lab_or_specs, Lab):
        filled = lab_or_specs.inventory(inventory)
    else:
        filled = fill_inventory(lab_or_specs, inventory)
    return _write_yaml(filled, Path(path))


def _write_yaml(document: Mapping[str, Any], path: Path) -> Path:
    text = yaml.safe_dump(dict(document), allow_unicode=True, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- a city


def city(
    devices: int,
    lines_per_device: int,
    base_port: int = 0,
    *,
    zone: str = "Asia/Shanghai",
    region: str = "620100",
    platforms: Sequence[str] = ("cisco_ios",),
) -> tuple[list[DeviceSpec], dict[str, Any]]:
    """N routers R1..RN with K venue lines each, and the inventory describing them.

    Router n runs `platforms[(n-1) % len(platforms)]`. Each has its platform's uplink (with
    foreign configuration the controller must never touch: a management ACL bound inbound, an
    NTP server, a syslog host) and K venue interfaces. Line k of Rn is global line
    i = (n-1)*K + k and gets the i-th IPv4 block of 198.18.0.0/15 (/24 while they fit, smaller
    blocks for big cities) and 2001:db8:n:k::/64.
    """
    if devices < 1 or lines_per_device < 1:
        raise ValueError("a city needs at least one device and one line per device")
    if lines_per_device > 999 or devices > 0xFFFF:
        raise ValueError("at most 65535 devices and 999 lines per device")
    if base_port and base_port + devices - 1 > 65535:
        raise ValueError(f"base_port {base_port} leaves no room for {devices} devices")
    unknown = [p for p in platforms if p not in TWINS]
    if not platforms or unknown:
        raise ValueError(f"unknown platform(s) {unknown}; known: {', '.join(TWINS)}")
    total = devices * lines_per_device
    v4_length = next((n for n in range(24, 31) if 2 ** (n - _V4_POOL.prefixlen) > total), None)
    if v4_length is None:
        raise ValueError(f"{total} lines do not fit in {_V4_POOL} with one /30 each")
    block = 2 ** (32 - v4_length)

    specs: list[DeviceSpec] = []
    venues: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for n in range(1, devices + 1):
        name = f"R{n}"
        platform = platforms[(n - 1) % len(platforms)]
        kind = TWINS[platform]
        uplink = _UPLINK_POOL.network_address + 4 * (n - 1)
        config = list(kind.base_config(str(uplink + 1)))
        interfaces = [kind.uplink]
        for k in range(1, lines_per_device + 1):
            index = (n - 1) * lines_per_device + k
            interface = kind.venue_interface(k)
            v4 = IPv4Network((int(_V4_POOL.network_address) + index * block, v4_length))
            v6 = IPv6Network((int(_V6_POOL.network_address) + (n << 80) + (k << 64), 64))
            line_name = f"{name}-L{k}"
            venue = f"Venue {name}-{k}"
            interfaces.append(interface)
            config += kind.line_config(interface, line_name, [v4, v6])
            venues.append(
                {"name": venue, "licence": f"LIC-{index:04d}", "zone": zone, "region": region}
            )
            lines.append(
                {
                    "name": line_name,
                    "venue": venue,
                    "device": name,
                    "interface": interface,
                    "prefixes": [str(v4), str(v6)],
                }
            )
        port = base_port + n - 1 if base_port else 0
        specs.append(
            DeviceSpec(
                name,
                platform=platform,
                port=port,
                interfaces=tuple(interfaces),
                config=tuple(config),
            )
        )
    inventory = {
        "authorities": [{"name": "city-bureau", "regions": [region]}],
        "devices": [{"name": s.name, "platform": s.platform} for s in specs],
        "venues": venues,
        "lines": lines,
    }
    return specs, inventory


# --------------------------------------------------------------------------- topology files

_DEVICE_FIELDS = {f.name for f in dataclasses.fields(DeviceSpec)}
_VENUE_FIELDS = {"name", "licence", "zone", "region"}
_LINE_FIELDS = {"name", "venue", "device", "interface", "prefixes"}
_TOP_FIELDS = {"authorities", "devices", "venues", "lines", "bngs"}
_BNG_FIELDS = {f.name for f in dataclasses.fields(BngSpec)}
_SUBSCRIBER_FIELDS = {"name", "venue", "kind", "username", "nas", "password", "online"}


def load_topology(path: str | Path) -> tuple[list[DeviceSpec], dict[str, Any]]:
    """Read a topology file: devices (with faults), venues and lines, as in the inventory.

    Host, port and credentials of the inventory's devices are left for the lab to fill in.
    A device without `interfaces` gets GigabitEthernet0/0 plus its lines' interfaces, and each
    line's interface is configured with a description and addresses from its prefixes.
    BNGs and subscriber lines (`kind: subscriber`) are checked here but left out of what this
    returns: `load_subscribers()` reads them.
    """
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    return parse_topology(document, source=str(path))


def parse_topology(
    document: object, source: str = "topology"
) -> tuple[list[DeviceSpec], dict[str, Any]]:
    if not isinstance(document, dict):
        raise ValueError(f"{source}: must be a mapping with devices, venues and lines")
    _no_unknown(document, _TOP_FIELDS, source)
    authorities = document.get("authorities") or [dict(a) for a in DEFAULT_AUTHORITIES]
    if not isinstance(authorities, list) or not all(isinstance(a, dict) for a in authorities):
        raise ValueError(f"{source}: authorities must be a list of mappings")
    devices = _entries(document, "devices", source, required=True)
    venues = _entries(document, "venues", source)
    lines = _entries(document, "lines", source)

    device_fields: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(devices, 1):
        where = _where(source, "device", i, entry)
        _no_unknown(entry, _DEVICE_FIELDS, where)
        name = _text(entry, "name", where)
        if name in device_fields:
            raise ValueError(f"{where}: duplicate device name")
        device_fields[name] = _device_fields(entry, where)

    venue_names: set[str] = set()
    venue_entries = []
    for i, entry in enumerate(venues, 1):
        where = _where(source, "venue", i, entry)
        _no_unknown(entry, _VENUE_FIELDS, where)
        missing = _VENUE_FIELDS - set(entry)
        if missing:
            raise ValueError(f"{where}: missing {', '.join(sorted(missing))}")
        venue = {key: _text(entry, key, where, numbers=key == "region") for key in entry}
        try:
            ZoneInfo(venue["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{where}: unknown time zone {venue['zone']!r}") from None
        if venue["name"] in venue_names:
            raise ValueError(f"{where}: duplicate venue name")
        venue_names.add(venue["name"])
        venue_entries.append({k: venue[k] for k in ("name", "licence", "zone", "region")})

    line_entries = []
    used_interfaces: dict[tuple[str, str], str] = {}
    seen_prefixes: dict[IPv4Network | IPv6Network, str] = {}
    line_config: dict[str, list[str]] = {name: [] for name in device_fields}
    line_interfaces: dict[str, list[str]] = {name: [] for name in device_fields}
    # their mistakes are the file's mistakes; their names are the file's line names
    line_names: set[str] = {line.name for line in parse_subscribers(document, source).lines}
    for i, entry in enumerate(lines, 1):
        if entry.get("kind") == "subscriber":
            continue
        where = _where(source, "line", i, entry)
        _no_unknown(entry, _LINE_FIELDS, where)
        missing = _LINE_FIELDS - set(entry)
        if missing:
            raise ValueError(f"{where}: missing {', '.join(sorted(missing))}")
        name = _text(entry, "name", where)
        venue = _text(entry, "venue", where)
        device = _text(entry, "device", where)
        interface = _text(entry, "interface", where)
        if name in line_names:
            raise ValueError(f"{where}: duplicate line name")
        line_names.add(name)
        if venue not in venue_names:
            raise ValueError(f"{where}: no venue named {venue!r}")
        if device not in device_fields:
            raise ValueError(f"{where}: no device named {device!r}")
        try:
            check_interface(device_fields[device]["platform"], interface)
        except IdentifierError as exc:
            raise ValueError(f"{where}: {exc}") from None
        declared = device_fields[device].get("interfaces")
        if declared is not None and interface not in declared:
            raise ValueError(f"{where}: device {device} has no interface {interface}")
        if (device, interface) in used_interfaces:
            raise ValueError(
                f"{where}: {device} {interface} already carries line "
                f"{used_interfaces[device, interface]}"
            )
        used_interfaces[device, interface] = name
        prefixes = _prefixes(entry.get("prefixes"), where)
        for prefix in prefixes:
            for other, owner in seen_prefixes.items():
                if prefix.version == other.version and prefix.overlaps(other):
                    raise ValueError(f"{where}: prefix {prefix} overlaps {other} of line {owner}")
            seen_prefixes[prefix] = name
        line_interfaces[device].append(interface)
        line_config[device] += TWINS[device_fields[device]["platform"]].line_config(
            interface, name, prefixes
        )
        line_entries.append(
            {
                "name": name,
                "venue": venue,
                "device": device,
                "interface": interface,
                "prefixes": [str(p) for p in prefixes],
            }
        )

    specs = []
    for name, spec_fields in device_fields.items():
        spec_fields = dict(spec_fields)
        if "interfaces" not in spec_fields:
            uplink = TWINS[spec_fields["platform"]].uplink
            spec_fields["interfaces"] = tuple(dict.fromkeys([uplink, *line_interfaces[name]]))
        spec_fields["config"] = tuple(line_config[name]) + tuple(spec_fields.get("config", ()))
        try:
            spec = DeviceSpec(**spec_fields)
            spec.build_router()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{source}: device {name}: {exc}") from None
        specs.append(spec)
    inventory = {
        "authorities": authorities,
        "devices": [{"name": s.name, "platform": s.platform} for s in specs],
        "venues": venue_entries,
        "lines": line_entries,
    }
    return specs, inventory


def load_subscribers(path: str | Path) -> Subscribers:
    """The BNGs (`bngs:`) and subscriber lines (`lines:` with `kind: subscriber`) of a topology
    file; empty when it has none."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    return parse_subscribers(document, source=str(path))


def parse_subscribers(document: object, source: str = "topology") -> Subscribers:
    if not isinstance(document, dict):
        raise ValueError(f"{source}: must be a mapping with devices, venues and lines")
    venue_names = {v.get("name") for v in _entries(document, "venues", source)}
    bngs = []
    for i, entry in enumerate(_entries(document, "bngs", source), 1):
        where = _where(source, "bng", i, entry)
        _no_unknown(entry, _BNG_FIELDS, where)
        fields: dict[str, Any] = {"name": _text(entry, "name", where)}
        for key in ("address", "pool", "radius_secret", "dae_secret", "fault"):
            if key in entry:
                fields[key] = _text(entry, key, where)
        for key in ("dae_port", "error_cause"):
            if key in entry:
                value = entry[key]
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{where}: {key} must be a non-negative integer")
                fields[key] = value
        try:
            bngs.append(BngSpec(**fields))
        except (ValueError, IdentifierError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    lines = []
    for i, entry in enumerate(_entries(document, "lines", source), 1):
        if entry.get("kind") != "subscriber":
            continue
        where = _where(source, "line", i, entry)
        _no_unknown(entry, _SUBSCRIBER_FIELDS, where)
        missing = {"name", "venue", "username", "nas"} - set(entry)
        if missing:
            raise ValueError(f"{where}: missing {', '.join(sorted(missing))}")
        venue = _text(entry, "venue", where)
        if venue not in venue_names:
            raise ValueError(f"{where}: no venue named {venue!r}")
        nas = entry["nas"]
        if not isinstance(nas, list) or not all(isinstance(n, str) for n in nas):
            raise ValueError(f"{where}: nas must be a list of BNG names")
        online = entry.get("online", True)
        if not isinstance(online, bool):
            raise ValueError(f"{where}: online must be true or false")
        try:
            lines.append(
                SubscriberSpec(
                    name=_text(entry, "name", where),
                    venue=venue,
                    username=_text(entry, "username", where),
                    nas=tuple(nas),
                    password=_text(entry, "password", where)
                    if "password" in entry
                    else "lab-subscriber",
                    online=online,
                )
            )
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    try:
        return Subscribers(tuple(bngs), tuple(lines))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def _where(source: str, kind: str, index: int, entry: object) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{source}: {kind} #{index}" + (f" ({name})" if isinstance(name, str) else "")


def _entries(
    document: dict[str, Any], key: str, source: str, required: bool = False
) -> list[dict[str, Any]]:
    value = document.get(key)
    if value is None:
        if required:
            raise ValueError(f"{source}: no {key} listed")
        return []
    if not isinstance(value, list):
        raise ValueError(f"{source}: {key} must be a list")
    for i, entry in enumerate(value, 1):
        if not isinstance(entry, dict):
            raise ValueError(f"{source}: {key} entry #{i} must be a mapping, got {entry!r}")
    return value


def _no_unknown(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")


def _text(entry: Mapping[str, Any], key: str, where: str, numbers: bool = False) -> str:
    value = entry.get(key)
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"{where}: {key} must be a non-empty string, got {value!r}")
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{where}: {key} contains control characters")
    return value


def _device_fields(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Type-check one device entry; DeviceSpec checks the values."""
    out: dict[str, Any] = {"name": _text(entry, "name", where)}
    try:
        check_device_name(out["name"])
    except IdentifierError as exc:
        raise ValueError(f"{where}: {exc}") from None
    out["platform"] = entry.get("platform", "cisco_ios")
    if out["platform"] not in PLATFORMS:
        raise ValueError(f"{where}: platform {out['platform']!r} not one of {PLATFORMS}")
    for key in ("username", "password", "secret", "host_key_seed"):
        if key in entry:
            out[key] = _text(entry, key, where)
    for key in ("port", "latency_ms"):
        if key in entry:
            value = entry[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{where}: {key} must be a non-negative integer, got {value!r}")
            out[key] = value
    if "port" in out and out["port"] > 65535:
        raise ValueError(f"{where}: port {out['port']} out of range")
    for key in ("refuse_connections", "auth_fail"):
        if key in entry:
            if not isinstance(entry[key], bool):
                raise ValueError(f"{where}: {key} must be true or false, got {entry[key]!r}")
            out[key] = entry[key]
    for key in ("drop_after", "hang_up_on"):
        if entry.get(key) is not None:
            value = entry[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{where}: {key} must be a positive integer, got {value!r}")
            out[key] = value
    for key in ("interfaces", "config", "reject"):
        if key in entry:
            value = entry[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}: {key} must be a list of strings")
            out[key] = tuple(value)
    for interface in out.get("interfaces", ()):
        try:
            check_interface(out["platform"], interface)
        except IdentifierError as exc:
            raise ValueError(f"{where}: {exc}") from None
    for pattern in out.get("reject", ()):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{where}: reject pattern {pattern!r}: {exc}") from None
    return out


def _prefixes(value: object, where: str) -> list[IPv4Network | IPv6Network]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: prefixes must be a non-empty list")
    prefixes = []
    for text in value:
        try:
            prefix = parse_prefix(text)
        except IdentifierError as exc:
            raise ValueError(f"{where}: {exc}") from None
        prefixes.append(prefix)
    return prefixes


# --------------------------------------------------------------------------- `curfew lab up`


def _sessions_shown(sessions: Sequence[Session], shown: int = 4) -> str:
    """`2 sessions: sub-1-1 10.64.1.2, sub-1-2 10.64.1.3` (the first few): who holds which
    address, to try `curfew whois` on."""
    if not sessions:
        return "no session"
    held = [f"{s.username} {s.framed_ip}" for s in sessions[:shown]]
    if len(sessions) > shown:
        held.append("…")
    count = f"{len(sessions)} session" + ("s" if len(sessions) > 1 else "")
    return f"{count}: {', '.join(held)}"


def serve_lab(
    specs: Iterable[DeviceSpec],
    inventory: Mapping[str, Any],
    inventory_out: Path,
    echo: Callable[[str], object] = print,
    stop_event: threading.Event | None = None,
    processes: int = 0,
    subscribers: Subscribers | None = None,
    clock: Callable[[], datetime] | None = None,
) -> None:
    """Start the lab (over `processes` worker processes; 0: in this one), write the inventory,
    print `R1 cisco_ios 127.0.0.1:40123` per device (and per BNG its DAE address and sessions,
    and the RADIUS server), then block until SIGINT/SIGTERM (or `stop_event`), and stop
    cleanly: every worker and the RADIUS server end, by their PID if they must."""
    stop = stop_event if stop_event is not None else threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        with Lab(specs, processes=processes, subscribers=subscribers, clock=clock) as lab:
            lab.write_inventory(inventory, inventory_out)
            for spec in lab.specs:
                echo(f"{spec.name} {spec.platform} {lab.host}:{spec.port}")
            if lab.subscribers:
                radius = lab.radius
                echo(
                    f"RADIUS freeradius {radius.host}:{radius.auth_port} (acct "
                    f"{radius.acct_port}, pid {radius.pid}) {radius.db_url}"
                )
                for bng in lab.subscribers.bngs:
                    twin = lab.bng(bng.name)
                    echo(
                        f"{bng.name} radius_nas {twin.address}:{twin.dae_port} "
                        f"({_sessions_shown(twin.sessions())})"
                    )
            if lab.pids:
                echo(f"lab workers: {', '.join(map(str, lab.pids))}")
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


__all__ = [
    "BngSpec",
    "DeviceSpec",
    "Lab",
    "SubscriberSpec",
    "Subscribers",
    "city",
    "fill_inventory",
    "load_subscribers",
    "load_topology",
    "parse_subscribers",
    "parse_topology",
    "serve_lab",
    "subscriber_city",
    "write_inventory",
]
