"""One netmiko SSH session as the CLI drivers use it: netmiko wrapped, not subclassed; its errors
become the project's here, and reads end on the device's prompts rather than on timers.

Two pieces of netmiko are replaced: its channel reader, so that a session the device closes
is noticed at once, also during netmiko's own log-in exchanges (see `WatchfulChannel`), and its
paramiko client, which accepted any host key: ours checks the device's pinned key before any
credential is sent (`drivers.host_keys`).
"""

from __future__ import annotations

import copy
import functools
import importlib
import logging
import re
import select
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

import paramiko
from netmiko import ConnectHandler
from netmiko.channel import SSHChannel
from netmiko.exceptions import (
    NetmikoAuthenticationException,
    NetmikoBaseException,
    NetmikoTimeoutException,
    ReadException,
    ReadTimeout,
)

from drivers.base import (
    AuthFailed,
    Credentials,
    DriverError,
    InvalidIdentifier,
    OwnedLine,
    Rejected,
    Timeout,
    Unreachable,
)
from drivers.host_keys import HostKeyCheck
from drivers.lifecycle import Lifecycle, Progress, Pushed, Replan, Sendable, Step
from drivers.outcomes import first_line, rejected

# Config commands written before waiting for the device to answer them (see `push`); a device
# may set its own with `Credentials.extra["push_window"]` (1..MAX_PUSH_WINDOW).
PUSH_WINDOW = 64
MAX_PUSH_WINDOW = 4096
# Longest sleep waiting for a device's answer before its session's health is looked at again.
WAKE_SECONDS = 0.05
# How often paramiko's transport thread of an idle session wakes to look at its own state
# (paramiko: every 0.1 s). A device's data or its closing wakes it at once whatever this is;
# the timer only bounds how long the thread outlives a close it did not see. At 0.1 s, the
# thousand sessions a prepare holds open woke the controller 10,000 times a second.
TRANSPORT_WAKE_SECONDS = 1.0

# Seconds without traffic after which an SSH session sends a keepalive, so a session held open
# for the instant (a prepare's) keeps a firewall's or NAT's idle state, and asyncssh finds a
# router that stopped answering before the instant rather than at it: it drops the session
# after KEEPALIVE_COUNT_MAX keepalives go unanswered. A device may set its own with
# `Credentials.extra["keepalive"]` (0: none, at most MAX_KEEPALIVE_SECONDS).
KEEPALIVE_OPTION = "keepalive"
KEEPALIVE_SECONDS = 15
MAX_KEEPALIVE_SECONDS = 3600
KEEPALIVE_COUNT_MAX = 3

# The device option choosing a CLI driver's session layer (`session: asyncssh`), and the one
# used without it.
SESSION_OPTION = "session"
DEFAULT_SESSION = "netmiko"
# netmiko's session, or every session's I/O on one asyncio loop (`session: asyncssh`): the
# layers of a platform whose log-in `drivers.async_cli.PREPARATIONS` knows
NETMIKO_OR_ASYNCSSH: Mapping[str, str] = {
    DEFAULT_SESSION: "drivers.cli:CliSession",
    "asyncssh": "drivers.async_cli:AsyncCliSession",
}

_SESSION_ERRORS = (NetmikoTimeoutException, NetmikoBaseException, paramiko.SSHException)


def channel_closed(channel: Any) -> bool:
    """Whether the device has closed this paramiko channel (or its whole connection)."""
    transport = getattr(channel, "transport", None)
    return bool(
        channel is None
        or channel.closed
        or channel.eof_received
        or transport is None
        or not transport.is_active()
    )


class WatchfulChannel(SSHChannel):
    """netmiko's SSH channel, except that reading a closed channel fails at once.

    netmiko's reader returns "" for a channel the device has closed, so each of its reads
    (including those of its log-in: paging, terminal width, prompt) polls until its 20 s
    timeout. A device that dies mid-login is then a slow, misnamed timeout. Data already
    received is still returned first: only a read that finds nothing and a closed channel fails.
    """

    def read_channel(self) -> str:
        text = super().read_channel()
        if not text and channel_closed(self.remote_conn):
            raise ReadException("session closed by the device")
        return text


