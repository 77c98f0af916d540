"""SSH front of a simulated router: one asyncssh listener per device, one CLI per session.

Echo is done here, a line at a time when the line is processed, as a router does: asyncssh's
line editor echoes on arrival, and under load netmiko then loses the prompt (VENDORS.md).
What a session prints is written in one go before it waits for anything (latency, a thread,
more input): every write costs an SSH packet and a system call. asyncssh would send an empty
SSH_MSG_IGNORE before every packet it encrypts; a router does not, so the twins do not
(`without_ignore_packets`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import asyncssh
from asyncssh.constants import MSG_IGNORE
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.cli import CONTROLS, CTRL_C, CTRL_Z
from lab.twin import Reply, hold_port

# what the line splitter acts on: line ends, Ctrl-Z and Ctrl-C, and the two erase keys
_SPECIAL = re.compile(r"[\r\n\x1a\x03\x08\x7f]")
_READ_SIZE = 4096


@functools.cache
def host_key(name: str = "", seed: str = "") -> asyncssh.SSHKey:
    """A simulated device's ed25519 host key, the same in every process: derived from the
    device's name and a seed (give a device another seed and it comes back with another key,
    as a router does after its keys are regenerated). Lab keys are public knowledge: for
    simulated devices only."""
    material = hashlib.sha256(f"curfew-lab-host-key/v1\0{name}\0{seed}".encode()).digest()
    private = Ed25519PrivateKey.from_private_bytes(material)
    encoded = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return asyncssh.import_private_key(encoded)


def public_host_key(name: str = "", seed: str = "") -> str:
    """The device's host key as an OpenSSH public-key line, as the inventory pins it."""
    return host_key(name, seed).export_public_key("openssh").decode().strip()


