"""Starting many simulated routers on loopback ports, and the inventory that points at them.

A `Lab` runs every device in one background thread with its own event loop, so synchronous
tests and netmiko's threads can use it, or spreads them over worker processes for a lab bigger
than one core serves; `city()` and `load_topology()` say what to start.
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
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from drivers.identifiers import IdentifierError, check_device_name, check_interface, parse_prefix
from lab.platforms import TWINS
from lab.ssh import Faults, public_host_key
from lab.twin import Server, TwinKind
from lab.workers import RemoteRouter, Worker

HOST = "127.0.0.1"
PLATFORMS = tuple(TWINS)
UPLINK = TWINS["cisco_ios"].uplink  # the default platform's uplink
DEFAULT_AUTHORITIES = ({"name": "city-bureau", "regions": ["620100"]},)

_V4_POOL = IPv4Network("198.18.0.0/15")
_V6_POOL = IPv6Network("2001:db8::/32")
_UPLINK_POOL = IPv4Network("100.64.0.0/10")


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


class Lab:
    """Simulated devices on 127.0.0.1. Use as a context manager, or call `start()` and `stop()`.

    With `processes=0` (the default) every device runs in one background event loop of this
    process, and `router(name)` is the live model tests read and edit. With `processes=N` the
    devices are dealt over N worker processes (lab/workers.py), each with its own loop, so the
    lab's CPU is not one core's; `router(name)` then forwards `running_config()`,
    `startup_config`, `configure()` and `execute()` to the worker, as `set_fault()` and
    `faults()` are forwarded.
    """

    def __init__(self, specs: Iterable[DeviceSpec], host: str = HOST, processes: int = 0) -> None:
        self.host = host
        listed = list(specs)
        names = [spec.name for spec in listed]
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
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every listener and session, then end the loop thread or every worker process
        by its PID (bounded wait)."""
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
        """The inventory with each device's host, real port and credentials filled in."""
        return fill_inventory(self.specs, inventory, self.host)

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
_TOP_FIELDS = {"authorities", "devices", "venues", "lines"}


def load_topology(path: str | Path) -> tuple[list[DeviceSpec], dict[str, Any]]:
    """Read a topology file: devices (with faults), venues and lines, as in the inventory.

    Host, port and credentials of the inventory's devices are left for the lab to fill in.
    A device without `interfaces` gets GigabitEthernet0/0 plus its lines' interfaces, and each
    line's interface is configured with a description and addresses from its prefixes.
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
    line_names: set[str] = set()
    used_interfaces: dict[tuple[str, str], str] = {}
    seen_prefixes: dict[IPv4Network | IPv6Network, str] = {}
    line_config: dict[str, list[str]] = {name: [] for name in device_fields}
    line_interfaces: dict[str, list[str]] = {name: [] for name in device_fields}
    for i, entry in enumerate(lines, 1):
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


def serve_lab(
    specs: Iterable[DeviceSpec],
    inventory: Mapping[str, Any],
    inventory_out: Path,
    echo: Callable[[str], object] = print,
    stop_event: threading.Event | None = None,
    processes: int = 0,
) -> None:
    """Start the lab (over `processes` worker processes; 0: in this one), write the inventory,
    print `R1 cisco_ios 127.0.0.1:40123` per device, then block until SIGINT/SIGTERM (or
    `stop_event`), and stop cleanly: every worker ends, by its PID if it must."""
    stop = stop_event if stop_event is not None else threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        with Lab(specs, processes=processes) as lab:
            lab.write_inventory(inventory, inventory_out)
            for spec in lab.specs:
                echo(f"{spec.name} {spec.platform} {lab.host}:{spec.port}")
            if lab.pids:
                echo(f"lab workers: {', '.join(map(str, lab.pids))}")
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


__all__ = [
    "DeviceSpec",
    "Lab",
    "city",
    "fill_inventory",
    "load_topology",
    "parse_topology",
    "serve_lab",
    "write_inventory",
]