def read_until_pattern(
    connection: Any,
    pattern: str = "",
    read_timeout: float = 10.0,
    re_flags: int = 0,
    max_loops: int | None = None,
) -> str:
    """netmiko's `read_until_pattern`, waiting in `poll` for the device instead of sleeping
    10 ms between reads: what its log-in, enable and log-out exchanges read with.

    The same contract: the answer up to and including the first match of `pattern`, the rest
    kept in the connection's read buffer for the next read; ReadTimeout after `read_timeout`
    seconds (0: no limit). A closed channel fails at once (`WatchfulChannel`).
    """
    del max_loops  # deprecated in netmiko 4, ignored there too
    if connection.read_timeout_override:
        read_timeout = connection.read_timeout_override
    deadline = time.monotonic() + read_timeout
    waiter: Any = None
    output = ""
    while True:
        output += connection.read_channel()
        match = re.search(pattern, output, flags=re_flags)
        if match is not None:
            rest = output[match.end() :]
            if rest:
                connection._read_buffer += rest
            return output[: match.end()]
        left = deadline - time.monotonic()
        if read_timeout and left <= 0:
            raise ReadTimeout(f"pattern not detected: {pattern!r} in output: {output!r}")
        channel = connection.remote_conn
        if waiter is None and channel is not None and hasattr(channel, "fileno"):
            waiter = select.poll()
            waiter.register(channel, select.POLLIN)
        wait = WAKE_SECONDS if not read_timeout else min(left, WAKE_SECONDS)
        if waiter is None:
            time.sleep(min(wait, 0.01))
        else:
            waiter.poll(1000 * wait)


def quiet_transport(connection: Any) -> None:
    """Let the session's transport thread sleep `TRANSPORT_WAKE_SECONDS` between looks at its
    state when nothing arrives (see there)."""
    channel = getattr(connection, "remote_conn", None)
    transport = channel.get_transport() if channel is not None else None
    sock = getattr(transport, "sock", None)
    if sock is not None and hasattr(sock, "settimeout"):
        try:
            sock.settimeout(TRANSPORT_WAKE_SECONDS)
        except OSError:
            pass  # closed already (the device hung up): the session's next exchange says so


def _connect(host_key_check: HostKeyCheck, **params: Any) -> Any:
    """netmiko's ConnectHandler, with the device's host key checked (instead of netmiko's
    accept-anything policy), the channel made watchful before the log-in exchanges, and its
    pattern reads waiting on the channel rather than on a timer."""
    connection = ConnectHandler(**params, auto_connect=False)
    connection._build_ssh_client = host_key_check.client
    connection.read_until_pattern = functools.partial(read_until_pattern, connection)
    stock_login_handler = connection.special_login_handler

    def login_handler(*args: Any, **kwargs: Any) -> Any:
        # netmiko calls this right after it made the channel and before any read
        connection.channel = WatchfulChannel(connection.remote_conn, connection.encoding)
        return stock_login_handler(*args, **kwargs)

    connection.special_login_handler = login_handler
    try:
        connection._open()
    except BaseException:
        discard(connection)
        raise
    return connection


