"""What the lab must know of each platform's twin: how to build it, serve it, and dress it.

Each platform module in `lab/` defines one `TwinKind` named `TWIN`; `lab/platforms.py` lists
them. A twin model offers `open_session()` (for CLI twins), `running_config()`,
`startup_config` and `configure(lines)` (start-up config, raising ValueError on a bad line).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Any, Protocol

Prefix = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Reply:
    """What a CLI twin prints after one input line: output text, then the new prompt."""

    output: str
    prompt: str
    close: bool = False


def venue_networks(prefixes: Sequence[Prefix]) -> tuple[IPv4Network | None, IPv6Network | None]:
    """The line's first v4 and first v6 prefix with room for a host: the venue interface takes
    the first host of each."""
    v4 = next((p for p in prefixes if isinstance(p, IPv4Network) and p.prefixlen <= 30), None)
    v6 = next((p for p in prefixes if isinstance(p, IPv6Network) and p.prefixlen <= 126), None)
    return v4, v6


class SpecLike(Protocol):
    name: str
    platform: str
    port: int
    username: str
    password: str
    secret: str
    interfaces: tuple[str, ...]
    config: tuple[str, ...]
    host_key_seed: str

    def faults(self) -> Any: ...


class Server(Protocol):
    """A running twin on a loopback port, in the lab's event loop."""

    router: Any
    port: int
    faults: Any

    async def start(self) -> int: ...

    async def stop(self) -> None: ...

    async def set_faults(self, **changes: object) -> None: ...


def hold_port(host: str, port: int) -> socket.socket:
    """A socket bound to the port without listening: connecting gets a real 'connection
    refused' (the `refuse_connections` fault) while the port stays the twin's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def ssh_server(model: Any, spec: SpecLike, host: str) -> Server:
    """The default front: an SSH server running one CLI session per connection."""
    from lab.ssh import DeviceServer, host_key

    return DeviceServer(
        model,
        username=spec.username,
        password=spec.password,
        faults=spec.faults(),
        host=host,
        port=spec.port,
        ssh_key=host_key(spec.name, spec.host_key_seed),
    )


@dataclass(frozen=True)
class TwinKind:
    platform: str
    # the stateful model of one device, from its spec (start-up config applied)
    build: Callable[[SpecLike], Any]
    # the uplink interface, and the name of the k-th venue interface (k from 1)
    uplink: str
    venue_interface: Callable[[int], str]
    # start-up config: foreign objects the controller must never touch, and the uplink
    base_config: Callable[[str], Sequence[str]]
    # start-up config of one venue interface (description, addresses)
    line_config: Callable[[str, str, Sequence[Prefix]], Sequence[str]]
    # the front that serves the model on a port (SSH CLI by default)
    serve: Callable[[Any, SpecLike, str], Server] = ssh_server
    # netmiko's device_type for a person logging in by hand, where there is a CLI
    netmiko_device_type: str | None = None
    # whether the front is SSH, with a host key (`lab.ssh.host_key(name, seed)`) to pin
    ssh: bool = True
