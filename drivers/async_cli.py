"""The CLI session over asyncssh: every session's I/O on one event loop, in one thread.

`CliSession` over netmiko gives each session a paramiko transport thread: every packet a router
sends wakes that thread, which decrypts it and wakes the worker waiting on the channel, two
hand-overs of the interpreter per packet. Here one thread runs an asyncio loop for all sessions:
it decrypts every packet and checks whether the answer awaited is whole, and the worker waiting
is woken once per exchange, when it is. The exchanges (`converse`, `push`, `show`) and the
errors they raise are `CliSession`'s: only opening, writing, reading and closing differ.

The log-in is the one IOS and Junos share (a PTY shell, the prompt read, `enable` where the
platform enters it, then `PREPARATIONS`: paging off, the widest lines); a Junos log-in that
starts a Unix shell (root's) is refused rather than entering the CLI with `cli`. The device's
host key is checked against the pinned one (or learnt once where that is allowed) before any
credential is sent, as `drivers.host_keys` does for paramiko.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import asyncssh
from netmiko.exceptions import ReadException, ReadTimeout

from drivers.base import AuthFailed, DriverError, InvalidIdentifier, Timeout, Unreachable
from drivers.cli import KEEPALIVE_COUNT_MAX, CliSession
from drivers.host_keys import HostKeyCheck
from drivers.outcomes import first_line

T = TypeVar("T")
# A prompt at the end of what the device printed: `R1>` or `R1#`, a config mode's included.
_PROMPT_END = re.compile(r"(?:^|\n)([^\n]*?)[>#]\s*$")
_PASSWORD = re.compile(r"[Pp]assword:\s*$")
# what the log-in sends once the prompt is read, by platform (netmiko's session preparations
# send the same): paging off, the widest lines, and on Junos no completion of a word on a space
PREPARATIONS: dict[str, tuple[str, ...]] = {
    "cisco_ios": ("terminal length 0", "terminal width 511"),
    "juniper_junos": (
        "set cli screen-width 511",
        "set cli complete-on-space off",
        "set cli screen-length 0",
    ),
}
# A Unix shell's prompt at the end of what the device printed (`%`, `$`, or `root@R1:~ #`): a
# Junos account whose log-in starts a shell (root's) rather than the CLI.
_SHELL_END = re.compile(r"(?:^|\n)[^\n]*(?:[%$]|:[^\n]*#)[ \t]*$")


class _Loop:
    """One asyncio loop in a daemon thread, for every session of the process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="curfew-ssh", daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], limit: float) -> T:
        """Run a coroutine on the loop; its result, or its exception, in the calling thread.
        The coroutine bounds its own time; `limit` is a backstop (ReadTimeout past it)."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise ReadTimeout(f"the SSH loop gave no answer in {limit:.0f} s") from None

    def call(self, function: Callable[..., object], *args: object) -> None:
        """Call a function on the loop, without waiting for it."""
        self.loop.call_soon_threadsafe(function, *args)


_loop: _Loop | None = None
_loop_lock = threading.Lock()


def ssh_loop() -> _Loop:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = _Loop()
        return _loop


class _Terminal(asyncssh.SSHClientSession[str]):
    """What the device printed and not yet read, whether it has hung up, and the read waiting
    for an answer: each packet is checked against it as it arrives, on the loop, and the
    waiting thread is woken once, when the answer is whole (or the time is up)."""

    def __init__(self) -> None:
        self.text = ""
        self.closed = False
        self._done: Callable[[str], bool] | None = None
        self._answer: concurrent.futures.Future[str] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncssh's callbacks --------------------------------------------------------------

    def data_received(self, data: str, datatype: asyncssh.DataType) -> None:
        self.text += data
        if self._done is not None and self._done(self.text):
            self._finish(None)

    def eof_received(self) -> bool:
        self._hung_up()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._hung_up()

    # -- reads -----------------------------------------------------------------------------

    def expect(
        self, done: Callable[[str], bool], answer: concurrent.futures.Future[str], limit: float
    ) -> None:
        """Settle `answer` with everything printed so far once `done` says it is whole; with
        ReadException if the device hangs up first, ReadTimeout after `limit` seconds (the
        partial text is the exception's `partial`)."""
        self._done, self._answer = done, answer
        if done(self.text):
            self._finish(None)
        elif self.closed:
            self._finish(ReadException("session closed by the device"))
        else:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(
                limit, self._finish, ReadTimeout(f"no complete answer in {limit} s")
            )

    def _hung_up(self) -> None:
        self.closed = True
        if self._answer is not None:
            self._finish(ReadException("session closed by the device"))

    def _finish(self, error: Exception | None) -> None:
        answer, text = self._answer, self.text
        if self._timer is not None:
            self._timer.cancel()
        self._done = self._answer = self._timer = None
        self.text = ""
        if answer is None or answer.done():
            return
        if error is None:
            answer.set_result(text)
        else:
            error.partial = text  # type: ignore[attr-defined]
            answer.set_exception(error)


class _Client(asyncssh.SSHClient):
    """Accepts only the pinned host key (or learns it once where allowed); keeps why not."""

    def __init__(self, check: HostKeyCheck) -> None:
        self.check = check
        self.refusal: DriverError | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        try:
            self.check.accept(" ".join(key.export_public_key("openssh").decode().split()[:2]))
        except DriverError as exc:
            self.refusal = exc
            return False
        return True


def _host_key_algorithms(pinned: str | None) -> list[str] | tuple[()]:
    """Ask for the pinned key's type, so that a device with several keys offers that one
    (asyncssh's default list when none is pinned)."""
    if pinned is None:
        return ()
    kind = pinned.split()[0]
    if kind == "ssh-rsa":
        return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
    return [kind]


# The ciphers asked for, in order: AES-GCM first. Routers offer it beside ChaCha20-Poly1305
# (IOS XE lists both), and asyncssh seals a packet with AES-GCM in about 3 µs against 23 µs
# with ChaCha20-Poly1305 (two ChaCha20 passes and a Poly1305 in Python calls): at midnight a
# router's push is some seventy packets each way. ChaCha20 and AES-CTR stay, for a router
# that offers no GCM.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)


class AsyncSession:
    """An open session: the connection, its shell channel and terminal, and its prompt."""

    def __init__(
        self,
        connection: asyncssh.SSHClientConnection,
        channel: asyncssh.SSHClientChannel[str],
        terminal: _Terminal,
    ) -> None:
        self.connection = connection
        self.channel = channel
        self.terminal = terminal
        self.base_prompt = ""


class AsyncCliSession(CliSession):
    """`CliSession` whose I/O runs on the shared loop (see the module's docstring)."""

    connection: AsyncSession | None

    def open(self) -> None:
        if self.connection is not None:
            return
        if self.device_type not in PREPARATIONS:
            raise InvalidIdentifier(f"{self.where}: no asyncssh log-in for {self.device_type}")
        try:
            # connecting, then each log-in exchange, is bounded by the timeout: five in all
            self.connection = ssh_loop().run(self._open(), 5 * self.credentials.timeout + 5)
        except ReadTimeout as exc:
            raise Timeout(f"{self.where}: no session opened: {exc}") from exc

    async def _open(self) -> AsyncSession:
        creds = self.credentials
        client = _Client(
            HostKeyCheck(
                self.where, creds.host_key, creds.trust_unknown_host_key, creds.on_host_key_learnt
            )
        )
        try:
            connection, _ = await asyncio.wait_for(
                asyncssh.create_connection(
                    lambda: client,
                    creds.host,
                    creds.port,
                    username=creds.username,
                    password=creds.password,
                    known_hosts=(),
                    server_host_key_algs=_host_key_algorithms(creds.host_key),
                    encryption_algs=CIPHERS,
                    client_keys=None,
                    agent_path=None,
                    preferred_auth=("password", "keyboard-interactive"),
                    keepalive_interval=self.keepalive,
                    keepalive_count_max=KEEPALIVE_COUNT_MAX,
                ),
                creds.timeout,
            )
        except asyncssh.PermissionDenied as exc:
            raise AuthFailed(f"{self.where}: login refused") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            if client.refusal is not None:
                raise client.refusal from None
            raise Unreachable(f"{self.where}: host key not verified: {exc}") from exc
        except TimeoutError as exc:
            raise Unreachable(f"{self.where}: cannot open an SSH session: timed out") from exc
        except (OSError, asyncssh.Error) as exc:
            if client.refusal is not None:
                raise client.refusal from None
            raise Unreachable(
                f"{self.where}: cannot open an SSH session: {first_line(exc)}"
            ) from exc
        try:
            channel, terminal = await connection.create_session(
                _Terminal,
                term_type="vt100",
                term_size=(511, 24),
                encoding="utf-8",
                errors="replace",
            )
            session = AsyncSession(connection, channel, terminal)
            await self._log_in(session)
        except BaseException:
            connection.abort()
            raise
        return session

    async def _log_in(self, session: AsyncSession) -> None:
        """The first prompt, `enable` where the platform enters it, paging off."""
        lost = f"{self.where}: session closed by the device during log-in"
        limit = self.credentials.timeout
        try:
            junos = self.device_type == "juniper_junos"
            text = await self._until(
                session,
                lambda t: _prompt_seen(t) or (junos and _SHELL_END.search(t) is not None),
                limit,
            )
            if junos and _SHELL_END.search(text):
                raise AuthFailed(
                    f"{self.where}: the log-in started a shell, not the Junos CLI: give the "
                    "device a user whose class starts the CLI, or the netmiko session layer"
                )
            match = _PROMPT_END.search(text)
            session.base_prompt = match.group(1).strip() if match else ""
            if not session.base_prompt:
                raise Unreachable(f"{self.where}: no prompt at log-in: {text[-80:]!r}")
            if self.enable and not text.rstrip().endswith("#"):
                session.channel.write("enable\n")
                text = await self._until(
                    session,
                    lambda t: _PASSWORD.search(t) is not None or _prompt_seen(t),
                    limit,
                )
                if _PASSWORD.search(text):
                    session.channel.write(f"{self.credentials.secret or ''}\n")
                    text = await self._until(session, _prompt_seen, limit)
                if not text.rstrip().endswith("#"):
                    raise AuthFailed(f"{self.where}: enable refused")
            for command in PREPARATIONS[self.device_type]:
                session.channel.write(command + "\n")
                await self._until(session, _prompt_seen, limit)
        except ReadTimeout as exc:
            raise Timeout(f"{self.where}: no prompt at log-in") from exc
        except (ReadException, OSError) as exc:
            # a read that ends on the close, or a write to a channel already closed
            raise Unreachable(lost) from exc

    @staticmethod
    async def _until(session: AsyncSession, done: Callable[[str], bool], limit: float) -> str:
        """On the loop: the device's answer, read until `done` (see `_Terminal.expect`)."""
        answer: concurrent.futures.Future[str] = concurrent.futures.Future()
        session.terminal.expect(done, answer, limit)
        return await asyncio.wrap_future(answer)

    def close(self) -> None:
        """Log out (`exit`) and close, without waiting for the device."""
        session, self.connection = self.connection, None
        if session is not None:
            ssh_loop().call(_log_out, session)

    def drop(self) -> None:
        session, self.connection = self.connection, None
        if session is not None:
            ssh_loop().call(session.connection.abort)

    def alive(self) -> bool:
        session = self.connection
        return session is not None and not session.terminal.closed

    def write(self, lines: list[str] | tuple[str, ...]) -> None:  # type: ignore[override]
        session = self.connection
        assert session is not None
        ssh_loop().call(session.channel.write, "".join(line + "\n" for line in lines))

    def read_until(
        self, done: Callable[[str], bool], answer: list[str], timeout: float | None = None
    ) -> str:
        """The device's answer until `done(answer)`, or the timeout passes (a partial answer
        is left in `answer`): the thread sleeps until the loop has the whole answer."""
        session = self.connection
        assert session is not None
        limit = self.credentials.timeout if timeout is None else timeout
        result: concurrent.futures.Future[str] = concurrent.futures.Future()
        ssh_loop().call(session.terminal.expect, done, result, limit)
        try:
            # the loop settles it within `limit`; the margin only guards against a stuck loop
            return result.result(timeout=limit + 5)
        except concurrent.futures.TimeoutError:
            raise ReadTimeout(f"the SSH loop gave no answer in {limit + 5:.0f} s") from None
        except (ReadException, ReadTimeout) as exc:
            answer.append(getattr(exc, "partial", ""))
            raise


def _prompt_seen(text: str) -> bool:
    return _PROMPT_END.search(text) is not None


def _log_out(session: AsyncSession) -> None:
    try:
        session.channel.write("exit\n")
        session.connection.close()
    except Exception:  # noqa: BLE001 - closing a dead session must not fail a pass
        session.connection.abort()