class CliSession:
    """A device's SSH session, opened on demand and dropped when an exchange breaks it.

    `enable` enters privileged mode after log-in (IOS); `before_logout` is handed the
    connection just before netmiko's polite teardown (VRP answers a mode check there);
    `wake_seconds` bounds each sleep waiting for the device (see `read_until`); `window` is how
    many config lines are written before the device's answers are awaited (see `push`).
    """

    def __init__(
        self,
        where: str,
        credentials: Credentials,
        device_type: str,
        *,
        enable: bool = False,
        before_logout: Callable[[Any], None] | None = None,
        wake_seconds: float = WAKE_SECONDS,
    ) -> None:
        self.where = where
        self.credentials = credentials
        self.device_type = device_type
        self.enable = enable
        self.before_logout = before_logout
        self.wake_seconds = wake_seconds
        self.window = push_window(credentials)
        self.keepalive = keepalive_seconds(credentials)
        self.connection: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        if self.connection is not None:
            return
        creds = self.credentials
        try:
            connection = _connect(
                HostKeyCheck(
                    self.where,
                    creds.host_key,
                    creds.trust_unknown_host_key,
                    creds.on_host_key_learnt,
                ),
                device_type=self.device_type,
                host=creds.host,
                port=creds.port,
                username=creds.username,
                password=creds.password,
                secret=creds.secret,
                fast_cli=True,
                conn_timeout=creds.timeout,
                auth_timeout=creds.timeout,
                banner_timeout=creds.timeout,
                timeout=creds.timeout,
                use_keys=False,
                allow_agent=False,
                keepalive=self.keepalive,
            )
        except NetmikoAuthenticationException as exc:
            raise AuthFailed(f"{self.where}: login refused") from exc
        except _SESSION_ERRORS as exc:
            raise Unreachable(
                f"{self.where}: cannot open an SSH session: {first_line(exc)}"
            ) from exc
        except (OSError, EOFError) as exc:
            raise Unreachable(f"{self.where}: cannot connect: {exc}") from exc
        if self.enable:
            self._enter_enable(connection)
        quiet_transport(connection)
        self.connection = connection

    def _enter_enable(self, connection: Any) -> None:
        lost = f"{self.where}: session lost entering enable"
        try:
            connection.enable()
        except ValueError as exc:
            discard(connection)
            raise AuthFailed(f"{self.where}: enable refused") from exc
        except _SESSION_ERRORS as exc:
            discard(connection)
            raise Unreachable(f"{lost}: {first_line(exc)}") from exc
        except (OSError, EOFError) as exc:
            discard(connection)
            raise Unreachable(f"{lost}: {exc}") from exc

    def close(self) -> None:
        """Log out politely; closing a dead session does not fail a pass."""
        connection, self.connection = self.connection, None
        if connection is not None:
            if self.before_logout is not None:
                self.before_logout(connection)
            try:
                connection.disconnect()
            except Exception:  # noqa: BLE001 - closing a dead session must not fail a pass
                pass

    def drop(self) -> None:
        """Forget the session without the polite exit: after a failure it may not answer."""
        connection, self.connection = self.connection, None
        if connection is not None:
            discard(connection)

    @contextmanager
    def opened(self) -> Iterator[Any]:
        """The open connection (opened here, and closed after, if it was not already)."""
        opened_here = self.connection is None
        self.open()
        try:
            yield self.connection
        finally:
            if opened_here:
                self.close()

    def alive(self) -> bool:
        return not channel_closed(getattr(self.connection, "remote_conn", None))

    # -- exchanges -------------------------------------------------------------------------

    @contextmanager
    def exchange(self, what: str) -> Iterator[None]:
        """Translate errors of one exchange on an open session; a broken session is dropped."""
        try:
            yield
        except ReadTimeout as exc:
            alive = self.alive()
            self.drop()
            if alive:
                raise Timeout(f"{self.where}: no answer to {what}") from exc
            raise Unreachable(f"{self.where}: session closed during {what}") from exc
        except _SESSION_ERRORS as exc:
            self.drop()
            raise Unreachable(
                f"{self.where}: session lost during {what}: {first_line(exc)}"
            ) from exc
        except (OSError, EOFError) as exc:
            self.drop()
            raise Unreachable(f"{self.where}: session lost during {what}: {exc}") from exc

    def write(self, lines: Sequence[str]) -> None:
        """Write lines at once, each ended as the device expects."""
        connection = self.connection
        connection.write_channel("".join(connection.normalize_cmd(line) for line in lines))

    def read_until(
        self, done: Callable[[str], bool], answer: list[str], timeout: float | None = None
    ) -> str:
        """Read the device's answer until `done(answer)`, or the timeout passes.

        The thread sleeps in `poll` until the channel has data (paramiko channels offer a file
        descriptor for it), so a silent device costs no wake-ups, and looks at the session's
        health at least every `wake_seconds`: a closed session is noticed at once, where
        netmiko's reads go on polling until their timeout. A partial answer is left in
        `answer`.
        """
        limit = self.credentials.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        waiter = select.poll()
        waiter.register(self.connection.remote_conn, select.POLLIN)
        text = ""
        try:
            while True:
                chunk = self.connection.read_channel()
                if chunk:
                    text += chunk
                    if done(text):
                        return text
                elif not self.alive():
                    raise ReadException("session closed by the device")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReadTimeout(f"no complete answer in {limit} s")
                waiter.poll(1000 * min(left, self.wake_seconds))
        except (ReadException, ReadTimeout):
            answer.append(text)
            raise

    def show(self, command: str, finished: Callable[[str], bool]) -> str:
        """Run one read-only command; its answer, read until `finished` says it is whole."""
        answer: list[str] = []
        with self.exchange(command):
            self.write([command])
            return self.read_until(finished, answer)

    def converse(
        self,
        commands: Sequence[str],
        prompt: re.Pattern[str],
        what: str,
        timeout: float | None = None,
    ) -> list[str]:
        """Write commands at once; each one's answer (its echo, then its output), read until
        the device has printed one prompt per command. No timing: prompts end every read."""
        scan = Answers(prompt, len(commands), commands[0])
        partial: list[str] = []
        try:
            with self.exchange(what):
                self.write(commands)
                text = self.read_until(scan.complete, partial, timeout)
        except DriverError as exc:
            exc.output = "".join(partial) + exc.output
            raise
        return scan.split(text)

    def push(
        self,
        commands: Sequence[str],
        prompt: re.Pattern[str],
        reads: Sequence[str] = (),
    ) -> tuple[str, list[str]]:
        """Send config commands in windows, then `reads` in the last one: the device's whole
        answer to the commands, and each read's answer.

        netmiko's `send_config_set` waits out a poll (or a timer) per command: 3,200 commands
        for 200 dual-stack lines took 33 s on IOS. Here each window is written at once and read
        until the device has printed a prompt per line (counted from the echo of its first:
        a prompt left from an earlier exchange cannot end it). The device echoes each command
        as it processes it, so the answer still pairs every command with its errors for the
        platform to find afterwards; a window bounds the input waiting on the router. The
        reads ride in the last window: the read-back costs no round trip of its own. A failed
        push's error carries the partial answer.
        """
        answer: list[str] = []
        replies: list[str] = []
        window = self.window
        try:
            with self.exchange("configuration commands"):
                for start in range(0, len(commands), window):
                    chunk = list(commands[start : start + window])
                    last = start + window >= len(commands)
                    lines = [*chunk, *reads] if last else chunk
                    scan = Answers(prompt, len(lines), lines[0])
                    self.write(lines)
                    text = self.read_until(scan.complete, answer)
                    if last and reads:
                        answer.append(text[: scan.end(len(chunk))])
                        replies = scan.split(text)[len(chunk) :]
                    else:
                        answer.append(text)
        except DriverError as exc:
            exc.output = "".join(answer) + exc.output
            raise
        return "".join(answer), replies