@dataclass
class Faults:
    """What can go wrong with a device, changeable while it runs."""

    latency_ms: int = 0
    refuse_connections: bool = False
    auth_fail: bool = False
    drop_after: int | None = None  # close the session after its k-th command
    hang_up_on: int | None = None  # close the session when its k-th command arrives, unanswered
    reject: tuple[str, ...] = ()  # config lines matching any of these are refused
    # the device answers nothing, neither a command nor a keepalive, while its TCP connections
    # stay up (an SSH process hung); lifting it answers the keepalives held meanwhile, and
    # what comes after (the commands sent meanwhile are lost)
    mute: bool = False
    # the account's log-in starts a Unix shell (as root's does on Junos), not the device's CLI:
    # a `%` prompt that runs nothing and ends on `exit`
    shell_login: bool = False
    # a session that reaches a command matching any of these hangs there: that command and
    # everything after it in the session go unanswered, the connection staying up (a device
    # that answers a change's reads, then stops answering at its first change)
    mute_on: tuple[str, ...] = ()
    _patterns: tuple[re.Pattern[str], ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    _mute_patterns: tuple[re.Pattern[str], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if self.drop_after is not None and self.drop_after < 1:
            raise ValueError(f"drop_after must be >= 1 or None, got {self.drop_after}")
        if self.hang_up_on is not None and self.hang_up_on < 1:
            raise ValueError(f"hang_up_on must be >= 1 or None, got {self.hang_up_on}")
        self.reject = tuple(self.reject)
        self.mute_on = tuple(self.mute_on)
        try:
            self._patterns = tuple(re.compile(p) for p in self.reject)
            self._mute_patterns = tuple(re.compile(p) for p in self.mute_on)
        except re.error as exc:
            raise ValueError(f"bad reject or mute_on pattern: {exc}") from None

    def update(self, **changes: object) -> None:
        names = {f.name for f in fields(self) if not f.name.startswith("_")}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            setattr(self, name, value)
        self.validate()

    def mutes_on(self, line: str) -> bool:
        text = line.strip()
        return bool(text) and any(p.search(text) for p in self._mute_patterns)

    def rejects(self, line: str) -> bool:
        if not self._patterns:
            return False
        text = line.strip()
        return any(p.search(text) for p in self._patterns)


class LineSplitter:
    """Turns raw terminal input into lines; `\\r`, `\\n` and `\\r\\n` each end one line.

    Ctrl-Z and Ctrl-C discard the line typed so far and come out as a line of their own
    (IOS acts on them at once, no Enter needed).
    """

    def __init__(self) -> None:
        self._buffer = ""  # the line typed so far
        self._after_cr = False

    def feed(self, data: str) -> list[str]:
        lines = []
        at = 0
        for match in _SPECIAL.finditer(data):
            if match.start() > at:
                self._buffer += data[at : match.start()]
                self._after_cr = False
            at = match.end()
            char = match.group()
            if char == "\n" and self._after_cr:
                self._after_cr = False
                continue
            self._after_cr = char == "\r"
            if char in ("\r", "\n"):
                lines.append(self._buffer)
                self._buffer = ""
            elif char in (CTRL_Z, CTRL_C):
                self._buffer = ""
                lines.append(char)
            else:  # an erase
                self._buffer = self._buffer[:-1]
        if at < len(data):
            self._buffer += data[at:]
            self._after_cr = False
        return lines


class Terminal:
    """What a session prints, held until the session is about to wait, then written at once."""

    def __init__(self, process: asyncssh.SSHServerProcess) -> None:
        self._process = process
        self._pending: list[str] = []

    def print(self, text: str) -> None:
        self._pending.append(text)

    def flush(self) -> None:
        if self._pending:
            self._process.stdout.write("".join(self._pending))
            self._pending.clear()

    async def drain(self) -> None:
        self.flush()
        await self._process.stdout.drain()


class DeviceServer:
    """One simulated device on one loopback port. Lives in the lab's event loop."""

    def __init__(
        self,
        router: Any,
        *,
        username: str,
        password: str,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ssh_key: asyncssh.SSHKey | None = None,
    ) -> None:
        self.router = router
        self.username = username
        self.password = password
        self.ssh_key = ssh_key if ssh_key is not None else host_key()  # its SSH host key
        self.faults = faults if faults is not None else Faults()
        self.host = host
        self.port = port
        self.commands_seen = 0
        self.sessions_opened = 0
        self.passwords_offered = 0  # log-in attempts: a refused host key must leave it at 0
        self.keepalives = 0  # keepalive requests its sessions received (OpenSSH's or paramiko's)
        self.held_keepalives: list[Callable[[], None]] = []  # their answers while muted
        self._listener: asyncssh.SSHAcceptor | None = None
        self._reserved: socket.socket | None = None  # bound, not listening: refuses
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def sessions(self) -> int:
        return len(self._connections)

    async def start(self) -> int:
        """Bind the port (learning it when 0) and listen unless connections are refused."""
        if self.faults.refuse_connections:
            self._reserve()
        else:
            await self._listen()
        return self.port

    async def stop(self) -> None:
        await self._unlisten()
        self._release()
        connections = list(self._connections)
        for conn in connections:
            conn.close()
        if connections:
            closing = [asyncio.ensure_future(conn.wait_closed()) for conn in connections]
            await asyncio.wait(closing, timeout=2)
            for conn, waiter in zip(connections, closing, strict=True):
                if not waiter.done():
                    waiter.cancel()
                    conn.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)

    async def set_faults(self, **changes: object) -> None:
        was_refusing = self.faults.refuse_connections
        self.faults.update(**changes)
        if not self.faults.mute:
            held, self.held_keepalives = self.held_keepalives, []
            for reply in held:
                reply()
        if self.faults.refuse_connections and not was_refusing:
            await self._unlisten()
            self._reserve()
        elif was_refusing and not self.faults.refuse_connections:
            self._release()
            await self._listen()

    # ------------------------------------------------------------------ listening

    async def _listen(self) -> None:
        self._listener = await asyncssh.create_server(
            lambda: _SshServer(self),
            self.host,
            self.port,
            server_host_keys=[self.ssh_key],
            process_factory=self._run_session,
            line_editor=False,
            encoding="utf-8",
            errors="replace",
            backlog=1024,
            reuse_address=True,
            login_timeout=30,
        )
        self.port = self._listener.get_port()

    async def _unlisten(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None

    def _reserve(self) -> None:
        """Hold the port without listening, so connecting gets a real 'connection refused'."""
        self._reserved = hold_port(self.host, self.port)
        self.port = self._reserved.getsockname()[1]

    def _release(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    # ------------------------------------------------------------------ one session

    async def _run_session(self, process: asyncssh.SSHServerProcess) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = self.router.open_session()
        self.sessions_opened += 1
        splitter = LineSplitter()
        terminal = Terminal(process)
        commands = 0
        hung = False  # the `mute_on` fault stopped this session's answers
        try:
            if self.faults.shell_login:
                await self._shell(process, terminal, splitter)
                return
            terminal.print("\r\n" + session.prompt)
            while True:
                terminal.flush()
                try:
                    data = await process.stdin.read(_READ_SIZE)
                except (asyncssh.TerminalSizeChanged, asyncssh.BreakReceived):
                    continue
                except asyncssh.SignalReceived:
                    continue
                if not data:
                    break
                for line in splitter.feed(data):
                    hung = hung or self.faults.mutes_on(line)
                    if self.faults.mute or hung:
                        continue  # read and never answered
                    if self._hangs_up(session, line, commands):
                        terminal.flush()
                        process.get_extra_info("connection").close()
                        return
                    reply, counted = await self._answer(terminal, session, line)
                    if counted:
                        commands += 1
                        self.commands_seen += 1
                    if reply.close:
                        terminal.flush()
                        process.exit(0)
                        return
                    drop = self.faults.drop_after
                    if counted and drop is not None and commands >= drop:
                        await terminal.drain()
                        process.get_extra_info("connection").close()
                        return
                await terminal.drain()
        except (asyncssh.Error, ConnectionError, BrokenPipeError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            if not process.is_closing():
                process.close()

    async def _shell(
        self, process: asyncssh.SSHServerProcess, terminal: Terminal, splitter: LineSplitter
    ) -> None:
        """The `shell_login` fault's session: a csh prompt that echoes each line, runs nothing
        (`cli` included: the CLI is what this account does not reach) and ends on `exit`."""
        prompt = "root@lab:RE:0% "
        terminal.print("\r\n" + prompt)
        while True:
            terminal.flush()
            data = await process.stdin.read(_READ_SIZE)
            if not data:
                return
            for line in splitter.feed(data):
                word = next(iter(line.split()), "")
                terminal.print(line + "\r\n")
                if word in ("exit", "logout"):
                    terminal.flush()
                    process.exit(0)
                    return
                terminal.print((f"{word}: Command not found.\r\n" if word else "") + prompt)
            await terminal.drain()

    def _hangs_up(self, session: Any, line: str, commands: int) -> bool:
        """Whether `line` is the command the `hang_up_on` fault closes the session on."""
        hang_up = self.faults.hang_up_on
        echoed = getattr(session, "echo", True)
        counts = bool(line.strip()) and line not in CONTROLS and echoed
        return hang_up is not None and counts and commands + 1 >= hang_up

    async def _answer(self, terminal: Terminal, session: Any, line: str) -> tuple[Reply, bool]:
        """Echo the line, wait out the latency, run it and print output and prompt; whether it
        counts as a command (for the faults that count them)."""
        terminal.print(self._echo(session, line))
        counted = self._counts(session, line)  # judged as it arrives: running it may change it
        if self.faults.latency_ms:
            terminal.flush()  # the echo goes out before the wait, as on a slow router
            await asyncio.sleep(self.faults.latency_ms / 1000)
        reply = await self._run_line(terminal, session, line)
        text = reply.output.replace("\n", "\r\n")
        terminal.print(text if reply.close else text + reply.prompt)
        return reply, counted

    def _echo(self, session: Any, line: str) -> str:
        """What the terminal shows of a line as it is processed: Ctrl-Z as `^Z`, a secret as
        nothing."""
        if line in CONTROLS:
            return f"^{chr(ord(line) + 64)}\r\n"
        return line + "\r\n" if session.echo else "\r\n"

    def _counts(self, session: Any, line: str) -> bool:
        return bool(line.strip()) and line not in CONTROLS and session.echo

    async def _run_line(self, terminal: Terminal, session: Any, line: str) -> Reply:
        """The session's answer; a `reject` fault refuses a matching config line unrun."""
        if session.in_config and line not in CONTROLS and self.faults.rejects(line):
            return session.reject(line)
        return session.execute(line)


# what asyncssh sends before each encrypted packet: SSH_MSG_IGNORE with an empty string
_EMPTY_IGNORE = (MSG_IGNORE, (b"\0\0\0\0",))


def without_ignore_packets(conn: asyncssh.SSHServerConnection) -> None:
    """Let this connection send no empty SSH_MSG_IGNORE packets.

    asyncssh sends one before every packet it encrypts once keys are exchanged (a
    countermeasure to attacks on CBC ciphers, none of which the twins offer). OpenSSH and
    router SSH servers do not: with them, a client decrypts, authenticates and drops twice the
    packets a router would send it, and a benchmark against the lab charges the controller
    for the lab's habit. Only that packet is dropped, looked up on the connection where
    asyncssh's sender finds it; every other packet, and any ignore carrying data, is sent.
    """
    send = conn.send_packet

    def send_packet(pkttype: int, *args: bytes, **kwargs: Any) -> None:
        if (pkttype, args) == _EMPTY_IGNORE and not kwargs:
            return
        send(pkttype, *args, **kwargs)

    conn.send_packet = send_packet  # type: ignore[method-assign]


def counting_keepalives(conn: asyncssh.SSHServerConnection, device: DeviceServer) -> None:
    """Count the keepalive requests this connection receives, and leave them unanswered while
    the device is muted.

    asyncssh answers a global request with the connection's handler of that name, else
    refuses it: the handlers of the two keepalives clients send (asyncssh's and OpenSSH's
    `keepalive@openssh.com`, which wants an answer; paramiko's `keepalive@lag.net`, which does
    not) are set on this connection, and they answer as asyncssh would (a refusal is an
    answer: a client counts any reply as a sign of life).
    """

    def answer(accepted: bool) -> Callable[[Any], None]:
        def reply() -> None:
            if not conn.is_closed():
                conn._report_global_response(accepted)  # noqa: SLF001 - asyncssh's reply hook

        def handler(packet: Any) -> None:
            device.keepalives += 1
            if device.faults.mute:
                device.held_keepalives.append(reply)  # and every request after it waits too
            else:
                reply()

        return handler

    conn._process_keepalive_at_openssh_dot_com_global_request = answer(True)  # type: ignore[attr-defined]  # noqa: SLF001
    conn._process_keepalive_at_lag_dot_net_global_request = answer(False)  # type: ignore[attr-defined]  # noqa: SLF001


class _SshServer(asyncssh.SSHServer):
    def __init__(self, device: DeviceServer) -> None:
        self._device = device
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._device._connections.add(conn)
        without_ignore_packets(conn)
        counting_keepalives(conn, self._device)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._device._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        device = self._device
        device.passwords_offered += 1
        if device.faults.auth_fail:
            return False
        user_ok = hmac.compare_digest(username.encode(), device.username.encode())
        password_ok = hmac.compare_digest(password.encode(), device.password.encode())
        return user_ok and password_ok