class Answers:
    """Splits what a device printed into one answer per line written, scanning each chunk of
    it once (a read over many chunks stays linear).

    Answers start at the echo of the first line, so a prompt left over from an earlier
    exchange cannot pass for one of them; each prompt ends one line's answer.
    """

    def __init__(self, prompt: re.Pattern[str], count: int, first: str) -> None:
        self._echo = re.compile(rf"(?m){re.escape(first.strip())}[ \t]*\r?$")
        self._prompt = prompt
        self._count = count
        self._start: int | None = None
        self._position = 0
        self._ends: list[tuple[int, int]] = []

    def complete(self, text: str) -> bool:
        if self._start is None:
            echo = self._echo.search(text)
            if echo is None:
                return False
            self._start = self._position = echo.start()
        for found in self._prompt.finditer(text, self._position):
            self._ends.append(found.span())
            self._position = found.end()
            if len(self._ends) >= self._count:
                return True
        return False

    def split(self, text: str) -> list[str]:
        """One answer per line: its echo and output, without the prompt that ends it."""
        assert self._start is not None
        answers, start = [], self._start
        for prompt_start, prompt_end in self._ends[: self._count]:
            answers.append(text[start:prompt_start])
            start = prompt_end
        return answers

    def end(self, count: int) -> int:
        """Where the prompt ending the `count`-th line's answer ends (0: the start)."""
        return self._ends[count - 1][1] if count else 0


NOT_ECHOED = "not echoed"


def echoed_rejections(
    plans: Sequence[Sendable],
    sent: Sequence[str],
    found: Sequence[tuple[int | None, str]],
    output: str,
) -> tuple[dict[int, str], Rejected | None]:
    """Which plan each problem belongs to, and the batch's Rejected error if any.

    `sent` is one framing command, the plans' commands in order, and one closing command;
    `found` is (index into `sent`, problem) as the platform read them from the device's echo,
    with `NOT_ECHOED` for the first command whose echo never came.
    """
    owner: list[int | None] = [None]
    for index, plan in enumerate(plans):
        owner.extend([index] * len(plan.commands))
    owner.append(None)
    by_plan: dict[int, str] = {}
    messages: list[str] = []
    for position, problem in found:
        command = sent[position] if position is not None else "(unknown command)"
        if problem == NOT_ECHOED:
            message = f"device never echoed {command!r}: input was lost from there on"
        else:
            message = f"device rejected {command!r}: {problem}"
        messages.append(message)
        plan_index = owner[position] if position is not None else None
        if plan_index is not None:
            by_plan.setdefault(plan_index, message)
    return by_plan, rejected(messages, output)


def push_window(credentials: Credentials) -> int:
    """The device's push window: `extra["push_window"]`, else `PUSH_WINDOW`."""
    text = credentials.extra.get("push_window", str(PUSH_WINDOW))
    if not text.isdigit() or not 1 <= int(text) <= MAX_PUSH_WINDOW:
        raise ValueError(f"push_window must be 1..{MAX_PUSH_WINDOW} lines, got {text!r}")
    return int(text)


def keepalive_problem(text: str) -> str | None:
    """What is wrong with a device's `keepalive` option, or None."""
    if not text.isdigit() or not 0 <= int(text) <= MAX_KEEPALIVE_SECONDS:
        return f"keepalive must be 0..{MAX_KEEPALIVE_SECONDS} seconds, got {text!r}"
    return None


def keepalive_seconds(credentials: Credentials) -> int:
    """The device's keepalive interval: `extra["keepalive"]` (0: none), else
    `KEEPALIVE_SECONDS`."""
    text = credentials.extra.get(KEEPALIVE_OPTION, str(KEEPALIVE_SECONDS))
    problem = keepalive_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return int(text)


def where_of(name: str, credentials: Credentials) -> str:
    """How errors name a device: its name and address."""
    return f"{name} ({credentials.host}:{credentials.port})"


def discard(connection: Any) -> None:
    """Drop a session without the polite exit: after a failure the device may not answer.

    netmiko registers a secrets filter on its logger per connection and removes it only in
    its polite `disconnect`; it is removed here too, or every dropped session would leave one.
    """
    try:
        connection.paramiko_cleanup()
    except Exception:  # noqa: BLE001 - best effort on an already broken session
        pass
    secrets_filter = getattr(connection, "_secrets_filter", None)
    if secrets_filter is not None:
        logging.getLogger("netmiko").removeFilter(secrets_filter)


@functools.cache
def _session_class(path: str) -> type[CliSession]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def session_class(path: str, device: str) -> type[CliSession]:
    """The session layer at `module:class`, imported when a device first asks for it: a
    layer's own library is needed only where a device uses it."""
    try:
        return _session_class(path)
    except ImportError as exc:
        raise InvalidIdentifier(
            f"{device}: its session layer needs {exc.name!r}, which is not installed: "
            f"pip install 'curfew[{exc.name}]'"
        ) from None


def chosen_session(
    name: str,
    credentials: Credentials,
    platform: str,
    layers: Mapping[str, str],
    device_type: str,
    **options: Any,
) -> CliSession:
    """The device's session in the layer its `session` option names (netmiko's without it),
    among the `layers` its platform offers; any other name is refused, naming them."""
    layer = credentials.extra.get(SESSION_OPTION, DEFAULT_SESSION)
    if layer not in layers:
        raise InvalidIdentifier(
            f"{name}: {SESSION_OPTION} must be one of {', '.join(layers)} on {platform}, "
            f"got {layer!r}"
        )
    return session_class(layers[layer], name)(
        where_of(name, credentials), credentials, device_type, **options
    )


class CliDriver(Lifecycle):
    """The lifecycle over one netmiko SSH session: the read is one exchange of filtered show
    commands; a push is the step's commands between `frame`'s entering and leaving commands,
    written in windows, with the read commands in its last window, and the device's errors
    read from its echo. A platform names its session (`device_type`, `enable`), its prompt,
    its reads and their parser, and how its errors look."""

    ssh: ClassVar[bool] = True
    # netmiko's device_type, and whether the session enters enable mode after log-in
    device_type: ClassVar[str]
    enable: ClassVar[bool] = False
    # the commands entering and leaving configuration mode around every push
    frame: ClassVar[tuple[str, str]]
    # the session layers the platform offers (`module:class`), by the name a device's
    # `session` option gives; netmiko's unless the option says otherwise
    session_layers: ClassVar[Mapping[str, str]] = {DEFAULT_SESSION: "drivers.cli:CliSession"}

    def __init__(self, name: str, credentials: Credentials) -> None:
        super().__init__(name, credentials)
        self._cli = chosen_session(
            name,
            credentials,
            self.platform,
            self.session_layers,
            self.device_type,
            enable=self.enable,
            before_logout=self._before_logout,
        )
        # the last reads' answers in this session and their parse (see `_parsed`)
        self._last_parse: tuple[tuple[str, ...], Mapping[int, OwnedLine]] | None = None

    # -- steps a platform fills in -------------------------------------------------------------

    @abstractmethod
    def _prompt(self) -> re.Pattern[str]:
        """Any prompt of the device (every mode), at a line start."""

    @abstractmethod
    def _read_commands(self) -> list[str]:
        """The show commands that find the owned objects and every filter bound: filtered on
        the device to what the parser needs, never the whole configuration."""

    @abstractmethod
    def _parse(self, answers: Sequence[str]) -> Mapping[int, OwnedLine]:
        """Owned lines (and what a cut must not disturb) from the reads' answers."""

    def _before_logout(self, connection: Any) -> None:
        """Handed the connection just before netmiko's polite log-out."""
        del connection

    # -- the session ---------------------------------------------------------------------------

    def open(self) -> None:
        self._cli.open()

    def close(self) -> None:
        self._last_parse = None
        self._cli.close()

    def _opened(self) -> AbstractContextManager[object]:
        return self._cli.opened()

    def _read(self) -> Mapping[int, OwnedLine]:
        commands = self._read_commands()
        return self._parsed(self._cli.converse(commands, self._prompt(), commands[0]))

    def _parsed(self, answers: Sequence[str]) -> Mapping[int, OwnedLine]:
        """`_parse`, skipped when the device answered the reads word for word as the last
        reads parsed (a copy of that parse is returned; parsing is a function of the answers
        alone): the read that starts a bind finds what the stage's read-back found, unless the
        router changed in between."""
        key = tuple(answers)
        last = self._last_parse
        if last is not None and last[0] == key:
            return copy.copy(last[1])
        parsed = self._parse(answers)
        self._last_parse = (key, copy.copy(parsed))
        return parsed


class EchoScanned(CliDriver):
    """A CLI platform whose push is one framed block, its errors found afterwards in the
    device's echo of it (IOS, Comware); a platform that checks each exchange as it goes (VRP)
    pushes its own way and needs none of this."""

    @abstractmethod
    def find_rejections(self, sent: Sequence[str], output: str) -> list[tuple[int | None, str]]:
        """(index into `sent`, problem) for every error the device printed in its echo of a
        push, and `NOT_ECHOED` for the first command whose echo never came."""

    def _push(
        self,
        step: Step,
        plans: Sequence[Sendable],
        found: Mapping[int, OwnedLine],
        replan: Replan,
        progress: Progress,
    ) -> Pushed:
        """One framed block of every plan's commands, the read-back riding in its last
        window; the device's errors found in its echo of what was sent."""
        del step, found, replan
        sent = (self.frame[0], *(c for plan in plans for c in plan.commands), self.frame[1])
        progress.sent.extend(sent)
        output, reads = self._cli.push(sent, self._prompt(), reads=self._read_commands())
        progress.output.append(output)
        rejections, error = echoed_rejections(
            plans, sent, self.find_rejections(sent, output), output
        )
        return Pushed(self._parsed(reads), rejections, error)
